"""Turn a table into integer codes: one code per (feature, value-or-bin) condition.

Slice search works on a ``(n_features, n_rows)`` array of small integer codes.
Numeric columns are cut into quantile bins (right-closed intervals), other
columns keep their values; a missing value is its own level, so every row has
exactly one level per feature at fit time. The fitted encoder maps new rows to
the same codes (an unseen category gets ``-1``: it matches no condition on that
feature, unless the feature has an ``(other)`` level, which then takes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import plain
from ..data._io import load_table
from ..exceptions import UnskewInputError

OTHER = "(other)"


@dataclass(frozen=True)
class Level:
    """One condition on one feature.

    ``kind`` is ``"value"`` (``feature = value``), ``"bin"`` (``low < feature <= high``;
    either bound may be ``None`` for an open end; datetime bounds are ISO strings) or
    ``"missing"``/``"other"``.
    """

    feature: str
    kind: str
    value: Any = None
    low: float | str | None = None
    high: float | str | None = None

    @property
    def text(self) -> str:
        f = self.feature
        if self.kind == "value":
            return f"{f} = {self.value}"
        if self.kind == "missing":
            return f"{f} is missing"
        if self.kind == "other":
            return f"{f} = {OTHER}"
        if self.low is None and self.high is None:
            return f"{f} is not missing"
        if self.low is None:
            return f"{f} <= {_fmt(self.high)}"
        if self.high is None:
            return f"{f} > {_fmt(self.low)}"
        return f"{_fmt(self.low)} < {f} <= {_fmt(self.high)}"

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"feature": self.feature, "kind": self.kind, "text": self.text}
        if self.kind == "value":
            d["value"] = plain(self.value)
        if self.kind == "bin":
            d["low"], d["high"] = self.low, self.high
        return d


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    mag = math.floor(math.log10(abs(x))) if x != 0 else 0
    digits = max(0, 3 - mag)
    return f"{x:.{min(digits, 8)}f}".rstrip("0").rstrip(".")


def as_frame(X: Any, what: str = "X") -> pd.DataFrame:
    """Accept a pandas/polars frame, pyarrow table, dict or 2-D array."""
    if isinstance(X, pd.Series):
        return X.to_frame()
    if isinstance(X, np.ndarray):
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise UnskewInputError(f"{what} must be a table or a 2-D array; got an array of shape {X.shape}.")
    try:
        frame, _ = load_table(X)
    except UnskewInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable input is the caller's input error
        raise UnskewInputError(f"{what} could not be read as a table: {exc}") from exc
    frame = frame.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    return frame


class SliceEncoder:
    """Discretise a table into integer condition codes.

    Parameters
    ----------
    n_bins : int, default 5
        Quantile bins per numeric feature (fewer when quantiles tie, e.g. a
        column that is mostly zero gets ``<= 0`` and ``> 0``). A numeric column
        with at most ``n_bins`` distinct values keeps its values instead.
    max_levels : int, default 50
        Most levels a categorical feature keeps; rarer values are pooled into
        ``(other)``.
    id_fraction : float, default 0.5
        A non-numeric column whose share of distinct values exceeds this (an
        identifier such as a file name) is dropped, and listed in ``dropped_``.

    Attributes
    ----------
    features_ : list of str
        Encoded features, in order.
    levels_ : list of list of Level
        The conditions of each feature; a row's code indexes this list.
    cardinalities_ : numpy.ndarray
        Number of levels per feature.
    dropped_ : dict
        Feature -> reason, for columns that were not encoded.
    """

    def __init__(self, n_bins: int = 5, max_levels: int = 50, id_fraction: float = 0.5):
        self.n_bins = n_bins
        self.max_levels = max_levels
        self.id_fraction = id_fraction

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any) -> SliceEncoder:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit and return the ``(n_features, n_rows)`` int32 code array."""
        if int(self.n_bins) < 2:
            raise UnskewInputError(f"n_bins must be at least 2, got {self.n_bins}.")
        if int(self.max_levels) < 2:
            raise UnskewInputError(f"max_levels must be at least 2, got {self.max_levels}.")
        frame = as_frame(X)
        if frame.shape[1] == 0:
            raise UnskewInputError("X has no columns to search for slices.")
        n = len(frame)
        if n == 0:
            raise UnskewInputError("X has no rows.")
        self.features_: list[str] = []
        self.levels_: list[list[Level]] = []
        self._specs: list[dict] = []
        self.dropped_: dict[str, str] = {}
        rows: list[np.ndarray] = []
        for col in frame.columns:
            s = frame[col]
            if s.isna().all():
                self.dropped_[col] = "entirely missing"
                continue
            if _is_numeric(s):
                codes, spec, levels = self._fit_numeric(col, s)
            else:
                out = self._fit_categorical(col, s, n)
                if out is None:
                    continue
                codes, spec, levels = out
            if len(levels) < 2:
                self.dropped_[col] = "constant"
                continue
            self.features_.append(col)
            self.levels_.append(levels)
            self._specs.append(spec)
            rows.append(codes)
        if not rows:
            raise UnskewInputError(
                "No column of X can define slices (all are constant, entirely missing or "
                f"identifier-like: {self.dropped_})."
            )
        self.cardinalities_ = np.array([len(lv) for lv in self.levels_], dtype=np.int64)
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.array(frame.columns, dtype=object)
        return _stack(rows)

    def _fit_numeric(self, col, s):
        x = _numeric_values(s)
        miss = np.isnan(x)
        finite = x[~miss] if miss.any() else x
        # a full sort is only needed when a sample suggests few distinct values
        few = len(np.unique(finite[:20_000])) <= self.n_bins
        uniq = np.unique(finite) if few else None
        if few and len(uniq) <= self.n_bins:
            spec = {"kind": "values", "values": uniq}
            tidy = _as_time if pd.api.types.is_datetime64_any_dtype(s) else _tidy_number
            levels = [Level(col, "value", tidy(v)) for v in uniq]
            codes = np.searchsorted(uniq, np.where(miss, uniq[0], x))
        else:
            qs = np.quantile(finite, np.linspace(0, 1, self.n_bins + 1)[1:-1])
            inner = np.unique(qs)
            # a top edge equal to the maximum would leave the last bin empty
            inner = inner[inner < np.max(finite)]
            spec = {"kind": "bins", "edges": inner}
            tidy = _as_time if pd.api.types.is_datetime64_any_dtype(s) else _tidy_number
            bounds = [None, *inner.tolist(), None]
            levels = [Level(col, "bin", None, tidy(bounds[i]), tidy(bounds[i + 1]))
                      for i in range(len(inner) + 1)]
            codes = np.searchsorted(inner, np.where(miss, inner[0] if len(inner) else 0, x), side="left")
        codes = codes.astype(np.int32)
        if miss.any():
            spec["missing_code"] = len(levels)
            codes[miss] = len(levels)
            levels.append(Level(col, "missing"))
        return codes, spec, levels

    def _fit_categorical(self, col, s, n):
        codes, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
        n_uniq = len(uniques)
        if n_uniq > self.max_levels and n_uniq > self.id_fraction * n:
            self.dropped_[col] = f"identifier-like ({n_uniq} distinct values in {n} rows)"
            return None
        miss = codes < 0
        values = list(uniques)
        if n_uniq > self.max_levels:
            counts = np.bincount(codes[~miss], minlength=n_uniq)
            keep = np.sort(np.argsort(-counts, kind="stable")[: self.max_levels - 1])
            remap = np.full(n_uniq, len(keep), dtype=np.int32)
            remap[keep] = np.arange(len(keep), dtype=np.int32)
            codes = np.where(miss, -1, remap[np.maximum(codes, 0)])
            values = [values[i] for i in keep]
            other = len(values)
        else:
            other = None
        levels = [Level(col, "value", _tidy_value(v)) for v in values]
        if other is not None:
            levels.append(Level(col, "other"))
        codes = np.asarray(codes, dtype=np.int32)
        spec = {"kind": "categories", "categories": pd.Index(values), "other_code": other}
        if miss.any():
            spec["missing_code"] = len(levels)
            codes = np.where(miss, len(levels), codes).astype(np.int32)
            levels.append(Level(col, "missing"))
        return codes, spec, levels

    # ------------------------------------------------------------------ transform
    def transform(self, X: Any) -> np.ndarray:
        """Codes of new rows, ``(n_features, n_rows)``; ``-1`` where no level applies."""
        if not hasattr(self, "features_"):
            raise UnskewInputError("This SliceEncoder is not fitted yet; call fit first.")
        frame = as_frame(X)
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise UnskewInputError(f"X lacks the column(s) {missing} that the slices were found on.")
        return _stack([self._transform_one(frame[c], spec) for c, spec in
                       zip(self.features_, self._specs, strict=True)])

    def _transform_one(self, s: pd.Series, spec: dict) -> np.ndarray:
        mcode = spec.get("missing_code", -1)
        if spec["kind"] in ("values", "bins"):
            try:
                x = _numeric_values(s)
            except (TypeError, ValueError) as exc:
                raise UnskewInputError(f"Column {s.name!r} was numeric when the slices were found "
                                       f"but cannot be read as numbers now: {exc}") from exc
            miss = np.isnan(x)
            if spec["kind"] == "values":
                vals = spec["values"]
                idx = np.clip(np.searchsorted(vals, np.where(miss, vals[0], x)), 0, len(vals) - 1)
                codes = np.where(vals[idx] == x, idx, -1)
            else:
                codes = np.searchsorted(spec["edges"], np.where(miss, 0, x), side="left")
            return np.where(miss, mcode, codes)
        cats = spec["categories"]
        miss = s.isna().to_numpy()
        codes = np.asarray(cats.get_indexer(s.astype(object) if s.dtype != object else s))
        if spec["other_code"] is not None:
            codes = np.where(codes < 0, spec["other_code"], codes)
        return np.where(miss, mcode, codes)


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=np.int32)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)) or \
        pd.api.types.is_datetime64_any_dtype(s)


def _numeric_values(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.as_unit("ns").astype("int64").to_numpy(dtype=float)  # UTC nanoseconds
        out[s.isna().to_numpy()] = np.nan
        return out
    return pd.to_numeric(s).to_numpy(dtype=float, na_value=np.nan)


def _tidy_number(v):
    if v is None:
        return None
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _as_time(v):
    """A bin edge of a datetime column (UTC nanoseconds) as an ISO timestamp string."""
    if v is None:
        return None
    return pd.Timestamp(int(round(float(v))), unit="ns").isoformat()


def _tidy_value(v):
    v = plain(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
