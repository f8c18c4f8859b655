"""Helpers shared by the pre- and post-processing mitigators.

Groups ("populations") are encoded once into integer codes with their labels so
that every sampler, weighting scheme and threshold optimiser speaks the same
language:

* a *group* is the value of the sensitive attribute (or the tuple of values when
  several sensitive columns are given: their intersection);
* a *cell* or *population* is a (group, class) pair.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

MISSING = "(missing)"


def _to_frame_or_array(values: Any) -> Any:
    if isinstance(values, (pd.Series, pd.DataFrame, np.ndarray)):
        return values
    if hasattr(values, "to_pandas"):  # polars / pyarrow
        return values.to_pandas()
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch tensor
        return values.detach().cpu().numpy()
    return np.asarray(values, dtype=object) if _looks_mixed(values) else np.asarray(values)


def _looks_mixed(values: Any) -> bool:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        return True
    return arr.dtype == object


def _column_values(col: Any) -> np.ndarray:
    """One column as an object array with missing values as ``(missing)``."""
    s = pd.Series(np.asarray(col, dtype=object) if not isinstance(col, pd.Series) else col)
    s = s.astype(object).where(s.notna(), MISSING)
    return s.to_numpy(dtype=object)


def encode_groups(sensitive_features: Any, n_samples: int | None = None, *, owner: str = "") -> tuple[np.ndarray, list]:
    """Integer group code per row and the group labels.

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        One sensitive attribute, or several whose intersection defines the
        groups (a DataFrame or 2-D array). Missing values form their own group
        ``"(missing)"``.
    n_samples : int, optional
        Expected number of rows; a different length raises.
    owner : str
        Name of the caller, used in error messages.

    Returns
    -------
    codes : ndarray of int64, shape (n_samples,)
    labels : list
        ``labels[code]`` is the group value (a tuple for several attributes).
        Labels are sorted so that codes are reproducible.
    """
    who = f"{owner}: " if owner else ""
    if sensitive_features is None:
        raise UnskewInputError(
            f"{who}sensitive_features is required. Pass the sensitive attribute(s) as "
            f"sensitive_features=<column or array aligned with X>."
        )
    sf = _to_frame_or_array(sensitive_features)
    if isinstance(sf, pd.DataFrame):
        cols = [sf.iloc[:, j] for j in range(sf.shape[1])]
    elif isinstance(sf, pd.Series):
        cols = [sf]
    else:
        arr = np.asarray(sf)
        if arr.ndim == 0:
            raise UnskewInputError(f"{who}sensitive_features must be an array aligned with X, got a scalar {arr!r}.")
        if arr.ndim == 1:
            cols = [arr]
        elif arr.ndim == 2:
            cols = [arr[:, j] for j in range(arr.shape[1])]
        else:
            raise UnskewInputError(f"{who}sensitive_features must be 1-D or 2-D, got shape {arr.shape}.")
    if not cols:
        raise UnskewInputError(f"{who}sensitive_features has no columns.")
    n = len(cols[0])
    if n_samples is not None and n != n_samples:
        raise UnskewInputError(
            f"{who}sensitive_features has {n} rows but X has {n_samples}; they must be aligned row by row."
        )
    if len(cols) == 1:
        vals = _column_values(cols[0])
        keys = vals
    else:
        parts = [_column_values(c) for c in cols]
        keys = np.empty(n, dtype=object)
        keys[:] = list(zip(*parts, strict=True))
    raw, uniq = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=False)
    plain = [_plain(u) for u in uniq]
    order = sorted(range(len(plain)), key=lambda i: _sort_key(plain[i]))
    labels = [plain[i] for i in order]
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    codes = remap[raw] if len(raw) else raw.astype(np.int64)
    return codes.astype(np.int64), labels


def _sort_key(v: Hashable):
    if isinstance(v, tuple):
        return tuple(_sort_key(x) for x in v)
    if isinstance(v, (bool, np.bool_)):
        return (0, int(v), "")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def _plain(v):
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def lookup_groups(sensitive_features: Any, labels: list, n_samples: int, *, owner: str = "") -> np.ndarray:
    """Codes of rows under an already-fitted list of group labels.

    Raises :class:`UnskewInputError` naming any group not seen during ``fit``.
    """
    codes, new_labels = encode_groups(sensitive_features, n_samples, owner=owner)
    index = {lab: i for i, lab in enumerate(labels)}
    unseen = [lab for lab in new_labels if lab not in index]
    if unseen:
        who = f"{owner}: " if owner else ""
        raise UnskewInputError(
            f"{who}sensitive_features contains group(s) {unseen[:5]} that were not present during fit "
            f"(known groups: {labels[:10]}). Refit with data that covers every group."
        )
    remap = np.array([index[lab] for lab in new_labels], dtype=np.int64)
    return remap[codes] if len(remap) else codes


def encode_labels(y: Any, n_samples: int | None = None, *, owner: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Integer class code per row and the sorted classes."""
    who = f"{owner}: " if owner else ""
    if y is None:
        raise UnskewInputError(f"{who}y (the labels) is required.")
    arr = _to_frame_or_array(y)
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise UnskewInputError(f"{who}y must be 1-D (one label per row), got shape {arr.shape}.")
    if n_samples is not None and len(arr) != n_samples:
        raise UnskewInputError(f"{who}y has {len(arr)} rows but X has {n_samples}.")
    if pd.isna(pd.Series(arr, dtype=object)).any():
        raise UnskewInputError(f"{who}y has missing labels; drop those rows first.")
    classes, codes = np.unique(arr, return_inverse=True)
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
            rows.append((g, _plain(k), int(c[gi, ci])))
    return pd.DataFrame(rows, columns=[name_group, name_class, "count"])
