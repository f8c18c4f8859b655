"""Engine behaviour: undefined groups, intervals, bootstrap, inputs and exports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from metrics_data import make_binary

from unskew._stats import wilson_interval
from unskew.exceptions import UnskewInputError
from unskew.metrics import GroupMetrics, GroupStats, group_metrics, list_measures, list_metrics


def test_group_without_positives_is_reported_not_dropped():
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 0])
    p = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 0])
    g = np.array(["a"] * 6 + ["b"] * 4)
    m = group_metrics(y, p, sensitive_features=g, min_group_size=5)
    assert list(m.by_group.index) == ["a", "b"]
    assert np.isnan(m.by_group.loc["b", "true_positive_rate"])
    assert m.by_group.loc["b", "false_positive_rate"] == 0.25
    assert "no positives" in m.notes["b"] and "only 4 rows" in m.notes["b"]
    assert m.notes["a"] == ""
    # the gap skips the undefined group instead of failing or inventing a zero
    assert m.difference()["true_positive_rate"] == 0.0
    assert m.difference()["false_positive_rate"] == pytest.approx(1 / 3 - 1 / 4)
    assert np.isnan(m.ci_low.loc["b", "true_positive_rate"])


def test_missing_sensitive_values_form_their_own_group():
    g = pd.Series(["a", None, "b", "a", None, "b"], name="grp")
    m = group_metrics([0, 1, 1, 0, 1, 0], [0, 1, 0, 0, 0, 0], sensitive_features=g, ci=None)
    assert list(m.by_group.index) == ["a", "b", "(missing)"]
    assert m.by_group.loc["(missing)", "count"] == 2


def test_wilson_intervals_match_hand_computation():
    y, p, _, w, sf = make_binary(n=2000, seed=31, weights=None)
    m = group_metrics(y, p, sensitive_features=sf["sex"])
    sel = p[sf["sex"] == "F"]
    lo, hi = wilson_interval(sel.sum(), len(sel))
    assert m.ci_low.loc["F", "selection_rate"] == pytest.approx(float(lo), abs=1e-12)
    assert m.ci_high.loc["F", "selection_rate"] == pytest.approx(float(hi), abs=1e-12)
    # weighted: Kish effective size of the denominator rows
    y, p, _, w, sf = make_binary(n=2000, seed=31, weights="float")
    m = group_metrics(y, p, sensitive_features=sf["sex"], sample_weight=w)
    mask = ((sf["sex"] == "F") & (y == 1)).to_numpy()
    neff = w[mask].sum() ** 2 / (w[mask] ** 2).sum()
    rate = (w[mask] * p[mask]).sum() / w[mask].sum()
    lo, hi = wilson_interval(rate * neff, neff)
    assert m.ci_low.loc["F", "true_positive_rate"] == pytest.approx(float(lo), abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_on_statistics_matches_row_level_poisson_bootstrap(weighted):
    rng = np.random.default_rng(32)
    n = 600
    g = rng.choice(["a", "b"], n)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < 0.7, y, 1 - y)
    w = rng.uniform(0.1, 3, n) if weighted else None
    m = group_metrics(y, p, sensitive_features=g, sample_weight=w, ci="bootstrap", n_boot=4000, random_state=1)
    reps = m.replicates()["group"]["true_positive_rate"][:, 0]
    # the row-level Poisson bootstrap, done the slow way
    ww = np.ones(n) if w is None else w
    sel = (g == "a") & (y == 1)
    row = []
    for _ in range(4000):
        k = rng.poisson(1.0, n) * ww
        row.append((k[sel] * p[sel]).sum() / k[sel].sum())
    row = np.array(row)
    assert reps.mean() == pytest.approx(row.mean(), abs=0.01)
    assert reps.std() == pytest.approx(row.std(), rel=0.1)
    # the percentile interval brackets the estimate
    est = m.by_group.loc["a", "true_positive_rate"]
    assert m.ci_low.loc["a", "true_positive_rate"] < est < m.ci_high.loc["a", "true_positive_rate"]


def test_bootstrap_survives_resamples_that_miss_a_small_group():
    y, p, s, w, sf = make_binary(n=1000, seed=33, weights="float")
    g = sf["race"].to_numpy().copy()
    g[:2] = "tiny"
    m = group_metrics(y, p, sensitive_features=pd.Series(g, name="race"), sample_weight=w, y_score=s,
                      ci="bootstrap", n_boot=500)
    reps = m.replicates()
    assert reps["n_valid"]["selection_rate"] < 500  # some replicates lost the tiny group
    assert np.isfinite(m.ci_low.loc["a", "selection_rate"])
    f = m.fairness()
    assert np.isfinite(f.loc["demographic_parity_difference", ["value", "ci_low", "ci_high"]].astype(float)).all()
    # leaving small groups out of the gaps
    f30 = m.fairness(min_group_size=30)
    assert f30.loc["demographic_parity_difference", "n_groups"] == 4
    assert "only 2 rows" in m.notes["tiny"]


def test_fairness_intervals_cover_value_and_auc_interval():
    y, p, s, w, sf = make_binary(n=3000, seed=34)
    m = group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s, n_boot=300)
    f = m.fairness()
    for name in ("demographic_parity_difference", "equalized_odds_difference", "roc_auc_difference"):
        row = f.loc[name]
        assert row.ci_low <= row.value <= row.ci_high + 0.05, name
    lo, hi = m.ci_low["roc_auc"], m.ci_high["roc_auc"]
    assert ((lo < m.by_group["roc_auc"]) & (m.by_group["roc_auc"] < hi)).all()
    assert set(f.index) <= set(list_measures())


def test_thresholded_scores_give_predictions_and_non_probability_scores():
    y, _, s, _, sf = make_binary(n=500, seed=35, weights=None)
    m = group_metrics(y, None, sensitive_features=sf["sex"], y_score=s, threshold=0.5, ci=None)
    m2 = group_metrics(y, (s >= 0.5).astype(int), sensitive_features=sf["sex"], y_score=s, ci=None)
    pd.testing.assert_frame_equal(m.by_group, m2.by_group)
    logits = np.log(s + 1e-3) - np.log(1 - s + 1e-3)
    m3 = group_metrics(y, None, sensitive_features=sf["sex"], y_score=logits, threshold=0.0, ci=None)
    assert np.isnan(m3.by_group["brier"]).all() and np.isnan(m3.by_group["ece"]).all()
    np.testing.assert_allclose(m3.by_group["roc_auc"], m.by_group["roc_auc"])


def test_bad_inputs_name_the_problem():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(UnskewInputError, match="rows but y_true has 4"):
        group_metrics(y, y, sensitive_features=["a", "b"])
    with pytest.raises(UnskewInputError, match="y_true has 1 missing"):
        group_metrics(np.array([0, 1, np.nan, 0]), y, sensitive_features=list("abab"))
    with pytest.raises(UnskewInputError, match="negative"):
        group_metrics(y, y, sensitive_features=list("abab"), sample_weight=[1, -1, 1, 1])
    with pytest.raises(UnskewInputError, match="Unknown metric 'tpx'"):
        group_metrics(y, y, sensitive_features=list("abab"), metrics=["tpx"])
    with pytest.raises(UnskewInputError, match="needs scores"):
        group_metrics(y, y, sensitive_features=list("abab"), metrics=["roc_auc"])
    with pytest.raises(UnskewInputError, match="binary target"):
        group_metrics([0, 1, 2, 0], [0, 1, 2, 1], sensitive_features=list("abab"), y_score=[0.1, 0.2, 0.3, 0.4])
    with pytest.raises(UnskewInputError, match="ci must be"):
        group_metrics(y, y, sensitive_features=list("abab"), ci="exact")
    m = group_metrics(y, y, sensitive_features=list("abab"), ci=None)
    with pytest.raises(UnskewInputError, match="No group matches"):
        m.fairness(privileged="c")
    with pytest.raises(UnskewInputError, match="not a sensitive feature"):
        m.fairness(privileged={"sex": "M"})


def test_aliases_multiclass_columns_and_metric_list():
    m = group_metrics([0, 1, 2, 2], [0, 2, 2, 1], sensitive_features=list("aabb"), metrics=["acc", "sr"], ci=None)
    assert list(m.by_group.columns) == ["accuracy", "selection_rate[0]", "selection_rate[1]", "selection_rate[2]"]
    assert "roc_auc" in list_metrics()


def test_exports_pandas_polars_json():
    y, p, s, w, sf = make_binary(n=800, seed=36)
    m = group_metrics(y, p, sensitive_features=sf, sample_weight=w, y_score=s)
    wide = m.to_pandas()
    assert wide.index[-1] == "(overall)" and len(wide) == 9
    assert {"selection_rate_low", "selection_rate_high", "n", "note"} <= set(wide.columns)
    long = m.to_pandas(long=True)
    assert len(long) == 9 * len(m.columns)
    d = json.loads(m.to_json())
    assert d["groups"][0]["group"] == "sex=F & race=a" and d["score_table"] == "exact"
    assert d["groups"][0]["metrics"]["selection_rate"]["low"] is not None
    pl = pytest.importorskip("polars")
    assert m.to_polars().shape[0] == 9
    # polars input for the sensitive features
    m2 = group_metrics(y, p, sensitive_features=pl.from_pandas(sf), sample_weight=w, y_score=s)
    pd.testing.assert_frame_equal(m2.by_group, m.by_group)


def test_group_metrics_from_stats_and_worst_group():
    y, p, s, w, sf = make_binary(n=1000, seed=37)
    st = GroupStats.from_arrays(y, p, sensitive_features=sf, sample_weight=w)
    m = st.metrics(["accuracy", "fpr"], ci=None)
    assert isinstance(m, GroupMetrics)
    worst = m.worst_group()
    acc = m.by_group["accuracy"].to_numpy()
    assert worst["accuracy"] == m.labels[int(np.argmin(acc))]
    assert worst["false_positive_rate"] == m.labels[int(np.argmax(m.by_group["false_positive_rate"]))]
    assert "GroupStats(task='classification', groups=8" in repr(st)


def test_calibration_bins_match_searchsorted_at_the_edges():
    from unskew.metrics._groupstats import ece_bin_index

    rng = np.random.default_rng(38)
    for bins in (1, 3, 10, 15, 100):
        e = np.linspace(0, 1, bins + 1)
        s = np.concatenate([rng.random(5000), e, np.nextafter(e, 2), np.nextafter(e, -1), [-0.5, 1.5]])
        np.testing.assert_array_equal(ece_bin_index(s, bins), np.searchsorted(e[1:-1], s))
