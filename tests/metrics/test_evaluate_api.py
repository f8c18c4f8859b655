"""``unskew.metrics.evaluate``: the report sections, gates and streaming."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.metrics import DEFAULT_THRESHOLDS, evaluate, group_metrics


def _table(n=4000, gap=0.0, seed=0):
    """Two groups; ``gap`` lowers group B's chance of a positive prediction."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["A", "B"], n)
    x = rng.normal(size=n)
    y = (x + rng.normal(scale=0.8, size=n) > 0).astype(int)
    score = 1 / (1 + np.exp(-(2 * x - 3 * gap * (g == "B"))))
    return pd.DataFrame({"g": g, "region": rng.choice(["n", "s"], n), "x": x, "y": y, "score": score,
                         "pred": (score >= 0.5).astype(int)})


def test_planted_gap_fails_and_no_gap_passes():
    bad = evaluate(_table(gap=1.0), target="y", sensitive="g", predictions="pred", scores="score")
    fair = evaluate(_table(gap=0.0), target="y", sensitive="g", predictions="pred", scores="score")
    rb, rf = bad.report, fair.report
    assert rb.kind == "evaluate"
    assert [c.name for c in rb.checks] == ["group_metrics", "fairness_gaps", "calibration", "individual_fairness",
                                          "counterfactual", "challenge"]
    assert rb["fairness_gaps"].status == "fail" and rf["fairness_gaps"].status == "pass"
    assert rb["counterfactual"].status == "skipped" and rb["challenge"].status == "skipped"
    top = rb["fairness_gaps"].findings[0]
    assert top.severity == "fail" and "g=B" in top.message
    # the gap in the report is the engine's number
    direct = group_metrics(_table(gap=1.0)["y"], _table(gap=1.0)["pred"], sensitive_features=_table(gap=1.0)["g"])
    assert rb["fairness_gaps"].summary["demographic_parity_difference"] == pytest.approx(
        direct.difference()["selection_rate"], abs=1e-6)
    d = json.loads(rb.to_json())
    tables = {t["title"]: t for c in d["checks"] for t in c["tables"]}
    assert "Four-fifths rule (selection rate / reference rate)" in tables
    charts = [ch for c in d["checks"] for ch in c["charts"]]
    assert any(b["low"] is not None for ch in charts for b in ch["bars"])


def test_thresholds_override_and_validation():
    t = _table(gap=0.15)
    base = evaluate(t, target="y", sensitive="g", predictions="pred")
    strict = evaluate(t, target="y", sensitive="g", predictions="pred",
                      thresholds={"demographic_parity_difference": "0.01:0.02", "disparate_impact_ratio": "off"})
    dp = base.fairness.loc["demographic_parity_difference", "value"]
    assert 0.02 < dp < DEFAULT_THRESHOLDS["demographic_parity_difference"][0]
    assert strict.report["fairness_gaps"].status == "fail"
    assert strict.report.parameters["thresholds"]["disparate_impact_ratio"] is None
    with pytest.raises(UnskewInputError, match="Unknown threshold"):
        evaluate(t, target="y", sensitive="g", predictions="pred", thresholds={"dp": "0.1:0.2"})
    with pytest.raises(UnskewInputError, match="WARN:FAIL"):
        evaluate(t, target="y", sensitive="g", predictions="pred", thresholds={"accuracy_difference": "high"})


def test_small_groups_are_left_out_of_gaps_and_said_so():
    t = _table(n=2000)
    t.loc[:9, "g"] = "C"  # 10 rows
    ev = evaluate(t, target="y", sensitive="g", predictions="pred")
    gaps = ev.report["fairness_gaps"]
    assert gaps.summary["groups_excluded"] == ["g=C"]
    assert any("g=C" in f.message and f.severity == "warn" for f in gaps.findings)
    assert "only 10 rows" in " ".join(f.message for f in ev.report["group_metrics"].findings)


def test_model_predictions_counterfactual_and_challenge(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    t = _table(gap=1.0)
    X = t[["g", "x"]]
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["g"]), remainder="passthrough"),
                          LogisticRegression()).fit(X, (t["score"] > 0.5).astype(int))
    cases = pd.DataFrame({"id": ["p", "q"], "g": ["A", "B"], "x": [3.0, -3.0], "expected": [1, 1],
                          "tags": ["easy", "hard"]})
    ev = evaluate(t.drop(columns=["pred", "score"]), target="y", sensitive="g", model=model, challenge=cases)
    assert ev.report.dataset["predictions_from"] == "model"
    assert ev.stats.has_scores  # predict_proba became the scores
    assert ev.report["counterfactual"].status in ("warn", "fail")
    assert ev.counterfactual.overall["flip_rate"] > 0.05
    ch = ev.report["challenge"]
    assert ch.status == "fail" and ch.summary["n_failed"] == 1
    assert "q" in " ".join(f.message for f in ch.findings)
    assert "consistency" in ev.report["individual_fairness"].summary


def test_streaming_parquet_equals_in_memory(tmp_path):
    t = _table(n=5000, gap=0.5)
    t.to_parquet(tmp_path / "t.parquet", row_group_size=700)
    mem = evaluate(t, target="y", sensitive="g,region", predictions="pred", scores="score", score_bins=1024)
    st = evaluate(tmp_path / "t.parquet", target="y", sensitive=["g", "region"], predictions="pred", scores="score",
                  score_bins=1024, stream=True, batch_size=900)
    pd.testing.assert_frame_equal(st.metrics.by_group, mem.metrics.by_group, rtol=1e-12)
    assert st.report.dataset["streamed"] is True
    with pytest.raises(UnskewInputError, match="Parquet"):
        evaluate(tmp_path / "x.csv", target="y", sensitive="g", predictions="pred", stream=True)


def test_regression_and_multiclass_reports():
    rng = np.random.default_rng(3)
    n = 1500
    g = rng.choice(["u", "v"], n)
    y = rng.normal(size=n) + 0.2
    reg = evaluate(pd.DataFrame({"g": g, "y": y, "p": y + rng.normal(scale=0.3 + (g == "v"), size=n)}),
                   target="y", sensitive="g", predictions="p")
    assert reg.metrics.kind == "regression"
    assert "mae_difference" in reg.fairness.index and reg.report["calibration"].status == "skipped"
    yc = rng.integers(0, 3, n)
    mc = evaluate(pd.DataFrame({"g": g, "y": yc, "p": np.where(rng.random(n) < 0.7, yc, 0)}),
                  target="y", sensitive="g", predictions="p")
    assert mc.metrics.kind == "multiclass"
    assert "selection_rate[2]" in mc.metrics.by_group.columns
    json.loads(mc.report.to_json())


def test_evaluate_input_errors():
    t = _table(n=200)
    with pytest.raises(UnskewInputError, match="predictions column"):
        evaluate(t, target="y", sensitive="g")
    with pytest.raises(UnskewInputError, match="'gg'"):
        evaluate(t, target="y", sensitive="gg", predictions="pred")
