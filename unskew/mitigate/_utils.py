"""Helpers shared by the pre- and post-processing mitigators.

Groups ("populations") are encoded once into integer codes with their labels so
that every sampler, weighting scheme and threshold optimiser speaks the same
language:

* a *group* is the value of the sensitive attribute (or the tuple of values when
  several sensitive columns are given: their intersection);
* a *cell* or *population* is a (group, class) pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import MISSING, plain
from ..data._groups import encode_groups as _encode_groups
from ..data._groups import encode_labels as _encode_labels
from ..data._groups import lookup_groups as _lookup_groups
from ..exceptions import UnskewInputError

__all__ = ["MISSING", "encode_groups", "encode_labels", "lookup_groups", "plain"]

#: Old name kept for callers not yet switched to :func:`plain`.
_plain = plain


def _to_frame_or_array(values: Any) -> Any:
    if isinstance(values, (pd.Series, pd.DataFrame, np.ndarray)):
        return values
    if hasattr(values, "to_pandas"):  # polars / pyarrow
        return values.to_pandas()
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch tensor
        return values.detach().cpu().numpy()
    return np.asarray(values)


def encode_groups(sensitive_features: Any, n_samples: int | None = None, *, owner: str = "") -> tuple[np.ndarray, list]:
    """Integer group code per row and the group labels.

    The groups of :func:`unskew.data._groups.encode_groups` (the one group
    encoding of unskew: same codes and order as everywhere else), returned as
    ``(codes, labels)`` where ``labels[code]`` is the group value (a tuple for
    several attributes). Missing values form their own group ``"(missing)"``.
    """
    g = _encode_groups(sensitive_features, n_samples, owner=owner, n_what="X")
    return g.codes, g.labels


def lookup_groups(sensitive_features: Any, labels: list, n_samples: int, *, owner: str = "") -> np.ndarray:
    """Codes of rows under an already-fitted list of group labels.

    Raises :class:`UnskewInputError` naming any group not seen during ``fit``.
    """
    return _lookup_groups(sensitive_features, labels, n_samples, owner=owner, n_what="X")


def encode_labels(y: Any, n_samples: int | None = None, *, owner: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Integer class code per row and the sorted classes."""
    codes, classes = _encode_labels(y, what=f"{owner}: y" if owner else "y", n=n_samples)
    return codes.astype(np.int64), classes


def check_sample_weight(sample_weight: Any, n_samples: int, *, owner: str = "") -> np.ndarray:
    """Validated float weights (ones when ``None``)."""
    who = f"{owner}: " if owner else ""
    if sample_weight is None:
        return np.ones(n_samples, dtype=float)
    w = np.asarray(_to_frame_or_array(sample_weight), dtype=float).reshape(-1)
    if len(w) != n_samples:
        raise UnskewInputError(f"{who}sample_weight has {len(w)} values but there are {n_samples} rows.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise UnskewInputError(f"{who}sample_weight must be finite and >= 0.")
    return w


def n_rows(X: Any) -> int:
    """Number of rows of an array-like (arrays, frames, sparse matrices, lists)."""
    if hasattr(X, "shape") and len(getattr(X, "shape", ())) > 0:
        return int(X.shape[0])
    from sklearn.utils.validation import _num_samples

    return int(_num_samples(X))


def resolve_sensitive(X: Any, sensitive_features: Any, sensitive_cols: Any, *, owner: str) -> Any:
    """The sensitive attribute from ``sensitive_features`` or from columns of ``X``.

    ``sensitive_cols`` names columns of a DataFrame (or positions in an array)
    that hold the sensitive attribute(s); they stay in ``X``. Exactly one of the
    two sources must be given.
    """
    if sensitive_features is not None and sensitive_cols is not None:
        raise UnskewInputError(
            f"{owner}: pass either sensitive_features=... or sensitive_cols=..., not both."
        )
    if sensitive_features is not None:
        return sensitive_features
    if sensitive_cols is None:
        raise UnskewInputError(
            f"{owner} needs the sensitive attribute: pass sensitive_features=<array aligned with X> "
            f"to fit/fit_resample, or set sensitive_cols=<column name(s) of X>."
        )
    cols = [sensitive_cols] if isinstance(sensitive_cols, (str, int, np.integer)) else list(sensitive_cols)
    if isinstance(X, pd.DataFrame):
        missing = [c for c in cols if c not in X.columns]
        if missing:
            ints = [c for c in missing if isinstance(c, (int, np.integer))]
            if len(ints) == len(missing):
                return X.iloc[:, cols]
            raise UnskewInputError(
                f"{owner}: sensitive column(s) {missing} are not in X (columns: {list(X.columns)[:15]})."
            )
        return X[cols]
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise UnskewInputError(f"{owner}: sensitive_cols needs a 2-D X, got shape {arr.shape}.")
    bad = [c for c in cols if not isinstance(c, (int, np.integer)) or not -arr.shape[1] <= c < arr.shape[1]]
    if bad:
        raise UnskewInputError(
            f"{owner}: sensitive_cols {bad} are not valid column positions of an array with {arr.shape[1]} columns."
        )
    return arr[:, cols]


def cell_counts(group_codes: np.ndarray, class_codes: np.ndarray, n_groups: int, n_classes: int,
                weights: np.ndarray | None = None) -> np.ndarray:
    """(n_groups, n_classes) matrix of (weighted) counts."""
    flat = group_codes * n_classes + class_codes
    out = np.bincount(flat, weights=weights, minlength=n_groups * n_classes)
    return out.reshape(n_groups, n_classes)


def counts_frame(group_codes, group_labels, class_codes, classes, *, name_group="group", name_class="class") -> pd.DataFrame:
    """Long table of counts per (group, class) cell."""
    c = cell_counts(np.asarray(group_codes), np.asarray(class_codes), len(group_labels), len(classes))
    rows = []
    for gi, g in enumerate(group_labels):
        for ci, k in enumerate(classes):
            rows.append((g, plain(k), int(c[gi, ci])))
    return pd.DataFrame(rows, columns=[name_group, name_class, "count"])
