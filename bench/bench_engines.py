"""Engines on one large Parquet file: pandas streaming, DuckDB, Spark local and Dask local, in one run.

1. ``evaluate``'s group statistics over ``--rows`` rows (8 intersectional groups, a score, a
   prediction, a weight), each engine in a fresh process; wall time and peak memory (RSS of the
   process tree, sampled every 0.1 s: the Spark JVM and Python workers included); per-group
   metrics compared across engines (every count must be identical, every rate equal to 12 digits).
2. The count-based audit quantities (target distribution, representation, base rates, missing
   values, histograms) computed by DuckDB over an ``--audit-rows`` x 12-column table too large
   for pandas to load here, with its peak memory.

Data are generated with a fixed seed into ``--data-dir`` (default /work/bigdata; not committed)
and reused when present. Run with ``nice -n 10``; scale with ``--rows`` / ``--audit-rows`` and say
so when you do.

    python bench/bench_engines.py --rows 100000000 --audit-rows 200000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCORE_BINS = 1024
EVAL_COLUMNS = dict(target="y", sensitive=["sex", "race", "age"], predictions="pred", scores="score",
                    weights="weight", score_bins=SCORE_BINS)


# ---------------------------------------------------------------------------- data
def generate_eval(path: Path, rows: int, seed: int = 17, chunk: int = 2_000_000) -> None:
    """8 groups (sex x race x age), group-dependent score distributions, integer weights."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    schema = pa.schema([("sex", pa.dictionary(pa.int8(), pa.string())), ("race", pa.dictionary(pa.int8(), pa.string())),
                        ("age", pa.dictionary(pa.int8(), pa.string())), ("y", pa.int8()), ("pred", pa.int8()),
                        ("score", pa.float64()), ("weight", pa.float64())])
    with pq.ParquetWriter(tmp, schema, compression="snappy") as w:
        for i, start in enumerate(range(0, rows, chunk)):
            n = min(chunk, rows - start)
            rng = np.random.default_rng([seed, i])
            sex, race, age = (rng.random(n) < p for p in (0.45, 0.3, 0.4))
            logit = rng.normal(size=n) - 0.4 * race + 0.3 * sex - 0.2 * age
            score = 1 / (1 + np.exp(-logit))
            y = (rng.random(n) < 1 / (1 + np.exp(-(logit * 1.2 - 0.1 * race)))).astype(np.int8)
            cols = [pa.DictionaryArray.from_arrays(pa.array(v.astype(np.int8)), pa.array(labels))
                    for v, labels in ((sex, ["F", "M"]), (race, ["a", "b"]), (age, ["old", "young"]))]
            cols += [pa.array(y), pa.array((score >= 0.5).astype(np.int8)), pa.array(score),
                     pa.array(rng.integers(1, 5, n).astype(np.float64))]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=1_000_000)
    tmp.rename(path)


def generate_audit(path: Path, rows: int, seed: int = 18, chunk: int = 2_000_000, unique: int = 10) -> None:
    """12 columns: 3 sensitive, a binary target, 5 numeric (2 with missing values), 2 categorical, a weight.

    To write 200,000,000 rows in minutes on a busy machine, ``unique`` distinct chunks are drawn and
    written in turn (the table is ``unique`` x ``chunk`` distinct rows, repeated); every row is still
    read, decoded and counted by the engine.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    cat = lambda labels: pa.dictionary(pa.int8(), pa.string())  # noqa: E731
    schema = pa.schema([("sex", cat(0)), ("race", cat(0)), ("age", cat(0)), ("y", pa.int8()),
                        ("income", pa.float64()), ("hours", pa.int16()), ("credit", pa.float64()),
                        ("tenure", pa.float32()), ("score", pa.float32()), ("education", cat(0)),
                        ("region", cat(0)), ("weight", pa.float32())])
    edu = ["none", "primary", "secondary", "bachelor", "master", "phd"]
    regions = [f"r{k}" for k in range(10)]
    with pq.ParquetWriter(tmp, schema, compression="snappy") as w:
        cache: dict = {}
        for i, start in enumerate(range(0, rows, chunk)):
            n = min(chunk, rows - start)
            if (i % unique, n) in cache:
                w.write_table(cache[(i % unique, n)], row_group_size=1_000_000)
                continue
            rng = np.random.default_rng([seed, i % unique])
            sex, race, age = (rng.random(n) < p for p in (0.45, 0.3, 0.4))
            income = rng.lognormal(10 - 0.2 * race, 0.5, n)
            y = (rng.random(n) < 0.25 + 0.1 * sex - 0.08 * race).astype(np.int8)
            credit = rng.normal(600.0 + 30.0 * y, 50.0, n)
            e = np.minimum(rng.poisson(2 + race, n), 5)
            e_arr = pa.DictionaryArray.from_arrays(pa.array(e.astype(np.int8), mask=rng.random(n) < 0.01),
                                                   pa.array(edu))
            cols = [pa.DictionaryArray.from_arrays(pa.array(v.astype(np.int8)), pa.array(lab))
                    for v, lab in ((sex, ["F", "M"]), (race, ["a", "b"]), (age, ["old", "young"]))]
            cols += [pa.array(y), pa.array(income, mask=rng.random(n) < 0.02 + 0.02 * race),
                     pa.array(rng.integers(10, 60, n).astype(np.int16)), pa.array(credit, mask=rng.random(n) < 0.05),
                     pa.array(rng.exponential(5, n).astype(np.float32)), pa.array(rng.random(n).astype(np.float32)),
                     e_arr, pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 10, n).astype(np.int8)),
                                                           pa.array(regions)),
                     pa.array(rng.integers(1, 4, n).astype(np.float32))]
            cache[(i % unique, n)] = pa.Table.from_arrays(cols, schema=schema)
            w.write_table(cache[(i % unique, n)], row_group_size=1_000_000)
    tmp.rename(path)


# ---------------------------------------------------------------------------- one engine, in a child
def child(engine: str, path: str, out: str, threads: int) -> None:
    from unskew.engines import group_stats
    from unskew.metrics._frame import GroupMetrics

    opts = {"pandas": {"batch_size": 1_000_000}, "duckdb": {"threads": threads, "memory_limit": "4GB"},
            "spark": {"master": f"local[{threads}]"}, "dask": {"threads_per_worker": threads}}[engine]
    t0 = time.perf_counter()
    if engine == "spark":  # start the JVM first: its start-up is reported apart from the computation
        from unskew.engines._spark import session

        opts = {"spark": session(opts["master"], config={"spark.driver.memory": "4g"})}
    elif engine == "dask":
        from unskew.engines._dask import client

        opts = {"dask_client": client(threads_per_worker=threads)}
    t_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats, info = group_stats(path, engine=engine, **EVAL_COLUMNS, **opts)
    t_stats = time.perf_counter() - t0
    gm = GroupMetrics(stats, ci=None)
    by = gm.by_group
    result = {
        "engine": engine, "seconds": t_stats, "startup_s": t_start, "info": {k: str(v) for k, v in info.items()},
        "groups": stats.labels, "n": stats.n.tolist(), "conf_n": stats.conf_n.tolist(),
        "metrics": {c: [None if not np.isfinite(v) else float(v) for v in by[c].to_numpy(float)] for c in by.columns},
    }
    if engine == "spark":
        from pyspark.sql import SparkSession

        SparkSession.getActiveSession().stop()
    Path(out).write_text(json.dumps(result))


def audit_child(path: str, out: str, threads: int) -> None:
    from unskew.engines import audit_counts

    t0 = time.perf_counter()
    counts, info = audit_counts(path, engine="duckdb", target="y", sensitive=["sex", "race", "age"],
                                weights="weight", threads=threads, memory_limit="4GB")
    secs = time.perf_counter() - t0
    summary = {name: {"keys": len(t.keys), "counted": int(t.values[:, 0].sum())} for name, t in counts.items()}
    Path(out).write_text(json.dumps({"seconds": secs, "info": {k: str(v) for k, v in info.items()},
                                     "tables": summary,
                                     "missing": counts["missing"].frame().head(40).astype(str).values.tolist()}))


AUDIT_COLUMNS = dict(target="y", sensitive=["sex", "race", "age"], weights="weight")
SHIFT_FEATURES = [("income", "numeric"), ("hours", "numeric"), ("credit", "numeric"), ("tenure", "numeric"),
                  ("score", "numeric"), ("education", "categorical"), ("region", "categorical")]


def _engine_opts(engine: str, threads: int) -> tuple[dict, float]:
    """Options that hold one started engine (Spark session, Dask client), and its start-up time."""
    t0 = time.perf_counter()
    if engine == "spark":
        from unskew.engines._spark import session

        opts = {"spark": session(f"local[{threads}]", config={"spark.driver.memory": "4g"})}
    elif engine == "dask":
        from unskew.engines._dask import client

        opts = {"dask_client": client(threads_per_worker=threads)}
    elif engine == "duckdb":
        opts = {"threads": threads, "memory_limit": "4GB"}
    else:
        opts = {"batch_size": 1_000_000}
    return opts, time.perf_counter() - t0


def audit_engine_child(engine: str, path: str, out: str, threads: int) -> None:
    """The audit's counts and the shift check's exact counts (the table against itself) on one engine."""
    import hashlib

    from unskew.engines import audit_counts, runner, shift_counts

    opts, t_start = _engine_opts(engine, threads)
    t0 = time.perf_counter()
    counts, info = audit_counts(path, engine=engine, **AUDIT_COLUMNS, **opts)
    t_counts = time.perf_counter() - t0
    ropts = {k: v for k, v in opts.items() if k != "batch_size" or engine == "pandas"}
    t0 = time.perf_counter()
    with runner(engine, path, **ropts) as ref, runner(engine, path, **ropts) as cmp:
        sc = shift_counts(ref, cmp, sensitive=AUDIT_COLUMNS["sensitive"], target="y", features=SHIFT_FEATURES)
    t_shift = time.perf_counter() - t0
    digest = {k: hashlib.sha256(json.dumps(t.to_json(), sort_keys=True).encode()).hexdigest()[:16]
              for k, t in counts.items()}
    digest["shift"] = hashlib.sha256(json.dumps(
        {"edges": {c: e.tolist() for c, e in sc.plan.edges.items()}, "levels": sc.plan.levels,
         "ref": {k: t.to_json() for k, t in sc.reference.items()}, "med": sc.reference_median},
        sort_keys=True, default=str).encode()).hexdigest()[:16]
    if engine == "spark":
        opts["spark"].stop()
    Path(out).write_text(json.dumps({"engine": engine, "startup_s": t_start, "counts_s": t_counts, "shift_s": t_shift,
                                     "n_rows": info["n_rows"], "digest": digest,
                                     "info": {k: str(v) for k, v in info.items() if k != "bounds"}}))


def audit_partition_cost(path: str, repeats: int = 3) -> dict:
    """Cost of one piece's audit partial and shift partial (one 1,000,000-row row group)."""
    import pyarrow.parquet as pq

    from unskew.audit._shift import plan_from_frame, shift_partial
    from unskew.engines._audit import audit_partial, bounds_partial, merge_bounds
    from unskew.engines._specs import AuditSpec

    frame = pq.ParquetFile(path).read_row_group(0).to_pandas()
    cols = [c for c in frame.columns if c not in ("y", "sex", "race", "age", "weight")]
    numeric = tuple(c for c in cols if frame[c].dtype.kind in "fi")
    spec = AuditSpec(target="y", sensitive=("sex", "race", "age"), weights="weight", columns=tuple(cols),
                     numeric=numeric, bounds=merge_bounds([bounds_partial(frame, None, numeric)]))
    plan = plan_from_frame(frame, ("sex", "race", "age"), "y", SHIFT_FEATURES, 10)
    out = {"rows": len(frame)}
    for name, fn in (("audit_partial", lambda: audit_partial(frame, spec)),
                     ("shift_partial", lambda: shift_partial(frame, None, plan))):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[f"{name}_s_median"] = float(np.median(times))
    return out


def partition_cost(path: str, repeats: int = 5, n_partials: int = 1000) -> dict:
    """Cost of one partition's partial (1,000,000 rows: Arrow -> pandas -> GroupStats) and of merging partials."""
    import pyarrow.parquet as pq

    from unskew.engines import StatsSpec, dumps, loads, merge, stats_partial

    spec = StatsSpec.build(**EVAL_COLUMNS)
    pf = pq.ParquetFile(path)
    t0 = time.perf_counter()
    table = pf.read_row_group(0, columns=spec.columns)
    t_read = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        part = stats_partial(table, spec)
        blob = dumps(part)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    parts = [loads(blob) for _ in range(n_partials)]
    t0, c0 = time.perf_counter(), time.process_time()
    merge(parts)
    t_merge, c_merge = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": table.num_rows, "read_s": t_read, "partial_s_median": float(np.median(times)),
            "partial_s_min": float(np.min(times)), "partial_cpu_s_median": float(np.median(cpu)),
            "blob_bytes": len(blob), "merge_partials": n_partials, "merge_s": t_merge, "merge_cpu_s": c_merge}


CPU: dict[int, float] = {}  # pid -> CPU seconds last seen (user + system), for the current child's tree


def run_child(args: list[str], timeout: float) -> tuple[float, float, int]:
    """Run ``python bench_engines.py --child ...``; sample the RSS and CPU time of its whole process tree."""
    import psutil

    CPU.clear()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args], env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                    ct = p.cpu_times()
                    CPU[p.pid] = ct.user + ct.system
                except psutil.Error:
                    pass
            peak = max(peak, rss)
        except psutil.Error:
            pass
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            proc.wait()
            return time.perf_counter() - t0, peak / 2**20, -9
        time.sleep(0.1)
    return time.perf_counter() - t0, peak / 2**20, proc.returncode


def compare(results: dict) -> list[str]:
    """Per-group results across engines: counts identical, rates equal to 12 significant digits."""
    notes = []
    names = list(results)
    ref = results[names[0]]
    for e in names[1:]:
        r = results[e]
        if r["groups"] != ref["groups"] or r["n"] != ref["n"] or r["conf_n"] != ref["conf_n"]:
            notes.append(f"{e}: COUNTS DIFFER from {names[0]}")
            continue
        worst = 0.0
        for c, vals in ref["metrics"].items():
            for a, b in zip(vals, r["metrics"][c], strict=True):
                if a is None or b is None:
                    if a != b:
                        worst = float("inf")
                    continue
                worst = max(worst, abs(a - b) / max(abs(a), 1e-300))
        notes.append(f"{e}: groups, row counts and confusion counts identical to {names[0]}; "
                     f"largest relative difference of any per-group metric {worst:.1e}")
    return notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--audit-rows", type=int, default=200_000_000)
    ap.add_argument("--data-dir", default="/work/bigdata")
    ap.add_argument("--engines", default="pandas,duckdb,spark,dask")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--skip-audit", action="store_true")
    ap.add_argument("--audit-path", help="an existing Parquet file or directory for the audit (skips generation)")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--partition-cost", action="store_true", help="only measure one partition's partial and the merge")
    ap.add_argument("--audit-engines", action="store_true",
                    help="only the audit's counts and the shift counts on every engine over --audit-rows rows")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "PATH", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--audit-child", nargs=2, metavar=("PATH", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--audit-engine-child", nargs=3, metavar=("ENGINE", "PATH", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child, threads=a.threads)
    if a.audit_child:
        return audit_child(*a.audit_child, threads=a.threads)
    if a.audit_engine_child:
        return audit_engine_child(*a.audit_engine_child, threads=a.threads)
    d = Path(a.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    print(f"disk free at {d}: {shutil.disk_usage(d).free / 2**30:.0f} GiB; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if a.partition_cost:
        print(json.dumps(partition_cost(str(d / f"eval_{a.rows}.parquet")), indent=1))
        return None
    tmp = Path(tempfile.mkdtemp(prefix="bench_engines_"))
    if a.audit_engines:
        return audit_engines(a, d, tmp)
    if not a.skip_eval:
        path = d / f"eval_{a.rows}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            generate_eval(path, a.rows)
            print(f"generated {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        results, rows = {}, []
        for e in a.engines.split(","):
            out = tmp / f"{e}.json"
            wall, peak, rc = run_child(["--child", e, str(path), str(out), "--threads", str(a.threads)], a.timeout)
            if rc != 0 or not out.exists():
                rows.append((e, wall, None, peak, f"FAILED (exit {rc})", None))
                print(f"{e}: failed (exit {rc}) after {wall:.0f} s", flush=True)
                continue
            r = json.loads(out.read_text())
            results[e] = r
            rows.append((e, wall, r["seconds"], peak, r["info"].get("partitions", r["info"].get("aggregated_rows", "")),
                         r["startup_s"]))
            r["cpu_s"] = sum(CPU.values())
            print(f"{e}: {wall:.1f} s process, {r['startup_s']:.1f} s start-up, {r['seconds']:.1f} s statistics, "
                  f"peak RSS {peak:.0f} MiB, CPU of the process tree {r['cpu_s']:.0f} s", flush=True)
        base = next((r[2] for r in rows if r[0] == "pandas" and r[2] is not None), None)
        print(f"\n## evaluate: {a.rows:,} rows, {len(EVAL_COLUMNS['sensitive'])} sensitive columns (8 groups), "
              f"score_bins={SCORE_BINS}, weights")
        print("| engine | wall s (process) | start-up s | statistics s | rows/s | peak RSS MiB | speed vs pandas "
              "(statistics) | partitions / SQL rows |")
        print("|---|---|---|---|---|---|---|---|")
        for e, wall, secs, peak, extra, start in rows:
            ratio = f"{base / secs:.2f}x" if base and secs else ""
            rps = f"{a.rows / secs:,.0f}" if secs else ""
            st = "" if start is None else f"{start:.1f}"
            print(f"| {e} | {wall:.1f} | {st} | {'' if secs is None else f'{secs:.1f}'} | {rps} | {peak:.0f} | {ratio} "
                  f"| {extra} |")
        if len(results) > 1:
            for note in compare(results):
                print("-", note)
        first = next(iter(results.values()), None)
        if first:
            print("\nper-group (first engine):", json.dumps({g: n for g, n in zip(first["groups"], first["n"],
                                                                                  strict=True)}))
    if not a.skip_audit:
        path = Path(a.audit_path) if a.audit_path else d / f"audit_{a.audit_rows}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            generate_audit(path, a.audit_rows)
            print(f"generated {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        out = tmp / "audit.json"
        wall, peak, rc = run_child(["--audit-child", str(path), str(out), "--threads", str(a.threads)], a.timeout)
        if rc != 0:
            print(f"audit counts: failed (exit {rc}) after {wall:.0f} s")
        else:
            r = json.loads(out.read_text())
            in_memory = a.audit_rows * 12 * 8 / 2**30
            print(f"\n## count-based audit with DuckDB: {a.audit_rows:,} rows x 12 columns "
                  f"(~{in_memory:.0f} GiB as float64 in pandas; this machine has "
                  f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB)")
            print(f"wall {wall:.1f} s (counts {r['seconds']:.1f} s), peak RSS {peak:.0f} MiB; tables: {r['tables']}")
    shutil.rmtree(tmp, ignore_errors=True)


def audit_engines(a, d: Path, tmp: Path) -> None:
    """The audit's counts (audit_counts) and the shift counts (shift_counts) on every engine, in one run."""
    path = Path(a.audit_path) if a.audit_path else d / f"audit_{a.audit_rows}.parquet"
    if not path.exists():
        generate_audit(path, a.audit_rows)
    print(json.dumps({"one_piece": audit_partition_cost(str(path))}), flush=True)
    rows, digests = [], {}
    for e in a.engines.split(","):
        out = tmp / f"audit_{e}.json"
        wall, peak, rc = run_child(["--audit-engine-child", e, str(path), str(out), "--threads", str(a.threads)],
                                   a.timeout)
        if rc != 0 or not out.exists():
            print(f"{e}: failed (exit {rc}) after {wall:.0f} s", flush=True)
            continue
        r = json.loads(out.read_text())
        digests[e] = r["digest"]
        rows.append((e, wall, r, peak))
        print(f"{e}: {wall:.1f} s process, start-up {r['startup_s']:.1f} s, audit counts {r['counts_s']:.1f} s, "
              f"shift counts {r['shift_s']:.1f} s, peak RSS {peak:.0f} MiB", flush=True)
    base = next((r for e, _, r, _ in rows if e == "pandas"), None)
    print(f"\n## audit counts and shift counts: {a.audit_rows:,} rows x 12 columns (load {os.getloadavg()[0]:.1f})")
    print("| engine | process s | start-up s | audit counts s | shift counts s | peak RSS MiB | counts vs pandas |")
    print("|---|---|---|---|---|---|---|")
    for e, wall, r, peak in rows:
        ratio = f"{base['counts_s'] / r['counts_s']:.2f}x" if base else ""
        print(f"| {e} | {wall:.1f} | {r['startup_s']:.1f} | {r['counts_s']:.1f} | {r['shift_s']:.1f} | {peak:.0f} "
              f"| {ratio} |")
    names = list(digests)
    for e in names[1:]:
        same = digests[e] == digests[names[0]]
        print(f"- {e}: every count table {'IDENTICAL to' if same else 'DIFFERS from'} {names[0]}"
              + ("" if same else f" ({digests[e]} vs {digests[names[0]]})"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
