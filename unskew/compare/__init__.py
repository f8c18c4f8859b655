"""Compare mitigation methods side by side: ``unskew compare``.

:func:`compare` runs the applicable mitigations (unskew's own and peers from
Fairlearn, AIF360 and imbalanced-learn where installed) on the same splits and
seeds, measures accuracy, worst-group accuracy and fairness gaps with
bootstrap intervals, time and the share of data changed, and recommends the
best method under a constraint such as ``"equalized_odds<=0.05"``.

Each method is a small adapter in :data:`METHODS`; add one with
:func:`register`.
"""

from ._constraint import ALIASES, GAPS, METRICS, Selection, parse_selection, rank, recommend
from ._methods import FAIRNESS_CRITERIA, METHODS, Fold, Method, Outcome, list_methods, register
from ._runner import (
    MODELS,
    QUALITY,
    CompareResult,
    compare,
    make_folds,
    resolve_methods,
    resolve_model,
    run_metrics,
)

__all__ = [
    "ALIASES",
    "FAIRNESS_CRITERIA",
    "GAPS",
    "METHODS",
    "METRICS",
    "MODELS",
    "QUALITY",
    "CompareResult",
    "Fold",
    "Method",
    "Outcome",
    "Selection",
    "compare",
    "list_methods",
    "make_folds",
    "parse_selection",
    "rank",
    "recommend",
    "register",
    "resolve_methods",
    "resolve_model",
    "run_metrics",
]
