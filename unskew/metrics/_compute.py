"""Group metrics computed from sufficient statistics.

Every function here works on arrays with arbitrary leading dimensions: the
same code computes the metrics of the observed statistics (shape ``(G, ...)``)
and of ``B`` bootstrap replicates at once (shape ``(B, G, ...)``).

A metric whose denominator is zero in a group (a true positive rate where the
group has no positives, say) is NaN there, never a silent 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..exceptions import UnskewInputError


@dataclass(frozen=True)
class MetricSpec:
    """Description of a per-group metric."""

    name: str
    title: str
    task: str  # "any", "binary", "multiclass", "classification", "scores", "regression"
    higher_is_better: bool | None
    description: str
    aliases: tuple[str, ...] = ()
    #: numerator and denominator cells (true, pred) of a binary rate
    rate: tuple | None = None
    per_class: bool = False


_TP, _FN, _FP, _TN = (1, 1), (1, 0), (0, 1), (0, 0)
_ALL = (_TP, _FN, _FP, _TN)

_SPECS = [
    MetricSpec("count", "Rows", "any", None, "Number of rows in the group (unweighted)."),
    MetricSpec("selection_rate", "Selection rate", "classification", None,
               "Share predicted positive, P(y_pred = pos).", ("sr",), ((_TP, _FP), _ALL), per_class=True),
    MetricSpec("base_rate", "Base rate", "binary", None, "Share truly positive, P(y = pos).", ("prevalence",),
               ((_TP, _FN), _ALL)),
    MetricSpec("accuracy", "Accuracy", "classification", True, "Share predicted correctly.", ("acc",),
               ((_TP, _TN), _ALL)),
    MetricSpec("balanced_accuracy", "Balanced accuracy", "classification", True,
               "Mean recall over the classes present in y_true.", ("bal_acc",)),
    MetricSpec("true_positive_rate", "TPR", "classification", True, "P(y_pred = pos | y = pos), recall.",
               ("tpr", "recall", "sensitivity"), ((_TP,), (_TP, _FN)), per_class=True),
    MetricSpec("false_negative_rate", "FNR", "binary", False, "P(y_pred = neg | y = pos).", ("fnr",),
               ((_FN,), (_TP, _FN))),
    MetricSpec("false_positive_rate", "FPR", "classification", False, "P(y_pred = pos | y = neg).", ("fpr",),
               ((_FP,), (_FP, _TN)), per_class=True),
    MetricSpec("true_negative_rate", "TNR", "binary", True, "P(y_pred = neg | y = neg), specificity.",
               ("tnr", "specificity"), ((_TN,), (_FP, _TN))),
    MetricSpec("precision", "PPV", "binary", True, "P(y = pos | y_pred = pos), positive predictive value.",
               ("ppv", "positive_predictive_value"), ((_TP,), (_TP, _FP))),
    MetricSpec("negative_predictive_value", "NPV", "binary", True, "P(y = neg | y_pred = neg).", ("npv",),
               ((_TN,), (_TN, _FN))),
    MetricSpec("false_discovery_rate", "FDR", "binary", False, "P(y = neg | y_pred = pos) = 1 - PPV.", ("fdr",),
               ((_FP,), (_TP, _FP))),
    MetricSpec("false_omission_rate", "FOR", "binary", False, "P(y = pos | y_pred = neg) = 1 - NPV.", ("for",),
               ((_FN,), (_TN, _FN))),
    MetricSpec("f1", "F1", "binary", True, "Harmonic mean of precision and recall, 2TP / (2TP + FP + FN).",
               ("f1_score",)),
    MetricSpec("precision_macro", "Precision (macro)", "multiclass", True,
               "Unweighted mean precision over the classes present (as scikit-learn's average='macro')."),
    MetricSpec("recall_macro", "Recall (macro)", "multiclass", True,
               "Unweighted mean recall over the classes present (as scikit-learn's average='macro')."),
    MetricSpec("f1_macro", "F1 (macro)", "multiclass", True,
               "Unweighted mean F1 over the classes present (as scikit-learn's average='macro')."),
    MetricSpec("roc_auc", "ROC AUC", "scores", True, "Area under the ROC curve of the scores (ties count 1/2).",
               ("auc",)),
    MetricSpec("brier", "Brier score", "scores", False, "Mean squared difference of score and outcome.",
               ("brier_score",)),
    MetricSpec("ece", "ECE", "scores", False,
               "Expected calibration error over equal-width score bins: sum_b w_b |mean(y)_b - mean(p)_b|.",
               ("expected_calibration_error",)),
    MetricSpec("mean_score", "Mean score", "scores", None, "Mean predicted probability."),
    MetricSpec("calibration_in_the_large", "Calibration in the large", "scores", None,
               "Mean score minus observed positive rate (positive: over-predicts)."),
    MetricSpec("mae", "MAE", "regression", False, "Mean absolute error.", ("mean_absolute_error",)),
    MetricSpec("rmse", "RMSE", "regression", False, "Root mean squared error.", ("root_mean_squared_error",)),
    MetricSpec("r2", "R2", "regression", True, "Coefficient of determination, 1 - SS_res / SS_tot.",
               ("r2_score",)),
    MetricSpec("mean_residual", "Mean residual", "regression", None,
               "Mean of y_true - y_pred (positive: under-predicts).", ("residual",)),
    MetricSpec("mean_prediction", "Mean prediction", "regression", None, "Mean predicted value."),
]
METRICS: dict[str, MetricSpec] = {s.name: s for s in _SPECS}
ALIASES: dict[str, str] = {a: s.name for s in _SPECS for a in s.aliases}

DEFAULTS = {
    "binary": ["count", "selection_rate", "base_rate", "accuracy", "balanced_accuracy", "true_positive_rate",
               "false_negative_rate", "false_positive_rate", "true_negative_rate", "precision",
               "negative_predictive_value", "false_discovery_rate", "false_omission_rate", "f1"],
    "scores": ["roc_auc", "brier", "ece", "mean_score", "calibration_in_the_large"],
    "multiclass": ["count", "accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro",
                   "selection_rate", "true_positive_rate", "false_positive_rate"],
    "regression": ["count", "mae", "rmse", "r2", "mean_residual", "mean_prediction"],
}


def list_metrics() -> list[str]:
    """Names of the per-group metrics."""
    return list(METRICS)


def spec_of(column: str) -> MetricSpec:
    """The spec of a result column (``"selection_rate[2]"`` -> ``selection_rate``)."""
    return METRICS[column.split("[", 1)[0]]


def _kind(stats) -> str:
    if stats.task == "regression":
        return "regression"
    return "binary" if stats.is_binary else "multiclass"


def resolve_metrics(names: Sequence[str] | None, stats) -> list[str]:
    """Canonical metric names valid for ``stats``; defaults by task when ``names`` is None."""
    kind = _kind(stats)
    if names is None:
        out = list(DEFAULTS[kind])
        if kind == "binary" and stats.has_scores:
            out += DEFAULTS["scores"]
        return out
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out = []
    for raw in names:
        name = ALIASES.get(raw, raw)
        if name not in METRICS:
            raise UnskewInputError(f"Unknown metric {raw!r}; available: {', '.join(METRICS)}.")
        spec = METRICS[name]
        ok = (
            spec.task == "any"
            or spec.task == kind
            or (spec.task == "classification" and kind in ("binary", "multiclass"))
            or (spec.task == "scores" and kind == "binary")
        )
        if not ok:
            raise UnskewInputError(f"Metric {name!r} applies to {spec.task} tasks; this one is {kind}.")
        if spec.task == "scores" and not stats.has_scores:
            raise UnskewInputError(f"Metric {name!r} needs scores (y_score / --scores).")
        if name not in out:
            out.append(name)
    return out


# ---------------------------------------------------------------------------- helpers
def div(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def cell_sum(c: np.ndarray, cells) -> np.ndarray:
    """Sum of 2x2 cells ``[(true, pred), ...]`` of ``c[..., 2, 2]``."""
    out = c[..., cells[0][0], cells[0][1]]
    for t, p in cells[1:]:
        out = out + c[..., t, p]
    return out


def nanmean0(x, axis=-1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


# ---------------------------------------------------------------------------- binary
def binary_values(c: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Binary metrics from 2x2 tables ``c[..., G, true, pred]`` (index 1 = positive)."""
    out = {}
    for name in names:
        spec = METRICS[name]
        if spec.rate is not None:
            num, den = spec.rate
            out[name] = div(cell_sum(c, num), cell_sum(c, den))
        elif name == "balanced_accuracy":
            tpr = div(c[..., 1, 1], c[..., 1, 1] + c[..., 1, 0])
            tnr = div(c[..., 0, 0], c[..., 0, 0] + c[..., 0, 1])
            out[name] = nanmean0(np.stack([tpr, tnr], axis=-1))
        elif name == "f1":
            tp = c[..., 1, 1]
            out[name] = div(2 * tp, 2 * tp + c[..., 0, 1] + c[..., 1, 0])
    return out


# ---------------------------------------------------------------------------- multiclass
def multiclass_values(c: np.ndarray, names: Sequence[str], classes: Sequence) -> dict[str, np.ndarray]:
    """Multiclass metrics from ``c[..., G, K, K]`` (true, pred)."""
    out = {}
    diag = np.diagonal(c, axis1=-2, axis2=-1)
    rows = c.sum(axis=-1)  # true support per class
    cols = c.sum(axis=-2)  # predicted per class
    total = rows.sum(axis=-1)
    present = (rows + cols) > 0
    n_present = present.sum(axis=-1)
    for name in names:
        if name == "accuracy":
            out[name] = div(diag.sum(axis=-1), total)
        elif name == "balanced_accuracy":
            out[name] = nanmean0(div(diag, rows))
        elif name in ("precision_macro", "recall_macro", "f1_macro"):
            if name == "precision_macro":
                per = np.nan_to_num(div(diag, cols))
            elif name == "recall_macro":
                per = np.nan_to_num(div(diag, rows))
            else:
                per = np.nan_to_num(div(2 * diag, rows + cols))
            out[name] = div(np.where(present, per, 0.0).sum(axis=-1), n_present)
        elif name in ("selection_rate", "true_positive_rate", "false_positive_rate"):
            if name == "selection_rate":
                per = div(cols, total[..., None])
            elif name == "true_positive_rate":
                per = div(diag, rows)
            else:
                per = div(cols - diag, total[..., None] - rows)
            for k, cl in enumerate(classes):
                out[f"{name}[{cl}]"] = per[..., k]
    return out


# ---------------------------------------------------------------------------- scores
def segment_sum(x: np.ndarray, group: np.ndarray, G: int) -> np.ndarray:
    """Sum of ``x[..., m]`` over entries of each group (entries sorted by group)."""
    out = np.zeros(x.shape[:-1] + (G,))
    if group.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    out[..., group[starts]] = np.add.reduceat(x, starts, axis=-1)
    return out


def auc_from_table(group: np.ndarray, pos: np.ndarray, neg: np.ndarray, G: int) -> np.ndarray:
    """ROC AUC per group from a score table sorted by (group, value).

    ``AUC = sum_s pos(s) * (neg(< s) + neg(s) / 2) / (P * N)``: the weighted
    Mann-Whitney statistic, equal to the trapezoidal area under the weighted
    ROC curve. NaN where a group lacks positives or negatives.
    """
    negtot = segment_sum(neg, group, G)
    postot = segment_sum(pos, group, G)
    cneg = np.cumsum(neg, axis=-1)
    offset = np.cumsum(negtot, axis=-1) - negtot
    below = cneg - neg - offset[..., group]
    num = segment_sum(pos * (below + 0.5 * neg), group, G)
    return div(num, postot * negtot)


def score_values(stats, c2: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Score metrics of ``stats`` (``c2``: its 2x2 weighted confusion tables)."""
    out = {}
    W = c2.sum(axis=(-1, -2))
    wpos = c2[..., 1, :].sum(axis=-1)
    probs = stats.score_min >= 0 and stats.score_max <= 1
    for name in names:
        if name == "roc_auc":
            out[name] = auc_from_table(stats.sc_group, stats.sc_pos, stats.sc_neg, stats.n_groups)
        elif name == "brier":
            v = div(stats.s_p2 - 2 * stats.s_yp + wpos, W)
            out[name] = v if probs else np.full_like(v, np.nan)
        elif name == "ece":
            v = div(np.abs(stats.cal_y - stats.cal_p).sum(axis=-1), W)
            out[name] = v if probs else np.full_like(v, np.nan)
        elif name == "mean_score":
            out[name] = div(stats.s_p, W)
        elif name == "calibration_in_the_large":
            v = div(stats.s_p - wpos, W)
            out[name] = v if probs else np.full_like(v, np.nan)
    return out


def hanley_mcneil(auc, n_pos, n_neg, z):
    """Normal interval for the AUC (Hanley & McNeil 1982)."""
    a = np.asarray(auc, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q1 = a / (2 - a)
        q2 = 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
        se = np.sqrt(np.maximum(var, 0))
    return np.clip(a - z * se, 0, 1), np.clip(a + z * se, 0, 1)


# ---------------------------------------------------------------------------- regression
def regression_values(reg: dict, names: Sequence[str]) -> dict[str, np.ndarray]:
    out = {}
    w = reg["w"]
    for name in names:
        if name == "mae":
            out[name] = div(reg["sabs"], w)
        elif name == "rmse":
            out[name] = np.sqrt(div(reg["sr2"], w))
        elif name == "r2":
            out[name] = 1 - div(reg["sr2"], reg["m2y"])
        elif name == "mean_residual":
            out[name] = div(reg["sr"], w)
        elif name == "mean_prediction":
            out[name] = div(reg["sy"] - reg["sr"], w)
    return out


def regression_intervals(reg: dict, values: dict, neff: np.ndarray, z: float) -> dict:
    """Normal-approximation intervals for MAE, RMSE (delta method) and mean residual."""
    w = reg["w"]
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, v in values.items():
            if name == "mae":
                var = div(reg["sr2"], w) - v * v
            elif name == "mean_residual":
                var = div(reg["sr2"], w) - v * v
            elif name == "rmse":
                mse = v * v
                var = (div(reg["sr4"], w) - mse * mse) / np.where(v > 0, 4 * mse, np.nan)
            else:
                continue
            se = np.sqrt(np.maximum(var, 0) / neff)
            out[name] = (v - z * se, v + z * se)
    return out


# ---------------------------------------------------------------------------- inequality
def _benefit_masses(c2: np.ndarray):
    """Weights of benefits b = y_pred - y_true + 1 in {0, 1, 2}: FN, TP+TN, FP."""
    return c2[..., 1, 0], c2[..., 1, 1] + c2[..., 0, 0], c2[..., 0, 1]


def _ge(shares: np.ndarray, values: np.ndarray, mu: np.ndarray, alpha: float) -> np.ndarray:
    """Generalised entropy of a distribution: ``values[..., j]`` with ``shares[..., j]``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = values / mu[..., None]
        if alpha == 1:
            t = np.where(shares > 0, np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1)), 0.0), 0.0)
            return (shares * t).sum(axis=-1)
        if alpha == 0:
            t = np.where(shares > 0, -np.log(ratio), 0.0)
            return (shares * t).sum(axis=-1)
        t = np.where(shares > 0, ratio**alpha, 0.0)
        return ((shares * t).sum(axis=-1) - 1) / (alpha * (alpha - 1))


def generalized_entropy(c2: np.ndarray, alpha: float = 2) -> np.ndarray:
    """Generalised entropy index of benefits over all rows of ``c2[..., G, 2, 2]``.

    ``b = y_pred - y_true + 1``; with unit weights this equals AIF360's
    ``ClassificationMetric.generalized_entropy_index`` for ``alpha != 0``
    (for ``alpha = 0`` the textbook ``-mean(ln(b / mu))`` is used).
    """
    tot = c2.sum(axis=-3)
    m0, m1, m2 = _benefit_masses(tot)
    W = m0 + m1 + m2
    shares = np.stack([div(m0, W), div(m1, W), div(m2, W)], axis=-1)
    mu = shares[..., 1] + 2 * shares[..., 2]
    values = np.broadcast_to(np.array([0.0, 1.0, 2.0]), shares.shape)
    return _ge(shares, values, mu, alpha)


def between_group_generalized_entropy(c2: np.ndarray, alpha: float = 2) -> np.ndarray:
    """GE index when each row's benefit is replaced by its group's mean benefit."""
    m0, m1, m2 = _benefit_masses(c2)
    Wg = m0 + m1 + m2
    W = Wg.sum(axis=-1)
    mug = div(m1 + 2 * m2, Wg)
    shares = div(Wg, W[..., None])
    mu = (np.nan_to_num(mug) * Wg).sum(axis=-1) / W
    return _ge(np.nan_to_num(shares), np.nan_to_num(mug), mu, alpha)
