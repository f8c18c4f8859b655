"""The one tabular feature encoding of unskew: a table of mixed columns -> numbers.

Three encodings serve three kinds of model; all of them live here and all
read a column's kind the same way (:func:`column_kinds`: the
:attr:`~unskew.data.Dataset.column_types` of the data layer, or the dtype).

:func:`tabular_encoder` -- linear models (D3M, compare, the mitigation benchmark)
    A scikit-learn :class:`~sklearn.compose.ColumnTransformer`: numeric (and
    numeric-typed boolean) columns median-imputed and standardised
    (``SimpleImputer`` + ``StandardScaler``), categorical columns (and
    text-coded booleans) with missing values as the level ``"(missing)"`` and
    one-hot encoded (``OneHotEncoder``, unseen levels all-zero, levels rarer
    than ``min_frequency`` pooled). Text and datetime columns are left out.

:class:`EmbeddingEncoder` -- neural networks (``unskew.train``)
    One float32 matrix: numeric and boolean columns standardised with the
    training mean and standard deviation (``StandardScaler``; missing values
    become 0, the mean), then one integer code per categorical column
    (``OrdinalEncoder`` over the sorted string values: ``1..k`` for the
    training levels, ``0`` for missing or unseen) for the models to embed.

:class:`FeatureEncoder` -- gradient boosting and the audit checks
    :class:`EncodedFeatures` with missing values kept as NaN: numeric values
    as floats (infinities -> NaN); boolean and categorical columns with at
    most ``max_categories`` (250) levels as an ordinal code per level, levels
    ordered by frequency (most frequent first) and marked categorical so that
    gradient boosting splits on them natively; more levels (identifier-like):
    the share of rows with the same value (target-free; unseen values get 0);
    datetime: days since 1970-01-01; text: length in characters and number of
    words. The codes are a frequency-ordered ``pandas.Index`` lookup rather
    than ``OrdinalEncoder``, which requires sorted categories for numeric
    values and cannot order them by frequency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._groups import MISSING

#: Categorical columns with more levels than this are frequency-encoded by
#: :class:`FeatureEncoder` (histogram gradient boosting accepts at most 255 categories).
MAX_CATEGORIES = 250


# --------------------------------------------------------------------------- column kinds
def column_kinds(data: Any, columns: Sequence[str] | None = None,
                 column_types: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The frame, the columns to encode and the kind of each.

    ``data`` is a :class:`~unskew.data.Dataset` (its ``column_types`` and, by
    default, its ``features``) or a DataFrame (kinds from ``column_types``, else
    from the dtype: numeric and boolean dtypes are ``"numeric"``, others
    ``"categorical"``).
    """
    frame = getattr(data, "frame", data)
    if not isinstance(frame, pd.DataFrame):
        raise UnskewInputError(f"A table (DataFrame or Dataset) is needed to encode features, not {type(data).__name__}.")
    if columns is None:
        columns = list(getattr(data, "features", None) or [str(c) for c in frame.columns])
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnskewInputError(f"Column(s) {missing} to encode are not in the table.")
    types = dict(getattr(data, "column_types", None) or {})
    types.update(column_types or {})
    kinds = {}
    for c in columns:
        if c in types:
            kinds[c] = types[c]
        else:
            kinds[c] = "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical"
    return frame, columns, kinds


def _numeric_dtype(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


# --------------------------------------------------------------------------- one-hot (linear models)
def tabular_encoder(data: Any, columns: Sequence[str] | None = None, *,
                    column_types: dict[str, str] | None = None, min_frequency: int | None = 5):
    """An unfitted :class:`~sklearn.compose.ColumnTransformer`: standardised numerics, one-hot categoricals.

    Parameters
    ----------
    data : Dataset or DataFrame
        Where the columns and their kinds come from (see :func:`column_kinds`).
    columns : list of str, optional
        Columns to encode; a Dataset's features or every column by default.
    column_types : dict, optional
        Kinds overriding those of ``data``.
    min_frequency : int or None, default 5
        Categories with fewer training rows are pooled into one column.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Dense output: numeric columns first, then the one-hot columns.

    Raises
    ------
    UnskewInputError
        When no column is numeric or categorical.

    Example
    -------
    >>> frame = pd.DataFrame({"age": [30, 40, None], "job": ["a", "b", None]})
    >>> tabular_encoder(frame, min_frequency=None).fit_transform(frame).shape
    (3, 4)
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, columns, kinds = column_kinds(data, columns, column_types)
    # 0/1 and True/False columns are used as numbers; text-coded booleans are one-hot encoded
    num = [c for c in columns if kinds[c] == "numeric" or (kinds[c] == "boolean" and _numeric_dtype(frame[c]))]
    cat = [c for c in columns if c not in num and kinds[c] in ("categorical", "boolean")]
    parts = []
    if num:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num))
    if cat:
        parts.append(("cat", make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING),
            OneHotEncoder(handle_unknown="ignore", min_frequency=min_frequency, sparse_output=False)), cat))
    if not parts:
        raise UnskewInputError("No numeric or categorical feature columns to train on.")
    return ColumnTransformer(parts)


# --------------------------------------------------------------------------- codes (neural networks)
def _is_numeric_column(s: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(s) or (
        pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    )


def _numeric_block(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    if not cols:
        return np.zeros((len(frame), 0))
    out = []
    for c in cols:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s):
            s = s.astype("float64")
        out.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(out)


def _as_text(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """Values as strings (object array, one column per ``cols``), missing as NaN."""
    out = np.empty((len(frame), len(cols)), dtype=object)
    for j, c in enumerate(cols):
        s = frame[c]
        col = s.astype(str).to_numpy(dtype=object)
        col[s.isna().to_numpy()] = np.nan
        out[:, j] = col
    return out


class EmbeddingEncoder:
    """Standardised numeric columns followed by one integer code per categorical column.

    Parameters
    ----------
    standardize : bool, default True
        Standardise the numeric columns (else they pass through; missing -> 0).

    Attributes
    ----------
    columns_ : list of str
    numeric_, categorical_ : list of str
        Numeric/boolean columns (standardised, first) and the others (coded, last).
    mean_, scale_ : ndarray
        Per numeric column (0 and 1 when not standardising).
    categories_ : dict
        Column -> sorted training levels (as strings); level ``i`` has code ``i + 1``.
    cardinalities_ : list of int
        Codes per categorical column, including 0 (missing or unseen).

    Example
    -------
    >>> frame = pd.DataFrame({"x": [1.0, 3.0], "c": ["b", "a"]})
    >>> EmbeddingEncoder().fit(frame).transform(frame).tolist()
    [[-1.0, 2.0], [1.0, 1.0]]
    """

    def __init__(self, standardize: bool = True):
        self.standardize = standardize

    def fit(self, frame: pd.DataFrame) -> EmbeddingEncoder:
        from sklearn.preprocessing import OrdinalEncoder, StandardScaler

        if frame.shape[1] == 0:
            raise UnskewInputError("X has no columns.")
        self.columns_ = [str(c) for c in frame.columns]
        frame = frame.set_axis(self.columns_, axis=1)
        self.numeric_ = [c for c in self.columns_ if _is_numeric_column(frame[c])]
        self.categorical_ = [c for c in self.columns_ if c not in self.numeric_]
        num = _numeric_block(frame, self.numeric_)
        self.scaler_ = StandardScaler(with_mean=self.standardize, with_std=self.standardize)
        if num.shape[1]:
            self.scaler_.fit(num)
            mean = getattr(self.scaler_, "mean_", None)
            self.mean_ = np.zeros(num.shape[1]) if mean is None else np.where(np.isfinite(mean), mean, 0.0)
            scale = self.scaler_.scale_ if self.scaler_.scale_ is not None else np.ones(num.shape[1])
            self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(0), np.ones(0)
        self.categories_ = {c: sorted({str(v) for v in frame[c].dropna().tolist()}) for c in self.categorical_}
        self.ordinal_ = None
        if self.categorical_:
            self.ordinal_ = OrdinalEncoder(
                categories=[np.array(self.categories_[c], dtype=object) for c in self.categorical_],
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1, dtype=np.float64,
            ).fit(_as_text(frame, self.categorical_))
        self.cardinalities_ = [len(self.categories_[c]) + 1 for c in self.categorical_]
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """float32 array ``(n, n_numeric + n_categorical)``."""
        if not hasattr(self, "columns_"):
            raise UnskewInputError("This encoder is not fitted yet; call fit first.")
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise UnskewInputError(f"Columns seen at fit time are missing from X: {missing}.")
        num = (_numeric_block(frame, self.numeric_) - self.mean_) / self.scale_
        num = np.where(np.isnan(num), 0.0, num)
        parts = [num]
        if self.ordinal_ is not None:
            parts.append(self.ordinal_.transform(_as_text(frame, self.categorical_)) + 1.0)
        return np.column_stack(parts).astype(np.float32)


# --------------------------------------------------------------------------- NaN-keeping (boosting, audit)
def datetime_days(s: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as floats (NaN for missing); time zones are converted to UTC."""
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s, errors="coerce", format="mixed")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    vals = s.to_numpy(dtype="datetime64[ns]")
    out = (vals - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")
    return np.where(np.isnat(vals), np.nan, out).astype(np.float64)


@dataclass
class EncodedFeatures:
    """A numeric view of the features.

    Attributes
    ----------
    X : numpy.ndarray of shape (n_rows, n_columns), float32
        Encoded values; NaN marks a missing value.
    names : list of str
        Name of each column of ``X`` (``"notes_length"`` for derived columns).
    sources : list of str
        The feature each column of ``X`` comes from.
    categorical : numpy.ndarray of bool
        Columns of ``X`` holding ordinal codes of an unordered category.
    level_shares : dict
        For each categorical column index, the share of fitted rows in each
        level (used by :meth:`numeric`).
    notes : list of str
        Plain-language notes on columns that were transformed or dropped.
    """

    X: np.ndarray
    names: list[str]
    sources: list[str]
    categorical: np.ndarray
    level_shares: dict[int, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _dense: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape

    def numeric(self) -> np.ndarray:
        """Dense float32 matrix without NaN, for models that need one.

        Categorical codes are replaced by the share of rows in their level
        (rare levels get small values, so a rare category looks unusual), and
        missing values by the column's median (0 when a column is all missing).
        Computed once and kept.
        """
        if self._dense is not None:
            return self._dense
        out = np.array(self.X, dtype=np.float32, copy=True)
        for j in range(out.shape[1]):
            col = out[:, j]
            miss = np.isnan(col)
            if self.categorical[j]:
                shares = self.level_shares.get(j)
                codes = np.where(miss, 0, col).astype(np.int64)
                vals = shares[np.clip(codes, 0, len(shares) - 1)] if shares is not None and len(shares) else col
                col = np.where(miss, np.nan, vals).astype(np.float32)
                miss = np.isnan(col)
            if miss.any():
                fill = float(np.median(col[~miss])) if (~miss).any() else 0.0
                col = np.where(miss, fill, col)
            out[:, j] = col
        self._dense = out
        return out


@dataclass
class _Spec:
    column: str
    kind: str  # numeric, datetime, codes, frequency, text
    levels: Any = None
    shares: Any = None


class FeatureEncoder:
    """Fit-transform encoder from a mixed-type table to :class:`EncodedFeatures`.

    Parameters
    ----------
    max_categories : int, default 250
        Categorical columns with more distinct values are frequency-encoded.

    Example
    -------
    >>> frame = pd.DataFrame({"age": [30, None, 50], "job": ["a", "b", "a"]})
    >>> enc = FeatureEncoder().fit(frame, {"age": "numeric", "job": "categorical"})
    >>> enc.transform(frame).X.tolist()
    [[30.0, 0.0], [nan, 1.0], [50.0, 0.0]]
    """

    def __init__(self, max_categories: int = MAX_CATEGORIES):
        if not 2 <= int(max_categories) <= 250:
            raise UnskewInputError(f"max_categories must be between 2 and 250, got {max_categories}.")
        self.max_categories = int(max_categories)

    def fit(self, frame: pd.DataFrame, column_types: dict[str, str],
            columns: Sequence[str] | None = None) -> FeatureEncoder:
        """Learn the levels and shares of every column.

        Parameters
        ----------
        frame : pandas.DataFrame
        column_types : dict
            Column -> ``numeric, categorical, boolean, text`` or ``datetime``
            (as in :attr:`unskew.data.Dataset.column_types`); a column without
            a type is treated as categorical.
        columns : list of str, optional
            Columns to encode (all columns of ``frame`` by default).
        """
        cols = list(columns) if columns is not None else [str(c) for c in frame.columns]
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise UnskewInputError(f"Column(s) {missing} to encode are not in the table.")
        self.specs_: list[_Spec] = []
        self.notes_: list[str] = []
        for col in cols:
            kind = column_types.get(col, "categorical")
            s = frame[col]
            if kind == "numeric" and not pd.api.types.is_numeric_dtype(s):
                kind = "categorical"
            if kind == "numeric":
                self.specs_.append(_Spec(col, "numeric"))
            elif kind == "datetime":
                self.specs_.append(_Spec(col, "datetime"))
                self.notes_.append(f"Datetime column '{col}' is used as days since 1970-01-01.")
            elif kind == "text":
                self.specs_.append(_Spec(col, "text"))
                self.notes_.append(
                    f"Text column '{col}' is represented by its length and word count (its words are not read).")
            else:
                counts = s.value_counts(dropna=True)
                if len(counts) <= self.max_categories:
                    shares = (counts / max(len(s), 1)).to_numpy(float)
                    self.specs_.append(_Spec(col, "codes", levels=counts.index, shares=shares))
                else:
                    shares = counts / max(len(s), 1)
                    self.specs_.append(_Spec(col, "frequency", shares=shares))
                    self.notes_.append(
                        f"Categorical column '{col}' has {len(counts)} distinct values (more than "
                        f"{self.max_categories}); it is encoded by the share of rows sharing each value.")
        return self

    def transform(self, frame: pd.DataFrame) -> EncodedFeatures:
        """Encode ``frame`` with the fitted rules (unseen categories become missing)."""
        if not hasattr(self, "specs_"):
            raise RuntimeError("FeatureEncoder is not fitted; call fit() first.")
        n = len(frame)
        cols: list[np.ndarray] = []
        names: list[str] = []
        sources: list[str] = []
        cat: list[bool] = []
        shares: dict[int, np.ndarray] = {}
        for spec in self.specs_:
            if spec.column not in frame.columns:
                raise UnskewInputError(
                    f"Column '{spec.column}' is missing from the table being encoded; both tables "
                    f"need the same feature columns.")
            s = frame[spec.column]
            if spec.kind == "numeric":
                v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
                v[~np.isfinite(v)] = np.nan
                cols.append(v.astype(np.float32))
                names.append(spec.column)
                cat.append(False)
            elif spec.kind == "datetime":
                cols.append(datetime_days(s).astype(np.float32))
                names.append(spec.column)
                cat.append(False)
            elif spec.kind == "text":
                t = s.astype("string")
                length = t.str.len().to_numpy(dtype=np.float64, na_value=np.nan)
                words = t.str.count(r"\S+").to_numpy(dtype=np.float64, na_value=np.nan)
                cols.extend([length.astype(np.float32), words.astype(np.float32)])
                names.extend([f"{spec.column}_length", f"{spec.column}_words"])
                sources.append(spec.column)
                cat.extend([False, False])
            elif spec.kind == "codes":
                codes = pd.Index(spec.levels).get_indexer(s).astype(np.float32)
                codes[codes < 0] = np.nan
                shares[len(cols)] = np.asarray(spec.shares, dtype=np.float32)
                cols.append(codes)
                names.append(spec.column)
                cat.append(True)
            else:  # frequency
                v = s.map(spec.shares).to_numpy(dtype=np.float64, na_value=np.nan)
                v = np.where(np.isnan(v) & s.notna().to_numpy(), 0.0, v)
                cols.append(v.astype(np.float32))
                names.append(spec.column)
                cat.append(False)
            sources.append(spec.column)
        X = np.column_stack(cols).astype(np.float32, copy=False) if cols else np.zeros((n, 0), np.float32)
        return EncodedFeatures(X=X, names=names, sources=sources, categorical=np.array(cat, dtype=bool),
                               level_shares=shares, notes=list(self.notes_))


__all__ = [
    "MAX_CATEGORIES",
    "EmbeddingEncoder",
    "EncodedFeatures",
    "FeatureEncoder",
    "column_kinds",
    "datetime_days",
    "tabular_encoder",
]
