"""Between-group fairness measures computed from per-group metrics and confusion tables.

Each measure is a function of a :class:`_Ctx` whose arrays may carry leading
bootstrap dimensions, so observed values and replicates share one code path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._compute import between_group_generalized_entropy, binary_values, div, generalized_entropy


@dataclass(frozen=True)
class MeasureSpec:
    """A between-group measure.

    ``worse`` says which direction is unfair: ``"high"`` (a gap), ``"low"``
    (a ratio or a worst-group level), ``"abs"`` (a signed difference, either
    sign is unfair) or ``"none"`` (descriptive).
    """

    name: str
    title: str
    task: str
    worse: str
    description: str
    fn: Callable
    ideal: float = 0.0
    privileged: bool = False


class _Ctx:
    """Per-group values restricted to the groups that count, plus pooled privileged values."""

    def __init__(self, values: dict, c2, priv, classes, kind: str):
        self.values = values
        self.c2 = c2
        self.priv = priv
        self.classes = classes
        self.kind = kind

    def v(self, name):
        return self.values[name]

    def per_class(self, name):
        """Stack of per-class columns ``name[c]`` -> (..., G, K)."""
        if self.kind == "binary":
            return self.values[name][..., None]
        return np.stack([self.values[f"{name}[{c}]"] for c in self.classes], axis=-1)

    def pooled(self, name):
        """(unprivileged, privileged) value of a binary rate pooled over each side."""
        c = self.c2
        up = c[..., ~self.priv, :, :].sum(axis=-3)
        pr = c[..., self.priv, :, :].sum(axis=-3)
        return binary_values(up, [name])[name], binary_values(pr, [name])[name]


def _quiet(f, x, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(x, axis=axis)


def _two_defined(x, axis, value):
    """``value`` where at least two groups are defined (or only one group exists), else NaN.

    With two or more groups of which fewer than two have a defined rate (a
    group with no actual positives, say), a gap over the one remaining group
    would read as perfect parity; it is undefined instead.
    """
    x = np.asarray(x, dtype=float)
    if x.shape[axis] < 2:
        return value
    ok = np.isfinite(x).sum(axis=axis) >= 2
    return np.where(ok, value, np.nan) if np.ndim(value) else (value if ok else np.nan)


def grange(x, axis=-1):
    """max - min over groups, ignoring undefined (NaN) groups; NaN when fewer than two are defined."""
    return _two_defined(x, axis, _quiet(np.nanmax, x, axis) - _quiet(np.nanmin, x, axis))


def gratio(x, axis=-1):
    """min / max over groups, ignoring undefined groups (NaN when max is 0 or fewer than two are defined)."""
    return _two_defined(x, axis, div(_quiet(np.nanmin, x, axis), _quiet(np.nanmax, x, axis)))


def gmin(x, axis=-1):
    return _quiet(np.nanmin, x, axis)


def gmax(x, axis=-1):
    return _quiet(np.nanmax, x, axis)


def _worst_over_classes(x, f_between, reduce):
    """Apply a between-group function per class (axis -2 is groups) and reduce over classes."""
    per = f_between(x, axis=-2)
    return _quiet(reduce, per, -1)


def _dp_diff(ctx):
    return _worst_over_classes(ctx.per_class("selection_rate"), grange, np.nanmax)


def _dp_ratio(ctx):
    return _worst_over_classes(ctx.per_class("selection_rate"), gratio, np.nanmin)


def _di(ctx):
    if ctx.priv is not None:
        u, p = ctx.pooled("selection_rate")
        return div(u, p)
    return _dp_ratio(ctx)


def _spd(ctx):
    u, p = ctx.pooled("selection_rate")
    return u - p


def _eo_diff(ctx):
    return np.fmax(_worst_over_classes(ctx.per_class("true_positive_rate"), grange, np.nanmax),
                   _worst_over_classes(ctx.per_class("false_positive_rate"), grange, np.nanmax))


def _eo_ratio(ctx):
    return np.fmin(_worst_over_classes(ctx.per_class("true_positive_rate"), gratio, np.nanmin),
                   _worst_over_classes(ctx.per_class("false_positive_rate"), gratio, np.nanmin))


def _eop_diff(ctx):
    if ctx.priv is not None:
        u, p = ctx.pooled("true_positive_rate")
        return u - p
    return _worst_over_classes(ctx.per_class("true_positive_rate"), grange, np.nanmax)


def _eop_ratio(ctx):
    return _worst_over_classes(ctx.per_class("true_positive_rate"), gratio, np.nanmin)


def _aod(ctx):
    if ctx.priv is not None:
        tu, tp = ctx.pooled("true_positive_rate")
        fu, fp = ctx.pooled("false_positive_rate")
        return 0.5 * ((fu - fp) + (tu - tp))
    return 0.5 * (grange(ctx.v("true_positive_rate")) + grange(ctx.v("false_positive_rate")))


_MEASURES = [
    MeasureSpec("demographic_parity_difference", "Demographic parity difference", "classification", "high",
                "Largest gap in selection rate between groups (multiclass: worst class).", _dp_diff),
    MeasureSpec("demographic_parity_ratio", "Demographic parity ratio", "classification", "low",
                "Lowest selection rate divided by the highest (multiclass: worst class).", _dp_ratio, 1.0),
    MeasureSpec("disparate_impact_ratio", "Disparate impact (four-fifths rule)", "binary", "low",
                "Selection rate of the unprivileged over the privileged (pooled); without a privileged "
                "group, lowest over highest group. Below 0.8 fails the four-fifths rule.", _di, 1.0, True),
    MeasureSpec("statistical_parity_difference", "Statistical parity difference", "binary", "abs",
                "Selection rate of the unprivileged minus the privileged (pooled; needs a privileged group).",
                _spd, 0.0, True),
    MeasureSpec("equalized_odds_difference", "Equalized odds difference", "classification", "high",
                "The larger of the between-group TPR gap and FPR gap.", _eo_diff),
    MeasureSpec("equalized_odds_ratio", "Equalized odds ratio", "classification", "low",
                "The smaller of the between-group TPR ratio and FPR ratio.", _eo_ratio, 1.0),
    MeasureSpec("equal_opportunity_difference", "Equal opportunity difference", "classification", "high",
                "Between-group TPR gap; with a privileged group, TPR(unprivileged) - TPR(privileged).",
                _eop_diff, 0.0, True),
    MeasureSpec("equal_opportunity_ratio", "Equal opportunity ratio", "classification", "low",
                "Lowest TPR over the highest.", _eop_ratio, 1.0),
    MeasureSpec("average_odds_difference", "Average odds difference", "binary", "high",
                "Mean of the TPR and FPR gaps; with a privileged group, the signed AIF360 form "
                "((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2.", _aod, 0.0, True),
    MeasureSpec("predictive_parity_difference", "Predictive parity difference", "binary", "high",
                "Largest gap in precision (PPV) between groups.", lambda c: grange(c.v("precision"))),
    MeasureSpec("accuracy_difference", "Accuracy difference", "classification", "high",
                "Largest gap in accuracy between groups.", lambda c: grange(c.v("accuracy"))),
    MeasureSpec("worst_group_accuracy", "Worst-group accuracy", "classification", "low",
                "Accuracy of the worst group.", lambda c: gmin(c.v("accuracy")), 1.0),
    MeasureSpec("roc_auc_difference", "ROC AUC difference", "scores", "high",
                "Largest gap in ROC AUC between groups.", lambda c: grange(c.v("roc_auc"))),
    MeasureSpec("calibration_gap", "Calibration gap", "scores", "high",
                "Largest gap in expected calibration error (ECE) between groups.", lambda c: grange(c.v("ece"))),
    MeasureSpec("generalized_entropy_index", "Generalised entropy index (alpha=2)", "binary", "high",
                "Inequality of individual benefits b = y_pred - y_true + 1 (Speicher et al. 2018).",
                lambda c: generalized_entropy(c.c2, 2)),
    MeasureSpec("theil_index", "Theil index", "binary", "high",
                "Generalised entropy index with alpha = 1.", lambda c: generalized_entropy(c.c2, 1)),
    MeasureSpec("between_group_generalized_entropy_index", "Between-group GE index (alpha=2)", "binary", "high",
                "GE index of the group mean benefits (the between-group part of the GE index).",
                lambda c: between_group_generalized_entropy(c.c2, 2)),
    MeasureSpec("between_group_theil_index", "Between-group Theil index", "binary", "high",
                "Between-group GE index with alpha = 1.", lambda c: between_group_generalized_entropy(c.c2, 1)),
    MeasureSpec("mae_difference", "MAE difference", "regression", "high",
                "Largest gap in mean absolute error between groups.", lambda c: grange(c.v("mae"))),
    MeasureSpec("rmse_difference", "RMSE difference", "regression", "high",
                "Largest gap in RMSE between groups.", lambda c: grange(c.v("rmse"))),
    MeasureSpec("mean_residual_difference", "Mean residual difference", "regression", "high",
                "Largest gap in mean residual (systematic over/under-prediction) between groups.",
                lambda c: grange(c.v("mean_residual"))),
    MeasureSpec("worst_group_mae", "Worst-group MAE", "regression", "high",
                "Mean absolute error of the worst group.", lambda c: gmax(c.v("mae"))),
]
MEASURES: dict[str, MeasureSpec] = {m.name: m for m in _MEASURES}

#: Per-group metrics each measure reads (so they are computed even if not displayed).
NEEDS = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "disparate_impact_ratio": ("selection_rate",),
    "statistical_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equalized_odds_ratio": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity_difference": ("true_positive_rate",),
    "equal_opportunity_ratio": ("true_positive_rate",),
    "average_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "predictive_parity_difference": ("precision",),
    "accuracy_difference": ("accuracy",),
    "worst_group_accuracy": ("accuracy",),
    "roc_auc_difference": ("roc_auc",),
    "calibration_gap": ("ece",),
    "mae_difference": ("mae",),
    "rmse_difference": ("rmse",),
    "mean_residual_difference": ("mean_residual",),
    "worst_group_mae": ("mae",),
}


def list_measures() -> list[str]:
    """Names of the between-group fairness measures."""
    return list(MEASURES)


def applicable_measures(kind: str, has_scores: bool, privileged: bool) -> list[str]:
    out = []
    for m in _MEASURES:
        ok = (m.task == kind or (m.task == "classification" and kind in ("binary", "multiclass"))
              or (m.task == "scores" and kind == "binary" and has_scores))
        if m.name == "statistical_parity_difference" and not privileged:
            ok = False
        if ok:
            out.append(m.name)
    return out


def make_ctx(values, c2, priv, classes, kind):
    return _Ctx(values, c2, priv, classes, kind)
