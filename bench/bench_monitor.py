"""Monitoring benchmarks and the Adult replay of docs/monitoring.md.

    OMP_NUM_THREADS=1 python bench/bench_monitor.py replay  [--seeds 20] [--plot docs/monitoring_replay.png] [--budget S]
    python bench/bench_monitor.py ingest  [--rows 200000]
    python bench/bench_monitor.py peers   [--rows 200000] [--cols 20]

``replay``: Adult with every native-country outside the United States withheld
from training; the test table streamed in 20 daily windows; the withheld rows
enter from window 11, a covariate shift (age-weighted resampling) from window
15; labels arrive two windows late. Every seed is a full replay; reports alerts
per window, the false-alarm rate on windows 1-10 over the seeds, detection at
windows 11 and 15, CBPE beside realised accuracy, and `retrain` in three
settings (baseline/queue, hgb/all, hgb/queue) with both gates and the non-US
held-back accuracy, plus ablations (hgb without production rows; both
learners on the full training split). OMP_NUM_THREADS=1 keeps the boosting
fits from oversubscribing a busy machine.

``ingest``: rows/s through ``Monitor.log`` (and ``log_labels``) and through
the HTTP service on loopback, and store bytes per million rows (SQLite file
after a WAL checkpoint, labels included).

``peers``: unskew vs NannyML (CBPE, univariate drift) and Evidently (data
drift preset) on the same synthetic table in the same run. unskew runs twice,
each in its own process: the analysis alone in memory (``analyze``'s parts:
profile + window aggregates + check; what Evidently's preset does with two
frames) and end to end through the store (init + log every chunk + check);
the CBPE share of the analysis is timed apart against NannyML's CBPE. The peers need
pandas < 3, so they run in their own virtual environments
(``/work/venvs/nannyml``, ``/work/venvs/evidently``; override with
``--nannyml-python`` / ``--evidently-python``), as subprocesses that time
themselves and print JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ============================================================================ Adult replay
def _adult():
    from unskew.datasets import load_adult

    df = load_adult()
    n0 = len(df)
    df = df[df["native_country"].notna()].drop(columns=["fnlwgt"]).reset_index(drop=True)
    return df, n0 - len(df)


_CACHE: dict = {}


def replay(seed: int, *, windows: int = 20, new_at: int = 11, shift_at: int = 15, lag: int = 2,
           retrain_at_end: bool = True, store_dir: str | None = None) -> dict:
    from unskew.monitor import Monitor, predict_frame, save_model, train_table

    df, _ = _adult()
    feats = [c for c in df.columns if c not in ("income", "split")]
    us = df["native_country"] == "United-States"
    train = df[(df.split == "train") & us].drop(columns="split").reset_index(drop=True)
    test = df[df.split == "test"].drop(columns="split").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    tmp = Path(store_dir or tempfile.mkdtemp(prefix="unskew-replay-"))
    if "model" not in _CACHE:  # the model and the reference profile do not depend on the seed: fit once
        model, _ = train_table(train, target="income", method="baseline", features=feats, seed=0)
        mpath = save_model(model, tmp / "model.skops")
        ref = train.copy()
        ref["pred"], ref["score"] = predict_frame(model, ref)
        tmpl = tmp / "template.db"
        m0 = Monitor(f"sqlite:///{tmpl}")
        m0.init("adult", ref, target="income", predictions="pred", scores="score", sensitive=["sex", "race"],
                model=mpath, block_rows=100)
        m0.store.dispose()
        _CACHE.update(model=model, template=tmpl.read_bytes())
    model = _CACHE["model"]
    db = tmp / f"replay{seed}.db"
    db.write_bytes(_CACHE["template"])
    mon = Monitor(f"sqlite:///{db}")
    t_us = test[test.native_country == "United-States"].sample(frac=1, random_state=seed).reset_index(drop=True)
    t_non = test[test.native_country != "United-States"].sample(frac=1, random_state=seed).reset_index(drop=True)
    per_us = len(t_us) // windows
    n_new = max(windows - new_at + 1, 1)
    per_non = len(t_non) // n_new
    batches = []
    for w in range(1, windows + 1):
        b = t_us.iloc[(w - 1) * per_us: w * per_us].copy()
        if w >= shift_at:  # covariate shift: resample the window towards older people
            pool = t_us.iloc[(w - 1) * per_us:].copy()
            p = np.exp(0.06 * (pool["age"].to_numpy() - 38.0))
            b = pool.iloc[rng.choice(len(pool), per_us, replace=True, p=p / p.sum())].copy()
        if w >= new_at:
            b = pd.concat([b, t_non.iloc[(w - new_at) * per_non: (w - new_at + 1) * per_non]])
        b["id"] = [f"w{w}_{i}" for i in range(len(b))]
        b["ts"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=w - 1, hours=12)
        b["pred"], b["score"] = predict_frame(model, b)
        batches.append(b)
    t0 = time.perf_counter()
    for w, b in enumerate(batches, start=1):
        mon.log("adult", b.drop(columns="income"), id="id", timestamp="ts")
        if w - lag >= 1:
            lb = batches[w - lag - 1]
            mon.log_labels("adult", lb[["id", "income"]], id="id", target="income")
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = mon.check("adult", window="1d", store_alerts=False)
    check_s = time.perf_counter() - t0
    alerts = {}
    for c in rep.checks[1:]:
        for row in (c.tables[0].rows if c.tables else []):
            day = row[0]
            w = (pd.Timestamp(day) - pd.Timestamp("2026-01-01")).days + 1
            alerts.setdefault(w, []).append({"detector": row[2], "severity": row[1], "message": row[5]})
    series = {}
    for c in rep.checks:
        for ch in c.charts:
            for p in ch.points:
                series.setdefault(ch.title, {}).setdefault(p.series, {})[int(p.x)] = p.y
    out = {"seed": seed, "alerts": {int(k): v for k, v in alerts.items()}, "series": series,
           "ingest_s": ingest_s, "check_s": check_s, "rows": int(sum(len(b) for b in batches)),
           "status": rep.status}
    if retrain_at_end:
        out["retrain"] = _retrain_variants(mon, train, feats, model, tmp, seed)
    mon.store.dispose()
    return out


#: The retrain settings the replay compares (all documented options of `unskew retrain`); the last one is
#: run with registration, the others only report what they would do.
RETRAIN_VARIANTS = [("baseline", "queue"), ("hgb", "all"), ("hgb", "queue")]


def _retrain_variants(mon, train, feats, model, tmp: Path, seed: int) -> dict:
    """Each retrain setting on the same store: both gates' decisions and the non-US held-back accuracy."""
    from unskew.monitor import predict_frame, retrain, train_table
    from unskew.monitor._monitor import load_skops

    lab = mon.labelled_rows("adult")
    hold = lab.iloc[len(lab) - int(round(len(lab) * 0.3)):]
    hold = hold[hold["native_country"] != "United-States"]
    hf = hold[feats].copy()
    for c in feats:
        if pd.api.types.is_numeric_dtype(train[c]):
            hf[c] = pd.to_numeric(hf[c])
    y = hold["__label"].astype(str).to_numpy()

    def non_us(m) -> float:
        return float((predict_frame(m, hf)[0] == y).mean())

    res = {"non_us_heldback_rows": len(hold), "current_non_us": non_us(model), "variants": {}}
    for i, (method, production) in enumerate(RETRAIN_VARIANTS):
        last = i == len(RETRAIN_VARIANTS) - 1
        t0 = time.perf_counter()
        path = tmp / f"cand{seed}_{method}_{production}.skops"
        r = retrain(mon, "adult", train, method=method, production=production, out=path, register=last)
        s = r.checks[0].summary
        lo, hi = s["worst_accuracy_difference_interval"]
        res["variants"][f"{method}/{production}"] = {
            "seconds": time.perf_counter() - t0, "rows_added": s["production_rows_added"],
            "held_back_rows": s["held_back_rows"], "current_worst": [s["current_worst_group"], s["current_worst_accuracy"]],
            "candidate_worst": [s["candidate_worst_group"], s["candidate_worst_accuracy"]], "interval": [lo, hi],
            "point_gate": bool(s["candidate_worst_accuracy"] >= s["current_worst_accuracy"]), "interval_gate": bool(hi >= 0),
            "registered_version": s["registered_version"], "candidate_non_us": non_us(load_skops(path)),
            "groups": r.checks[0].tables[0].rows}  # group, held-back rows, current, candidate accuracy
    # ablations, fitted once: the method without production rows, and both learners on the full training split
    # (with its non-US rows), to separate what the production rows add from what the learner adds
    if "ablation_models" not in _CACHE:
        df, _ = _adult()
        full = df[df.split == "train"].drop(columns="split").reset_index(drop=True)
        _CACHE["ablation_models"] = {
            "hgb, US training rows only": train_table(train, target="income", method="hgb", features=feats)[0],
            "baseline, full training split": train_table(full, target="income", method="baseline", features=feats)[0],
            "hgb, full training split": train_table(full, target="income", method="hgb", features=feats)[0]}
    res["ablation_non_us"] = {k: non_us(m) for k, m in _CACHE["ablation_models"].items()}
    return res


def _point_gate(rows: list, min_group: int) -> bool:
    """Worst-group accuracy of the candidate not lower than the current's, over groups with >= min_group rows."""
    rows = [r for r in rows if r[0] != "all" and r[1] is not None and r[1] >= min_group]
    return bool(rows) and min(r[3] for r in rows) >= min(r[2] for r in rows)


def _summarise(runs: list[dict]) -> dict:
    """False alarms on windows 1-10, detection at 11 and 15, CBPE vs realised, retrain lift, over the seeds."""
    def has(r, w, det, word=None):
        return any(a["detector"] == det and (word is None or word in a["message"]) for a in r["alerts"].get(w, []))

    cbpe = []
    for r in runs:
        est = r["series"].get("Accuracy (estimated, CBPE) per window", {}).get("all", {})
        real = r["series"].get("Accuracy (realised) per window", {}).get("all", {})
        both = sorted(set(est) & set(real))
        cbpe.append(max(abs(est[w] - real[w]) for w in both) if both else None)
    out = {"runs": len(runs),
           "false_alarm_runs": int(sum(any(w <= 10 for w in r["alerts"]) for r in runs)),
           "new_subpopulation_fail_at_11": int(sum(any(a["detector"] == "subpopulations" and a["severity"] == "fail"
                                                       for a in r["alerts"].get(11, [])) for r in runs)),
           "age_drift_at_15": int(sum(has(r, 15, "feature_drift", "Drift of age ") for r in runs)),
           "age_drift_before_15": int(sum(any(has(r, w, "feature_drift", "Drift of age ") for w in range(1, 15))
                                          for r in runs)),
           "cbpe_max_abs_error_all_rows": {"median": float(np.median([c for c in cbpe if c is not None])),
                                           "max": float(max(c for c in cbpe if c is not None))}}
    rt = [r["retrain"] for r in runs if "retrain" in r]
    if rt:
        cur = np.array([x["current_non_us"] for x in rt])
        out["retrain"] = {"non_us_heldback_rows_mean": float(np.mean([x["non_us_heldback_rows"] for x in rt])),
                          "current_non_us_mean": float(cur.mean()), "variants": {}, "ablation_non_us_mean": {}}
        for v in rt[0]["variants"]:
            xs = [x["variants"][v] for x in rt]
            lift = np.array([x["candidate_non_us"] for x in xs]) - cur
            dwg = np.array([x["candidate_worst"][1] - x["current_worst"][1] for x in xs])
            out["retrain"]["variants"][v] = {
                "non_us_lift_mean": float(lift.mean()), "non_us_lift_min": float(lift.min()),
                "non_us_lift_max": float(lift.max()), "runs_lifted": int((lift > 0).sum()),
                "worst_group_change_mean": float(dwg.mean()), "worst_group_change_min": float(dwg.min()),
                "worst_group_change_max": float(dwg.max()),
                "point_gate_passed": int(sum(x["point_gate"] for x in xs)),
                "interval_gate_passed": int(sum(x["interval_gate"] for x in xs)),
                "interval_width_mean": float(np.mean([x["interval"][1] - x["interval"][0] for x in xs])),
                # the point gate had `--min-group 100` been used (from the per-group tables; groups >= 100 rows)
                "point_gate_passed_min_group_100": int(sum(_point_gate(x["groups"], 100) for x in xs if "groups" in x)),
                "seconds_mean": float(np.mean([x["seconds"] for x in xs]))}
        for k in rt[0]["ablation_non_us"]:
            out["retrain"]["ablation_non_us_mean"][k] = float(np.mean([x["ablation_non_us"][k] for x in rt]))
    return out


def run_replay(args) -> None:
    runs = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        with_retrain = not (args.budget and time.perf_counter() - t0 > args.budget)
        if not with_retrain and runs and "retrain" in runs[-1]:
            print(f"time budget of {args.budget} s spent after {seed} seeds: the rest monitor only", flush=True)
        r = replay(seed, retrain_at_end=with_retrain)
        runs.append(r)
        if not with_retrain:
            print(f"seed {seed}: alerts on windows 1-10: {sorted(w for w in r['alerts'] if w <= 10)}; "
                  f"window 11: {sorted({a['detector'] for a in r['alerts'].get(11, [])})}; "
                  f"window 15: {sorted({a['detector'] for a in r['alerts'].get(15, [])})}", flush=True)
            continue
        rt = r["retrain"]
        print(f"seed {seed}: alerts on windows 1-10: {sorted(w for w in r['alerts'] if w <= 10)}; "
              f"window 11: {sorted({a['detector'] for a in r['alerts'].get(11, [])})}; "
              f"window 15: {sorted({a['detector'] for a in r['alerts'].get(15, [])})}; "
              f"non-US current {rt['current_non_us']:.3f} -> "
              + ", ".join(f"{k} {v['candidate_non_us']:.3f} (wg {v['current_worst'][1]:.3f}->{v['candidate_worst'][1]:.3f}"
                          f" point {'Y' if v['point_gate'] else 'n'} interval {'Y' if v['interval_gate'] else 'n'})"
                          for k, v in rt["variants"].items())
              + f"; ingest {r['ingest_s']:.1f} s, check {r['check_s']:.2f} s", flush=True)
    summary = _summarise(runs)
    summary["seconds"] = time.perf_counter() - t0
    print(json.dumps(summary, indent=1))
    full = runs[0]
    print(json.dumps({k: v for k, v in full.items() if k != "series"}, indent=1, default=str)[:6000])
    Path(args.out).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1, default=str))
    if args.plot:
        _plot(full, Path(args.plot), runs)


def _plot(r: dict, path: Path, runs: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(9, 13))
    grid = fig.add_gridspec(4, 1, height_ratios=[1, 1, 1, 0.9])
    axes = [fig.add_subplot(grid[0])]
    axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in (1, 2)]
    ax = axes[0]
    for det, col in (("subpopulations", "C3"), ("feature_drift", "C0"), ("ood", "C1"), ("prediction_drift", "C2"),
                     ("performance", "C4"), ("cbpe", "C5"), ("fairness", "C6")):
        ws = [w for w, a in r["alerts"].items() if any(x["detector"] == det for x in a)]
        ax.scatter(ws, [det] * len(ws), color=col, s=40)
    ax.axvline(10.5, color="grey", ls=":")
    ax.axvline(14.5, color="grey", ls="--")
    ax.set_title("Alerts per window (new subpopulation from 11, covariate shift from 15)")
    est = r["series"].get("Accuracy (estimated, CBPE) per window", {})
    real = r["series"].get("Accuracy (realised) per window", {})
    ax = axes[1]
    for i, g in enumerate(["all", "sex=Female & race=White", "sex=Male & race=White", "sex=Male & race=Black"]):
        if g in est:
            xs = sorted(est[g])
            ax.plot(xs, [est[g][x] for x in xs], color=f"C{i}", ls="--", label=f"{g} CBPE")
        if g in real:
            xs = sorted(real[g])
            ax.plot(xs, [real[g][x] for x in xs], color=f"C{i}", marker="o", label=f"{g} realised")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Estimated (CBPE) and realised accuracy per group (labels two windows late)")
    ax = axes[2]
    for title, key in (("PSI of age per window", "all"), ("PSI of education per window", "all")):
        s = r["series"].get(title, {}).get(key, {})
        xs = sorted(s)
        ax.plot(xs, [s[x] for x in xs], marker=".", label=title.replace(" per window", ""))
    ood = r["series"].get("OOD rate per window", {}).get("all", {})
    xs = sorted(ood)
    ax.plot(xs, [ood[x] for x in xs], marker=".", label="OOD rate")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("window")
    ax.legend(fontsize=8)
    rt = [x["retrain"] for x in (runs or [r]) if "retrain" in x]
    if rt:
        ax = fig.add_subplot(grid[3])
        names = list(rt[0]["variants"])
        abl = list(rt[0]["ablation_non_us"])
        data = [[x["variants"][v]["candidate_non_us"] - x["current_non_us"] for x in rt] for v in names]
        data += [[x["ablation_non_us"][k] - x["current_non_us"] for x in rt] for k in abl]
        labels = [f"retrain {v}\nregistered {sum(x['variants'][v]['point_gate'] for x in rt)}/{len(rt)}" for v in names]
        labels += [k.replace(", ", "\n") + "\n(ablation)" for k in abl]
        ax.boxplot(data, tick_labels=labels)
        ax.axhline(0, color="grey", lw=0.8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylabel("non-US accuracy\nminus current")
        ax.set_title(f"Non-US accuracy change vs current on held-back rows ({len(rt)} seeds; "
                     f"current {np.mean([x['current_non_us'] for x in rt]):.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


# ============================================================================ ingestion
def synth(n: int, cols: int, seed: int, drift_cols: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for j in range(cols):
        if j % 4 == 3:
            data[f"c{j}"] = rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08])
        else:
            data[f"x{j}"] = rng.normal(0.5 if j < drift_cols else 0.0, 1.0, n)
    df = pd.DataFrame(data)
    df["group"] = rng.choice(["g1", "g2", "g3"], n, p=[0.5, 0.3, 0.2])
    logit = df["x0"] - 0.5 * df["x1"]
    df["score"] = 1 / (1 + np.exp(-logit))
    df["y"] = (rng.random(n) < df["score"]).astype(int)
    df["pred"] = (df["score"] >= 0.5).astype(int)
    return df


def run_ingest(args) -> dict:
    import socket
    import threading

    import httpx

    from unskew.monitor import Monitor

    tmp = Path(tempfile.mkdtemp(prefix="unskew-ingest-"))
    db = tmp / "ingest.db"
    mon = Monitor(args.store or f"sqlite:///{db}")
    mon.init("m", synth(50_000, args.cols, 0), target="y", predictions="pred", scores="score", sensitive=["group"])
    rows = synth(args.rows, args.cols, 1).drop(columns="y")
    rows["id"] = [f"r{i}" for i in range(len(rows))]
    bs = args.batch
    load0 = _load()
    t0 = time.perf_counter()
    for i in range(0, len(rows), bs):
        mon.log("m", rows.iloc[i:i + bs], id="id")
    py_s = time.perf_counter() - t0
    size_predictions = _store_bytes(db) if not args.store else _pg_bytes(mon)
    labels = synth(args.rows, args.cols, 1)[["y"]]
    labels["id"] = rows["id"]
    t0 = time.perf_counter()
    for i in range(0, len(labels), bs):
        mon.log_labels("m", labels.iloc[i:i + bs], id="id", target="y")
    lab_s = time.perf_counter() - t0
    size = _store_bytes(db) if not args.store else _pg_bytes(mon)
    mon.store.dispose()

    def http_rate():  # uvicorn in a thread, loopback, Parquet bodies
        import uvicorn

        from unskew.monitor._server import create_app

        db2 = tmp / "http.db"
        mon2 = Monitor(f"sqlite:///{db2}")
        mon2.init("m", synth(50_000, args.cols, 0), target="y", predictions="pred", scores="score", sensitive=["group"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(f"sqlite:///{db2}", token="bench"), host="127.0.0.1", port=port,
                                               log_level="warning"))
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        while not server.started:
            time.sleep(0.05)
        import io

        n_http = min(args.rows, args.http_rows)
        bodies = []
        for i in range(0, n_http, bs):
            buf = io.BytesIO()
            rows.iloc[i:i + bs].to_parquet(buf)
            bodies.append(buf.getvalue())
        t0 = time.perf_counter()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench"}, timeout=120) as c:
            for body in bodies:
                r = c.post("/v1/models/m/predictions?id=id", content=body,
                           headers={"Content-Type": "application/vnd.apache.parquet"})
                r.raise_for_status()
        http_s = time.perf_counter() - t0
        server.should_exit = True
        return n_http, n_http / http_s

    n_http, http_rate_s = (0, None) if args.skip_http else http_rate()
    out = {"rows": len(rows), "batch": bs, "cols": args.cols, "python_rows_per_s": len(rows) / py_s,
           "labels_rows_per_s": len(labels) / lab_s, "http_rows": n_http, "http_rows_per_s": http_rate_s,
           "store_bytes_per_million_rows": size_predictions / len(rows) * 1e6,
           "store_bytes_per_million_rows_with_labels_and_queue": size / len(rows) * 1e6, "load_before": load0, "load_after": _load()}
    print(json.dumps(out))
    return out


# ============================================================================ peers
NANNYML_SCRIPT = r"""
import json, sys, time, tracemalloc, resource
import numpy as np, pandas as pd, nannyml as nml
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2]); chunk = int(sys.argv[3])
drifted = json.loads(sys.argv[4])
feats = [c for c in ref.columns if c.startswith(("x", "c"))]
out = {"nannyml": nml.__version__}
t = time.perf_counter()
est = nml.CBPE(y_pred_proba="score", y_pred="pred", y_true="y", metrics=["accuracy"], chunk_size=chunk,
               problem_type="classification_binary")
est.fit(ref); res = est.estimate(cur.drop(columns="y"))
out["cbpe_s"] = time.perf_counter() - t
df = res.filter(period="analysis").to_df()
out["cbpe_accuracy"] = float(np.nanmean(df[("accuracy", "value")]))
t = time.perf_counter()
calc = nml.UnivariateDriftCalculator(column_names=feats, chunk_size=chunk)
calc.fit(ref); dr = calc.calculate(cur).filter(period="analysis").to_df()
out["drift_s"] = time.perf_counter() - t
alerts = {}
for c in feats:
    meth = "jensen_shannon"
    col = [k for k in dr.columns if k[0] == c and k[2] == "alert"]
    alerts[c] = float(np.mean(dr[col[0]].astype(bool))) if col else None
undrift = [c for c in feats if c not in drifted]
out["false_alarm_rate_undrifted"] = float(np.mean([alerts[c] for c in undrift if alerts[c] is not None]))
out["chunks_with_any_false_alarm"] = float(np.mean(np.any(np.column_stack([dr[[k for k in dr.columns if k[0] == c and k[2] == "alert"][0]].astype(bool) for c in undrift]), axis=1)))
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

EVIDENTLY_SCRIPT = r"""
import json, sys, time, resource
import pandas as pd
import evidently
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
feats = [c for c in ref.columns if c.startswith(("x", "c"))]
t = time.perf_counter()
snap = Report([DataDriftPreset()]).run(reference_data=ref[feats], current_data=cur[feats])
js = snap.json()
t_all = time.perf_counter() - t
drift = {}
for m in snap.dict()['metrics']:  # per column: drifted by the preset's own method and threshold
    c = m.get('config', {})
    if c.get('type', '').endswith('ValueDrift'):
        pv = 'p_value' in c['method'].lower() or 'test' in c['method'].lower()
        drift[c['column']] = bool(m['value'] < c['threshold']) if pv else bool(m['value'] >= c['threshold'])
drifted = json.loads(sys.argv[3])
und = [c for c in feats if c not in drifted]
extra = {'false_alarm_rate_undrifted': sum(drift[c] for c in und) / len(und),
         'drifted_columns_flagged': sorted(c for c in drifted if drift.get(c))}
out = {"evidently": evidently.__version__, "drift_s": t_all, **extra, "report_bytes": len(js),
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(out))
"""


def _peer(python: str, script: str, *argv: str) -> dict:
    if not Path(python).exists():
        return {"error": f"{python} not found (make the venv: see the module docstring)"}
    p = subprocess.run([python, "-c", script, *argv], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        return {"error": p.stderr[-1500:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _drift_false_alarms(monitor, window: str, drifted: list[str], feats: list[str]) -> dict:
    """Feature-drift alerts per (window, column) on undrifted and drifted columns, overall and per group.

    Counted from every test (:func:`unskew.monitor._check.evaluate`, the same decision ``check`` makes),
    not from the report's alert table, which is capped at 200 rows."""
    from unskew.monitor._check import evaluate

    ev = evaluate(monitor, "m", window=window, detectors=["feature_drift"], params={"fdr_scope": "window"})
    und = [c for c in feats if c not in drifted]
    n_w = len(ev["windows"])
    al = [a for a in ev["alerts"]]
    overall = {(a.window_index, a.feature) for a in al if a.group is None}
    by_group = {(a.window_index, a.feature, a.group) for a in al if a.group is not None}
    n_groups = len(ev["profile"].groups)
    return {"false_alarm_rate_undrifted": len({k for k in overall if k[1] not in drifted}) / max(1, n_w * len(und)),
            "false_alarm_rate_undrifted_per_group": len({k for k in by_group if k[1] not in drifted})
            / max(1, n_w * len(und) * n_groups),
            "windows_with_any_false_alarm": len({a.window_index for a in al if a.feature not in drifted}) / max(1, n_w),
            "drifted_detected_rate": len({k for k in overall if k[1] in drifted}) / max(1, n_w * len(drifted)),
            "drifted_columns_flagged": sorted({a.feature for a in al if a.feature in drifted}),
            "windows": n_w}


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_unskew_e2e(args) -> dict:
    """unskew through the store: init (profile) + log every chunk + check (a subprocess of ``peers``)."""
    from unskew.monitor import Monitor

    ref, cur = pd.read_parquet(args.ref), pd.read_parquet(args.cur)
    drifted, chunk = json.loads(args.drifted), args.chunk
    feats = [c for c in ref.columns if c.startswith(("x", "c"))]
    tmp = Path(tempfile.mkdtemp(prefix="unskew-peers-"))
    db = tmp / "u.db"
    mon = Monitor(f"sqlite:///{db}")
    t0 = time.perf_counter()
    mon.init("m", ref, target="y", predictions="pred", scores="score", sensitive=["group"], block_rows=chunk)
    t_init = time.perf_counter() - t0
    curl = cur.drop(columns="y")
    curl["id"] = [f"r{i}" for i in range(len(curl))]
    t0 = time.perf_counter()
    for i in range(0, len(curl), chunk):
        mon.log("m", curl.iloc[i:i + chunk], id="id")
    t_log = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = mon.check("m", window=str(chunk), store_alerts=False, params={"fdr_scope": "window"})
    t_check = time.perf_counter() - t0
    js = rep.to_json()
    w = mon.windows("m", str(chunk))
    est = float(np.mean([sum(v[1] for v in x["payload"]["cbpe"].values()) / x["n"] for x in w]))
    out = {"init_s": t_init, "log_s": t_log, "check_s": t_check, "total_s": t_init + t_log + t_check,
           "log_rows_per_s": len(curl) / t_log, "report_bytes": len(js), "store_bytes": _store_bytes(db),
           "cbpe_accuracy": est, "peak_rss_mb": _peak_mb()}
    out.update(_drift_false_alarms(mon, str(chunk), drifted, feats))
    mon.store.dispose()
    print(json.dumps(out))
    return out


def run_unskew_mem(args) -> dict:
    """unskew's analysis alone, in memory (what Evidently's preset does): profile + window aggregates + check;
    and the CBPE share of it (calibration fit, per-row expected confusion, per-window sums, finalisation)."""
    from unskew.monitor import build_profile, window_aggregates
    from unskew.monitor._aggregate import _group_codes, cbpe_sums
    from unskew.monitor._analyze import _InMemory
    from unskew.monitor._check import run_check
    from unskew.monitor._detectors import Context, EstimatedPerformance
    from unskew.monitor._monitor import cbpe_rows
    from unskew.monitor._profile import fit_calibration, group_names, label_str

    ref, cur = pd.read_parquet(args.ref), pd.read_parquet(args.cur).drop(columns="y")
    drifted, chunk = json.loads(args.drifted), args.chunk
    feats = [c for c in ref.columns if c.startswith(("x", "c"))]
    t0 = time.perf_counter()
    prof = build_profile(ref, target="y", predictions="pred", scores="score", sensitive=["group"])
    t_prof = time.perf_counter() - t0
    t0 = time.perf_counter()
    wins = window_aggregates(prof, cur, window=str(chunk), chunk_rows=100_000)
    t_agg = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = run_check(_InMemory(prof, wins), "m", window=str(chunk), store_alerts=False, params={"fdr_scope": "window"})
    t_check = time.perf_counter() - t0
    js = rep.to_json()
    out = {"profile_s": t_prof, "aggregate_s": t_agg, "check_s": t_check, "total_s": t_prof + t_agg + t_check,
           "report_bytes": len(js), "peak_rss_mb": _peak_mb()}
    # CBPE alone, the part comparable to NannyML's CBPE fit + estimate on the same rows
    t0 = time.perf_counter()
    y = label_str(ref["y"])
    cal = fit_calibration(ref["score"].to_numpy(dtype=float), y == prof.pos_label)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    yp, sc = label_str(cur["pred"]), cur["score"].to_numpy(dtype=float)
    rows = cbpe_rows(prof, yp, sc)
    groups = group_names(cur, ["group"])
    sums = []
    for i in range(0, len(cur), chunk):  # per window, as the buckets are summed on ingestion
        sums.append(cbpe_sums(*_group_codes(groups[i:i + chunk]), rows[i:i + chunk]))
    t_rows = time.perf_counter() - t0
    t0 = time.perf_counter()
    tests, _ = EstimatedPerformance().run(Context(profile=prof, windows=wins, params={}))
    t_fin = time.perf_counter() - t0
    out.update(_drift_false_alarms(_InMemory(prof, wins), str(chunk), drifted, feats))
    out["cbpe"] = {"calibration_fit_s": t_fit, "rows_and_window_sums_s": t_rows, "finalise_s": t_fin,
                   "total_s": t_fit + t_rows + t_fin, "calibration_points": len(cal["x"]),
                   "accuracy": float(rows[:, 0].mean()), "tests": len(tests)}
    print(json.dumps(out))
    return out


def _pg_bytes(mon) -> int:
    """Bytes of the monitor tables (with indexes and TOAST) on PostgreSQL."""
    with mon.store.engine.connect() as c:
        return int(c.exec_driver_sql(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE left(relname, 8) = 'monitor_' AND relkind = 'r'").scalar())


def _store_bytes(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as c:  # the WAL is transient: checkpoint it into the file first
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*"))


def _sub(cmd: str, *argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), cmd, *argv], capture_output=True, text=True,
                       timeout=3600, env=env)
    if p.returncode != 0:
        return {"error": p.stderr[-2000:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _load() -> dict:
    try:
        la1, la5, _ = os.getloadavg()
        return {"load_1m": la1, "load_5m": la5, "cpus": os.cpu_count()}
    except OSError:  # pragma: no cover
        return {}


def run_peers(args) -> dict:
    n, cols, chunk = args.rows, args.cols, args.chunk
    drift_cols = 2
    tmp = Path(tempfile.mkdtemp(prefix="unskew-peers-"))
    ref = synth(n, cols, 0)
    cur = synth(n, cols, 1, drift_cols=drift_cols)
    rp, cp = tmp / "ref.parquet", tmp / "cur.parquet"
    ref.to_parquet(rp)
    cur.to_parquet(cp)
    del ref
    drifted = [f"x{j}" for j in range(drift_cols) if j % 4 != 3]
    res = {"rows": n, "cols": cols, "chunk": chunk, "drifted_columns": drifted, "load_before": _load(),
           "realised_accuracy": float((cur.y == cur.pred).mean())}
    del cur
    # each in its own process, so that each peak memory is its own
    res["unskew_analysis"] = _sub("unskew-mem", str(rp), str(cp), str(chunk), json.dumps(drifted))
    res["unskew_end_to_end"] = _sub("unskew-e2e", str(rp), str(cp), str(chunk), json.dumps(drifted))
    res["nannyml"] = _peer(args.nannyml_python, NANNYML_SCRIPT, str(rp), str(cp), str(chunk), json.dumps(drifted))
    if not args.skip_evidently:
        res["evidently"] = _peer(args.evidently_python, EVIDENTLY_SCRIPT, str(rp), str(cp), json.dumps(drifted))
    res["load_after"] = _load()
    ua, ue = res["unskew_analysis"], res["unskew_end_to_end"]
    nm, ev = res["nannyml"], res.get("evidently", {})
    ratios = {}
    if "drift_s" in ev:
        for k, u in (("analysis", ua), ("end_to_end", ue)):
            if "total_s" in u:
                ratios[f"evidently_over_unskew_{k}"] = ev["drift_s"] / u["total_s"]
                ratios[f"evidently_over_unskew_{k}_peak_rss"] = ev["peak_rss_mb"] / u["peak_rss_mb"]
    if "cbpe_s" in nm and "cbpe" in ua:
        ratios["unskew_cbpe_over_nannyml_cbpe"] = ua["cbpe"]["total_s"] / nm["cbpe_s"]
    if "drift_s" in nm and "total_s" in ua:
        ratios["nannyml_drift_over_unskew_analysis"] = nm["drift_s"] / ua["total_s"]
    res["ratios"] = ratios
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--seeds", type=int, default=20)
    r.add_argument("--plot", default=None)
    r.add_argument("--budget", type=float, default=0,
                   help="After this many seconds, later seeds run the monitoring without the retrain step (0: no limit).")
    r.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "unskew_replay.json"))
    i = sub.add_parser("ingest")
    i.add_argument("--rows", type=int, default=200_000)
    i.add_argument("--http-rows", type=int, default=100_000)
    i.add_argument("--cols", type=int, default=20)
    i.add_argument("--batch", type=int, default=10_000)
    i.add_argument("--store", default=None, help="store URL of the Python path (default: a temporary SQLite file); "
                                                 "the HTTP path always uses SQLite")
    i.add_argument("--skip-http", action="store_true")
    p = sub.add_parser("peers")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--cols", type=int, default=20)
    p.add_argument("--chunk", type=int, default=10_000)
    p.add_argument("--nannyml-python", default=os.environ.get("NANNYML_PYTHON", "/work/venvs/nannyml/bin/python"))
    p.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON", "/work/venvs/evidently/bin/python"))
    p.add_argument("--skip-evidently", action="store_true")
    p.add_argument("--out", default=None, help="also write the JSON here")
    for name in ("unskew-mem", "unskew-e2e"):  # the unskew halves of `peers`, each in its own process
        u = sub.add_parser(name)
        u.add_argument("ref")
        u.add_argument("cur")
        u.add_argument("chunk", type=int)
        u.add_argument("drifted")
    args = ap.parse_args()
    {"replay": run_replay, "ingest": run_ingest, "peers": run_peers, "unskew-mem": run_unskew_mem,
     "unskew-e2e": run_unskew_e2e}[args.cmd](args)


if __name__ == "__main__":
    main()
