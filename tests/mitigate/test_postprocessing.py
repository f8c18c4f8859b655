"""Group thresholds and reject-option classification."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from unskew.exceptions import UnskewInputError
from unskew.mitigate.post import GroupThresholdOptimizer, RejectOptionClassifier


def _data(n=40_000, seed=0, n_groups=2):
    rng = np.random.default_rng(seed)
    s = rng.choice(np.arange(n_groups), size=n, p=np.r_[0.65, np.full(n_groups - 1, 0.35 / (n_groups - 1))])
    X = rng.normal(size=(n, 3))
    X[:, 0] += 0.8 * s
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n) > 0.7).astype(int)
    half = n // 2
    return (X[:half], y[:half], s[:half]), (X[half:], y[half:], s[half:])


@pytest.fixture(scope="module")
def split():
    (Xtr, ytr, str_), test = _data()
    model = LogisticRegression().fit(Xtr, ytr)
    return model, (Xtr, ytr, str_), test


def _rates(p, y, s):
    """Expected selection rate, TPR and FPR per group of a positive-probability vector."""
    out = {}
    for g in np.unique(s):
        m = s == g
        out[g] = (p[m].mean(), p[m & (y == 1)].mean(), p[m & (y == 0)].mean())
    return np.array(list(out.values()))


GAP_COLUMNS = {"demographic_parity": [0], "equal_opportunity": [1], "equalized_odds": [1, 2]}


@pytest.mark.parametrize("constraint", list(GAP_COLUMNS))
def test_constraint_exact_on_fitting_data(split, constraint):
    model, (X, y, s), _ = split
    opt = GroupThresholdOptimizer(model, constraint=constraint, prefit=True).fit(X, y, sensitive_features=s)
    r = _rates(opt.positive_probability(X, sensitive_features=s), y, s)
    for col in GAP_COLUMNS[constraint]:
        assert np.ptp(r[:, col]) < 1e-9
    np.testing.assert_allclose(opt.rates_[["selection_rate", "true_positive_rate", "false_positive_rate"]], r,
                               atol=1e-9)
    acc = np.mean(np.where(y == 1, opt.positive_probability(X, sensitive_features=s),
                           1 - opt.positive_probability(X, sensitive_features=s)))
    assert acc == pytest.approx(opt.objective_value_, abs=1e-9)
    for pairs in opt.thresholds_.values():
        assert sum(p for _, p in pairs) == pytest.approx(1.0)


@pytest.mark.peers
@pytest.mark.parametrize("constraint", list(GAP_COLUMNS))
def test_constraint_on_held_out_data_against_fairlearn(split, constraint):
    from fairlearn.postprocessing import ThresholdOptimizer

    model, (X, y, s), (Xt, yt, st) = split
    base = _rates(model.predict(Xt).astype(float), yt, st)
    opt = GroupThresholdOptimizer(model, constraint=constraint, prefit=True).fit(X, y, sensitive_features=s)
    fl_name = {"equal_opportunity": "true_positive_rate_parity"}.get(constraint, constraint)
    fl = ThresholdOptimizer(estimator=model, constraints=fl_name, prefit=True, predict_method="predict_proba")
    fl.fit(X, y, sensitive_features=s)
    ours_p = opt.positive_probability(Xt, sensitive_features=st)
    fl_p = fl._pmf_predict(Xt, sensitive_features=st)[:, 1]
    cols = GAP_COLUMNS[constraint]
    gap_ours = max(np.ptp(_rates(ours_p, yt, st)[:, c]) for c in cols)
    gap_fl = max(np.ptp(_rates(fl_p, yt, st)[:, c]) for c in cols)
    gap_base = max(np.ptp(base[:, c]) for c in cols)
    assert gap_base > 0.1  # the unconstrained model violates the constraint
    assert gap_ours < 0.03  # held-out: only sampling noise remains
    assert gap_ours <= gap_fl + 0.01
    acc_ours = np.mean(np.where(yt == 1, ours_p, 1 - ours_p))
    acc_fl = np.mean(np.where(yt == 1, fl_p, 1 - fl_p))
    assert acc_ours >= acc_fl - 0.005
    # randomised labels meet the constraint too
    pred = opt.predict(Xt, sensitive_features=st, random_state=0)
    assert max(np.ptp(_rates(pred.astype(float), yt, st)[:, c]) for c in cols) < 0.04
    # on the fitting data our optimum is at least as accurate as Fairlearn's (grid) solution
    fl_train = fl._pmf_predict(X, sensitive_features=s)[:, 1]
    assert opt.objective_value_ >= np.mean(np.where(y == 1, fl_train, 1 - fl_train)) - 1e-6


def test_unconstrained_limit_is_best_per_group_thresholds():
    (X, y, s), _ = _data(4000, seed=3)
    model = LogisticRegression().fit(X, y)
    opt = GroupThresholdOptimizer(model, constraint="demographic_parity", tol=1.0, prefit=True)
    opt.fit(X, y, sensitive_features=s)
    score = model.predict_proba(X)[:, 1]
    best = 0
    for g in np.unique(s):
        m = s == g
        sc = np.sort(np.unique(score[m]))
        cands = np.r_[-np.inf, sc]
        best += max(((score[m] > t) == y[m]).sum() for t in cands)
    assert opt.objective_value_ == pytest.approx(best / len(y), abs=1e-12)


def test_lp_beats_deterministic_thresholds_under_tolerance():
    (X, y, s), _ = _data(3000, seed=4)
    model = LogisticRegression().fit(X, y)
    score = np.round(model.predict_proba(X)[:, 1], 2)  # coarse scores: many ties

    class Rounded:
        classes_ = np.array([0, 1])

        def predict_proba(self, X_):
            p = np.round(model.predict_proba(X_)[:, 1], 2)
            return np.c_[1 - p, p]

        def fit(self, *a, **k):  # pragma: no cover
            return self

        def __sklearn_is_fitted__(self):
            return True

    tol = 0.02
    opt = GroupThresholdOptimizer(Rounded(), constraint="demographic_parity", tol=tol, prefit=True)
    opt.fit(X, y, sensitive_features=s)
    grid = np.r_[np.inf, np.unique(score), -np.inf]
    m0, m1 = s == 0, s == 1
    best = 0.0
    for t0 in grid:
        p0 = score[m0] >= t0
        for t1 in grid:
            p1 = score[m1] >= t1
            if abs(p0.mean() - p1.mean()) <= tol:
                best = max(best, ((p0 == y[m0]).sum() + (p1 == y[m1]).sum()) / len(y))
    assert opt.objective_value_ >= best - 1e-12
    assert np.ptp(opt.rates_["selection_rate"]) <= tol + 1e-9


def test_sample_weight_equals_duplication():
    (X, y, s), _ = _data(2000, seed=5)
    model = LogisticRegression().fit(X, y)
    w = np.where(np.arange(len(y)) % 3 == 0, 2.0, 1.0)
    dup = np.r_[np.arange(len(y)), np.flatnonzero(w == 2)]
    a = GroupThresholdOptimizer(model, constraint="equalized_odds", prefit=True).fit(
        X, y, sensitive_features=s, sample_weight=w)
    b = GroupThresholdOptimizer(model, constraint="equalized_odds", prefit=True).fit(
        X[dup], y[dup], sensitive_features=s[dup])
    assert a.objective_value_ == pytest.approx(b.objective_value_, abs=1e-9)
    np.testing.assert_allclose(a.positive_probability(X, sensitive_features=s),
                               b.positive_probability(X, sensitive_features=s), atol=1e-6)


def test_balanced_accuracy_objective_and_three_groups():
    (X, y, s), (Xt, yt, st) = _data(30_000, seed=6, n_groups=3)
    model = LogisticRegression().fit(X, y)
    opt = GroupThresholdOptimizer(model, constraint="equal_opportunity", objective="balanced_accuracy", prefit=True)
    opt.fit(X, y, sensitive_features=s)
    assert np.ptp(opt.rates_["true_positive_rate"]) < 1e-9
    assert len(opt.thresholds_) == 3
    p = opt.positive_probability(Xt, sensitive_features=st)
    assert np.ptp(_rates(p, yt, st)[:, 1]) < 0.04


def test_prefit_false_fits_a_clone_and_multi_column_groups():
    (X, y, s), _ = _data(3000, seed=7)
    est = LogisticRegression()
    sex = np.where(np.arange(len(y)) % 2 == 0, "F", "M")
    opt = GroupThresholdOptimizer(est, constraint="demographic_parity").fit(
        X, y, sensitive_features=np.c_[s, sex])
    assert not hasattr(est, "coef_") and hasattr(opt.estimator_, "coef_")
    assert len(opt.groups_) == 4 and all(isinstance(gr, tuple) for gr in opt.groups_)
    pred = opt.predict(X, sensitive_features=np.c_[s, sex], random_state=0)
    assert set(np.unique(pred)) <= {0, 1}


def test_string_labels_and_decision_function():
    from sklearn.svm import LinearSVC

    (X, y, s), _ = _data(3000, seed=8)
    labels = np.where(y == 1, "yes", "no")
    opt = GroupThresholdOptimizer(LinearSVC(), constraint="demographic_parity").fit(X, labels, sensitive_features=s)
    pred = opt.predict(X, sensitive_features=s, random_state=1)
    assert set(pred) <= {"yes", "no"}
    assert np.ptp(opt.rates_["selection_rate"]) < 1e-9


def test_errors():
    (X, y, s), _ = _data(500, seed=9)
    with pytest.raises(UnskewInputError, match="not fitted"):
        GroupThresholdOptimizer(LogisticRegression(), prefit=True).fit(X, y, sensitive_features=s)
    with pytest.raises(UnskewInputError, match="sensitive_features is required"):
        GroupThresholdOptimizer().fit(X, y)
    with pytest.raises(UnskewInputError, match="binary"):
        GroupThresholdOptimizer().fit(X, np.arange(len(y)) % 3, sensitive_features=s)
    with pytest.raises(UnskewInputError, match="constraint must be"):
        GroupThresholdOptimizer(constraint="parity").fit(X, y, sensitive_features=s)
    opt = GroupThresholdOptimizer().fit(X, y, sensitive_features=s)
    with pytest.raises(UnskewInputError, match="not present during fit"):
        opt.predict(X[:5], sensitive_features=[9] * 5)
    yy = y.copy()
    yy[s == 1] = 0
    with pytest.warns(UserWarning, match="no positive examples"):
        opt = GroupThresholdOptimizer(constraint="equal_opportunity").fit(X, yy, sensitive_features=s)
    assert np.isnan(opt.rates_.set_index("group").loc[1, "true_positive_rate"])


# -- reject option ----------------------------------------------------------------

def test_reject_option_rule_with_given_threshold_and_margin(split):
    model, (X, y, s), _ = split
    roc = RejectOptionClassifier(model, threshold=0.5, margin=0.1, privileged_groups=[1], prefit=True)
    roc.fit(X, y, sensitive_features=s)
    p = model.predict_proba(X)[:, 1]
    pred = roc.predict(X, sensitive_features=s)
    crit = np.abs(p - 0.5) <= 0.1
    np.testing.assert_array_equal(pred[~crit], (p[~crit] > 0.5).astype(int))
    assert (pred[crit & (s == 1)] == 0).all() and (pred[crit & (s == 0)] == 1).all()


@pytest.mark.parametrize("metric", ["demographic_parity", "equal_opportunity", "average_odds"])
def test_reject_option_search_meets_bound(split, metric):
    model, (X, y, s), (Xt, yt, st) = split
    roc = RejectOptionClassifier(model, metric=metric, metric_bound=0.05, prefit=True, n_thresholds=40,
                                 n_margins=25).fit(X, y, sensitive_features=s)
    assert roc.privileged_ == [1]  # higher scores on average
    assert roc.fairness_gap_ <= 0.05 + 1e-12
    pred = roc.predict(Xt, sensitive_features=st).astype(float)
    r = _rates(pred, yt, st)
    gap = {"demographic_parity": np.ptp(r[:, 0]), "equal_opportunity": np.ptp(r[:, 1]),
           "average_odds": 0.5 * (np.ptp(r[:, 1]) + np.ptp(r[:, 2]))}[metric]
    assert gap < 0.05 + 0.02
    base = _rates(model.predict(Xt).astype(float), yt, st)
    assert np.ptp(base[:, 0]) > 0.15


def test_reject_option_warns_when_bound_unreachable():
    (X, y, s), _ = _data(2000, seed=10)
    model = LogisticRegression().fit(X, y)
    with pytest.warns(UserWarning, match="smallest gap"):
        RejectOptionClassifier(model, threshold=0.5, prefit=True, metric_bound=0.0, n_margins=2).fit(
            X, y, sensitive_features=s)


@pytest.mark.peers
@pytest.mark.slow
def test_reject_option_agrees_with_aif360():
    from aif360.algorithms.postprocessing import RejectOptionClassification
    from aif360.datasets import BinaryLabelDataset

    (X, y, s), _ = _data(6000, seed=11)
    model = LogisticRegression().fit(X, y)
    p = model.predict_proba(X)[:, 1]
    import pandas as pd

    df = pd.DataFrame({"s": s.astype(float), "y": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["s"])
    pred = ds.copy(deepcopy=True)
    pred.scores = p.reshape(-1, 1)
    pred.labels = (p > 0.5).astype(float).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aif = RejectOptionClassification(unprivileged_groups=[{"s": 0.0}], privileged_groups=[{"s": 1.0}])
        aif.fit(ds, pred)
    ours = RejectOptionClassifier(model, prefit=True, privileged_groups=[1]).fit(X, y, sensitive_features=s)
    assert ours.threshold_ == pytest.approx(aif.classification_threshold, abs=0.02)
    assert ours.margin_ == pytest.approx(aif.ROC_margin, abs=0.02)
    aif_pred = aif.predict(pred).labels.ravel()
    bal = lambda yp: 0.5 * (yp[y == 1].mean() + (1 - yp[y == 0]).mean())  # noqa: E731
    assert bal(ours.predict(X, sensitive_features=s)) == pytest.approx(bal(aif_pred), abs=0.005)


def test_default_predict_is_reproducible_per_row_and_meets_the_constraint(split):
    model, (X, y, s), (Xt, yt, st) = split
    opt = GroupThresholdOptimizer(model, constraint="equalized_odds", prefit=True).fit(X, y, sensitive_features=s)
    p = opt.positive_probability(Xt, sensitive_features=st)
    assert ((p > 0.01) & (p < 0.99)).sum() > 100  # the solution really is randomised
    full = opt.predict(Xt, sensitive_features=st)
    half = len(yt) // 2
    parts = np.r_[opt.predict(Xt[half:], sensitive_features=st[half:]),
                  opt.predict(Xt[:half], sensitive_features=st[:half])]
    np.testing.assert_array_equal(full, np.r_[parts[len(yt) - half:], parts[:len(yt) - half]])
    r = _rates(full.astype(float), yt, st)
    assert max(np.ptp(r[:, 1]), np.ptp(r[:, 2])) < 0.04
    # the draws behave like uniforms: randomised rows are positive at their probability
    mid = (p > 0.05) & (p < 0.95)
    assert abs(full[mid].mean() - p[mid].mean()) < 0.05
    other = GroupThresholdOptimizer(model, constraint="equalized_odds", prefit=True, random_state=1).fit(
        X, y, sensitive_features=s)
    assert (other.predict(Xt, sensitive_features=st)[mid] != full[mid]).any()
