"""Metric edge cases, each checked against Fairlearn (issue 12, part 7).

Deliberate differences from Fairlearn are documented in docs/metrics.md.
"""

import warnings

import numpy as np
import pytest

import unskew.metrics as um
from unskew.exceptions import UnskewInputError
from unskew.metrics._functions import AmbiguousPositiveLabelWarning, UndefinedMetricWarning

fm = pytest.importorskip("fairlearn.metrics")

# group "aa" has no actual positives (TPR undefined); "bb" has TPR 0.75 and FPR undefined
G = np.array(["aa"] * 4 + ["bb"] * 4)
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([1, 0, 1, 0, 1, 1, 1, 0])


def test_fairlearn_counts_an_undefined_rate_as_zero_unskew_says_nan():
    # Fairlearn reads aa's undefined TPR as 0 and reports a 0.75 gap
    assert fm.equal_opportunity_difference(Y, P, sensitive_features=G) == pytest.approx(0.75)
    with pytest.warns(UndefinedMetricWarning, match="true_positive_rate of group 'aa'.*no actual positives"):
        assert np.isnan(um.equal_opportunity_difference(Y, P, sensitive_features=G))
    with pytest.warns(UndefinedMetricWarning, match="group 'aa'"):
        assert np.isnan(um.equal_opportunity_ratio(Y, P, sensitive_features=G))
    for f in ("equalized_odds_difference", "equalized_odds_ratio"):
        with pytest.warns(UndefinedMetricWarning, match="false_positive_rate of group 'bb'"):
            assert np.isnan(getattr(um, f)(Y, P, sensitive_features=G)), f


def test_all_zero_weights_make_a_group_undefined():
    w = np.r_[np.zeros(4), np.ones(4)]
    with pytest.warns(UndefinedMetricWarning, match="group 'aa'"):
        assert np.isnan(um.demographic_parity_difference(Y, P, sensitive_features=G, sample_weight=w))


def test_two_defined_groups_agree_with_fairlearn_and_stay_silent():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    g = rng.choice(["a", "b", "c"], 300)
    w = rng.random(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                     "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio"):
            for method in ("between_groups", "to_overall"):
                ours = getattr(um, name)(y, p, sensitive_features=g, sample_weight=w, method=method)
                theirs = getattr(fm, name)(y, p, sensitive_features=g, sample_weight=w, method=method)
                assert ours == pytest.approx(theirs, abs=1e-12), (name, method)


def test_one_group_of_three_undefined_leaves_a_defined_gap():
    # a third group with positives: two groups define the TPR, so the gap is defined (aa skipped)
    g = np.r_[G, ["cc"] * 4]
    y = np.r_[Y, [1, 1, 0, 0]]
    p = np.r_[P, [1, 0, 0, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert um.equal_opportunity_difference(y, p, sensitive_features=g) == pytest.approx(0.25)


def test_evaluate_engine_also_returns_nan():
    gm = um.group_metrics(Y, P, sensitive_features=G, ci=None, min_group_size=0)
    fair = gm.fairness(["equal_opportunity_difference", "equalized_odds_difference"])
    assert fair["value"].isna().all()


def test_probability_scores_as_predictions_are_refused():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = rng.random(200)
    g = rng.choice(["a", "b"], 200)
    with pytest.raises(ValueError):  # Fairlearn refuses them for equalized odds too
        fm.equalized_odds_difference(y, scores, sensitive_features=g)
    for f in ("equalized_odds_difference", "demographic_parity_difference", "equal_opportunity_difference"):
        with pytest.raises(UnskewInputError, match=r"y_score=.*scores >= 0\.5"):
            getattr(um, f)(y, scores, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="not whole numbers"):
        um.group_metrics(y, scores, sensitive_features=g, ci=None)
    # whole-number floats are labels; a continuous truth is a regression, not scores
    assert um.demographic_parity_difference(y, y.astype(float), sensitive_features=g) >= 0
    reg = um.group_metrics(scores * 3, scores * 3 + 0.1, sensitive_features=g, ci=None, task="auto")
    assert "mae" in reg.by_group.columns


def test_labels_outside_the_standard_sets_warn():
    rng = np.random.default_rng(1)
    y, p = rng.choice([1, 2], 300), rng.choice([1, 2], 300)
    g = rng.choice(["a", "b"], 300)
    with pytest.warns(AmbiguousPositiveLabelWarning, match=r"\[1, 2\].*2 is taken as the positive"):
        ours_default = um.demographic_parity_ratio(y, p, sensitive_features=g)
    # with pos_label the numbers are Fairlearn's, and nothing is said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pos in (1, 2):
            ours = um.demographic_parity_ratio(y, p, sensitive_features=g, pos_label=pos)
            def rate(yt, yp, pos=pos):
                return fm.selection_rate(yt, yp, pos_label=pos)

            theirs = fm.MetricFrame(metrics=rate, y_true=y, y_pred=p, sensitive_features=g).ratio()
            assert ours == pytest.approx(theirs, abs=1e-12)
        assert ours_default == pytest.approx(ours)  # the default was the last label, 2
        # Fairlearn's default is pos_label=1: a different number, which is why unskew warns
        assert fm.demographic_parity_ratio(y, p, sensitive_features=g) != pytest.approx(ours_default)
        # standard label sets need no pos_label
        for labels in ([0, 1], [-1, 1], [False, True]):
            yy, pp = rng.choice(labels, 100), rng.choice(labels, 100)
            um.demographic_parity_difference(yy, pp, sensitive_features=rng.choice(["a", "b"], 100))
    with pytest.warns(AmbiguousPositiveLabelWarning, match="'yes'"):
        um.demographic_parity_difference(np.array(["no", "yes"] * 20), np.array(["yes", "yes"] * 20),
                                         sensitive_features=np.array(["a"] * 20 + ["b"] * 20))


def test_group_stats_and_evaluate_refuse_scores_as_predictions():
    import pandas as pd

    from unskew.exceptions import UnskewInputError
    from unskew.metrics import GroupStats, evaluate

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.random(200), 3)
    g = rng.choice(["a", "b"], 200)
    with pytest.raises(UnskewInputError, match=r"y_score=.*--scores.*threshold"):
        GroupStats.from_arrays(y, score, sensitive_features=g)
    df = pd.DataFrame({"y": y, "p": score, "g": g})
    with pytest.raises(UnskewInputError, match=r"--scores"):
        evaluate(df, target="y", sensitive="g", predictions="p")
    # scores as scores, and a regression with continuous truth, are unchanged
    assert GroupStats.from_arrays(y, y_score=score, sensitive_features=g).task == "classification"
    assert GroupStats.from_arrays(score + 0.5, score, sensitive_features=g).task == "regression"
