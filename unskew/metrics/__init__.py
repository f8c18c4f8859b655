"""Group metrics from mergeable sufficient statistics, fairness measures and model evaluation.

- :class:`GroupStats` -- per-group confusion counts, score tables and sums,
  computed in one vectorised pass; ``a + b`` merges chunks or partitions.
- :class:`GroupMetrics` / :func:`group_metrics` -- per-group metrics with
  Wilson or bootstrap intervals, differences, ratios and fairness measures.
- Metric functions with the scikit-learn signature, e.g.
  :func:`demographic_parity_difference` and :func:`equalized_odds_difference`.
- :func:`counterfactual_test`, :func:`run_challenge_set` and :func:`evaluate`
  (the report behind ``unskew evaluate``).
"""

from ._challenge import ChallengeResult, load_challenge_set, run_challenge_set
from ._compute import METRICS, MetricSpec, list_metrics
from ._counterfactual import CounterfactualResult, counterfactual_test
from ._evaluate import DEFAULT_THRESHOLDS, Evaluation, evaluate
from ._fairness import MEASURES, MeasureSpec, list_measures
from ._frame import GroupMetrics
from ._functions import (
    AmbiguousPositiveLabelWarning,
    UndefinedMetricWarning,
    average_odds_difference,
    between_group_generalized_entropy_index,
    between_group_theil_index,
    calibration_gap,
    check_label_predictions,
    consistency_score,
    demographic_parity_difference,
    demographic_parity_ratio,
    disparate_impact_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    expected_calibration_error,
    four_fifths_rule,
    generalized_entropy_index,
    group_metrics,
    predictive_parity_difference,
    statistical_parity_difference,
    theil_index,
    worst_group_accuracy,
)
from ._groupstats import GroupStats
from ._models import load_model, predict_with
from ._worst import group_accuracies, worst_group

__all__ = [
    "AmbiguousPositiveLabelWarning",
    "UndefinedMetricWarning",
    "check_label_predictions",
    "DEFAULT_THRESHOLDS",
    "MEASURES",
    "METRICS",
    "ChallengeResult",
    "CounterfactualResult",
    "Evaluation",
    "GroupMetrics",
    "GroupStats",
    "MeasureSpec",
    "MetricSpec",
    "average_odds_difference",
    "between_group_generalized_entropy_index",
    "between_group_theil_index",
    "counterfactual_test",
    "calibration_gap",
    "consistency_score",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "evaluate",
    "expected_calibration_error",
    "four_fifths_rule",
    "generalized_entropy_index",
    "group_accuracies",
    "group_metrics",
    "list_measures",
    "list_metrics",
    "load_challenge_set",
    "load_model",
    "predict_with",
    "predictive_parity_difference",
    "run_challenge_set",
    "statistical_parity_difference",
    "theil_index",
    "worst_group",
    "worst_group_accuracy",
]
