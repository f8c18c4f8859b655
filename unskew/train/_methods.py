"""The registry of training methods: name -> estimator class (:class:`unskew._registry.Registry`).

Its own module so that code inside the package (the portable saved model)
can look a method up without importing the package ``__init__``.
"""

from __future__ import annotations

from .._registry import Registry
from ._adversarial import AdversarialDebiasingClassifier, DANNClassifier
from ._base import RobustClassifier
from ._dfr import DFRClassifier
from ._dro import GroupDROClassifier, JTTClassifier
from ._erm import (
    ERMClassifier,
    GroupBalancedClassifier,
    HardExampleMiningClassifier,
    ReweightedClassifier,
)
from ._occam import OccamNetClassifier
from ._regularize import AdversarialTrainingClassifier, SpectralDecouplingClassifier

METHODS: Registry[type[RobustClassifier]] = Registry("training method", option="--method")
for _name, _cls in [
    ("erm", ERMClassifier),
    ("reweight", ReweightedClassifier),
    ("group_balanced", GroupBalancedClassifier),
    ("ohem", HardExampleMiningClassifier),
    ("group_dro", GroupDROClassifier),
    ("jtt", JTTClassifier),
    ("spectral_decoupling", SpectralDecouplingClassifier),
    ("adversarial_debiasing", AdversarialDebiasingClassifier),
    ("dann", DANNClassifier),
    ("dfr", DFRClassifier),
    ("occamnet", OccamNetClassifier),
    ("adversarial_training", AdversarialTrainingClassifier),
]:
    METHODS.register(_cls, name=_name)
del _name, _cls
