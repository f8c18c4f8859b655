import json

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.slices import SliceFinder, find_slices, slices_report


def _eval_table(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "job": rng.choice(["clerk", "nurse", "driver", "chef"], n),
        "region": rng.choice(["north", "south", "east"], n),
        "sex": rng.choice(["F", "M"], n),
    })
    df["y"] = rng.integers(0, 2, n)
    # the model fails on nurses in the south, mostly women (sex is not searched)
    hot = ((df.job == "nurse") & (df.region == "south") & (df.sex == "F")).to_numpy()
    wrong = rng.random(n) < np.where(hot, 0.7, 0.1)
    df["pred"] = np.where(wrong, 1 - df.y, df.y)
    p_right = np.clip(rng.normal(0.8, 0.1, n), 0.55, 0.99)
    df["score"] = np.where(df.pred == 1, p_right, 1 - p_right)
    return df, hot


def test_find_slices_report_with_hidden_sensitive_attribute(tmp_path):
    df, hot = _eval_table()
    res = find_slices(df, target="y", predictions="pred", exclude=["score"], sensitive="sex")
    rep = res.report
    assert rep.kind == "slices" and rep.status == "fail"
    check = rep["slices"]
    assert check.summary["error_metric"] == "zero_one"
    assert "sex" not in res.finder.encoder_.features_ and "score" not in res.finder.encoder_.features_
    top = check.summary["slices"][0]
    assert top["slice"] == "job = nurse & region = south"
    assert top["over_represented_group"]["group"] == "sex=F"
    grp = top["over_represented_group"]
    assert grp["share_in_slice"] > grp["share_overall"]
    assert "Mostly sex=F" in check.findings[0].message
    assert check.findings[0].severity == "fail"
    data = json.loads(rep.to_json())
    assert data["kind"] == "slices" and data["checks"][0]["tables"][0]["rows"][0][1] == top["slice"]
    assert data["parameters"]["searched"] == ["age", "job", "region"]
    assert res.groups.shape == (len(df),) and (res.groups == 0).sum() == top["size"]
    assert res.slices.iloc[0]["slice"] == top["slice"]
    rep.save_json(tmp_path / "r.json")


def test_find_slices_from_file_with_scores(tmp_path):
    df, hot = _eval_table(seed=1)
    df["y"] = np.where(df.y == 1, "yes", "no")
    df["pred"] = np.where(df.pred == 1, "yes", "no")
    path = tmp_path / "eval.csv"
    df.to_csv(path, index=False)
    res = find_slices(path, target="y", scores="score", exclude=["pred", "sex"])
    assert res.finder.error_metric_ == "log_loss" and not res.finder.binary_errors_
    assert res.finder.slices_[0].description == "job = nurse & region = south"
    both = find_slices(path, target="y", predictions="pred", scores="score", exclude=["sex"])
    assert both.finder.error_metric_ == "zero_one"
    brier = find_slices(path, target="y", scores="score", exclude=["pred", "sex"], error="brier")
    assert brier.finder.error_metric_ == "brier"


def test_status_pass_without_problem_and_given_errors():
    df, _ = _eval_table(seed=2)
    rng = np.random.default_rng(5)
    df["loss"] = rng.exponential(size=len(df))
    res = find_slices(df, target="y", errors="loss", exclude=["pred", "score"])
    assert res.report.status == "pass"
    assert "No slice is significantly worse" in res.report["slices"].findings[0].message
    assert res.finder.error_metric_ == "given" and "loss" not in res.finder.encoder_.features_


def test_find_slices_bad_input():
    df, _ = _eval_table(n=300)
    with pytest.raises(UnskewInputError, match="predictions="):
        find_slices(df, target="y")
    with pytest.raises(UnskewInputError, match="'prediction'"):
        find_slices(df, target="y", predictions="prediction")
    with pytest.raises(UnskewInputError, match="cannot be searched"):
        find_slices(df, target="y", predictions="pred", features=["age", "pred"])
    bad = df.assign(score=["x"] * len(df))
    with pytest.raises(UnskewInputError, match="non-numeric"):
        find_slices(bad, target="y", scores="score")


def test_report_from_estimator_and_thresholds():
    df, hot = _eval_table(seed=3)
    X = df[["age", "job", "region"]]
    f = SliceFinder(top_k=3).fit(X, df.y, y_pred=df.pred)
    rep = f.report()
    assert rep.dataset == {"n_rows": len(df)} and rep.parameters["top_k"] == 3
    lenient = slices_report(f, thresholds={"warn_effect_size": 5.0, "fail_effect_size": 10.0})
    assert lenient.status == "pass"
    with pytest.raises(UnskewInputError, match="threshold"):
        slices_report(f, thresholds={"effect": 1})
    with pytest.raises(UnskewInputError, match="needs X"):
        slices_report(f, sensitive=df["sex"])
    chart = rep["slices"].charts[0]
    assert chart.reference == pytest.approx(f.mean_error_)
    assert chart.bars[0].low <= chart.bars[0].value <= chart.bars[0].high


def test_reports_validate_against_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    from unskew.slices import EmbeddingSliceFinder

    schema = json.loads(resources.files("unskew.report").joinpath("schema.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    df, _ = _eval_table(seed=4)
    rep = find_slices(df, target="y", predictions="pred", exclude=["score"], sensitive="sex").report
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(len(df), 5))
    emb = EmbeddingSliceFinder(n_clusters=5).fit(Z, df.y, y_pred=df.pred, attributes=df[["job"]]).report()
    for r in (rep, emb):
        errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(json.loads(r.to_json()))]
        assert errors == []
        assert "<html" in r.to_html().lower()


@pytest.mark.parametrize(("params", "match"), [
    ({"max_level": 0}, "--max-level"),
    ({"top_k": 0}, "--top"),
    ({"alpha": 2}, "--alpha"),
    ({"correction": "none?"}, "--correction"),
    ({"min_support": -3}, "--min-support"),
    ({"n_bins": 1}, "--bins"),
    ({"error": "hinge"}, "--error"),
])
def test_find_slices_checks_options_before_reading_the_table(tmp_path, params, match):
    from unskew.slices import find_slices

    # the file does not exist: the option error must come first
    with pytest.raises(UnskewInputError, match=match):
        find_slices(tmp_path / "absent.csv", target="y", predictions="p", **params)


def test_find_slices_takes_a_whole_float_min_support_as_a_count():
    from unskew.slices import SliceFinder

    assert SliceFinder(min_support=30.0)._validate(1000) == 30
    assert SliceFinder(min_support=0.05)._validate(1000) == 50
