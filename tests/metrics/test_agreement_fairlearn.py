"""Every per-group metric and Fairlearn-named measure agrees with Fairlearn / scikit-learn to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from metrics_data import make_binary

from unskew import metrics as um

fl = pytest.importorskip("fairlearn.metrics")
pytestmark = pytest.mark.peers

TOL = dict(rtol=1e-9, atol=1e-9)


def _npv(y, p, sample_weight=None):
    return skm.precision_score(y, p, pos_label=0, sample_weight=sample_weight)


def _mean_residual(y, p, sample_weight=None):
    return np.average(np.asarray(y) - np.asarray(p), weights=sample_weight)


BINARY = {
    "selection_rate": fl.selection_rate,
    "base_rate": lambda y, p, sample_weight=None: np.average(y, weights=sample_weight),
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "true_positive_rate": fl.true_positive_rate,
    "false_negative_rate": fl.false_negative_rate,
    "false_positive_rate": fl.false_positive_rate,
    "true_negative_rate": fl.true_negative_rate,
    "precision": skm.precision_score,
    "negative_predictive_value": _npv,
    "false_discovery_rate": lambda y, p, sample_weight=None: 1 - skm.precision_score(y, p, sample_weight=sample_weight),
    "false_omission_rate": lambda y, p, sample_weight=None: 1 - _npv(y, p, sample_weight),
    "f1": skm.f1_score,
}
SCORES = {"roc_auc": skm.roc_auc_score, "brier": skm.brier_score_loss}


def _frame(metrics, y, p, sf, w):
    params = None if w is None else {k: {"sample_weight": w} for k in metrics}
    return fl.MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=sf, sample_params=params)


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame):
    theirs = theirs.sort_index()
    ours = ours.sort_index()
    assert list(ours.index) == list(theirs.index)
    for col in theirs.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float), err_msg=col, **TOL)


@pytest.mark.parametrize("weights", [None, "float"])
@pytest.mark.parametrize("ties", [True, False])
def test_binary_and_score_metrics_match_metricframe(weights, ties):
    y, p, s, w, sf = make_binary(seed=1, weights=weights, ties=ties)
    gm = um.group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s, ci=None)
    mf = _frame(BINARY, y, p, sf, w)
    _compare(gm.by_group, mf.by_group)
    for k in BINARY:
        np.testing.assert_allclose(gm.overall[k], mf.overall[k], err_msg=k, **TOL)
    ms = _frame(SCORES, y, s, sf, w)
    _compare(gm.by_group, ms.by_group)
    for k in SCORES:
        np.testing.assert_allclose(gm.overall[k], ms.overall[k], err_msg=k, **TOL)
    # count matches Fairlearn's count (rows, unweighted)
    mc = fl.MetricFrame(metrics={"count": fl.count}, y_true=y, y_pred=p, sensitive_features=sf)
    _compare(gm.by_group[["count"]], mc.by_group)
    # differences and ratios, both methods
    for method in ("between_groups", "to_overall"):
        d_ours, d_fl = gm.difference(method), mf.difference(method=method)
        r_ours, r_fl = gm.ratio(method), mf.ratio(method=method)
        for k in BINARY:
            np.testing.assert_allclose(d_ours[k], d_fl[k], err_msg=f"difference {method} {k}", **TOL)
            np.testing.assert_allclose(r_ours[k], r_fl[k], err_msg=f"ratio {method} {k}", **TOL)
    np.testing.assert_allclose(gm.group_min()[list(BINARY)].to_numpy(float),
                               mf.group_min()[list(BINARY)].to_numpy(float), **TOL)
    np.testing.assert_allclose(gm.group_max()[list(BINARY)].to_numpy(float),
                               mf.group_max()[list(BINARY)].to_numpy(float), **TOL)


@pytest.mark.parametrize("weights", [None, "float"])
def test_fairlearn_named_functions(weights):
    y, p, _, w, sf = make_binary(seed=2, weights=weights)
    kw = dict(sensitive_features=sf, sample_weight=w)
    for method in ("between_groups", "to_overall"):
        for name in ("demographic_parity_difference", "demographic_parity_ratio", "equal_opportunity_difference",
                     "equal_opportunity_ratio"):
            ours = getattr(um, name)(y, p, method=method, **kw)
            theirs = getattr(fl, name)(y, p, method=method, **kw)
            np.testing.assert_allclose(ours, theirs, err_msg=f"{name} {method}", **TOL)
        for agg in ("worst_case", "mean"):
            for name in ("equalized_odds_difference", "equalized_odds_ratio"):
                ours = getattr(um, name)(y, p, method=method, agg=agg, **kw)
                theirs = getattr(fl, name)(y, p, method=method, agg=agg, **kw)
                np.testing.assert_allclose(ours, theirs, err_msg=f"{name} {method} {agg}", **TOL)
    # average odds without a privileged group is Fairlearn's equalized odds with agg="mean"
    np.testing.assert_allclose(um.average_odds_difference(y, p, **kw),
                               fl.equalized_odds_difference(y, p, agg="mean", **kw), **TOL)
    # worst-group accuracy and the measures table agree with the functions
    mf = _frame({"acc": skm.accuracy_score, "ppv": skm.precision_score}, y, p, sf, w)
    np.testing.assert_allclose(um.worst_group_accuracy(y, p, **kw), mf.group_min()["acc"], **TOL)
    np.testing.assert_allclose(um.predictive_parity_difference(y, p, **kw), mf.difference()["ppv"], **TOL)
    table = um.group_metrics(y, p, ci=None, **kw).fairness()
    np.testing.assert_allclose(table.loc["equalized_odds_difference", "value"],
                               fl.equalized_odds_difference(y, p, **kw), **TOL)
    np.testing.assert_allclose(table.loc["demographic_parity_ratio", "value"],
                               fl.demographic_parity_ratio(y, p, **kw), **TOL)


def test_string_labels_and_pos_label():
    y, p, _, w, sf = make_binary(seed=3)
    ys = np.where(y == 1, "yes", "no")
    ps = np.where(p == 1, "yes", "no")
    gm = um.group_metrics(ys, ps, sensitive_features=sf["race"], sample_weight=w, pos_label="yes", ci=None)
    def tpr(a, b, sample_weight=None):
        return skm.recall_score(a, b, pos_label="yes", sample_weight=sample_weight)

    mf = fl.MetricFrame(metrics={"tpr": tpr}, y_true=ys, y_pred=ps, sensitive_features=sf["race"],
                        sample_params={"tpr": {"sample_weight": w}})
    np.testing.assert_allclose(gm.by_group["true_positive_rate"].to_numpy(), mf.by_group["tpr"].to_numpy(), **TOL)


@pytest.mark.parametrize("weights", [None, "float"])
def test_multiclass_metrics_match_sklearn(weights):
    rng = np.random.default_rng(4)
    n = 4000
    y = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, 4, n))
    w = rng.uniform(0.5, 2, n) if weights else None
    sf = pd.DataFrame({"g": rng.choice(["x", "y", "z"], n), "h": rng.choice([1, 2], n)})
    gm = um.group_metrics(y, p, sensitive_features=sf, sample_weight=w, ci=None)
    metrics = {
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "precision_macro": lambda a, b, sample_weight=None: skm.precision_score(a, b, average="macro",
                                                                                sample_weight=sample_weight),
        "recall_macro": lambda a, b, sample_weight=None: skm.recall_score(a, b, average="macro",
                                                                          sample_weight=sample_weight),
        "f1_macro": lambda a, b, sample_weight=None: skm.f1_score(a, b, average="macro", sample_weight=sample_weight),
    }
    for k in range(4):
        metrics[f"selection_rate[{k}]"] = (lambda kk: lambda a, b, sample_weight=None: fl.selection_rate(
            a, b, pos_label=kk, sample_weight=sample_weight))(k)
        metrics[f"true_positive_rate[{k}]"] = (lambda kk: lambda a, b, sample_weight=None: skm.recall_score(
            a == kk, b == kk, sample_weight=sample_weight))(k)
        metrics[f"false_positive_rate[{k}]"] = (lambda kk: lambda a, b, sample_weight=None: fl.false_positive_rate(
            (a == kk).astype(int), (b == kk).astype(int), sample_weight=sample_weight))(k)
    mf = _frame(metrics, y, p, sf, w)
    _compare(gm.by_group, mf.by_group)
    for k in metrics:
        np.testing.assert_allclose(gm.overall[k], mf.overall[k], err_msg=k, **TOL)
    # multiclass demographic parity: worst class of the one-vs-rest differences
    d = mf.difference()
    np.testing.assert_allclose(um.demographic_parity_difference(y, p, sensitive_features=sf, sample_weight=w),
                               max(d[f"selection_rate[{k}]"] for k in range(4)), **TOL)


@pytest.mark.parametrize("weights", [None, "float"])
def test_regression_metrics_match_sklearn(weights):
    rng = np.random.default_rng(5)
    n = 3000
    sf = rng.choice(["u", "v", "w"], n)
    y = rng.normal(size=n) + (sf == "v")
    p = y + rng.normal(scale=0.5 + (sf == "w"), size=n)
    w = rng.uniform(0.5, 2, n) if weights else None
    gm = um.group_metrics(y, p, sensitive_features=pd.Series(sf, name="g"), sample_weight=w, ci=None)
    metrics = {"mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error, "r2": skm.r2_score,
               "mean_residual": _mean_residual, "mean_prediction": fl.mean_prediction}
    mf = fl.MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=pd.Series(sf, name="g"),
                        sample_params=None if w is None else {k: {"sample_weight": w} for k in metrics})
    _compare(gm.by_group, mf.by_group)
    for k in metrics:
        np.testing.assert_allclose(gm.overall[k], mf.overall[k], err_msg=k, **TOL)
    for k in metrics:
        np.testing.assert_allclose(gm.difference()[k], mf.difference()[k], err_msg=k, **TOL)


def test_histogram_auc_equals_exact_auc_of_discretised_scores():
    y, p, s, w, sf = make_binary(seed=6, ties=False)
    bins = 256
    gm = um.group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s, score_bins=bins, ci=None)
    disc = np.floor(s * bins) / bins
    mf = _frame({"roc_auc": skm.roc_auc_score}, y, disc, sf, w)
    _compare(gm.by_group[["roc_auc"]], mf.by_group)
    # Brier and ECE do not depend on the histogram: identical to the exact table
    exact = um.group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s, ci=None)
    for k in ("brier", "ece", "mean_score"):
        np.testing.assert_allclose(gm.by_group[k].to_numpy(), exact.by_group[k].to_numpy(), **TOL)


def _ece_reference(y, s, w, bins):
    edges = np.linspace(0, 1, bins + 1)
    ids = np.searchsorted(edges[1:-1], s)
    w = np.ones_like(s) if w is None else w
    total = 0.0
    for b in range(bins):
        m = ids == b
        if w[m].sum() > 0:
            total += abs(np.sum(w[m] * y[m]) - np.sum(w[m] * s[m]))
    return total / w.sum()


@pytest.mark.parametrize("weights", [None, "float"])
def test_ece_and_calibration_gap_against_reference(weights):
    y, p, s, w, sf = make_binary(seed=7, weights=weights)
    gm = um.group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s, ci=None, ece_bins=15)
    labels = gm.labels
    ref = []
    for lab in labels:
        sex, race = (part.split("=")[1] for part in lab.split(" & "))
        m = ((sf["sex"] == sex) & (sf["race"] == race)).to_numpy()
        ref.append(_ece_reference(y[m], s[m], None if w is None else w[m], 15))
    np.testing.assert_allclose(gm.by_group["ece"].to_numpy(), ref, **TOL)
    np.testing.assert_allclose(gm.overall["ece"], _ece_reference(y, s, w, 15), **TOL)
    np.testing.assert_allclose(um.calibration_gap(y, s, sensitive_features=sf, sample_weight=w, n_bins=15),
                               max(ref) - min(ref), **TOL)
    np.testing.assert_allclose(um.expected_calibration_error(y, s, sample_weight=w, n_bins=15),
                               _ece_reference(y, s, w, 15), **TOL)
    # an unweighted ECE agrees with scikit-learn's reliability curve
    if w is None:
        from sklearn.calibration import calibration_curve

        prob_true, prob_pred = calibration_curve(y, s, n_bins=15)
        ids = np.searchsorted(np.linspace(0, 1, 16)[1:-1], s)
        counts = np.bincount(ids, minlength=15)
        counts = counts[counts > 0]
        np.testing.assert_allclose(np.sum(counts * np.abs(prob_true - prob_pred)) / len(y),
                                   gm.overall["ece"], **TOL)
