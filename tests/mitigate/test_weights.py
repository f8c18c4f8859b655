"""Reweighing and loss weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from unskew.exceptions import UnskewInputError
from unskew.mitigate.pre import (
    Reweighing,
    ReweighingClassifier,
    group_class_weight_tensor,
    group_class_weights,
    reweighing_weights,
)


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    p = np.select([g == "a", g == "b"], [0.5, 0.2], 0.05)
    y = (rng.random(n) < p).astype(int)
    return y, g


def _weighted_joint(y, g, w):
    tab = pd.crosstab(pd.Series(g, name="g"), pd.Series(y, name="y"), values=w, aggfunc="sum").fillna(0.0)
    return tab.to_numpy() / tab.to_numpy().sum()


def test_reweighing_makes_label_independent_of_group():
    y, g = _data()
    w = reweighing_weights(y, g)
    joint = _weighted_joint(y, g, w)
    # weighted joint = product of weighted marginals, exactly
    np.testing.assert_allclose(joint, np.outer(joint.sum(1), joint.sum(0)), atol=1e-12)
    # marginals are those of the original data
    np.testing.assert_allclose(joint.sum(0), np.bincount(y) / len(y), atol=1e-12)
    np.testing.assert_allclose(joint.sum(1), pd.Series(g).value_counts(normalize=True).sort_index(), atol=1e-12)
    # and the original data were strongly dependent (so the test can fail)
    raw = _weighted_joint(y, g, np.ones(len(y)))
    assert np.abs(raw - np.outer(raw.sum(1), raw.sum(0))).max() > 0.02
    # weighted chi-square statistic of independence is 0
    from scipy.stats import chi2_contingency

    stat = chi2_contingency(joint * len(y), correction=False)[0]
    assert stat < 1e-9
    assert w.sum() == pytest.approx(len(y))


def test_reweighing_with_prior_weights_and_several_attributes():
    y, g = _data(2000, seed=1)
    rng = np.random.default_rng(1)
    sex = rng.choice(["F", "M"], size=len(y))
    prior = rng.uniform(0.5, 2.0, size=len(y))
    w = reweighing_weights(y, pd.DataFrame({"g": g, "sex": sex}), sample_weight=prior)
    cells = pd.Series(list(zip(g, sex, strict=True))).astype(str).to_numpy()
    joint = _weighted_joint(y, cells, w)
    np.testing.assert_allclose(joint, np.outer(joint.sum(1), joint.sum(0)), atol=1e-12)
    # the prior-weighted label marginal is kept
    np.testing.assert_allclose(joint.sum(0)[1], np.sum(prior * y) / prior.sum(), atol=1e-12)


def _aif360_weights(y, priv, prior=None):
    from aif360.algorithms.preprocessing import Reweighing as AIFReweighing
    from aif360.datasets import BinaryLabelDataset

    df = pd.DataFrame({"s": priv.astype(float), "y": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["s"],
                            favorable_label=1.0, unfavorable_label=0.0)
    if prior is not None:
        ds.instance_weights = prior.astype(float).copy()
    rw = AIFReweighing(unprivileged_groups=[{"s": 0.0}], privileged_groups=[{"s": 1.0}])
    return rw.fit_transform(ds).instance_weights


@pytest.mark.peers
def test_matches_aif360_reweighing_synthetic():
    y, g = _data(5000, seed=2)
    priv = (g == "a").astype(int)
    prior = np.random.default_rng(2).uniform(0.2, 3.0, size=len(y))
    for pw in (None, prior):
        ours = reweighing_weights(y, priv, sample_weight=pw)
        np.testing.assert_allclose(ours, _aif360_weights(y, priv, pw), rtol=0, atol=1e-9)


@pytest.mark.peers
def test_matches_aif360_reweighing_on_adult(data_home):
    from unskew.datasets import load_adult

    df = load_adult(split="train", data_home=data_home)
    y = df["income"].to_numpy()
    priv = (df["sex"] == "Male").to_numpy().astype(int)
    ours = Reweighing().fit_weights(None, y, sensitive_features=df["sex"])
    np.testing.assert_allclose(ours, _aif360_weights(y, priv), rtol=0, atol=1e-9)


def test_loss_weight_formulas():
    y = np.array([0] * 90 + [1] * 10)
    inv = group_class_weights(y, method="inverse")
    assert inv[0] / inv[-1] == pytest.approx(10 / 90)
    assert inv.mean() == pytest.approx(1.0)
    # every class carries the same total weight
    assert inv[y == 0].sum() == pytest.approx(inv[y == 1].sum())
    sq = group_class_weights(y, method="sqrt")
    assert sq[0] / sq[-1] == pytest.approx(np.sqrt(10 / 90))
    beta = 0.99
    eff = group_class_weights(y, method="effective", beta=beta)
    expected_ratio = ((1 - beta) / (1 - beta**90)) / ((1 - beta) / (1 - beta**10))
    assert eff[0] / eff[-1] == pytest.approx(expected_ratio)
    # beta -> 0: equal weights; beta -> 1: inverse frequency
    np.testing.assert_allclose(group_class_weights(y, method="effective", beta=0.0), 1.0)
    np.testing.assert_allclose(group_class_weights(y, method="effective", beta=1 - 1e-9), inv, rtol=1e-5)
    # huge populations do not overflow
    big = np.r_[np.zeros(10**6, dtype=int), np.ones(5, dtype=int)]
    assert np.all(np.isfinite(group_class_weights(big, method="effective", beta=0.9999)))


def test_weights_per_group_class_and_group_only():
    y = np.array([0, 0, 0, 1, 0, 1])
    g = np.array(["a", "a", "a", "a", "b", "b"])
    w = group_class_weights(y, g, "inverse", normalize=False)
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3, 1, 1, 1])
    wg = group_class_weights(None, g, "inverse", normalize=False)
    np.testing.assert_allclose(wg, [0.25] * 4 + [0.5] * 2)
    prior = np.array([1, 1, 2, 1, 1, 1.0])
    wp = group_class_weights(y, g, "inverse", sample_weight=prior, normalize=False)
    np.testing.assert_allclose(wp, prior * np.array([0.25, 0.25, 0.25, 1, 1, 1]))


def test_weight_tensor_matches_numpy():
    torch = pytest.importorskip("torch")
    y, g = _data(500)
    t = group_class_weight_tensor(y, g, "effective", beta=0.99)
    assert t.dtype == torch.float32 and t.shape == (500,)
    np.testing.assert_allclose(t.numpy(), group_class_weights(y, g, "effective", beta=0.99), rtol=1e-6)
    rw = Reweighing().fit(None, y, sensitive_features=g)
    np.testing.assert_allclose(rw.get_weight_tensor(dtype=torch.float64).numpy(), rw.weights_)


def test_reweighing_estimator_table_and_lookup():
    y, g = _data(1000)
    rw = Reweighing().fit(np.zeros((len(y), 1)), y, sensitive_features=g)
    assert set(rw.table_.columns) == {"group", "class", "count", "weighted_count", "weight"}
    assert rw.table_["count"].sum() == len(y)
    np.testing.assert_allclose(rw.compute_weights(y, sensitive_features=g), rw.weights_)
    with pytest.raises(UnskewInputError, match="not present during fit"):
        rw.compute_weights(y[:3], sensitive_features=["zzz"] * 3)
    with pytest.raises(UnskewInputError, match="not seen during fit"):
        rw.compute_weights([7, 7], sensitive_features=["a", "a"])
    assert rw.get_params() == {"method": "reweighing", "beta": 0.999, "normalize": True}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"method": "nope"}, "method must be"), ({"method": "effective", "beta": 1.0}, "beta must be")],
)
def test_bad_parameters(kwargs, match):
    y, g = _data(50)
    with pytest.raises(UnskewInputError, match=match):
        Reweighing(**kwargs).fit(None, y, sensitive_features=g)


def test_bad_inputs():
    with pytest.raises(UnskewInputError, match="sensitive_features is required"):
        Reweighing().fit(None, [0, 1])
    with pytest.raises(UnskewInputError, match="rows"):
        reweighing_weights([0, 1, 1], ["a", "b"])
    with pytest.raises(UnskewInputError, match="missing labels"):
        reweighing_weights([0, None, 1], ["a", "b", "a"])
    with pytest.raises(UnskewInputError, match=">= 0"):
        group_class_weights([0, 1], sample_weight=[1, -1])


def test_reweighing_classifier_equals_weighted_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 3))
    g = rng.choice(["a", "b"], size=800, p=[0.7, 0.3])
    y = ((X[:, 0] + (g == "a")) + rng.normal(size=800) > 0.5).astype(int)
    clf = ReweighingClassifier(LogisticRegression()).fit(X, y, sensitive_features=g)
    ref = LogisticRegression().fit(X, y, sample_weight=reweighing_weights(y, g))
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X))
    assert (clf.predict(X) == ref.predict(X)).all()
    # weighting changes the model (the test can fail)
    plain = LogisticRegression().fit(X, y)
    assert np.abs(plain.coef_ - ref.coef_).max() > 1e-3


def test_reweighing_classifier_rejects_estimator_without_sample_weight():
    from sklearn.neighbors import KNeighborsClassifier

    y, g = _data(100)
    with pytest.raises(UnskewInputError, match="sample_weight"):
        ReweighingClassifier(KNeighborsClassifier()).fit(np.zeros((100, 1)), y, sensitive_features=g)
