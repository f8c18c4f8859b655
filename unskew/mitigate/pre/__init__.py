"""Pre-processing mitigation: act on the training data before (or while) a model learns.

Weights
    :func:`group_class_weights`, :func:`reweighing_weights`,
    :func:`group_class_weight_tensor`, :class:`Reweighing`,
    :class:`ReweighingClassifier`.
Samplers over (group, class) cells (``fit_resample``)
    :class:`GroupRandomOverSampler`, :class:`GroupRandomUnderSampler`,
    :class:`GroupSMOTE`, :class:`GroupSMOTENC`, :class:`GroupAugmenter`;
    :func:`resample_frame` resamples a whole table and marks added rows.
PyTorch samplers (need torch; imported on first use)
    :class:`GroupBalancedSampler` (epoch level) and
    :class:`GroupBalancedBatchSampler` (exact composition of every batch).
Feature transformation
    :class:`CorrelationRemover`.
Registry
    :data:`METHODS`: every table mitigation method by name (what
    ``unskew mitigate --method`` accepts).
"""

from ._augment import GroupAugmenter
from ._correlation import CorrelationRemover
from ._methods import METHODS, MitigationMethod, methods_of_kind
from ._sampling import (
    SYNTHETIC_COLUMN,
    BaseGroupSampler,
    GroupRandomOverSampler,
    GroupRandomUnderSampler,
    resample_frame,
    target_counts,
)
from ._smote import GroupSMOTE, GroupSMOTENC
from ._weights import (
    Reweighing,
    ReweighingClassifier,
    group_class_weight_tensor,
    group_class_weights,
    reweighing_weights,
)

_TORCH_NAMES = ("GroupBalancedSampler", "GroupBalancedBatchSampler")


def __getattr__(name):
    if name in _TORCH_NAMES:
        from . import _torch_samplers

        return getattr(_torch_samplers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METHODS",
    "SYNTHETIC_COLUMN",
    "BaseGroupSampler",
    "CorrelationRemover",
    "GroupAugmenter",
    "GroupBalancedBatchSampler",
    "GroupBalancedSampler",
    "GroupRandomOverSampler",
    "GroupRandomUnderSampler",
    "GroupSMOTE",
    "GroupSMOTENC",
    "MitigationMethod",
    "Reweighing",
    "ReweighingClassifier",
    "group_class_weight_tensor",
    "group_class_weights",
    "methods_of_kind",
    "resample_frame",
    "reweighing_weights",
    "target_counts",
]
