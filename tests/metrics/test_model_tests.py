"""Counterfactual test, challenge sets and model loading."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.metrics import counterfactual_test, load_model, run_challenge_set


class SexAwareModel:
    """Predicts positive for men, or when x > 0; the score moves by 0.3 with sex."""

    classes_ = np.array([0, 1])

    def predict(self, X):
        return ((X["sex"] == "M") | (X["x"] > 0)).astype(int).to_numpy()

    def predict_proba(self, X):
        p = 0.2 + 0.3 * (X["sex"] == "M").to_numpy() + 0.4 * (X["x"] > 0).to_numpy()
        return np.column_stack([1 - p, p])


class ZipModel:
    """Uses only a proxy column."""

    feature_names_in_ = np.array(["zip", "x", "sex"], dtype=object)

    def predict(self, X):
        return (X["zip"] == "z1").astype(int).to_numpy()


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    return pd.DataFrame({"sex": sex, "x": rng.normal(size=n), "zip": np.where(sex == "M", "z1", "z0")})


def test_flip_rate_and_score_change_are_exact():
    X = _frame()
    res = counterfactual_test(SexAwareModel(), X, sensitive="sex")
    neg = (X["x"] <= 0).to_numpy()
    by = res.by_group.set_index("group")
    # women flip to positive exactly when x <= 0 (men likewise flip to negative)
    assert by.loc["F", "flip_rate"] == pytest.approx(neg[X["sex"] == "F"].mean())
    assert by.loc["M", "flip_rate"] == pytest.approx(neg[X["sex"] == "M"].mean())
    assert by.loc["F", "mean_score_change"] == pytest.approx(0.3)
    assert by.loc["M", "mean_score_change"] == pytest.approx(-0.3)
    assert by.loc["M", "mean_abs_score_change"] == pytest.approx(0.3)
    assert res.overall["flip_rate"] == pytest.approx(neg.mean())
    pair = res.pairs.set_index(["from", "to"]).loc[("F", "M")]
    assert pair["n"] == (X["sex"] == "F").sum()
    # weights change the averages
    w = np.where(X["x"] <= 0, 3.0, 1.0)
    rw = counterfactual_test(SexAwareModel(), X, sensitive="sex", sample_weight=w)
    m = (X["sex"] == "F").to_numpy()
    assert rw.by_group.set_index("group").loc["F", "flip_rate"] == pytest.approx(
        np.average(neg[m], weights=w[m]))


def test_proxies_are_swapped_with_the_attribute():
    X = _frame()
    plain = counterfactual_test(ZipModel(), X, sensitive="sex")
    assert plain.overall["flip_rate"] == 0.0
    with_proxy = counterfactual_test(ZipModel(), X, sensitive="sex", proxies=["zip"])
    assert with_proxy.overall["flip_rate"] == 1.0  # zip follows sex exactly in this data
    assert with_proxy.proxies == ["zip"]
    assert "no scores" in " ".join(plain.notes)


def test_counterfactual_samples_rows_and_rejects_missing_columns():
    X = _frame(n=1000)
    res = counterfactual_test(SexAwareModel(), X, sensitive="sex", max_rows=100)
    assert res.n_rows == 100 and res.by_group["n"].sum() == 100
    with pytest.raises(UnskewInputError, match="'race'"):
        counterfactual_test(SexAwareModel(), X, sensitive="race")
    with pytest.raises(UnskewInputError, match="Proxy"):
        counterfactual_test(SexAwareModel(), X, sensitive="sex", proxies=["nope"])


def test_challenge_set_per_tag_with_failing_cases(tmp_path):
    cases = pd.DataFrame({
        "id": ["c1", "c2", "c3", "c4", "c5"],
        "sex": ["F", "M", "F", "M", "F"],
        "x": [1.0, -1.0, -1.0, 2.0, 0.5],
        "zip": ["z0"] * 5,
        "expected": [1, 1, 1, "1", 0],
        "tags": ["women;positive", "men", "women", "men, positive", ""],
    })
    cases.to_csv(tmp_path / "c.csv", index=False)
    res = run_challenge_set(tmp_path / "c.csv", model=SexAwareModel(), features=["sex", "x"])
    bt = res.by_tag.set_index("tag")
    assert bt.loc["(all)", "n"] == 5 and bt.loc["(all)", "n_passed"] == 3
    assert bt.loc["women", "failing"] == ["c3"]
    assert bt.loc["(untagged)", "failing"] == ["c5"]
    assert bt.loc["positive", "pass_rate"] == 1.0
    assert res.n_failed == 2
    # the same from JSON (tags as lists) and JSON lines, with predictions given instead of a model
    recs = [{"id": "a", "expected": "yes", "prediction": "yes", "tags": ["t1", "t2"]},
            {"id": "b", "expected": "yes", "prediction": "no", "tags": ["t2"]}]
    (tmp_path / "c.json").write_text(json.dumps({"cases": recs}))
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in recs))
    for name in ("c.json", "c.jsonl"):
        bt = run_challenge_set(tmp_path / name).by_tag.set_index("tag")
        assert bt.loc["t2", "failing"] == ["b"] and bt.loc["t1", "pass_rate"] == 1.0


def test_challenge_set_errors(tmp_path):
    with pytest.raises(UnskewInputError, match="'expected'"):
        run_challenge_set(pd.DataFrame({"x": [1]}), model=SexAwareModel())
    with pytest.raises(UnskewInputError, match="no 'prediction' column"):
        run_challenge_set(pd.DataFrame({"expected": [1]}))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UnskewInputError, match="not valid JSON"):
        run_challenge_set(tmp_path / "bad.json")


def test_model_loading_is_safe_by_default(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    sio = pytest.importorskip("skops.io")
    sio.dump(model, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with open(tmp_path / "m.pkl", "wb") as fh:
        pickle.dump(model, fh)
    with pytest.raises(UnskewInputError, match="--trust-pickle"):
        load_model(tmp_path / "m.pkl")
    np.testing.assert_array_equal(load_model(tmp_path / "m.pkl", trust_pickle=True).predict(X), model.predict(X))
    with pytest.raises(UnskewInputError, match="Unknown model format"):
        (tmp_path / "m.txt").write_text("x")
        load_model(tmp_path / "m.txt")
    with pytest.raises(UnskewInputError, match="not found"):
        load_model(tmp_path / "missing.skops")


def test_onnx_models_predict_like_the_original(tmp_path):
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = _frame(300)[["x", "sex"]].assign(z=np.linspace(-1, 1, 300))
    y = ((X["x"] + (X["sex"] == "M")) > 0.5).astype(int)
    # one float tensor input: the numeric columns in order
    num = LogisticRegression().fit(X[["x", "z"]].to_numpy(), y)
    onx = skl2onnx.convert_sklearn(num, initial_types=[("input", FloatTensorType([None, 2]))])
    (tmp_path / "num.onnx").write_bytes(onx.SerializeToString())
    m = load_model(tmp_path / "num.onnx")
    np.testing.assert_array_equal(m.predict(X[["x", "z"]]), num.predict(X[["x", "z"]].to_numpy()))
    np.testing.assert_allclose(m.predict_proba(X[["x", "z"]]), num.predict_proba(X[["x", "z"]].to_numpy()),
                               atol=1e-5)
    # one input per column (a pipeline with a categorical column): columns fed by name
    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["sex"]), remainder="passthrough"),
                         LogisticRegression()).fit(X[["sex", "x"]], y)
    onx = skl2onnx.convert_sklearn(pipe, initial_types=[("sex", StringTensorType([None, 1])),
                                                        ("x", FloatTensorType([None, 1]))])
    (tmp_path / "pipe.onnx").write_bytes(onx.SerializeToString())
    m = load_model(tmp_path / "pipe.onnx")
    assert list(m.feature_names_in_) == ["sex", "x"]
    np.testing.assert_array_equal(m.predict(X), pipe.predict(X[["sex", "x"]]))
    res = counterfactual_test(m, X[["sex", "x"]], sensitive="sex")
    ref = counterfactual_test(pipe, X[["sex", "x"]], sensitive="sex")
    assert res.overall["flip_rate"] == pytest.approx(ref.overall["flip_rate"])
    assert res.overall["mean_abs_score_change"] == pytest.approx(ref.overall["mean_abs_score_change"], abs=1e-5)
