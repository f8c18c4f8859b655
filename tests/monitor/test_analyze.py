"""The in-memory check (no store) agrees with the stored path on the same rows."""

from __future__ import annotations

import pandas as pd
import pytest
from _monitor_data import make_rows

from unskew.exceptions import UnskewInputError
from unskew.monitor import analyze, window_aggregates


def _rounded(x):
    """Aggregates with floats rounded (sums of CBPE probabilities depend on the summation order)."""
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return round(x, 9) if isinstance(x, float) else x


def _current():
    a = make_rows(1000, 31)
    b = make_rows(500, 32, new_region=True, start=1000)
    c = make_rows(500, 33, shift=1.5, start=1500)
    cur = pd.concat([a, b, c], ignore_index=True)
    cur["ts"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(cur.index // 400, unit="D")
    return cur


@pytest.mark.parametrize("window", ["500", "1d"])
def test_analyze_equals_log_then_check(mon, reference, window):
    cur = _current()
    mon.log("credit", cur.drop(columns="y"), id="id", timestamp="ts")
    mon.log_labels("credit", cur[["id", "y"]], id="id", target="y")
    stored = mon.check("credit", window=window, store_alerts=False)
    prof = mon.profile("credit")
    # chunks smaller than the table: the windows are merged across chunks exactly
    wins = window_aggregates(prof, cur, window=window, timestamp="ts", target="y", chunk_rows=300)
    ref_w = mon.windows("credit", window)
    assert [(w["label"], w["n"], _rounded(w["payload"]), w["labels"]) for w in wins] == \
        [(w["label"], w["n"], _rounded(w["payload"]), w["labels"]) for w in ref_w]
    mem = analyze(None, cur, profile=prof, target="y", predictions="pred", sensitive=["sex", "race"],
                  window=window, timestamp="ts", current_target="y", chunk_rows=300)
    assert [(c.name, c.status, c.summary) for c in mem.checks[1:]] == \
        [(c.name, c.status, c.summary) for c in stored.checks[1:]]
    assert mem["subpopulations"].status == "fail"


def test_analyze_builds_the_profile_and_names_bad_rows(reference):
    cur = make_rows(2000, 34, shift=1.0)
    rep = analyze(reference, cur, target="y", predictions="pred", scores="score", sensitive=["sex"], window="1000")
    assert rep.kind == "monitor" and rep["feature_drift"].status in ("warn", "fail")
    bad = cur.copy()
    bad["x1"] = bad["x1"].astype(object)
    bad.loc[1500, "x1"] = "oops"
    with pytest.raises(UnskewInputError, match=r"'x1'.*'oops'.*rows 1000-1999"):
        analyze(reference, bad, target="y", predictions="pred", sensitive=["sex"], window="1000", chunk_rows=1000)
    with pytest.raises(UnskewInputError, match="day windows need the timestamp"):
        analyze(reference, cur, target="y", predictions="pred", sensitive=["sex"], window="1d")
