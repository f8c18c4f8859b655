"""Fast encoding of sensitive features, labels and weights into integer codes.

Everything here is vectorised: a hash factorisation per sensitive column (or
the codes of a categorical column as they are), an arithmetic combination of
the per-column codes into one intersectional code, and a ``bincount`` to keep
only the combinations that occur. No per-row Python runs.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data import MISSING_GROUP
from ..exceptions import UnskewInputError

#: Combined code spaces up to this size are compacted with a ``bincount``;
#: larger ones with a hash factorisation.
_DENSE_LIMIT = 1 << 22


def sort_key(value: Any) -> tuple:
    """A total order over mixed values: numbers, then strings, missing last."""
    if isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    if isinstance(value, numbers.Number):
        f = float(value)
        return (0, f, "") if f == f else (2, 0.0, "nan")
    if value == MISSING_GROUP:
        return (3, 0.0, "")
    return (1, 0.0, str(value))


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars so keys hash and print consistently."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _to_pandas_series(obj: Any, name: str) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj
    mod = type(obj).__module__.split(".")[0]
    if mod == "polars":
        return obj.to_pandas()
    if mod == "pyarrow":
        return obj.to_pandas()
    arr = np.asarray(obj)
    if arr.ndim != 1:
        raise UnskewInputError(f"Sensitive feature {name!r} must be one-dimensional; got shape {arr.shape}.")
    return pd.Series(arr, name=name)


def sensitive_columns(sensitive_features: Any) -> list[tuple[str, pd.Series]]:
    """Split ``sensitive_features`` into named 1-D columns.

    Accepts a 1-D array, list or Series, a 2-D array, a pandas or polars
    DataFrame, a pyarrow Table, or a dict of columns. Unnamed columns are
    called ``sensitive_feature_0``, ``sensitive_feature_1``, ... as in Fairlearn.
    """
    sf = sensitive_features
    if sf is None:
        raise UnskewInputError("sensitive_features is required: pass the column(s) that define the groups.")
    mod = type(sf).__module__.split(".")[0]
    if mod == "polars" and hasattr(sf, "columns"):
        sf = sf.to_pandas()
    elif mod == "pyarrow" and hasattr(sf, "column_names"):
        sf = sf.to_pandas()
    if isinstance(sf, pd.DataFrame):
        return [(str(c), sf[c]) for c in sf.columns]
    if isinstance(sf, Mapping):
        return [(str(k), _to_pandas_series(v, str(k))) for k, v in sf.items()]
    if isinstance(sf, pd.Series):
        return [(str(sf.name) if sf.name is not None else "sensitive_feature_0", sf)]
    if mod in ("polars", "pyarrow"):
        name = getattr(sf, "name", None) or "sensitive_feature_0"
        return [(str(name), _to_pandas_series(sf, str(name)))]
    if isinstance(sf, (list, tuple)) and sf and all(
        isinstance(c, (list, tuple, np.ndarray, pd.Series)) for c in sf
    ) and len(sf) < len(sf[0]):
        # A list of columns.
        return [(f"sensitive_feature_{i}", _to_pandas_series(c, f"sensitive_feature_{i}")) for i, c in enumerate(sf)]
    arr = np.asarray(sf, dtype=object) if isinstance(sf, (list, tuple)) else np.asarray(sf)
    if arr.ndim == 1:
        return [("sensitive_feature_0", pd.Series(arr))]
    if arr.ndim == 2:
        return [(f"sensitive_feature_{j}", pd.Series(arr[:, j])) for j in range(arr.shape[1])]
    raise UnskewInputError(f"sensitive_features must be 1-D or 2-D; got shape {arr.shape}.")


def _factorize_column(s: pd.Series) -> tuple[np.ndarray, list]:
    """Codes (int64, missing -> last level) and level values (missing as ``(missing)``)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes, dtype=np.int64)
        levels = [_plain(v) for v in s.cat.categories]
    else:
        try:
            codes, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
        except TypeError:  # unorderable mixed values
            codes, uniques = pd.factorize(s, sort=False, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.int64)
        levels = [_plain(v) for v in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(levels), codes)
        levels = levels + [MISSING_GROUP]
    return codes, levels


def encode_groups(sensitive_features: Any, n: int | None = None) -> tuple[np.ndarray, list[tuple], list[str]]:
    """Intersectional group code per row.

    Returns
    -------
    codes : ndarray of int64, shape (n,)
        Index into ``keys``.
    keys : list of tuple
        One tuple of values per group (one value per sensitive column), in
        :func:`sort_key` order.
    names : list of str
        The sensitive column names.
    """
    cols = sensitive_columns(sensitive_features)
    if not cols:
        raise UnskewInputError("sensitive_features has no columns.")
    names = [c for c, _ in cols]
    if len(set(names)) != len(names):
        raise UnskewInputError(f"Sensitive feature names repeat: {names}. Give each column a distinct name.")
    lengths = {len(s) for _, s in cols}
    if len(lengths) != 1 or (n is not None and lengths != {n}):
        raise UnskewInputError(
            f"Sensitive features have {sorted(lengths)} rows but y_true has {n}; they must align row by row."
        )
    per = [_factorize_column(s) for _, s in cols]
    sizes = [max(len(levels), 1) for _, levels in per]
    space = int(np.prod(sizes, dtype=np.float64))
    if len(per) == 1:
        combined = per[0][0]
    else:
        combined = np.zeros(len(per[0][0]), dtype=np.int64)
        for codes, size in zip(per, sizes, strict=True):
            combined *= size
            combined += codes[0]
    if space <= _DENSE_LIMIT:
        used = np.flatnonzero(np.bincount(combined, minlength=space))
        lut = np.full(space, -1, dtype=np.int64)
        lut[used] = np.arange(len(used))
        codes = lut[combined]
    else:
        codes, used = pd.factorize(combined, sort=True)
        codes = np.asarray(codes, dtype=np.int64)
    # decode the used combined codes into key tuples
    keys = []
    for c in np.asarray(used).tolist():
        parts = []
        for (_, levels), size in zip(reversed(per), reversed(sizes), strict=True):
            c, r = divmod(c, size)
            parts.append(levels[r])
        keys.append(tuple(reversed(parts)))
    order = sorted(range(len(keys)), key=lambda i: tuple(sort_key(v) for v in keys[i]))
    if order != list(range(len(keys))):
        rank = np.empty(len(keys), dtype=np.int64)
        rank[order] = np.arange(len(keys))
        codes = rank[codes]
        keys = [keys[i] for i in order]
    return codes, keys, names


def group_label(names: Sequence[str], key: tuple) -> str:
    """``"sex=Female & race=Black"`` (the same format as :meth:`Dataset.groups`)."""
    return " & ".join(f"{n}={v}" for n, v in zip(names, key, strict=True))


# ---------------------------------------------------------------------------- labels
def _as_1d(y: Any, what: str) -> np.ndarray:
    if isinstance(y, (pd.Series, pd.Index)):
        if isinstance(y.dtype, pd.CategoricalDtype):
            y = y.astype(object)
        arr = y.to_numpy()
    elif type(y).__module__.split(".")[0] in ("polars", "pyarrow"):
        arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    else:
        arr = np.asarray(y)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise UnskewInputError(f"{what} must be one-dimensional; got shape {arr.shape}.")
    return arr


def _isnan_any(arr: np.ndarray) -> int:
    if arr.dtype.kind == "f":
        return int(np.isnan(arr).sum())
    if arr.dtype.kind == "O":
        return int(pd.isna(arr).sum())
    return 0


def as_label_array(y: Any, what: str) -> np.ndarray:
    """A 1-D label array without missing values."""
    arr = _as_1d(y, what)
    bad = _isnan_any(arr)
    if bad:
        raise UnskewInputError(f"{what} has {bad} missing value(s); drop those rows or fill them first.")
    return arr


def as_float_array(y: Any, what: str, *, finite: bool = True) -> np.ndarray:
    arr = _as_1d(y, what)
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


def encode_labels(arr: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index of each value of ``arr`` in ``classes`` (every value must be present)."""
    if arr.dtype == bool and classes.dtype == bool:
        idx = arr.astype(np.intp)
        return idx if len(classes) == 2 else np.zeros(len(arr), np.intp)
    if arr.dtype.kind in "iub" and classes.dtype.kind in "iubf" and classes.size:
        lo = int(np.min(classes))
        hi = int(np.max(classes))
        if hi - lo < 1 << 16 and np.all(np.asarray(classes) == np.round(np.asarray(classes, float))):
            lut = np.full(hi - lo + 1, -1, dtype=np.intp)
            lut[np.asarray(classes, dtype=np.int64) - lo] = np.arange(len(classes))
            a = arr.astype(np.int64, copy=False)
            return lut[a - lo] if lo else lut[a]
    codes, uniques = pd.factorize(arr)
    lookup = {v: i for i, v in enumerate(classes.tolist())}
    try:
        lut = np.array([lookup[_plain(v)] for v in uniques], dtype=np.intp)
    except KeyError as exc:
        raise UnskewInputError(f"Label {exc.args[0]!r} is not among the known labels {list(classes)[:10]}.") from None
    return lut[codes]


def default_pos_label(classes: np.ndarray) -> Any:
    """1 (or True) when present or implied by a {0,1}/{-1,1}/bool label set, else the last class."""
    vals = [_plain(v) for v in np.asarray(classes).tolist()]
    if any(v is True for v in vals) or (vals and all(isinstance(v, (bool, np.bool_)) for v in vals)):
        return True
    numeric = all(isinstance(v, numbers.Number) for v in vals)
    if numeric and set(vals) <= {0, 1, -1}:
        return 1
    if not vals:
        return 1
    return vals[-1]
