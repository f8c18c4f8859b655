"""Group metrics: unskew against Fairlearn's MetricFrame and AIF360's ClassificationMetric.

Identical inputs: n rows, binary y_true / y_pred (int8), sensitive features
sex (2 values) x race (4 values) = 8 intersectional groups, as pandas
categoricals (and, for unskew, also as plain strings). The same four metrics
per group: selection rate, true positive rate, false positive rate, accuracy.

* unskew: ``group_metrics(...)`` end to end (grouping, one bincount pass,
  GroupMetrics object) with ``ci=None``, best of ``--repeat``.
* Fairlearn: ``MetricFrame(metrics={...4...}).by_group``, once.
* AIF360: ``BinaryLabelDataset`` construction plus, for each of the 8 groups,
  a ``ClassificationMetric`` with that group as "privileged" and the four
  metrics conditioned on it; once.
* ROC AUC per group from scores (exact, every distinct score kept) against
  MetricFrame with ``roc_auc_score``.

Peers above ``--skip-peers-above`` rows are not run; their time is
extrapolated linearly from the largest size they ran at and printed with
"(extrapolated)".

Streaming: a Parquet file of ``--stream-rows`` rows (default 100M; written to
``--stream-dir`` in chunks, reused if present) is evaluated with
``GroupStats.from_parquet`` in batches in a fresh process, which prints its
own peak resident memory.

    python bench/bench_metrics.py [--rows 1000000,10000000] [--skip-peers-above 10000000]
                                  [--stream-rows 100000000] [--out bench_metrics.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_NAMES = ["selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"]


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n, dtype=np.int8)
    race = rng.integers(0, 4, n, dtype=np.int8)
    logit = 0.4 * sex - 0.3 * race + rng.normal(size=n).astype(np.float32)
    y = (logit + rng.normal(size=n).astype(np.float32) > 0).astype(np.int8)
    score = (1 / (1 + np.exp(-logit))).astype(np.float64)
    p = (score >= 0.5).astype(np.int8)
    sf = pd.DataFrame({
        "sex": pd.Categorical.from_codes(sex, ["Female", "Male"]),
        "race": pd.Categorical.from_codes(race, ["Asian", "Black", "Other", "White"]),
    })
    return y, p, score, sf


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def run_unskew(y, p, sf, repeat):
    from unskew.metrics import group_metrics

    t, gm = best_of(lambda: group_metrics(y, p, sensitive_features=sf, metrics=METRIC_NAMES, ci=None), repeat)
    return t, gm.by_group


def run_fairlearn(y, p, sf):
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    t = time.perf_counter()
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                              "false_positive_rate": false_positive_rate, "accuracy": accuracy_score},
                     y_true=y, y_pred=p, sensitive_features=sf)
    bg = mf.by_group
    return time.perf_counter() - t, bg


def run_aif360(y, p, sf):
    import warnings

    warnings.filterwarnings("ignore")
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    t = time.perf_counter()
    df = pd.DataFrame({"sex": sf["sex"].cat.codes.astype(float), "race": sf["race"].cat.codes.astype(float),
                       "label": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["label"], protected_attribute_names=["sex", "race"],
                            favorable_label=1.0, unfavorable_label=0.0)
    pred = ds.copy()
    pred.labels = p.astype(float).reshape(-1, 1)
    rows = {}
    groups = [{"sex": s, "race": r} for s in range(2) for r in range(4)]
    for g in groups:
        others = [h for h in groups if h != g]
        cm = ClassificationMetric(ds, pred, unprivileged_groups=others, privileged_groups=[g])
        rows[(g["sex"], g["race"])] = [cm.selection_rate(True), cm.true_positive_rate(True),
                                       cm.false_positive_rate(True), cm.accuracy(True)]
    return time.perf_counter() - t, rows


def run_auc(y, p, s, sf, repeat, peers: bool):
    from unskew.metrics import group_metrics

    t_u, gm = best_of(lambda: group_metrics(y, p, sensitive_features=sf, y_score=s, metrics=["roc_auc"], ci=None),
                      repeat)
    if not peers:
        return t_u, None, None
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    t = time.perf_counter()
    mf = MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=y, y_pred=s, sensitive_features=sf)
    t_f = time.perf_counter() - t
    diff = float(np.max(np.abs(gm.by_group["roc_auc"].to_numpy() - mf.by_group["roc_auc"].to_numpy())))
    return t_u, t_f, diff


# ---------------------------------------------------------------------------- streaming
def write_parquet(path: Path, n: int, chunk: int = 2_000_000) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = time.perf_counter()
    tmp = path.with_suffix(".partial")
    writer = None
    done = 0
    i = 0
    while done < n:
        m = min(chunk, n - done)
        y, p, s, sf = make_data(m, seed=1000 + i)
        table = pa.table({
            "y": pa.array(y), "pred": pa.array(p), "score": pa.array(s.astype(np.float32)),
            "sex": pa.DictionaryArray.from_arrays(pa.array(sf["sex"].cat.codes.to_numpy()), pa.array(["Female", "Male"])),
            "race": pa.DictionaryArray.from_arrays(pa.array(sf["race"].cat.codes.to_numpy()),
                                                   pa.array(["Asian", "Black", "Other", "White"])),
        })
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=chunk)
        done += m
        i += 1
    writer.close()
    tmp.rename(path)
    return time.perf_counter() - t


def _vm_hwm_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork/exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_worker(path: str, batch_size: int, score_bins: int) -> None:
    """Run in a fresh process: stream the file, print JSON with timing and peak memory."""
    from unskew.metrics import GroupStats

    baseline_mb = _vm_hwm_mb()  # interpreter + numpy/pandas/pyarrow/unskew imports
    t = time.perf_counter()
    st = GroupStats.from_parquet(path, target="y", predictions="pred", scores="score", sensitive="sex,race",
                                 batch_size=batch_size, score_bins=score_bins)
    t_stats = time.perf_counter() - t
    gm = st.metrics(ci="wilson")
    fair = gm.fairness(ci=True)
    elapsed = time.perf_counter() - t
    peak_mb = _vm_hwm_mb()
    print(json.dumps({
        "rows": st.n_rows, "groups": st.n_groups, "batch_size": batch_size, "score_bins": score_bins,
        "seconds_stats": t_stats, "seconds_total": elapsed, "peak_rss_mb": peak_mb,
        "baseline_rss_mb": baseline_mb,
        "overall_auc": float(gm.overall["roc_auc"]), "dp_difference": float(fair.loc["demographic_parity_difference",
                                                                                     "value"]),
        "score_table_entries": int(len(st.sc_value)),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1000000,10000000", help="Comma-separated table sizes.")
    ap.add_argument("--skip-peers-above", type=int, default=10_000_000,
                    help="Do not run Fairlearn/AIF360 above this many rows (extrapolate instead).")
    ap.add_argument("--repeat", type=int, default=3, help="unskew timings: best of this many runs.")
    ap.add_argument("--stream-rows", type=int, default=100_000_000, help="Rows of the streamed Parquet file (0: skip).")
    ap.add_argument("--stream-dir", default="/tmp", help="Where the Parquet file is written.")
    ap.add_argument("--stream-batch", type=int, default=2_000_000, help="Rows per streamed batch.")
    ap.add_argument("--score-bins", type=int, default=65536, help="Score histogram bins when streaming.")
    ap.add_argument("--no-aif360", action="store_true", help="Skip AIF360.")
    ap.add_argument("--out", default=None, help="Write the figures as JSON here.")
    ap.add_argument("--_stream-worker", dest="worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        stream_worker(args.worker, args.stream_batch, args.score_bins)
        return

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} (shared machine: timings are noisy)")
    results = {"rows": [], "stream": None, "load_average": os.getloadavg()[0]}
    peer_ref: dict[str, tuple[int, float]] = {}
    for n in [int(x) for x in args.rows.split(",") if x]:
        y, p, s, sf = make_data(n)
        row = {"n": n}
        t_u, bg_u = run_unskew(y, p, sf, args.repeat)
        sf_str = sf.astype(str)
        t_us, _ = run_unskew(y, p, sf_str, args.repeat)
        row["unskew_s"], row["unskew_strings_s"] = t_u, t_us
        print(f"\n== {n:,} rows, 8 groups, 4 metrics ==")
        print(f"unskew group_metrics        {t_u:9.3f} s   (string columns: {t_us:.3f} s)")
        run_peers = n <= args.skip_peers_above
        peers = [("fairlearn", run_fairlearn)] + ([] if args.no_aif360 else [("aif360", run_aif360)])
        for name, fn in peers:
            if run_peers:
                t_p, bg_p = fn(y, p, sf)
                peer_ref[name] = (n, t_p)
                label = ""
                if name == "fairlearn":
                    diff = float(np.max(np.abs(bg_u[METRIC_NAMES].to_numpy() - bg_p[METRIC_NAMES].to_numpy())))
                    row["fairlearn_max_abs_diff"] = diff
                    label = f"  max |diff| {diff:.1e}"
                else:
                    # both list the groups in (sex, race) code order
                    theirs = np.array([bg_p[k] for k in sorted(bg_p)])
                    diff = float(np.max(np.abs(bg_u[METRIC_NAMES].to_numpy() - theirs)))
                    row["aif360_max_abs_diff"] = diff
                    label = f"  max |diff| {diff:.1e}"
                row[f"{name}_s"] = t_p
                row[f"{name}_extrapolated"] = False
            elif name in peer_ref:
                n0, t0 = peer_ref[name]
                t_p = t0 * n / n0
                row[f"{name}_s"] = t_p
                row[f"{name}_extrapolated"] = True
                label = f"  (extrapolated linearly from {n0:,} rows)"
            else:
                print(f"{name:<27} skipped (no smaller run to extrapolate from)")
                continue
            ratio = t_p / t_u
            row[f"{name}_ratio"] = ratio
            print(f"{name:<27} {t_p:9.3f} s   unskew is {ratio:,.0f}x faster{label}")
        t_a, t_fa, auc_diff = run_auc(y, p, s, sf, args.repeat, run_peers)
        row["auc_unskew_s"] = t_a
        if t_fa is not None:
            row["auc_fairlearn_s"], row["auc_max_abs_diff"] = t_fa, auc_diff
            print(f"ROC AUC per group (exact)   unskew {t_a:.3f} s, MetricFrame {t_fa:.3f} s "
                  f"({t_fa / t_a:,.0f}x), max |diff| {auc_diff:.1e}")
        else:
            print(f"ROC AUC per group (exact)   unskew {t_a:.3f} s")
        results["rows"].append(row)
        del y, p, s, sf, sf_str

    if args.stream_rows > 0:
        path = Path(args.stream_dir) / f"unskew_bench_{args.stream_rows}.parquet"
        print(f"\n== streaming {args.stream_rows:,} rows from {path} ==")
        if not path.exists():
            t_w = write_parquet(path, args.stream_rows)
            print(f"wrote the file in {t_w:.1f} s ({path.stat().st_size / 1e9:.2f} GB)")
        cmd = [sys.executable, __file__, "--_stream-worker", str(path), "--stream-batch", str(args.stream_batch),
               "--score-bins", str(args.score_bins)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res["file_gb"] = path.stat().st_size / 1e9
        results["stream"] = res
        print(f"{res['rows']:,} rows in batches of {res['batch_size']:,}: statistics {res['seconds_stats']:.1f} s, "
              f"with metrics + bootstrap gaps {res['seconds_total']:.1f} s "
              f"({res['rows'] / res['seconds_stats'] / 1e6:.1f} M rows/s); peak RSS {res['peak_rss_mb']:.0f} MB "
              f"(after imports {res['baseline_rss_mb']:.0f} MB) "
              f"(file {res['file_gb']:.2f} GB; score histogram {res['score_bins']} bins)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"\nfigures: {args.out}")


if __name__ == "__main__":
    main()
