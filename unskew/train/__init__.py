"""Robust training in PyTorch: methods that protect the worst-off groups.

Every method is a scikit-learn classifier (``fit(X, y, *, groups=None,
sample_weight=None, ...)``, ``predict``, ``predict_proba``, ``get_params``)
built on one training core (:class:`RobustClassifier`): seeded runs,
mini-batch training of a small CPU-friendly network (logistic regression, an
MLP with embedded categoricals, a small CNN for 28x28 images, or a linear head
on fixed embeddings), model selection and early stopping by worst-group
validation accuracy, per-epoch checkpoints for attribution (TRAK/D3M).

Each class states ``group_requirement``: ``"train"`` (group labels for every
training row), ``"validation"`` (group labels on the validation data only) or
``"none"``.

=====================  ==============================================  ==================
name (``METHODS``)     class                                           group labels
=====================  ==============================================  ==================
``erm``                :class:`ERMClassifier`                          none
``reweight``           :class:`ReweightedClassifier`                   train (by="group")
``group_balanced``     :class:`GroupBalancedClassifier`                train
``ohem``               :class:`HardExampleMiningClassifier`            none
``group_dro``          :class:`GroupDROClassifier`                     train
``jtt``                :class:`JTTClassifier`                          validation
``spectral_decoupling`` :class:`SpectralDecouplingClassifier`          none
``adversarial_debiasing`` :class:`AdversarialDebiasingClassifier`      train
``dann``               :class:`DANNClassifier`                         train
``dfr``                :class:`DFRClassifier`                          validation
``occamnet``           :class:`OccamNetClassifier`                     none
``adversarial_training`` :class:`AdversarialTrainingClassifier`        none
=====================  ==============================================  ==================

PyTorch is an optional dependency (``pip install 'unskew[torch]'``).
"""

from .._optional import import_optional

import_optional("torch", "robust training (unskew.train)")

from ._adversarial import (  # noqa: E402
    AdversarialDebiasingClassifier,
    DANNClassifier,
    debiased_direction,
    ganin_schedule,
    grad_reverse,
)
from ._base import BASE_PARAMS, GROUP_REQUIREMENTS, RobustClassifier, state_snapshot  # noqa: E402
from ._data import InputSpec, Preprocessor  # noqa: E402
from ._dfr import DFRClassifier, balanced_subset  # noqa: E402
from ._dro import GroupDROClassifier, JTTClassifier, exponentiated_update, group_mean_losses  # noqa: E402
from ._erm import (  # noqa: E402
    ERMClassifier,
    GroupBalancedClassifier,
    HardExampleMiningClassifier,
    ReweightedClassifier,
    group_balanced_batches,
    inverse_frequency_weights,
)
from ._methods import METHODS  # noqa: E402
from ._models import (  # noqa: E402
    FlatNet,
    LinearHead,
    OccamCNN,
    OccamMLP,
    SmallCNN,
    TabularNet,
    build_model,
    margin,
)
from ._occam import OccamNetClassifier, cam_suppression_loss  # noqa: E402
from ._portable import PortableClassifier  # noqa: E402
from ._regularize import (  # noqa: E402
    AdversarialTrainingClassifier,
    SpectralDecouplingClassifier,
    spectral_decoupling_penalty,
)

__all__ = [
    "BASE_PARAMS",
    "GROUP_REQUIREMENTS",
    "METHODS",
    "AdversarialDebiasingClassifier",
    "AdversarialTrainingClassifier",
    "DANNClassifier",
    "DFRClassifier",
    "ERMClassifier",
    "FlatNet",
    "GroupBalancedClassifier",
    "GroupDROClassifier",
    "HardExampleMiningClassifier",
    "InputSpec",
    "JTTClassifier",
    "LinearHead",
    "OccamCNN",
    "OccamMLP",
    "OccamNetClassifier",
    "PortableClassifier",
    "Preprocessor",
    "ReweightedClassifier",
    "RobustClassifier",
    "SmallCNN",
    "SpectralDecouplingClassifier",
    "TabularNet",
    "balanced_subset",
    "build_model",
    "cam_suppression_loss",
    "debiased_direction",
    "exponentiated_update",
    "ganin_schedule",
    "grad_reverse",
    "group_balanced_batches",
    "group_mean_losses",
    "inverse_frequency_weights",
    "margin",
    "spectral_decoupling_penalty",
    "state_snapshot",
]
