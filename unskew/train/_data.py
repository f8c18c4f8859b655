"""Turn user inputs (tables, arrays, images) into float tensors and back.

The training core works on one float32 matrix per example so that every model
takes a single tensor (which keeps per-example gradients with ``torch.func``
simple for TRAK/D3M):

- **tables** (pandas or polars DataFrames): :class:`unskew.data._encoding.EmbeddingEncoder`
  (the shared feature encoding): numeric and boolean columns are
  standardised with the training mean and standard deviation (missing values
  become 0, the mean); every other column is categorical and stored as an
  integer code (``0`` = missing or unseen at training time, ``1..k`` the
  categories seen in training) cast to float. The codes are placed after the
  numeric columns and embedded by the tabular models.
- **2-D numeric arrays**: standardised like numeric columns
  (``standardize=False`` keeps them as they are).
- **images**: arrays of shape ``(n, 28, 28)``, ``(n, C, 28, 28)`` or
  ``(n, 28, 28, C)`` with ``C`` in ``{1, 3}``; integer images (or values above
  1.5) are divided by 255. Images are not standardised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data._encoding import EmbeddingEncoder
from ..data._groups import encode_labels as _encode_labels
from ..exceptions import UnskewInputError


@dataclass
class InputSpec:
    """What the model sees: the shape of the preprocessed input.

    Attributes
    ----------
    kind : {"tabular", "image"}
    n_numeric : int
        Leading numeric (standardised) columns.
    cardinalities : list of int
        For each trailing categorical column, the number of codes including 0.
    image_shape : tuple or None
        ``(C, H, W)`` for images.
    """

    kind: str
    n_numeric: int = 0
    cardinalities: list[int] = field(default_factory=list)
    image_shape: tuple | None = None

    @property
    def n_inputs(self) -> int:
        if self.kind == "image":
            c, h, w = self.image_shape
            return c * h * w
        return self.n_numeric + len(self.cardinalities)


def _to_pandas(X):
    mod = type(X).__module__
    if mod.startswith("polars"):
        return X.to_pandas()
    return X


def _is_image_array(a: np.ndarray) -> bool:
    return a.ndim in (3, 4)


def _image_array(a: np.ndarray) -> np.ndarray:
    """Return a float32 ``(n, C, H, W)`` array with values in [0, 1]."""
    if a.ndim == 3:
        a = a[:, None, :, :]
    elif a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):
        a = np.transpose(a, (0, 3, 1, 2))
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise UnskewInputError(
            f"Images must have shape (n, H, W), (n, C, H, W) or (n, H, W, C) with C in {{1, 3}}; "
            f"got {a.shape}."
        )
    if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise UnskewInputError(f"Images must be numeric arrays; got dtype {a.dtype}.")
    out = a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer) or (out.size and float(np.nanmax(out)) > 1.5):
        out = out / 255.0
    if not np.isfinite(out).all():
        raise UnskewInputError("Images contain NaN or infinite values.")
    return out


class Preprocessor:
    """Fit on the training inputs, then transform any split the same way.

    Parameters
    ----------
    standardize : bool, default=True
        Standardise numeric columns (tables and 2-D arrays).
    """

    def __init__(self, standardize: bool = True):
        self.standardize = standardize

    def fit(self, X) -> Preprocessor:
        X = _to_pandas(X)
        if isinstance(X, pd.DataFrame):
            return self.from_encoder(EmbeddingEncoder(standardize=self.standardize).fit(X))
        a = _as_array(X)
        if _is_image_array(a):
            img = _image_array(a)
            self.spec_ = InputSpec("image", image_shape=tuple(img.shape[1:]))
            self.kind_ = "image"
            return self
        if a.ndim != 2:
            raise UnskewInputError(f"X must be a table, a 2-D array or an image array; got shape {a.shape}.")
        self.encoder_ = EmbeddingEncoder(standardize=self.standardize).fit(pd.DataFrame(_numeric_2d(a)))
        self.mean_, self.scale_ = self.encoder_.mean_, self.encoder_.scale_
        self.spec_ = InputSpec("tabular", n_numeric=a.shape[1])
        self.kind_ = "array"
        return self

    def from_encoder(self, enc: EmbeddingEncoder) -> Preprocessor:
        """Use a fitted table encoder (as ``fit`` on a DataFrame does); for models rebuilt from a file."""
        self.encoder_ = enc
        self.columns_, self.numeric_, self.categorical_ = enc.columns_, enc.numeric_, enc.categorical_
        self.mean_, self.scale_, self.categories_ = enc.mean_, enc.scale_, enc.categories_
        self.spec_ = InputSpec("tabular", n_numeric=len(enc.numeric_), cardinalities=list(enc.cardinalities_))
        self.kind_ = "frame"
        return self

    def transform(self, X) -> np.ndarray:
        """Preprocessed float32 array: ``(n, d)`` for tables, ``(n, C, H, W)`` for images."""
        X = _to_pandas(X)
        if self.kind_ == "frame":
            if not isinstance(X, pd.DataFrame):
                raise UnskewInputError("The model was fitted on a DataFrame; pass a DataFrame with the same columns.")
            return self.encoder_.transform(X)
        a = _as_array(X)
        if self.kind_ == "image":
            if a.ndim == 2 and a.shape[1] == int(np.prod(self.spec_.image_shape)):
                a = a.reshape((len(a),) + tuple(self.spec_.image_shape))
            img = _image_array(a)
            if tuple(img.shape[1:]) != tuple(self.spec_.image_shape):
                raise UnskewInputError(f"Images have shape {img.shape[1:]}; the model was fitted on {self.spec_.image_shape}.")
            return img
        if a.ndim != 2 or a.shape[1] != len(self.mean_):
            raise UnskewInputError(f"X must have shape (n, {len(self.mean_)}); got {a.shape}.")
        return self.encoder_.transform(pd.DataFrame(_numeric_2d(a)))


def _as_array(X) -> np.ndarray:
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.to_numpy()
    try:
        return np.asarray(X)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise UnskewInputError(f"Cannot convert X of type {type(X).__name__} to an array: {exc}") from exc


def _numeric_2d(a: np.ndarray) -> np.ndarray:
    try:
        out = a.astype(float)
    except (TypeError, ValueError) as exc:
        raise UnskewInputError(
            "X has non-numeric values; pass a pandas DataFrame so categorical columns are embedded."
        ) from exc
    if np.isinf(out).any():
        raise UnskewInputError("X contains infinite values.")
    return out


def _label_values(values, name: str, n_rows: int) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise UnskewInputError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    if len(arr) != n_rows:
        raise UnskewInputError(f"{name} has {len(arr)} values but X has {n_rows} rows.")
    miss = pd.isna(pd.Series(arr)).to_numpy()
    if miss.any():
        raise UnskewInputError(f"{name} has {int(miss.sum())} missing values; give every row a value.")
    return arr.astype(str) if arr.dtype == object else arr


def encode_labels(values, name: str, n_rows: int):
    """Integer codes and the sorted unique values of a label vector (text labels as strings).

    The shared label encoding (:func:`unskew.data._groups.encode_labels`);
    raises :class:`UnskewInputError` for a length mismatch or missing values.
    """
    codes, classes = _encode_labels(_label_values(values, name, n_rows), what=name)
    return codes.astype(np.int64), classes


def encode_with(values, uniques, name: str, n_rows: int):
    """Codes of ``values`` in an existing vocabulary ``uniques``; unseen values raise."""
    arr = _label_values(values, name, n_rows)
    if uniques.dtype.kind in "OU":
        arr = arr.astype(str).astype(object)
    codes, _ = _encode_labels(arr, uniques, what=name)
    return codes.astype(np.int64)
