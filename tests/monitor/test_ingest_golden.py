"""Ingestion gives what it gave before the columnar row store (revision 0003), for a fixed input.

``data/ingest_before_0003.json`` holds the outputs of :func:`run` computed by the code of commit
a3c0e1a (one JSON document per row): log and label summaries, every window's aggregates (row and
day windows), the labelled rows, the failure queue and the check's statuses. Floats are compared to
1e-12 relative (JSON kept 15 digits; sums of CBPE probabilities depend on the summation order).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from _monitor_data import make_rows

from unskew.monitor import Monitor

GOLDEN = Path(__file__).parent / "data" / "ingest_before_0003.json"


def golden_input():
    a = make_rows(200, 51)
    a["ts"] = "2026-01-01T10:00:00Z"
    b = make_rows(100, 52, new_region=True, start=200)
    b["ts"] = "2026-01-02T11:00:00Z"
    c = make_rows(100, 53, shift=1.5, start=300)
    c["ts"] = "2026-01-03T12:30:00.5Z"
    c.loc[3, "region"] = None
    c.loc[5, "x2"] = np.nan
    return a, b, c


def run(mon):
    mon.init("credit", make_rows(3000, 50).drop(columns="id"), target="y", predictions="pred", scores="score",
             sensitive=["sex", "race"], block_rows=100)
    a, b, c = golden_input()
    out = {"log": []}
    for x in (a, b, c, pd.concat([a.iloc[:20], b.iloc[:20]])):
        r = mon.log("credit", x.drop(columns="y"), id="id", timestamp="ts")
        r.pop("batch")
        out["log"].append(r)
    allr = pd.concat([a, b, c])
    lab = allr.iloc[::2][["id", "y"]]
    out["labels"] = mon.log_labels("credit", lab, id="id", target="y")
    flip = lab.iloc[:40].copy()
    flip["y"] = 1 - flip["y"]
    out["labels2"] = mon.log_labels("credit", flip, id="id", target="y")
    out["win_rows"] = [[w["label"], w["n"], w["payload"], w["labels"]] for w in mon.windows("credit", "100")]
    out["win_days"] = [[w["label"], w["n"], w["payload"], w["labels"], str(w["min_ts"]), str(w["max_ts"])]
                       for w in mon.windows("credit", "1d")]
    lr = mon.labelled_rows("credit")
    lr["__ts"] = lr["__ts"].astype(str)
    out["labelled"] = json.loads(lr.to_json(orient="split", index=False, double_precision=15))
    q = mon.queue("credit").drop(columns="queued_at").sort_values(["row_id", "reason"])
    out["queue"] = json.loads(q.to_json(orient="split", index=False, double_precision=15))
    rep = mon.check("credit", window="100", store_alerts=False)
    out["check"] = [[c.name, c.status, c.summary] for c in rep.checks]
    return out


def _same(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))[:5]}"]
        return [d for k in a for d in _same(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            return []
    elif a == b:
        return []
    return [f"{path}: {a!r} != {b!r}"]


def test_outputs_equal_the_pre_0003_code(tmp_path):
    got = json.loads(json.dumps(run(Monitor(f"sqlite:///{tmp_path / 'g.db'}"))))
    want = json.loads(GOLDEN.read_text())
    diffs = _same(got, want)
    assert not diffs, "\n".join(diffs[:20])
