"""A trained robust classifier in a form skops can store without pickle.

skops cannot serialise torch tensors or modules, and unskew never writes
pickle. :class:`PortableClassifier` therefore holds only what skops stores as
data: the method's registry name and its parameters (plain values), the input
shape, the classes, the fitted table encoder
(:class:`unskew.data._encoding.EmbeddingEncoder`, scikit-learn parts inside)
and the network's ``state_dict`` as numpy arrays. On first use it rebuilds
the network with the method's own ``_build_model`` (so the architecture comes
from the code, never from the file) and loads the weights, then predicts
through the same code path as the trained estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import UnskewInputError

#: Parameters that would hold code or point at files; a portable model needs them at their defaults.
_NOT_PORTABLE = {"encoder": None, "checkpoint_dir": None}
_PLAIN = (type(None), bool, int, float, str)


def _is_plain_param(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, _PLAIN) for v in value)
    return False


class PortableClassifier:
    """A fitted :mod:`unskew.train` classifier that ``skops`` can save and load.

    Build it with :meth:`from_estimator`; it predicts exactly as the estimator
    it came from. ``predict``, ``predict_proba``, ``decision_function`` and
    ``classes_`` follow scikit-learn.

    Parameters
    ----------
    method : str
        Name in :data:`unskew.train.METHODS`.
    params : dict
        The estimator's parameters (plain values only).
    classes : ndarray
    encoder : EmbeddingEncoder
        The fitted table encoder of the estimator's preprocessor.
    state : dict of str -> ndarray
        The network's ``state_dict`` as numpy arrays.
    features : list of str
        Input columns, in training order.

    Attributes
    ----------
    classes_ : ndarray
    feature_names_in_ : ndarray of str
    feature_names_in_list_ : list of str

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.train import ERMClassifier, PortableClassifier
    >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 10, "c": ["a", "b"] * 20})
    >>> y = [0, 0, 1, 1] * 10
    >>> est = ERMClassifier(max_epochs=2).fit(X, y)
    >>> portable = PortableClassifier.from_estimator(est, "erm")
    >>> bool((portable.predict(X) == est.predict(X)).all())
    True
    """

    def __init__(self, method: str, params: dict, classes, encoder, state: dict, features: list[str]):
        self.method = method
        self.params = params
        self.classes_ = classes
        self.encoder = encoder
        self.state = state
        self.feature_names_in_list_ = list(features)
        self.feature_names_in_ = np.array(self.feature_names_in_list_, dtype=object)

    @classmethod
    def from_estimator(cls, est: Any, method: str) -> PortableClassifier:
        """Copy a fitted table-input estimator of :data:`unskew.train.METHODS` (registered as ``method``)."""
        from ._methods import METHODS

        key = method
        if key not in METHODS or not isinstance(est, METHODS[key]):
            raise UnskewInputError(f"{type(est).__name__} is not the training method {method!r} of unskew.train.")
        if not hasattr(est, "model_"):
            raise UnskewInputError(f"This {type(est).__name__} is not fitted yet; call fit first.")
        if getattr(est.preprocessor_, "kind_", None) != "frame":
            raise UnskewInputError("Only models trained on a table (DataFrame) can be saved; this one saw arrays or images.")
        params = est.get_params(deep=False)
        for name, default in _NOT_PORTABLE.items():
            if params.get(name) is not default:
                raise UnskewInputError(f"{name}={params[name]!r} cannot be saved; train with {name}={default!r}.")
        if callable(params.get("model")) and not isinstance(params.get("model"), str):
            raise UnskewInputError("A custom model builder (model=callable) cannot be saved; use a built-in model kind.")
        bad = [k for k, v in params.items() if not _is_plain_param(v)]
        if bad:
            raise UnskewInputError(f"Parameter {bad[0]}={params[bad[0]]!r} is not a plain value and cannot be saved.")
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        params.update(keep_checkpoints=False, verbose=0)
        state = {k: v.detach().cpu().numpy().copy() for k, v in est.model_.state_dict().items()}
        out = cls(key, params, np.asarray(est.classes_), est.preprocessor_.encoder_, state,
                  list(est.preprocessor_.columns_))
        out._est = est
        return out

    # ------------------------------------------------------------------ persistence
    def __getstate__(self) -> dict:
        """What skops stores: everything but the rebuilt estimator."""
        return {k: v for k, v in self.__dict__.items() if k != "_est"}

    def __setstate__(self, state: dict) -> None:
        """Rebuild from stored attributes; anything but the known data attributes is ignored."""
        keep = ("method", "params", "classes_", "encoder", "state", "feature_names_in_list_", "feature_names_in_")
        missing = [k for k in keep if k not in state]
        if missing:
            raise UnskewInputError(f"The saved PyTorch model lacks {missing[0]!r}; save it again with `unskew train`.")
        self.__dict__.update({k: state[k] for k in keep})

    def _estimator(self):
        est = self.__dict__.get("_est")
        if est is not None:
            return est
        import torch

        from ._data import Preprocessor
        from ._methods import METHODS

        if self.method not in METHODS:
            raise UnskewInputError(f"The saved model names an unknown training method {self.method!r}.")
        try:
            est = METHODS[self.method](**{k: (tuple(v) if isinstance(v, list) else v) for k, v in self.params.items()})
        except TypeError as exc:
            raise UnskewInputError(f"The saved {self.method} model has parameters this version does not know: {exc}") from None
        est.classes_ = np.asarray(self.classes_)
        est.preprocessor_ = Preprocessor(standardize=est.standardize).from_encoder(self.encoder)
        est.input_spec_ = est.preprocessor_.spec_
        with torch.random.fork_rng(devices=[]):  # the throw-away initial weights must not move the global seed
            net = est._build_model()
        try:
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.state.items()}, strict=True)
        except (RuntimeError, TypeError) as exc:
            raise UnskewInputError(f"The saved {self.method} weights do not fit its network: {exc}") from None
        net.eval()
        est.model_ = net
        self.__dict__["_est"] = est
        return est

    # ------------------------------------------------------------------ prediction
    def predict(self, X) -> np.ndarray:
        return self._estimator().predict(X)

    def predict_proba(self, X) -> np.ndarray:
        return self._estimator().predict_proba(X)

    def decision_function(self, X) -> np.ndarray:
        return self._estimator().decision_function(X)

    def __repr__(self) -> str:
        return f"PortableClassifier(method={self.method!r}, features={len(self.feature_names_in_list_)})"
