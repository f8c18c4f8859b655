"""Post-processing mitigation: change the decisions of a trained model per group.

:class:`GroupThresholdOptimizer`
    Group-specific (randomised) thresholds meeting demographic parity, equal
    opportunity or equalized odds at the best accuracy, solved exactly as a
    linear programme.
:class:`RejectOptionClassifier`
    Kamiran et al.'s reject-option classification near the decision boundary.

Both wrap a scoring model (``prefit=True`` for one that is already trained)
and take ``sensitive_features`` in ``fit`` and ``predict``.
"""

from ._reject_option import RejectOptionClassifier
from ._thresholds import GroupThresholdOptimizer

__all__ = ["GroupThresholdOptimizer", "RejectOptionClassifier"]
