"""Data attribution: how much each training example helps each target example.

Backends share one output: a matrix ``S`` of shape (n_train, n_target) where
``S[i, j] > 0`` means training example ``i`` raises target ``j``'s
correct-class margin.

- :class:`LogisticInfluence` -- exact influence functions for (binary)
  logistic models or linear heads; the default wherever the model allows it.
- :class:`TRAK` -- TRAK for PyTorch models (projected per-example gradients,
  several checkpoints), computed in chunks and cached on disk.
- :class:`TRAKEnsemble` -- TRAK averaged over independently trained models on
  random half-subsets of the training set, trained in parallel processes.
- :func:`leave_one_out_margins` -- true leave-one-out retraining, to validate
  the others on small problems.
"""

from ._ensemble import TRAKEnsemble, member_subsets
from ._influence import LogisticInfluence, fit_logistic, leave_one_out_margins
from ._trak import TRAK, combine_terms

__all__ = ["TRAK", "LogisticInfluence", "TRAKEnsemble", "combine_terms", "fit_logistic", "leave_one_out_margins",
           "member_subsets"]
