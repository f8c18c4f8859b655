"""The one encoding of sensitive groups, used by every part of unskew.

Data, metrics, mitigation, audit, slices and compare all turn sensitive
attributes into integer group codes here, so that a group has the same code,
the same name and the same position in every table and report.

The rules
---------
* **Values.** Each sensitive attribute is factorised on its values (not on
  their string forms). numpy scalars become Python scalars (:func:`plain`).
* **Missing.** A missing value (``None``, ``NaN``, ``NaT``, ``pd.NA``) and the
  literal string ``"(missing)"`` form one group named :data:`MISSING`; no row
  is ever dropped.
* **Order** (:func:`sort_key`). Within an attribute: numbers (booleans count
  as 0/1) in ascending numeric order, then every other value in the
  lexicographic order of its string form, then :data:`MISSING` last. A
  categorical dtype's declared category order is *not* used. Intersections are
  ordered lexicographically by attribute, the first attribute varying slowest
  (``a=1 & b=x``, ``a=1 & b=y``, ``a=2 & b=x``...). Only combinations that occur
  in the data are groups.
* **Names** (:func:`group_name`). ``"attr=value"`` for one attribute,
  ``"race=Black & sex=Female"`` for an intersection, in the order the
  attributes were given; a value is written with ``str`` (``MISSING`` as is).

Example
-------
>>> import pandas as pd
>>> from unskew.data._groups import encode_groups
>>> g = encode_groups(pd.DataFrame({"sex": ["F", "M", None, "F"], "age": [30, 20, 30, 20]}))
>>> g.codes.tolist()
[1, 2, 3, 0]
>>> g.names
['sex=F & age=20', 'sex=F & age=30', 'sex=M & age=20', 'sex=(missing) & age=30']
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

#: Name (and value) of the group of rows whose sensitive value is missing.
MISSING = "(missing)"

#: Combined code spaces up to this size are compacted with a ``bincount``;
#: larger ones with a hash factorisation.
_DENSE_LIMIT = 1 << 22


# --------------------------------------------------------------------------- values
def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (recursively in tuples), so keys hash and print alike."""
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def sort_key(value: Any) -> tuple:
    """The group order: numbers, then other values by their string, :data:`MISSING` last.

    Tuples (intersection keys) compare element by element.
    """
    if isinstance(value, tuple):
        return tuple(sort_key(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    if isinstance(value, numbers.Number):
        f = float(value)
        return (0, f, "") if f == f else (3, 0.0, "")
    if value is None or (isinstance(value, str) and value == MISSING):
        return (3, 0.0, "")
    try:
        if pd.isna(value):
            return (3, 0.0, "")
    except (TypeError, ValueError):
        pass
    return (1, 0.0, str(value))


def value_name(value: Any) -> str:
    """How a group value is written in a group name."""
    return MISSING if sort_key(value)[0] == 3 else str(plain(value))


def group_name(columns: Sequence[str], key: Any) -> str:
    """``"race=Black & sex=Female"`` for attribute names ``columns`` and a value tuple ``key``."""
    key = key if isinstance(key, tuple) else (key,)
    return " & ".join(f"{c}={value_name(v)}" for c, v in zip(columns, key, strict=True))


# --------------------------------------------------------------------------- inputs
def _as_series(obj: Any, name: str) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj
    if isinstance(obj, pd.Index):
        return pd.Series(obj, name=name)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    mod = type(obj).__module__.split(".")[0]
    if mod in ("polars", "pyarrow") and hasattr(obj, "to_pandas"):
        return obj.to_pandas()
    if isinstance(obj, (list, tuple)):
        arr = np.empty(len(obj), dtype=object)
        arr[:] = list(obj)
        try:
            typed = np.asarray(obj)
            if typed.ndim == 1 and typed.dtype != object and typed.dtype.kind != "U":
                arr = typed
        except (ValueError, TypeError):
            pass
    else:
        arr = np.asarray(obj)
    if arr.ndim != 1:
        raise UnskewInputError(f"Sensitive feature {name!r} must be one-dimensional; got shape {arr.shape}.")
    return pd.Series(arr, name=name)


def sensitive_columns(sensitive_features: Any, n: int | None = None, *, owner: str = "") -> list[tuple[str, pd.Series]]:
    """Split ``sensitive_features`` into named 1-D columns.

    Accepts a 1-D array, list, Series or torch tensor, a 2-D array, a pandas
    or polars DataFrame, a pyarrow Table, a dict of columns, or a list of
    columns. Unnamed columns are called ``sensitive_feature_0``,
    ``sensitive_feature_1``, ... as in Fairlearn.
    """
    who = f"{owner}: " if owner else ""
    sf = sensitive_features
    if sf is None:
        raise UnskewInputError(
            f"{who}sensitive_features is required: pass the column(s) that define the groups, "
            f"aligned row by row with the data."
        )
    if hasattr(sf, "detach") and hasattr(sf, "cpu"):  # torch tensor
        sf = sf.detach().cpu().numpy()
    mod = type(sf).__module__.split(".")[0]
    if mod == "polars" and hasattr(sf, "columns"):
        sf = sf.to_pandas()
    elif mod == "pyarrow" and hasattr(sf, "column_names"):
        sf = sf.to_pandas()
    if isinstance(sf, pd.DataFrame):
        return [(str(c), sf.iloc[:, j]) for j, c in enumerate(sf.columns)]
    if isinstance(sf, Mapping):
        return [(str(k), _as_series(v, str(k))) for k, v in sf.items()]
    if isinstance(sf, pd.Series):
        return [(str(sf.name) if sf.name is not None else "sensitive_feature_0", sf)]
    if mod in ("polars", "pyarrow"):
        name = getattr(sf, "name", None) or "sensitive_feature_0"
        return [(str(name), _as_series(sf, str(name)))]
    if isinstance(sf, (list, tuple)) and sf and all(
        isinstance(c, (list, tuple, np.ndarray, pd.Series)) for c in sf
    ):
        width = len(sf[0])
        columns_given = len(sf) < width if n is None else (width == n and len(sf) != n)
        if columns_given:
            return [(f"sensitive_feature_{i}", _as_series(c, f"sensitive_feature_{i}")) for i, c in enumerate(sf)]
    if isinstance(sf, (list, tuple)):
        try:
            arr = np.asarray(sf)
        except ValueError:
            arr = np.asarray(sf, dtype=object)
        if arr.ndim == 1:
            return [("sensitive_feature_0", _as_series(list(sf), "sensitive_feature_0"))]
        if arr.dtype.kind == "U":
            arr = np.asarray(sf, dtype=object)
    else:
        arr = np.asarray(sf)
    if arr.ndim == 0:
        raise UnskewInputError(f"{who}sensitive_features must be an array aligned with the data, got a scalar {arr!r}.")
    if arr.ndim == 1:
        return [("sensitive_feature_0", pd.Series(arr))]
    if arr.ndim == 2:
        return [(f"sensitive_feature_{j}", pd.Series(arr[:, j])) for j in range(arr.shape[1])]
    raise UnskewInputError(f"{who}sensitive_features must be 1-D or 2-D; got shape {arr.shape}.")


# --------------------------------------------------------------------------- one attribute
def attribute_codes(values: Any) -> tuple[np.ndarray, list]:
    """Codes of one sensitive attribute and its levels in :func:`sort_key` order.

    Returns
    -------
    codes : ndarray of int64
        ``levels[codes[i]]`` is row ``i``'s value.
    levels : list
        The distinct values that occur, as Python scalars, missing (if any)
        last as :data:`MISSING`.

    Example
    -------
    >>> attribute_codes(["b", None, "a", "b"])
    (array([1, 2, 0, 1]), ['a', 'b', '(missing)'])
    """
    s = values if isinstance(values, pd.Series) else _as_series(values, "values")
    try:  # a sorted factorisation is usually already in group order (no remapping below)
        raw, uniq = pd.factorize(s, sort=True, use_na_sentinel=True)
    except TypeError:  # unorderable mixed values
        raw, uniq = pd.factorize(s, sort=False, use_na_sentinel=True)
    raw = np.asarray(raw, dtype=np.int64)
    # only the values that occur (a categorical's unused categories are not groups)
    uniques = [plain(v) for v in np.asarray(uniq, dtype=object)]
    keys = [sort_key(v) for v in uniques]
    order = sorted(range(len(uniques)), key=keys.__getitem__)
    levels = [uniques[i] for i in order if keys[i][0] != 3]
    missing_like = [i for i in range(len(uniques)) if keys[i][0] == 3]
    any_na = bool((raw < 0).any())
    if order == list(range(len(uniques))) and not missing_like:
        codes = np.where(raw < 0, len(levels), raw) if any_na else raw
    else:
        rank = np.empty(len(uniques) + 1, dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(len(uniques))
        rank[missing_like] = len(levels)
        rank[-1] = len(levels)  # raw code -1 (missing) -> the MISSING level
        codes = rank[raw]
    if any_na or missing_like:
        levels.append(MISSING)
    return codes, levels


def grid_codes(parts: Sequence[tuple[np.ndarray, Sequence]]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Mixed-radix cell code of each row over the full grid of levels.

    ``parts`` are ``(codes, levels)`` pairs from :func:`attribute_codes`; the
    first attribute varies slowest, so cell order equals group order. Returns
    the flat codes and the grid shape (use :func:`numpy.unravel_index` to
    decode). The grid includes combinations that do not occur.
    """
    shape = tuple(max(len(levels), 1) for _, levels in parts)
    flat = None
    for (codes, _), k in zip(parts, shape, strict=True):
        flat = np.array(codes, dtype=np.int64) if flat is None else flat * k + codes
    return flat, shape


# --------------------------------------------------------------------------- groups
@dataclass(frozen=True, eq=False)
class Groups:
    """Group code per row with the groups' keys and names.

    Attributes
    ----------
    codes : ndarray of int64, shape (n_rows,)
        Index of each row's group.
    keys : list of tuple
        One value per attribute for each group, in group order.
    columns : list of str
        The sensitive attribute names.
    """

    codes: np.ndarray
    keys: list[tuple]
    columns: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def names(self) -> list[str]:
        """``"attr=value"`` names, ``" & "``-joined for intersections."""
        return [group_name(self.columns, k) for k in self.keys]

    @property
    def labels(self) -> list:
        """The value itself for one attribute, the value tuple for several."""
        return [k[0] for k in self.keys] if len(self.columns) == 1 else list(self.keys)

    def row_names(self) -> np.ndarray:
        """The group name of every row (an object array)."""
        return np.asarray(self.names, dtype=object)[self.codes]

    def categorical(self) -> pd.Categorical:
        """The row names as a :class:`pandas.Categorical` whose categories are in group order."""
        return pd.Categorical.from_codes(self.codes, categories=pd.Index(self.names, dtype=object))


def encode_groups(sensitive_features: Any, n: int | None = None, *, owner: str = "", n_what: str = "the data") -> Groups:
    """Intersectional group code of every row (see the module docstring for the rules).

    Parameters
    ----------
    sensitive_features : array-like, Series, DataFrame, dict of columns or tensor
        One sensitive attribute, or several whose intersection defines the groups.
    n : int, optional
        Expected number of rows; a different length raises.
    owner : str
        The caller, named in error messages.
    n_what : str
        What ``n`` counts, for the length-mismatch message (e.g. ``"y_true"``).

    Returns
    -------
    Groups

    Raises
    ------
    UnskewInputError
        For no columns, repeated column names or a length mismatch.

    Example
    -------
    >>> g = encode_groups({"race": ["B", "W", "B"], "sex": ["F", "F", "M"]})
    >>> g.codes.tolist(), g.names
    ([0, 2, 1], ['race=B & sex=F', 'race=B & sex=M', 'race=W & sex=F'])
    """
    who = f"{owner}: " if owner else ""
    cols = sensitive_columns(sensitive_features, n, owner=owner)
    if not cols:
        raise UnskewInputError(f"{who}sensitive_features has no columns.")
    names = [c for c, _ in cols]
    if len(set(names)) != len(names):
        raise UnskewInputError(f"{who}sensitive feature names repeat: {names}. Give each column a distinct name.")
    lengths = {len(s) for _, s in cols}
    if len(lengths) != 1 or (n is not None and lengths != {n}):
        raise UnskewInputError(
            f"{who}sensitive_features has {'/'.join(map(str, sorted(lengths)))} rows but {n_what} has {n}; "
            f"they must align row by row."
        )
    per = [attribute_codes(s) for _, s in cols]
    if len(per) == 1:
        codes, levels = per[0]
        return Groups(codes=codes, keys=[(v,) for v in levels], columns=names)
    combined, shape = grid_codes(per)
    space = int(np.prod(shape, dtype=np.float64))
    if space <= _DENSE_LIMIT:
        used = np.flatnonzero(np.bincount(combined, minlength=space))
        lut = np.full(space, -1, dtype=np.int64)
        lut[used] = np.arange(len(used))
        codes = lut[combined]
    else:
        codes, used = pd.factorize(combined, sort=True)
        codes = np.asarray(codes, dtype=np.int64)
    idx = np.unravel_index(np.asarray(used, dtype=np.int64), shape)
    keys = list(zip(*[[levels[i] for i in ix.tolist()] for (_, levels), ix in zip(per, idx, strict=True)],
                    strict=True))
    return Groups(codes=codes, keys=keys, columns=names)


def lookup_groups(sensitive_features: Any, keys: Sequence, n: int | None = None, *, owner: str = "",
                  n_what: str = "the data") -> np.ndarray:
    """Codes of rows under an already-known list of group keys or labels.

    ``keys`` are :attr:`Groups.keys` (tuples) or :attr:`Groups.labels`.

    Raises
    ------
    UnskewInputError
        Naming any group that is not among ``keys``.
    """
    g = encode_groups(sensitive_features, n, owner=owner, n_what=n_what)
    new = g.keys if keys and isinstance(next(iter(keys)), tuple) else g.labels
    index = {k: i for i, k in enumerate(keys)}
    unseen = [k for k in new if k not in index]
    if unseen:
        who = f"{owner}: " if owner else ""
        raise UnskewInputError(
            f"{who}sensitive_features contains group(s) {unseen[:5]} that were not present during fit "
            f"(known groups: {list(keys)[:10]}). Refit with data that covers every group."
        )
    remap = np.array([index[k] for k in new], dtype=np.int64)
    return remap[g.codes] if len(remap) else g.codes


# --------------------------------------------------------------------------- labels
def encode_labels(y: Any, classes: Any = None, *, what: str = "y", n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer class code per row and the classes.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels; missing labels raise.
    classes : array-like, optional
        A known vocabulary; every label must be in it. Without it, the sorted
        distinct labels (:func:`sort_key` order when they do not sort natively).
    what : str
        The argument's name in error messages.
    n : int, optional
        Expected length.

    Returns
    -------
    codes : ndarray of intp
    classes : ndarray

    Example
    -------
    >>> encode_labels(["no", "yes", "no"])
    (array([0, 1, 0]), array(['no', 'yes'], dtype=object))
    """
    arr = _label_array(y, what)
    if n is not None and len(arr) != n:
        raise UnskewInputError(f"{what} has {len(arr)} values but the data has {n} rows.")
    if classes is None:
        codes, uniq = pd.factorize(arr, sort=False)
        vals = [plain(v) for v in uniq]
        try:
            order = np.argsort(np.asarray(uniq), kind="stable")
            cls = np.asarray(uniq)[order]
        except TypeError:
            order = np.asarray(sorted(range(len(vals)), key=lambda i: sort_key(vals[i])), dtype=np.intp)
            cls = np.empty(len(vals), dtype=object)
            cls[:] = [vals[i] for i in order]
        if cls.dtype.kind == "U":
            cls = cls.astype(object)
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
        return (rank[codes] if len(rank) else np.asarray(codes, dtype=np.intp)), cls
    classes = np.asarray(classes)
    if arr.dtype == bool and classes.dtype == bool:
        idx = arr.astype(np.intp)
        return (idx if len(classes) == 2 else np.zeros(len(arr), np.intp)), classes
    if arr.dtype.kind in "iub" and classes.dtype.kind in "iubf" and classes.size:
        lo, hi = int(np.min(classes)), int(np.max(classes))
        if hi - lo < 1 << 16 and np.all(classes == np.round(np.asarray(classes, float))):
            a = arr.astype(np.int64, copy=False)
            if a.size and (a.min() < lo or a.max() > hi):
                bad = a[(a < lo) | (a > hi)][0]
                raise _unknown_label(what, bad, classes)
            lut = np.full(hi - lo + 1, -1, dtype=np.intp)
            lut[np.asarray(classes, dtype=np.int64) - lo] = np.arange(len(classes))
            out = lut[a - lo] if lo else lut[a]
            if (out < 0).any():
                bad = a[out < 0][0]
                raise _unknown_label(what, bad, classes)
            return out, classes
    codes, uniques = pd.factorize(arr)
    lookup = {plain(v): i for i, v in enumerate(classes.tolist())}
    try:
        lut = np.array([lookup[plain(v)] for v in uniques], dtype=np.intp)
    except KeyError as exc:
        raise _unknown_label(what, exc.args[0], classes) from None
    return (lut[codes] if len(lut) else np.asarray(codes, dtype=np.intp)), classes


def _unknown_label(what: str, value: Any, classes: np.ndarray) -> UnskewInputError:
    return UnskewInputError(
        f"{what} has the label {plain(value)!r}, never seen in training: it is not among the known labels "
        f"{[plain(c) for c in classes.tolist()][:10]}."
    )


def as_1d(y: Any, what: str) -> np.ndarray:
    """A 1-D numpy array of ``y`` (Series, Index, polars/pyarrow, tensor, list; ``(n, 1)`` is flattened)."""
    if y is None:
        raise UnskewInputError(f"{what} is required.")
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        y = y.detach().cpu().numpy()
    if isinstance(y, (pd.Series, pd.Index)):
        arr = (y.astype(object) if isinstance(y.dtype, pd.CategoricalDtype) else y).to_numpy()
    elif isinstance(y, pd.DataFrame) or type(y).__module__.split(".")[0] in ("polars", "pyarrow"):
        arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    else:
        arr = np.asarray(y)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise UnskewInputError(f"{what} must be one-dimensional (one value per row); got shape {arr.shape}.")
    return arr


def _label_array(y: Any, what: str) -> np.ndarray:
    arr = as_1d(y, what)
    if arr.dtype.kind in "fO":
        bad = int(pd.isna(arr).sum())
        if bad:
            raise UnskewInputError(f"{what} has missing labels ({bad} rows); drop those rows or fill them first.")
    return arr
