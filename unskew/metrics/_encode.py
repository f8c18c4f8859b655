"""Label and weight arrays for the metrics engine.

Sensitive groups are encoded by :mod:`unskew.data._groups` (the one group
encoding of unskew); this module re-exports what the engine uses from it and
adds the label helpers (distinct classes, the default positive label).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import as_1d, encode_groups, group_name, plain, sensitive_columns, sort_key
from ..exceptions import UnskewInputError

__all__ = [
    "as_float_array",
    "as_label_array",
    "default_pos_label",
    "encode_groups",
    "group_name",
    "merge_classes",
    "sensitive_columns",
    "sort_key",
    "unique_labels",
]


# ---------------------------------------------------------------------------- labels
def _isnan_any(arr: np.ndarray) -> int:
    if arr.dtype.kind == "f":
        return int(np.isnan(arr).sum())
    if arr.dtype.kind == "O":
        return int(pd.isna(arr).sum())
    return 0


def as_label_array(y: Any, what: str) -> np.ndarray:
    """A 1-D label array without missing values."""
    arr = as_1d(y, what)
    bad = _isnan_any(arr)
    if bad:
        raise UnskewInputError(f"{what} has {bad} missing value(s); drop those rows or fill them first.")
    return arr


def as_float_array(y: Any, what: str, *, finite: bool = True) -> np.ndarray:
    arr = as_1d(y, what)
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise UnskewInputError(f"{what} must be numeric; got values such as {arr[:3].tolist()}.") from None
    if finite and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise UnskewInputError(f"{what} has {bad} missing or infinite value(s); drop or fill those rows.")
    return arr


def unique_labels(arr: np.ndarray) -> np.ndarray:
    """Sorted distinct values (fast path for small non-negative integers)."""
    if arr.dtype == bool:
        present = np.bincount(arr.view(np.uint8), minlength=2) > 0
        return np.array([False, True])[present]
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 1 << 16:
            present = np.flatnonzero(np.bincount(arr - lo if lo else arr, minlength=hi - lo + 1))
            return (present + lo).astype(arr.dtype)
    u = pd.unique(arr)
    try:
        return np.sort(np.asarray(u))
    except TypeError:
        return np.asarray(sorted(u, key=sort_key), dtype=object)


def merge_classes(*arrays: np.ndarray) -> np.ndarray:
    vals = [v for a in arrays for v in np.asarray(a).tolist()]
    out = []
    seen = set()
    for v in sorted(vals, key=sort_key):
        if v not in seen:
            seen.add(v)
            out.append(v)
    arr = np.asarray(out)
    if arr.dtype.kind == "U":
        arr = arr.astype(object)
    return arr


def default_pos_label(classes: np.ndarray) -> Any:
    """1 (or True) when present or implied by a {0,1}/{-1,1}/bool label set, else the last class."""
    vals = [plain(v) for v in np.asarray(classes).tolist()]
    if any(v is True for v in vals) or (vals and all(isinstance(v, (bool, np.bool_)) for v in vals)):
        return True
    numeric = all(isinstance(v, numbers.Number) for v in vals)
    if numeric and set(vals) <= {0, 1, -1}:
        return 1
    if not vals:
        return 1
    return vals[-1]
