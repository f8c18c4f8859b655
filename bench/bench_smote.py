"""SMOTE time and peak memory: unskew against imbalanced-learn.

Cases (synthetic data, fixed seed):

  numeric   --n-numeric rows x 20 numeric columns, 10% minority class, one group:
            unskew GroupSMOTE against imblearn SMOTE (both k=5, same number of
            synthetic rows, so the work is identical).
  numeric-groups  the same rows with two groups (30/70) and group-dependent class rates,
            balanced over the 4 (group, class) cells: GroupSMOTE against imblearn SMOTE
            run once per group (the only way to keep neighbours inside a group with it).
  mixed     --n-mixed rows with 5 numeric columns, a 5,000-level categorical column and a
            10-level one, 10% minority, one group: GroupSMOTENC (integer codes) against
            imblearn SMOTENC (one-hot). Each run is a separate process; imblearn is given
            an address-space limit (--mem-limit-gb) so that running out of memory is
            reported instead of taking the machine down.

Time is wall-clock of fit_resample; memory is the increase of the process's peak
resident set size during fit_resample (data already in memory).

    python bench/bench_smote.py [--n-numeric 200000] [--n-mixed 50000] [--mixed-small 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_numeric(n, groups, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20))
    if groups:
        g = (rng.random(n) < 0.3).astype(int)
        y = (rng.random(n) < np.where(g == 1, 0.05, 0.15)).astype(int)
    else:
        g = np.zeros(n, dtype=int)
        y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 0.5
    return X, y, g


def make_mixed(n, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    df = pd.DataFrame(rng.normal(size=(n, 5)) + 0.5 * y[:, None], columns=[f"x{i}" for i in range(5)])
    df["code"] = rng.integers(0, 5000, size=n).astype(str)
    df["kind"] = rng.integers(0, 10, size=n).astype(str)
    return df, y, np.zeros(n, dtype=int)


def run_case(case, impl, n):
    """Run one measurement in this process and return a dict."""
    if case == "numeric":
        X, y, g = make_numeric(n, groups=False)
    elif case == "numeric-groups":
        X, y, g = make_numeric(n, groups=True)
    else:
        X, y, g = make_mixed(n)
    if impl == "unskew":
        from unskew.mitigate.pre import GroupSMOTE, GroupSMOTENC

        if case == "mixed":
            smp = GroupSMOTENC(categorical_features=["code", "kind"], k_neighbors=5, random_state=0)
        else:
            smp = GroupSMOTE(k_neighbors=5, random_state=0)
        base = _peak_rss_mb()
        t0 = time.perf_counter()
        Xr, yr = smp.fit_resample(X, y, sensitive_features=g)
        dt = time.perf_counter() - t0
    else:
        from imblearn.over_sampling import SMOTE, SMOTENC

        base = _peak_rss_mb()
        t0 = time.perf_counter()
        if case == "numeric":
            Xr, yr = SMOTE(k_neighbors=5, random_state=0).fit_resample(X, y)
        elif case == "numeric-groups":
            # balance (group, class) cells as GroupSMOTE does: every cell to the largest cell's size
            cells = {(gg, c): int(((g == gg) & (y == c)).sum()) for gg in (0, 1) for c in (0, 1)}
            top = max(cells.values())
            parts_X, parts_y = [], []
            for gg in (0, 1):
                m = g == gg
                xr_g, yr_g = SMOTE(k_neighbors=5, random_state=0,
                                   sampling_strategy={0: top, 1: top}).fit_resample(X[m], y[m])
                parts_X.append(xr_g)
                parts_y.append(yr_g)
            Xr, yr = np.vstack(parts_X), np.concatenate(parts_y)
        else:
            Xr, yr = SMOTENC(categorical_features=[5, 6], k_neighbors=5, random_state=0).fit_resample(X, y)
        dt = time.perf_counter() - t0
    return {"case": case, "impl": impl, "n": n, "seconds": dt, "peak_mb": _peak_rss_mb() - base,
            "rows_out": int(len(yr))}


def measure(case, impl, n, mem_limit_gb=None, timeout=1800):
    """Run ``run_case`` in a fresh process (optionally with an address-space limit)."""
    cmd = [sys.executable, __file__, "--child", case, impl, str(n)]

    def limit():
        if mem_limit_gb:
            lim = int(mem_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    env = dict(os.environ)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"case": case, "impl": impl, "n": n, "error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        last = tail[-1] if tail else f"exit code {proc.returncode}"
        if "MemoryError" in (proc.stderr or "") or "Unable to allocate" in (proc.stderr or ""):
            last = f"out of memory at the {mem_limit_gb} GB limit ({last[:120]})"
        return {"case": case, "impl": impl, "n": n, "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(r):
    if "error" in r:
        return f"{r['impl']:>8}: FAILED - {r['error']}"
    return f"{r['impl']:>8}: {r['seconds']:8.2f} s  peak +{r['peak_mb']:8.1f} MB  rows out {r['rows_out']}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-numeric", type=int, default=200_000)
    ap.add_argument("--n-mixed", type=int, default=50_000)
    ap.add_argument("--mixed-small", type=int, default=10_000,
                    help="a mixed size at which imblearn's SMOTENC still fits in memory (0 to skip)")
    ap.add_argument("--mem-limit-gb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=1, help="runs per measurement; the fastest is reported")
    ap.add_argument("--cases", default="numeric,numeric-groups,mixed", help="comma-separated subset of cases")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        case, impl, n = args.child
        print(json.dumps(run_case(case, impl, int(n))))
        return
    plan = [("numeric", args.n_numeric), ("numeric-groups", args.n_numeric)]
    if args.mixed_small:
        plan.append(("mixed", args.mixed_small))
    plan.append(("mixed", args.n_mixed))
    cases = set(args.cases.split(","))
    plan = [(c, n) for c, n in plan if c in cases]
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} repeats={args.repeats}")
    for case, n in plan:
        print(f"\n== {case}, n={n:,}")
        res = {}
        for impl in ("unskew", "imblearn"):
            runs = [measure(case, impl, n, mem_limit_gb=args.mem_limit_gb if impl == "imblearn" else None)
                    for _ in range(args.repeats)]
            ok = [r for r in runs if "error" not in r]
            r = min(ok, key=lambda r: r["seconds"]) if ok else runs[0]
            res[impl] = r
            print(_fmt(r))
        a, b = res["unskew"], res["imblearn"]
        if "error" not in a and "error" not in b:
            print(f"   ratio imblearn/unskew: time {b['seconds'] / a['seconds']:.2f}x, "
                  f"peak memory {b['peak_mb'] / max(a['peak_mb'], 1e-9):.2f}x")
        elif "error" not in a:
            print("   imblearn did not finish; unskew did")


if __name__ == "__main__":
    main()
