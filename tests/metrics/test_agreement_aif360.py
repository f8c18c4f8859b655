"""AIF360-named measures agree with AIF360's ClassificationMetric to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_data import make_binary

from unskew import metrics as um

pytest.importorskip("aif360")
pytestmark = [pytest.mark.peers, pytest.mark.filterwarnings("ignore")]

from aif360.datasets import BinaryLabelDataset  # noqa: E402
from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric  # noqa: E402

TOL = dict(rtol=1e-9, atol=1e-9)


def _numeric(sf):
    return pd.DataFrame({"sex": (sf["sex"] == "M").astype(int).to_numpy(),
                         "race": sf["race"].map({"a": 0, "b": 1, "c": 2, "d": 3}).to_numpy()})


def _datasets(y, p, sfn, w=None, extra=None):
    df = sfn.astype(float).copy()
    if extra is not None:
        for j in range(extra.shape[1]):
            df[f"x{j}"] = extra[:, j]
    df["label"] = y.astype(float)
    if w is not None:
        df["w"] = w
    ds = BinaryLabelDataset(df=df, label_names=["label"], protected_attribute_names=["sex", "race"],
                            favorable_label=1.0, unfavorable_label=0.0,
                            instance_weights_name="w" if w is not None else None)
    pred = ds.copy(deepcopy=True)
    pred.labels = p.astype(float).reshape(-1, 1)
    return ds, pred


@pytest.mark.parametrize("weights", [None, "float"])
@pytest.mark.parametrize("priv", ["sex", "intersection"])
def test_privileged_measures_match_classification_metric(weights, priv):
    y, p, _, w, sf = make_binary(seed=11, weights=weights)
    sfn = _numeric(sf)
    ds, pred = _datasets(y, p, sfn, w)
    if priv == "sex":
        privileged, unprivileged = [{"sex": 1}], [{"sex": 0}]
        ours_priv = {"sex": 1}
    else:
        privileged = [{"sex": 1, "race": 0}]
        unprivileged = [{"sex": 0}] + [{"sex": 1, "race": r} for r in (1, 2, 3)]
        ours_priv = "sex=1 & race=0"
    cm = ClassificationMetric(ds, pred, unprivileged_groups=unprivileged, privileged_groups=privileged)
    kw = dict(sensitive_features=sfn, sample_weight=w, privileged=ours_priv)
    np.testing.assert_allclose(um.disparate_impact_ratio(y, p, **kw), cm.disparate_impact(), **TOL)
    np.testing.assert_allclose(um.statistical_parity_difference(y, p, **kw),
                               cm.statistical_parity_difference(), **TOL)
    np.testing.assert_allclose(um.average_odds_difference(y, p, **kw), cm.average_odds_difference(), **TOL)
    np.testing.assert_allclose(um.equal_opportunity_difference(y, p, **kw),
                               cm.equal_opportunity_difference(), **TOL)
    # the same numbers from the measures table
    table = um.group_metrics(y, p, sensitive_features=sfn, sample_weight=w, ci=None).fairness(privileged=ours_priv)
    np.testing.assert_allclose(table.loc["disparate_impact_ratio", "value"], cm.disparate_impact(), **TOL)
    np.testing.assert_allclose(table.loc["average_odds_difference", "value"], cm.average_odds_difference(), **TOL)
    # four-fifths rule with the pooled privileged rate as reference
    ff = um.four_fifths_rule(y, p, sensitive_features=sfn, sample_weight=w, privileged=ours_priv)
    sel = cm.selection_rate(privileged=True)
    np.testing.assert_allclose(ff["ratio"].to_numpy(), ff["selection_rate"].to_numpy() / sel, **TOL)


@pytest.mark.parametrize("alpha", [0.5, 1, 2, 3])
def test_generalized_entropy_matches_aif360(alpha):
    y, p, _, _, sf = make_binary(seed=12, weights=None)
    sfn = _numeric(sf)
    ds, pred = _datasets(y, p, sfn)
    cm = ClassificationMetric(ds, pred, unprivileged_groups=[{"sex": 0}], privileged_groups=[{"sex": 1}])
    np.testing.assert_allclose(um.generalized_entropy_index(y, p, alpha=alpha),
                               cm.generalized_entropy_index(alpha=alpha), **TOL)
    # between the two sex groups (AIF360's privileged/unprivileged split)
    np.testing.assert_allclose(
        um.between_group_generalized_entropy_index(y, p, sensitive_features=sfn["sex"], alpha=alpha),
        cm.between_group_generalized_entropy_index(alpha=alpha), **TOL)
    # between all eight intersectional groups
    groups = [[{"sex": s, "race": r}] for s in (0, 1) for r in range(4)]
    np.testing.assert_allclose(
        um.between_group_generalized_entropy_index(y, p, sensitive_features=sfn, alpha=alpha),
        cm._between_group_generalized_entropy_index(groups=groups, alpha=alpha), **TOL)
    if alpha == 1:
        np.testing.assert_allclose(um.theil_index(y, p), cm.theil_index(), **TOL)
        np.testing.assert_allclose(um.between_group_theil_index(y, p, sensitive_features=sfn["sex"]),
                                   cm.between_group_theil_index(), **TOL)


def test_weighted_generalized_entropy_equals_aif360_on_repeated_rows():
    # AIF360 ignores instance weights in the GE index; integer weights equal repeated rows.
    y, p, _, w, sf = make_binary(n=1500, seed=13, weights="int")
    sfn = _numeric(sf)
    reps = w.astype(int)
    ds, pred = _datasets(np.repeat(y, reps), np.repeat(p, reps), sfn.loc[np.repeat(np.arange(len(y)), reps)]
                         .reset_index(drop=True))
    cm = ClassificationMetric(ds, pred, unprivileged_groups=[{"sex": 0}], privileged_groups=[{"sex": 1}])
    for alpha in (1, 2):
        np.testing.assert_allclose(um.generalized_entropy_index(y, p, alpha=alpha, sample_weight=w),
                                   cm.generalized_entropy_index(alpha=alpha), **TOL)
        np.testing.assert_allclose(
            um.between_group_generalized_entropy_index(y, p, sensitive_features=sfn["sex"], alpha=alpha,
                                                       sample_weight=w),
            cm.between_group_generalized_entropy_index(alpha=alpha), **TOL)


def test_consistency_matches_aif360():
    rng = np.random.default_rng(14)
    n = 800
    y, p, _, _, sf = make_binary(n=n, seed=14, weights=None)
    sfn = _numeric(sf)
    X = rng.normal(size=(n, 3)) + p[:, None] * 0.8
    ds, pred = _datasets(y, p, sfn, extra=X)
    theirs = BinaryLabelDatasetMetric(pred).consistency(n_neighbors=5)
    ours = um.consistency_score(pred.features, p, n_neighbors=5)
    np.testing.assert_allclose(ours, float(np.ravel(theirs)[0]), **TOL)
