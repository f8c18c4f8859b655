"""Mitigation: change the data, the training or the decisions so models treat groups fairly.

Subpackages
-----------
:mod:`unskew.mitigate.pre`
    Before or while training: reweighing and loss weights, group x class
    samplers (random, SMOTE, SMOTE-NC, augmentation), PyTorch samplers with
    exact per-batch proportions, correlation removal.
:mod:`unskew.mitigate.post`
    After training: group-specific thresholds (demographic parity, equal
    opportunity, equalized odds) and reject-option classification.
:mod:`unskew.mitigate.d3m`
    Data debiasing with datamodels (removing harmful training examples).

Tables: :func:`mitigate_table` applies one pre-processing method to a table
and reports (group, class) counts before and after (``unskew mitigate``).
"""


def __getattr__(name):
    if name in ("mitigate_table", "MitigationResult"):
        from . import _table

        return getattr(_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
