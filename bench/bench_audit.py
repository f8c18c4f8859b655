"""Wall time and peak memory of a full ``unskew audit``, per check and in total.

Cases (each runs in its own subprocess so its peak memory is its own):
  adult      UCI Adult: the training file (32,561 rows) audited against the test file
             (16,281 rows, --compare for the shift check); target income, sensitive sex and
             race; read from ../shared/datasets (or UNSKEW_DATA_HOME / --data-home).
  synthetic  make_synthetic with a fixed seed, --rows rows (default 1,000,000) x 20 columns:
             12 numeric, 5 categorical, sex, race and the binary target y; 5 % of num_3 and
             2 % of cat_1 set missing, 0.5 % of rows overwritten by copies of other rows.
             Compared with a second table of --rows/5 rows (seed 1) whose num_0 is shifted
             by +0.25 standard deviations.

All nine checks run (--no-compare leaves the shift check out).

For each case it prints the time to load or generate the table, every check's wall
time and status, the audit's total (validation + checks), the time to write the JSON
and HTML reports, and the peak resident memory of the process
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``).

Label-quality peer comparison: after the audit, the out-of-sample probabilities the
label_quality check computed are taken from the audit's cache and both unskew's
confident-learning step (``unskew.audit._label_quality.find_label_issues``) and
``cleanlab.filter.find_label_issues`` are timed on the same labels and pred_probs
(best of --repeat runs), with the ratio and the agreement of the flagged rows. The
cross-validated model fit is shared and is not part of this ratio.

    python bench/bench_audit.py                       # adult + 1,000,000-row synthetic table
    python bench/bench_audit.py --rows 100000         # a smaller synthetic table
    python bench/bench_audit.py --cases synthetic --threads 2 --json bench-audit.json

The machine load (os.getloadavg) is printed before and after each case: on a shared
machine the numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_COLUMNS = 20


def _data_home(arg: str | None) -> Path | None:
    for cand in (arg, os.environ.get("UNSKEW_DATA_HOME"), ROOT.parent / "shared" / "datasets"):
        if cand and (Path(cand) / "adult").is_dir():
            return Path(cand)
    return None


def make_table(n_rows: int, seed: int = 0):
    """The synthetic benchmark table: ``n_rows`` x 20 columns, fixed seed."""
    import numpy as np

    from unskew.datasets import make_synthetic

    df = make_synthetic(n_rows, n_numeric=12, n_categorical=5, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    df.loc[rng.random(n_rows) < 0.05, "num_3"] = np.nan
    df.loc[rng.random(n_rows) < 0.02, "cat_1"] = None
    n_dup = n_rows // 200
    src = rng.choice(n_rows, n_dup, replace=False)
    dst = rng.choice(n_rows, n_dup, replace=False)
    df.iloc[dst] = df.iloc[src].to_numpy()
    assert df.shape[1] == N_COLUMNS, df.shape
    return df


def make_compare_table(n_rows: int, seed: int = 1):
    """The second table for the shift check: same generator, another seed, num_0 shifted."""
    df = make_table(n_rows, seed=seed)
    df["num_0"] = df["num_0"] + 0.25
    return df


def _peer_label_quality(ds, ctx, repeat: int) -> dict | None:
    """Time unskew's and cleanlab's confident-learning step on the audit's pred_probs."""
    import numpy as np

    try:
        from cleanlab.filter import find_label_issues as cl_find
    except ImportError:
        return {"error": "cleanlab is not installed (pip install -e '.[peers]')"}
    from unskew.audit._label_quality import find_label_issues as us_find

    oos = [v for v in ctx.cache.values() if hasattr(v, "pred_probs") and hasattr(v, "labels")]
    if not oos:
        return None
    labels, P = np.asarray(oos[0].labels), np.asarray(oos[0].pred_probs)

    def best(fn):
        times, out = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    t_us, (ours, _) = best(lambda: us_find(labels, P))
    t_cl, theirs = best(lambda: cl_find(labels, P, n_jobs=1))
    return {
        "rows": int(len(labels)),
        "unskew_s": t_us,
        "cleanlab_s": t_cl,
        "cleanlab_over_unskew": t_cl / t_us if t_us > 0 else None,
        "issues_unskew": int(ours.sum()),
        "issues_cleanlab": int(np.asarray(theirs).sum()),
        "same_rows": bool(np.array_equal(ours, np.asarray(theirs))),
    }


def worker(case: str, rows: int, data_home: str | None, repeat: int, compare: bool = True) -> dict:
    """Run one case in this process and return its measurements."""
    from unskew.audit import AuditContext, list_checks, run_checks
    from unskew.data import Dataset
    from unskew.report import Report

    t0 = time.perf_counter()
    if case == "adult":
        from unskew.datasets import DEFAULT_ROLES, load_adult

        home = _data_home(data_home)
        if home is None:
            return {"case": case, "skipped": "Adult not found: set UNSKEW_DATA_HOME or --data-home"}
        frame = load_adult(split="train", data_home=home)
        other = load_adult(split="test", data_home=home) if compare else None
        roles = {k: v for k, v in DEFAULT_ROLES["adult"].items() if k != "split"}
        roles["ignore"] = ["split"]
    elif case == "synthetic":
        frame = make_table(rows)
        other = make_compare_table(max(rows // 5, 100)) if compare else None
        roles = {"target": "y", "sensitive": ["sex", "race"]}
    else:
        raise SystemExit(f"unknown case {case!r}")
    load_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    cpu0 = time.process_time()
    ds = Dataset.from_data(frame, **roles)
    cmp_ds = None
    if other is not None:
        cmp_roles = {k: v for k, v in roles.items() if k in ("target", "sensitive", "ignore")}
        cmp_ds = Dataset.from_data(other, features=ds.features, require_two_classes=False, **cmp_roles)
    validate_s = time.perf_counter() - t1
    del frame, other
    ctx = AuditContext(random_state=0, compare=cmp_ds)
    t2 = time.perf_counter()
    results = run_checks(ds, ctx=ctx)
    checks_s = time.perf_counter() - t2
    cpu_audit = time.process_time() - cpu0
    report = Report(kind="audit", checks=results, dataset=ds.describe(),
                    parameters={"random_state": 0, "checks": [r.name for r in results]})
    t3 = time.perf_counter()
    text = report.to_json()
    json_s = time.perf_counter() - t3
    t4 = time.perf_counter()
    page = report.to_html()
    html_s = time.perf_counter() - t4
    peer = _peer_label_quality(ds, ctx, repeat)
    return {
        "case": case,
        "rows": len(ds),
        "compare_rows": len(cmp_ds) if cmp_ds is not None else 0,
        "columns": int(ds.frame.shape[1]),
        "registered_checks": list_checks(),
        "load_s": load_s,
        "validate_s": validate_s,
        "checks": [{"name": r.name, "status": r.status, "seconds": r.elapsed_s} for r in results],
        "checks_s": checks_s,
        "audit_s": validate_s + checks_s,
        "json_s": json_s,
        "json_bytes": len(text.encode()),
        "html_s": html_s,
        "html_bytes": len(page.encode()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "audit_cpu_s": cpu_audit,
        "label_quality_peer": peer,
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }


def _print_case(res: dict, load_before, load_after) -> None:
    vs = f" vs {res['compare_rows']:,} compare rows" if res.get("compare_rows") else ""
    print(f"\n== {res['case']}: {res['rows']:,} rows x {res['columns']} columns{vs} "
          f"(load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
          f"{os.cpu_count()} CPUs; OMP threads {res['omp_threads']})")
    print(f"  {'load/generate':<24}{res['load_s']:>9.2f} s")
    print(f"  {'validate (Dataset)':<24}{res['validate_s']:>9.2f} s")
    for c in res["checks"]:
        print(f"  {c['name']:<24}{c['seconds']:>9.2f} s   {c['status']}")
    print(f"  {'total audit':<24}{res['audit_s']:>9.2f} s   (checks {res['checks_s']:.2f} s; "
          f"CPU time of the process {res['audit_cpu_s']:.2f} s)")
    print(f"  {'write JSON':<24}{res['json_s']:>9.2f} s   {res['json_bytes'] / 1e3:,.0f} kB")
    print(f"  {'render HTML':<24}{res['html_s']:>9.2f} s   {res['html_bytes'] / 1e3:,.0f} kB")
    print(f"  {'peak memory (RSS)':<24}{res['peak_rss_mb']:>9.0f} MB")
    peer = res.get("label_quality_peer")
    if peer and "error" not in peer:
        print(f"  label-quality step on the same pred_probs ({peer['rows']:,} rows): unskew "
              f"{peer['unskew_s'] * 1e3:.1f} ms, cleanlab {peer['cleanlab_s'] * 1e3:.1f} ms, "
              f"cleanlab/unskew = {peer['cleanlab_over_unskew']:.2f}x; flagged {peer['issues_unskew']:,} vs "
              f"{peer['issues_cleanlab']:,}, same rows: {peer['same_rows']}")
    elif peer:
        print(f"  label-quality peer: {peer['error']}")
    else:
        print("  label-quality peer: the label_quality check did not compute probabilities")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="adult,synthetic", help="Comma-separated: adult, synthetic.")
    ap.add_argument("--rows", type=int, default=1_000_000, help="Rows of the synthetic table.")
    ap.add_argument("--data-home", default=None, help="Folder with adult/ (default ../shared/datasets).")
    ap.add_argument("--threads", type=int, default=None, help="Set OMP_NUM_THREADS for the cases.")
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each label-quality step (best is kept).")
    ap.add_argument("--no-compare", action="store_true", help="No second table (the shift check is skipped).")
    ap.add_argument("--json", default=None, help="Also write all measurements to this JSON file.")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.data_home, args.repeat, not args.no_compare)))
        return 0

    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    all_results = []
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        before = os.getloadavg()
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--worker", case, "--rows", str(args.rows), "--repeat", str(args.repeat)]
        if args.data_home:
            cmd += ["--data-home", args.data_home]
        if args.no_compare:
            cmd.append("--no-compare")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        after = os.getloadavg()
        if proc.returncode != 0:
            print(f"\n== {case}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            all_results.append({"case": case, "failed": proc.stderr[-3000:]})
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if "skipped" in res:
            print(f"\n== {case}: skipped: {res['skipped']}")
        else:
            res["process_wall_s"] = wall
            res["load_average"] = {"before": before, "after": after}
            _print_case(res, before, after)
        all_results.append(res)
    if args.json:
        Path(args.json).write_text(json.dumps(all_results, indent=2))
        print(f"\nwrote {args.json}")
    return 0 if all("failed" not in r for r in all_results) else 1


if __name__ == "__main__":
    sys.exit(main())
