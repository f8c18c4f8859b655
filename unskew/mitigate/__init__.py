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
"""
