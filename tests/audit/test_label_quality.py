import json
import time

import numpy as np
import pandas as pd
import pytest

from unskew.audit import AuditContext, audit
from unskew.audit._common import cross_val_proba, stratified_folds
from unskew.audit._features import out_of_sample_probs
from unskew.audit._label_quality import confident_joint, find_label_issues, self_confidence
from unskew.data import Dataset
from unskew.datasets import load_compas, make_synthetic, plant_label_noise
from unskew.exceptions import UnskewInputError


def _lq(df, target="y", sensitive=("sex", "race"), thresholds=None, **kw):
    th = {"label_quality": thresholds} if thresholds else None
    return audit(df, target=target, sensitive=list(sensitive) if sensitive else None,
                 checks=["label_quality"], thresholds=th, **kw)["label_quality"]


def _pred_probs(n, k, seed, noise_rate=0.1):
    """Realistic probabilities (a noisy softmax) and labels that partly disagree with them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2.5
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in p])
    flip = rng.random(n) < noise_rate
    labels[flip] = rng.integers(k, size=flip.sum())
    return labels, p


# --------------------------------------------------------------------------- agreement with cleanlab
@pytest.mark.peers
@pytest.mark.parametrize("k,seed", [(2, 0), (2, 1), (3, 2), (5, 3)])
def test_matches_cleanlab_given_the_same_pred_probs(k, seed):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    from cleanlab.count import compute_confident_joint
    from cleanlab.rank import get_label_quality_scores

    labels, p = _pred_probs(3000, k, seed)
    ours, cj = find_label_issues(labels, p)
    theirs = cleanlab_filter.find_label_issues(labels, p, n_jobs=1)
    inter = (ours & theirs).sum()
    union = (ours | theirs).sum()
    jaccard = inter / union
    assert union > 100  # a real test: hundreds of issues
    assert jaccard == 1.0, f"Jaccard {jaccard:.4f}"
    np.testing.assert_array_equal(cj, compute_confident_joint(labels, p))
    np.testing.assert_allclose(self_confidence(labels, p),
                               get_label_quality_scores(labels, p, method="self_confidence"), atol=1e-9, rtol=0)


@pytest.mark.peers
def test_check_agrees_with_cleanlab_on_its_own_probabilities():
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    from cleanlab.rank import get_label_quality_scores

    df, _ = plant_label_noise(make_synthetic(3000, random_state=4), where=None, rate=0.08, random_state=4)
    ds = Dataset.from_data(df, target="y", sensitive=["sex", "race"])
    ctx = AuditContext()
    res = _lq(df)
    oos = out_of_sample_probs(ds, ctx)  # same seed and folds as the check
    theirs = cleanlab_filter.find_label_issues(oos.labels, oos.pred_probs, n_jobs=1)
    ours = res.scores["is_label_issue"].to_numpy()
    jaccard = (ours & theirs).sum() / (ours | theirs).sum()
    assert jaccard == 1.0
    np.testing.assert_allclose(res.scores["label_quality"].to_numpy(),
                               get_label_quality_scores(oos.labels, oos.pred_probs), atol=1e-9, rtol=0)


def test_confident_joint_by_hand():
    # thresholds: class 0 -> mean(0.9, 0.8, 0.2) = 0.633, class 1 -> mean(0.7, 0.9) = 0.8
    p1 = np.array([0.1, 0.2, 0.8, 0.7, 0.9])
    labels = np.array([0, 0, 0, 1, 1])
    p = np.column_stack([1 - p1, p1])
    cj = confident_joint(labels, p, calibrate=False)
    # row 2 (label 0) is confidently class 1 (0.8 >= 0.8); row 3 (label 1, p1=0.7) is confident in no class
    np.testing.assert_array_equal(cj, [[2, 1], [0, 1]])
    issues, _ = find_label_issues(labels, p)
    assert issues.tolist() == [False, False, True, False, False]


# --------------------------------------------------------------------------- planted noise
def test_noise_planted_in_one_group_stands_out_and_is_recalled():
    df, flipped = plant_label_noise(make_synthetic(10000, random_state=0), where={"sex": "female"},
                                    rate=0.05, random_state=0)
    res = _lq(df)
    flags = res.scores["is_label_issue"].to_numpy()
    recall = flags[flipped].mean()
    assert recall >= 0.6, recall
    assert res.status in ("warn", "fail")
    sex = res.summary["groupings"]["sex"]
    female, male = sex["sex=female"], sex["sex=male"]
    assert female["status"] in ("warn", "fail") and male["status"] == "pass"
    assert female["rate"] > female["rest_rate"] + 0.02
    assert female["adjusted_ratio"] > 1.25 and female["adjusted_q"] < 0.01
    assert female["low"] <= female["rate"] <= female["high"]
    # the first finding after the overall one names the group
    assert res.findings[1].subject == "sex=female" and res.findings[1].severity in ("warn", "fail")
    # flipped rows have a much lower label quality than the others
    q = res.scores["label_quality"].to_numpy()
    keep = np.ones(len(q), dtype=bool)
    keep[flipped] = False
    assert q[flipped].mean() < q[keep].mean() - 0.3
    # the sample of flagged rows is capped and sorted by label quality
    sample = next(t for t in res.tables if t.is_sample)
    d = sample.to_dict()
    assert len(d["rows"]) == 20 and d["n_rows_total"] == int(flags.sum())
    lq = [r[d["columns"].index("label_quality")] for r in d["rows"]]
    assert lq == sorted(lq)
    json.dumps(res.to_dict(), allow_nan=False)


def test_clean_data_raises_no_group_alarm():
    res = _lq(make_synthetic(6000, random_state=1))
    assert res.status == "pass"
    assert res.summary["issue_rate"] < 0.10
    for groups in res.summary["groupings"].values():
        assert all(g["status"] == "pass" for g in groups.values())


def test_base_rate_difference_alone_is_not_called_labelling_bias():
    # group B has a base rate near 50 % (more ambiguous rows); labels are clean
    rng = np.random.default_rng(5)
    n = 8000
    g = rng.choice(["A", "B"], size=n)
    x = rng.normal(size=(n, 3))
    logit = 2.5 * x[:, 0] + np.where(g == "A", -3.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "g": g, "y": y})
    res = _lq(df, sensitive=["g"], thresholds={"include_sensitive": True})
    b = res.summary["groupings"]["g"]["g=B"]
    assert b["ratio"] > 1.5  # raw shares differ a lot ...
    assert b["status"] == "pass"  # ... but not once difficulty is accounted for
    assert 0.7 < b["adjusted_ratio"] < 1.3


# --------------------------------------------------------------------------- options and inputs
def test_scores_column_is_used_as_pred_probs():
    pytest.importorskip("cleanlab")
    from cleanlab.filter import find_label_issues as cl_find

    labels, p = _pred_probs(2000, 2, 7)
    df = pd.DataFrame({"x": np.arange(2000) % 7, "y": labels, "s": p[:, 1],
                       "sex": np.where(np.arange(2000) % 2, "f", "m")})
    res = _lq(df, sensitive=["sex"], scores="s")
    assert res.summary["probabilities"]["source"] == "scores column 's'"
    np.testing.assert_array_equal(res.scores["is_label_issue"].to_numpy(), cl_find(labels, p, n_jobs=1))
    assert "not cross-validated" in res.explanation
    # scores outside [0, 1] fall back to cross-validation with a note
    df["s"] = df["s"] * 5 - 2
    res = _lq(df, sensitive=["sex"], scores="s")
    assert res.summary["probabilities"]["source"] == "cross-validation"
    assert "not a probability" in res.summary["probabilities"]["note"]


def test_multiclass_weights_and_no_sensitive():
    df = make_synthetic(3000, random_state=2)
    df["y3"] = np.where(df["num_0"] > 0.5, "hi", np.where(df["num_0"] < -0.5, "lo", "mid"))
    df["w"] = np.where(df["sex"] == "female", 2.0, 1.0)
    res = _lq(df.drop(columns="y"), target="y3", sensitive=None, weights="w")
    assert set(res.summary["classes"]) == {"hi", "lo", "mid"}
    assert res.summary["weighted"] is True
    assert "groupings" not in res.summary
    assert res.summary["probabilities"]["accuracy"] > 0.9
    assert res.scores["given_label"].dtype.name == "category"


def test_regression_target_is_not_applicable():
    df = make_synthetic(500)
    df["t"] = df["num_0"] * 10
    res = _lq(df.drop(columns="y"), target="t")
    assert res.status == "pass" and res.summary["applicable"] is False


def test_bad_settings_are_reported():
    df = make_synthetic(300)
    with pytest.raises(ValueError, match="Unknown threshold"):
        _lq(df, thresholds={"n_fold": 2})
    with pytest.raises(UnskewInputError, match="n_folds"):
        _lq(df, thresholds={"n_folds": 1})
    with pytest.raises(UnskewInputError, match="no feature columns"):
        _lq(df[["sex", "race", "y"]])


def test_folds_are_stratified_and_capped_training():
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.1).astype(int)
    folds = stratified_folds(y, 3, rng)
    for k in range(3):
        assert abs((y[folds == k] == 1).sum() - y.sum() / 3) <= 1
    X = rng.normal(size=(1000, 2)).astype(np.float32)
    proba, info = cross_val_proba(X, y, 2, categorical=np.zeros(2, bool), n_folds=3, max_train_rows=200)
    assert info["train_rows_per_fold"] == [200, 200, 200]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_compas_label_quality(data_home):
    df = load_compas(data_home=data_home)
    res = _lq(df[["sex", "race", "age", "priors_count", "c_charge_degree", "juv_fel_count", "two_year_recid"]],
              target="two_year_recid")
    assert res.status in ("pass", "warn", "fail")
    s = res.summary
    assert 0 < s["issue_rate"] < 0.5 and len(res.scores) == len(df)
    assert "race=African-American" in s["groupings"]["race"]


@pytest.mark.slow
def test_label_quality_on_a_million_rows_is_fast():
    df = make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=0)
    t0 = time.perf_counter()
    res = _lq(df)
    elapsed = time.perf_counter() - t0
    assert res.status in ("pass", "warn", "fail")
    assert res.summary["probabilities"]["train_rows_per_fold"] == [50_000] * 3
    assert elapsed < 20, elapsed


def test_unpredictable_target_caps_the_status_at_warn():
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"x0": rng.normal(size=1500), "x1": rng.normal(size=1500),
                       "sex": rng.choice(["f", "m"], 1500), "y": rng.integers(2, size=1500)})
    res = _lq(df, sensitive=["sex"])
    assert res.summary["issue_rate"] > 0.25  # would fail on the rate alone
    assert res.status == "warn"
    assert any("barely better than chance" in f.message for f in res.findings)


def test_feature_encoder_types_and_unseen_levels():
    from unskew.audit._features import FeatureEncoder

    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({
        "num": np.r_[rng.normal(size=n - 2), np.inf, np.nan],
        "flag": rng.random(n) < 0.3,
        "city": [f"c{i}" for i in rng.integers(0, 400, n)],
        "job": rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.1, 0.1]),
        "note": ["w " * int(k) for k in rng.integers(1, 9, n)],
        "when": pd.Timestamp("1970-01-11") + pd.to_timedelta(rng.integers(0, 100, n), unit="D"),
    })
    types = {"num": "numeric", "flag": "boolean", "city": "categorical", "job": "categorical", "note": "text",
             "when": "datetime"}
    enc = FeatureEncoder().fit(df, types)
    e = enc.transform(df)
    assert e.names == ["num", "flag", "city", "job", "note_length", "note_words", "when"]
    assert e.sources == ["num", "flag", "city", "job", "note", "note", "when"]
    assert e.categorical.tolist() == [False, True, False, True, False, False, False]
    assert np.isnan(e.X[-2:, 0]).all()  # infinity and NaN are missing
    assert e.X[:, 1].max() == 1 and np.isnan(e.X[:, 3]).sum() == (df["job"].isna()).sum()
    job = df["job"].value_counts().index.tolist()  # codes follow frequency order
    assert all(e.X[i, 3] == job.index(v) for i, v in enumerate(df["job"]) if isinstance(v, str))
    share = df["city"].value_counts(normalize=True)
    np.testing.assert_allclose(e.X[:, 2], df["city"].map(share).to_numpy(), rtol=1e-6)  # frequency-encoded
    np.testing.assert_allclose(e.X[:, 4], df["note"].str.len())
    assert e.X[:, 6].min() >= 10 and e.X[:, 6].max() < 110  # days since 1970
    assert any("more than 250" in note for note in e.notes)
    d = e.numeric()
    assert np.isfinite(d).all() and d.dtype == np.float32
    # unseen levels become missing (or share 0 for frequency-encoded columns)
    new = df.head(2).assign(job=["zzz", "a"], city=["nowhere", "c1"])
    e2 = enc.transform(new)
    assert np.isnan(e2.X[0, 3]) and e2.X[0, 2] == 0
    with pytest.raises(UnskewInputError, match="missing from the table"):
        enc.transform(df.drop(columns="job"))
