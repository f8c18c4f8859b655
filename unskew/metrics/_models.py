"""Loading models safely and predicting with them.

- ``.skops``: loaded with :func:`skops.io.load`; types outside skops' trusted
  set and :data:`unskew._skops.EXTRA_TRUSTED` (the plain-data types of models
  saved by ``unskew train``) are refused unless the caller trusts the file
  (``trust_pickle=True``).
- ``.onnx``: run with onnxruntime when it is installed.
- ``.pkl``, ``.pickle``, ``.joblib``: unpickling runs arbitrary code, so these
  load only with ``trust_pickle=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._optional import import_optional
from ..exceptions import UnskewInputError

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def load_model(path: str | Path, *, trust_pickle: bool = False) -> Any:
    """Load a model from ``path``.

    Parameters
    ----------
    path : str or Path
        A ``.skops``, ``.onnx``, ``.pkl``/``.pickle`` or ``.joblib`` file.
    trust_pickle : bool, default False
        Allow formats that can run code when loaded (pickle, joblib, and skops
        files with types outside skops' trusted set). Only for files you trust.

    Returns
    -------
    object
        A model with ``predict`` and, usually, ``predict_proba``.
    """
    path = Path(path)
    if not path.exists():
        raise UnskewInputError(f"Model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".skops":
        from .._skops import loads_trusted

        model = loads_trusted(path.read_bytes(), str(path), trust=trust_pickle,
                              hint="if you trust this file, pass --trust-pickle (trust_pickle=True in Python).")
    elif suffix == ".onnx":
        model = OnnxModel(path)
    elif suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise UnskewInputError(
                f"{path} is a pickle/joblib file; loading it can run arbitrary code. Save the model with "
                f"skops (skops.io.dump(model, 'model.skops')) or, if you trust the file, pass --trust-pickle "
                f"(trust_pickle=True in Python)."
            )
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:
            raise UnskewInputError(f"Cannot load {path}: {type(exc).__name__}: {exc}") from exc
    else:
        raise UnskewInputError(
            f"Unknown model format {suffix!r} for {path}; use .skops, .onnx, or .pkl/.joblib with --trust-pickle."
        )
    if not (hasattr(model, "predict") or hasattr(model, "predict_proba")):
        raise UnskewInputError(f"The object in {path} ({type(model).__name__}) has no predict or predict_proba.")
    return model


class OnnxModel:
    """A scikit-learn-like wrapper around an onnxruntime session.

    A model with one input receives the feature columns stacked as float32; a
    model with one input per column receives each column by name. The first
    output is the label; a second output, if any, the class probabilities
    (a tensor, or skl2onnx's list of ``{class: probability}`` maps).
    """

    def __init__(self, path: str | Path):
        ort = import_optional("onnxruntime", "ONNX models")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UnskewInputError(f"Cannot load {path} as an ONNX model: {exc}") from exc
        self.inputs = self.session.get_inputs()
        self.outputs = [o.name for o in self.session.get_outputs()]
        if len(self.inputs) > 1:
            self.feature_names_in_ = np.array([i.name for i in self.inputs], dtype=object)
        self.classes_ = None

    def _feed(self, X: pd.DataFrame) -> dict:
        if len(self.inputs) == 1:
            return {self.inputs[0].name: np.asarray(X, dtype=np.float32)}
        feed = {}
        for inp in self.inputs:
            col = X[inp.name].to_numpy()
            if "string" in inp.type:
                col = col.astype(str).astype(object)
            elif "int" in inp.type:
                col = col.astype(np.int64)
            else:
                col = col.astype(np.float32)
            feed[inp.name] = col.reshape(-1, 1)
        return feed

    def _run(self, X):
        return self.session.run(self.outputs, self._feed(X))

    def predict(self, X):
        return np.asarray(self._run(X)[0]).ravel()

    def predict_proba(self, X):
        out = self._run(X)
        if len(out) < 2:
            raise AttributeError("This ONNX model has no probability output.")
        probs = out[1]
        if isinstance(probs, list) and probs and isinstance(probs[0], dict):
            self.classes_ = np.array(list(probs[0].keys()))
            return np.array([[d[k] for k in self.classes_] for d in probs], dtype=float)
        return np.asarray(probs, dtype=float)


def model_features(model: Any, frame: pd.DataFrame, exclude: Sequence[str], features: Sequence[str] | None = None
                   ) -> list[str]:
    """The columns a model predicts from: ``features``, else the model's
    ``feature_names_in_``, else every column not in ``exclude``."""
    if features:
        cols = list(features)
    elif getattr(model, "feature_names_in_", None) is not None:
        cols = [str(c) for c in model.feature_names_in_]
    else:
        cols = [c for c in frame.columns if c not in set(exclude)]
        n_in = getattr(model, "n_features_in_", None)
        if n_in is not None and n_in != len(cols):
            raise UnskewInputError(
                f"The model expects {n_in} features but {len(cols)} columns are left after removing the "
                f"target, prediction, score and weight columns; name them with --features."
            )
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise UnskewInputError(
            f"The model needs column(s) {missing[:10]} that are not in the data; available: {list(frame.columns)[:20]}."
        )
    return cols


def positive_column(model: Any, n_cols: int, pos_label: Any) -> int:
    classes = getattr(model, "classes_", None)
    if classes is not None and pos_label is not None:
        for i, c in enumerate(list(classes)):
            if c == pos_label or str(c) == str(pos_label):
                return i
    return n_cols - 1


def predict_with(model: Any, X: pd.DataFrame, pos_label: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(labels, scores)``: ``predict`` and the positive-class probability
    (``predict_proba``) or ``decision_function`` for binary models; scores are
    None when the model has neither or is multiclass."""
    try:
        scores = None
        if hasattr(model, "predict_proba"):
            try:
                proba = np.asarray(model.predict_proba(X))
            except AttributeError:
                proba = None
            if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
                scores = proba[:, positive_column(model, 2, pos_label)]
        if scores is None and hasattr(model, "decision_function"):
            dec = np.asarray(model.decision_function(X))
            if dec.ndim == 1:
                scores = dec
        if hasattr(model, "predict"):
            labels = np.asarray(model.predict(X)).ravel()
        elif scores is not None:
            labels = (scores >= 0.5).astype(int)
        else:
            raise UnskewInputError("The model has neither predict nor a binary predict_proba.")
    except UnskewInputError:
        raise
    except Exception as exc:
        raise UnskewInputError(
            f"The model could not predict from columns {list(X.columns)[:15]}: {type(exc).__name__}: {exc}"
        ) from exc
    return labels, (None if scores is None else scores.astype(float))
