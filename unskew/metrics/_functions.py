"""Metric functions with the scikit-learn / Fairlearn signature.

``f(y_true, y_pred, *, sensitive_features, sample_weight=None, ...)``. Each
builds :class:`GroupStats` in one vectorised pass and reads one number off it.
Functions named as in Fairlearn follow Fairlearn's definitions (between all
groups, non-negative); those named as in AIF360 take ``privileged`` and then
follow AIF360 (unprivileged minus privileged, pooled, signed).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import UnskewInputError
from ._checks import check_label_predictions
from ._compute import between_group_generalized_entropy, generalized_entropy
from ._frame import GroupMetrics
from ._groupstats import GroupStats


def group_metrics(
    y_true: Any,
    y_pred: Any = None,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    y_score: Any = None,
    metrics: Any = None,
    pos_label: Any = None,
    task: str = "auto",
    threshold: float = 0.5,
    ci: str | None = "wilson",
    confidence: float = 0.95,
    n_boot: int = 1000,
    random_state: int | None = 0,
    min_group_size: int = 30,
    score_bins: int | None = None,
    ece_bins: int = 10,
) -> GroupMetrics:
    """Per-group metrics of a classifier or regressor, in one pass over the rows.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (or values for a regression).
    sensitive_features : array-like, DataFrame or dict
        Column(s) defining the groups; several columns give intersectional groups.
    sample_weight : array-like, optional
    y_score : array-like, optional
        Scores of the positive class (binary): adds ROC AUC, Brier score, ECE.
    metrics : list of str, optional
        See :func:`list_metrics`; all that apply by default.
    pos_label, task, threshold, score_bins, ece_bins
        See :meth:`GroupStats.from_arrays`.
    ci, confidence, n_boot, random_state, min_group_size
        See :class:`GroupMetrics`.

    Returns
    -------
    GroupMetrics

    Examples
    --------
    >>> import numpy as np
    >>> from unskew.metrics import group_metrics
    >>> y = np.array([0, 1, 1, 0, 1, 0]); p = np.array([0, 1, 0, 0, 1, 1])
    >>> m = group_metrics(y, p, sensitive_features=["a", "a", "a", "b", "b", "b"], ci=None)
    >>> m.by_group["selection_rate"].round(3).tolist()
    [0.333, 0.667]
    """
    check_label_predictions(y_true, y_pred, task)
    stats = GroupStats.from_arrays(
        y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight, y_score=y_score,
        task=task, pos_label=pos_label, threshold=threshold, score_bins=score_bins, ece_bins=ece_bins,
    )
    return GroupMetrics(stats, metrics, ci=ci, confidence=confidence, n_boot=n_boot, random_state=random_state,
                        min_group_size=min_group_size)


#: Label sets whose positive class is unambiguous without ``pos_label``.
STANDARD_LABELS = ({0, 1}, {-1, 1}, {False, True})


class UndefinedMetricWarning(UserWarning):
    """A fairness measure is NaN because fewer than two groups have a defined rate."""


class AmbiguousPositiveLabelWarning(UserWarning):
    """Binary labels outside {0, 1}, {-1, 1} and booleans, and no ``pos_label``."""


def warn_ambiguous_pos_label(y_true: Any, y_pred: Any = None, pos_label: Any = None, stacklevel: int = 3) -> None:
    """Warn when two labels are neither {0, 1}, {-1, 1} nor booleans and no ``pos_label`` is given.

    unskew then takes the last label in sorted order as the positive one;
    Fairlearn's default is ``pos_label=1`` (labels {1, 2} differ). Three or
    more labels are a multiclass problem (one-vs-rest) and need no positive
    label.
    """
    if pos_label is not None:
        return
    labels: set = set()
    for arr in (y_true, y_pred):
        if arr is None:
            continue
        a = np.asarray(arr)
        if a.dtype.kind == "f":
            a = a[np.isfinite(a)]
        elif a.dtype.kind == "O":
            a = np.asarray([v for v in a if v is not None and v == v], dtype=object)
        try:
            labels.update(np.unique(a).tolist())
        except TypeError:  # mixed types: GroupStats reports those
            return
        if len(labels) > 2:
            return
    if len(labels) != 2 or any(labels == std for std in STANDARD_LABELS):
        return
    try:
        positive = sorted(labels)[-1]
    except TypeError:
        return
    warnings.warn(
        f"The labels are {sorted(labels)!r}, not {{0, 1}}, {{-1, 1}} or booleans, and no pos_label was given: "
        f"{positive!r} is taken as the positive label (Fairlearn's default would be 1). Pass pos_label= "
        "to say which label is the favourable outcome.", AmbiguousPositiveLabelWarning, stacklevel=stacklevel)


def _stats(y_true, y_pred, sensitive_features, sample_weight, pos_label=None, y_score=None, **kw) -> GroupStats:
    task = kw.pop("task", "classification")
    check_label_predictions(y_true, y_pred, task)
    if task != "regression":
        warn_ambiguous_pos_label(y_true, y_pred, pos_label, stacklevel=5)
    return GroupStats.from_arrays(y_true, y_pred, sensitive_features=sensitive_features,
                                  sample_weight=sample_weight, pos_label=pos_label, y_score=y_score,
                                  task=task, **kw)


def _require_two_defined(gm: GroupMetrics, metrics: Sequence[str], name: str) -> bool:
    """True when at least two groups have every rate in ``metrics`` defined (or only one group exists).

    Otherwise warn, naming the groups whose rate is undefined, and return
    False: the caller returns NaN instead of a "perfect parity" 0 or 1.
    """
    bg = gm.by_group
    cols = [c for c in bg.columns if any(c == m or c.startswith(m + "[") for m in metrics)]
    if len(bg) < 2 or not cols:
        return True
    undefined = []
    for c in cols:
        vals = bg[c].to_numpy(dtype=float)
        if np.isfinite(vals).sum() < 2:
            undefined += [(str(g), c) for g, v in zip(bg.index, vals, strict=True) if not np.isfinite(v)]
    if not undefined:
        return True
    what = "; ".join(f"{m} of group {g!r}" for g, m in undefined[:6])
    reason = {"true_positive_rate": "no actual positives", "false_positive_rate": "no actual negatives",
              "selection_rate": "no rows with positive weight"}
    why = ", ".join(sorted({reason.get(m.split("[")[0], "no rows") for _, m in undefined}))
    warnings.warn(
        f"{name} is undefined (NaN): fewer than two groups have a defined rate ({what} undefined: {why}). "
        "A difference over one group would read as perfect parity.", UndefinedMetricWarning, stacklevel=4)
    return False


def _measure(name, y_true, y_pred, sensitive_features, sample_weight, pos_label=None, privileged=None,
             y_score=None):
    st = _stats(y_true, y_pred, sensitive_features, sample_weight, pos_label, y_score)
    gm = GroupMetrics(st, ["selection_rate"] if st.is_binary else None, ci=None)
    return float(gm.fairness([name], privileged=privileged).loc[name, "value"])


def _check_method(method):
    if method not in ("between_groups", "to_overall"):
        raise UnskewInputError(f"method must be 'between_groups' or 'to_overall', not {method!r}.")


def _by_method(metric, y_true, y_pred, sensitive_features, sample_weight, method, pos_label, kind, name):
    _check_method(method)
    st = _stats(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    gm = GroupMetrics(st, [metric], ci=None)
    s = gm.difference(method) if kind == "difference" else gm.ratio(method)
    if not _require_two_defined(gm, [metric], name):
        s = s * np.nan
    return s


def _one(series, metric):
    cols = [c for c in series.index if c == metric or c.startswith(metric + "[")]
    vals = series[cols].to_numpy(dtype=float)
    return vals


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, sample_weight=None,
                                  method: str = "between_groups", pos_label=None) -> float:
    """Largest difference in selection rate between groups (Fairlearn's definition).

    ``method="to_overall"`` compares each group with the overall rate instead.
    Multiclass: the largest over classes (one-vs-rest).
    """
    d = _by_method("selection_rate", y_true, y_pred, sensitive_features, sample_weight, method, pos_label,
                   "difference", "demographic_parity_difference")
    return _nan_reduce(np.nanmax, _one(d, "selection_rate"))


def demographic_parity_ratio(y_true, y_pred, *, sensitive_features, sample_weight=None,
                             method: str = "between_groups", pos_label=None) -> float:
    """Smallest ratio of selection rates between groups (Fairlearn's definition)."""
    r = _by_method("selection_rate", y_true, y_pred, sensitive_features, sample_weight, method, pos_label, "ratio",
                   "demographic_parity_ratio")
    return _nan_reduce(np.nanmin, _one(r, "selection_rate"))


def _eo(y_true, y_pred, sensitive_features, sample_weight, method, agg, pos_label, kind):
    if agg not in ("worst_case", "mean"):
        raise UnskewInputError(f"agg must be 'worst_case' or 'mean', not {agg!r}.")
    _check_method(method)
    st = _stats(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    gm = GroupMetrics(st, ["true_positive_rate", "false_positive_rate"], ci=None)
    if not _require_two_defined(gm, ["true_positive_rate", "false_positive_rate"], f"equalized_odds_{kind}"):
        return float("nan")
    s = gm.difference(method) if kind == "difference" else gm.ratio(method)
    tpr, fpr = _one(s, "true_positive_rate"), _one(s, "false_positive_rate")
    if kind == "difference":
        tpr, fpr = np.nanmax(tpr), np.nanmax(fpr)
        return float(max(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2)
    tpr, fpr = np.nanmin(tpr), np.nanmin(fpr)
    return float(min(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2)


def _nan_reduce(f, values) -> float:
    """``f`` over the defined values; NaN (without numpy's warning) when none is."""
    values = np.asarray(values, dtype=float)
    return float(f(values)) if np.isfinite(values).any() else float("nan")


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, sample_weight=None,
                              method: str = "between_groups", agg: str = "worst_case", pos_label=None) -> float:
    """The larger (``agg="worst_case"``) or mean (``agg="mean"``) of the TPR and FPR differences."""
    return _eo(y_true, y_pred, sensitive_features, sample_weight, method, agg, pos_label, "difference")


def equalized_odds_ratio(y_true, y_pred, *, sensitive_features, sample_weight=None,
                         method: str = "between_groups", agg: str = "worst_case", pos_label=None) -> float:
    """The smaller (``agg="worst_case"``) or mean of the TPR and FPR ratios."""
    return _eo(y_true, y_pred, sensitive_features, sample_weight, method, agg, pos_label, "ratio")


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, sample_weight=None,
                                 method: str = "between_groups", privileged=None, pos_label=None) -> float:
    """TPR difference between groups.

    Without ``privileged``: Fairlearn's largest difference. With it: AIF360's
    ``TPR(unprivileged) - TPR(privileged)`` (pooled, signed).
    """
    if privileged is not None:
        return _measure("equal_opportunity_difference", y_true, y_pred, sensitive_features, sample_weight,
                        pos_label, privileged)
    d = _by_method("true_positive_rate", y_true, y_pred, sensitive_features, sample_weight, method, pos_label,
                   "difference", "equal_opportunity_difference")
    return _nan_reduce(np.nanmax, _one(d, "true_positive_rate"))


def equal_opportunity_ratio(y_true, y_pred, *, sensitive_features, sample_weight=None,
                            method: str = "between_groups", pos_label=None) -> float:
    """Smallest ratio of TPR between groups."""
    r = _by_method("true_positive_rate", y_true, y_pred, sensitive_features, sample_weight, method, pos_label,
                   "ratio", "equal_opportunity_ratio")
    return _nan_reduce(np.nanmin, _one(r, "true_positive_rate"))


def average_odds_difference(y_true, y_pred, *, sensitive_features, sample_weight=None, privileged=None,
                            pos_label=None) -> float:
    """Average of the FPR and TPR differences.

    With ``privileged``: AIF360's ``((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2``.
    Without: the mean of the between-group TPR and FPR gaps (Fairlearn's
    ``equalized_odds_difference(agg="mean")``).
    """
    return _measure("average_odds_difference", y_true, y_pred, sensitive_features, sample_weight, pos_label,
                    privileged)


def disparate_impact_ratio(y_true, y_pred, *, sensitive_features, sample_weight=None, privileged=None,
                           pos_label=None) -> float:
    """Selection rate of the unprivileged over the privileged (AIF360's ``disparate_impact``).

    Without ``privileged``: the lowest group's rate over the highest's. Below
    0.8 fails the four-fifths rule (see :func:`four_fifths_rule`).
    """
    return _measure("disparate_impact_ratio", y_true, y_pred, sensitive_features, sample_weight, pos_label,
                    privileged)


def statistical_parity_difference(y_true, y_pred, *, sensitive_features, privileged, sample_weight=None,
                                  pos_label=None) -> float:
    """Selection rate of the unprivileged minus the privileged (AIF360)."""
    return _measure("statistical_parity_difference", y_true, y_pred, sensitive_features, sample_weight,
                    pos_label, privileged)


def four_fifths_rule(y_true, y_pred, *, sensitive_features, sample_weight=None, privileged=None,
                     threshold: float = 0.8, pos_label=None):
    """Per-group selection-rate ratios to the reference group and whether each passes.

    Returns a DataFrame with ``group, n, selection_rate, ratio, passes``.
    """
    st = _stats(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    return GroupMetrics(st, ["selection_rate"], ci=None).four_fifths(privileged=privileged, threshold=threshold)


def predictive_parity_difference(y_true, y_pred, *, sensitive_features, sample_weight=None,
                                 pos_label=None) -> float:
    """Largest difference in precision (PPV) between groups."""
    return _measure("predictive_parity_difference", y_true, y_pred, sensitive_features, sample_weight, pos_label)


def worst_group_accuracy(y_true, y_pred, *, sensitive_features, sample_weight=None) -> float:
    """Accuracy of the group with the lowest accuracy."""
    st = _stats(y_true, y_pred, sensitive_features, sample_weight)
    return float(GroupMetrics(st, ["accuracy"], ci=None).by_group["accuracy"].min())


def calibration_gap(y_true, y_score, *, sensitive_features, sample_weight=None, n_bins: int = 10,
                    pos_label=None) -> float:
    """Largest difference in expected calibration error between groups."""
    st = _stats(y_true, None, sensitive_features, sample_weight, pos_label, y_score=y_score, ece_bins=n_bins)
    gm = GroupMetrics(st, ["ece"], ci=None)
    return float(gm.fairness(["calibration_gap"]).loc["calibration_gap", "value"])


def expected_calibration_error(y_true, y_score, *, sample_weight=None, n_bins: int = 10, pos_label=None) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins of [0, 1]."""
    n = len(np.asarray(y_score))
    st = _stats(y_true, None, np.zeros(n, np.int8), sample_weight, pos_label, y_score=y_score, ece_bins=n_bins)
    return float(GroupMetrics(st, ["ece"], ci=None).overall["ece"])


def _conf2(y_true, y_pred, sensitive_features, sample_weight, pos_label):
    n = len(np.asarray(y_true))
    sf = np.zeros(n, np.int8) if sensitive_features is None else sensitive_features
    return _stats(y_true, y_pred, sf, sample_weight, pos_label).binary_confusion()[0]


def generalized_entropy_index(y_true, y_pred, *, alpha: float = 2, sample_weight=None, pos_label=None) -> float:
    """Generalised entropy index of benefits ``b = y_pred - y_true + 1`` (Speicher et al. 2018).

    Equals AIF360's ``ClassificationMetric.generalized_entropy_index`` without
    weights (AIF360 ignores instance weights here; unskew weights rows).
    """
    return float(generalized_entropy(_conf2(y_true, y_pred, None, sample_weight, pos_label), alpha))


def theil_index(y_true, y_pred, *, sample_weight=None, pos_label=None) -> float:
    """Generalised entropy index with ``alpha = 1``."""
    return generalized_entropy_index(y_true, y_pred, alpha=1, sample_weight=sample_weight, pos_label=pos_label)


def between_group_generalized_entropy_index(y_true, y_pred, *, sensitive_features, alpha: float = 2,
                                            sample_weight=None, pos_label=None) -> float:
    """GE index after replacing each benefit by its group's mean benefit."""
    return float(between_group_generalized_entropy(
        _conf2(y_true, y_pred, sensitive_features, sample_weight, pos_label), alpha))


def between_group_theil_index(y_true, y_pred, *, sensitive_features, sample_weight=None, pos_label=None) -> float:
    """Between-group GE index with ``alpha = 1``."""
    return between_group_generalized_entropy_index(y_true, y_pred, sensitive_features=sensitive_features,
                                                   alpha=1, sample_weight=sample_weight, pos_label=pos_label)


def consistency_score(X, y_pred, *, n_neighbors: int = 5, sample_weight=None) -> float:
    """kNN consistency (Zemel et al. 2013): ``1 - mean |y_pred_i - mean(y_pred of its k neighbours)|``.

    Neighbours are found in ``X`` as given (scale features first if their units
    differ); as in AIF360, each row is among its own neighbours.
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=float)
    y = np.asarray(y_pred, dtype=float).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise UnskewInputError(f"X must be 2-D with one row per prediction; got {X.shape} and {y.shape}.")
    if not np.isfinite(X).all():
        raise UnskewInputError("X has missing or infinite values; impute them before computing consistency.")
    k = min(int(n_neighbors), len(X))
    nbrs = NearestNeighbors(n_neighbors=k, algorithm="ball_tree").fit(X)
    _, idx = nbrs.kneighbors(X)
    dev = np.abs(y - y[idx].mean(axis=1))
    if sample_weight is None:
        return float(1 - dev.mean())
    w = np.asarray(sample_weight, float)
    return float(1 - (w * dev).sum() / w.sum())
