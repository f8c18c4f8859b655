"""Shared model inputs for the model-based audit checks.

Several checks (label quality, outliers, proxies, shift) fit models on the
features. This module turns ``ds.X`` into one numeric matrix and computes
out-of-sample predicted probabilities once; the models, sampling and per-group
statistics themselves live in :mod:`._common`. Everything expensive is cached in :attr:`AuditContext.cache`, keyed by the
dataset, so an audit encodes the table and cross-validates a model only once.

Encoding rules (:class:`FeatureEncoder`)
-----------------------------------------
* numeric: the values as floats; infinities become missing (NaN).
* boolean and categorical with at most ``max_categories`` (250) levels: an
  ordinal code per level (levels ordered by frequency, most frequent first),
  marked categorical so that gradient boosting splits on them natively; a
  missing value stays NaN.
* categorical with more levels (identifier-like): frequency encoding, the
  share of rows that have the same value (target-free, so it cannot leak the
  label); unseen values get 0.
* datetime: days since 1970-01-01 as a float.
* text: two numeric columns, the length in characters and the number of words.

Missing values stay NaN in :attr:`EncodedFeatures.X` (gradient boosting
handles them natively); :meth:`EncodedFeatures.numeric` gives a dense matrix
without NaN for models that need one (categorical codes replaced by the
frequency of the level, missing values by the column median).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset
from ..exceptions import UnskewInputError
from ._base import AuditContext
from ._common import (
    DEFAULT_FOLDS,
    DEFAULT_MAX_TRAIN_ROWS,
    cross_val_proba,
    datetime_days,
    sensitive_codes,
)

#: Categorical columns with more levels than this are frequency-encoded
#: (histogram gradient boosting accepts at most 255 categories).
MAX_CATEGORIES = 250


# --------------------------------------------------------------------------- encoding
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

    Examples
    --------
    >>> enc = FeatureEncoder().fit(frame, {"age": "numeric", "job": "categorical"})
    >>> enc.transform(frame).X.shape
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


def encoded_features(ds: Dataset, ctx: AuditContext | None = None) -> tuple[FeatureEncoder, EncodedFeatures]:
    """The fitted encoder and the encoded features of ``ds`` (cached in ``ctx.cache``)."""
    key = ("encoded_features", id(ds.frame), tuple(ds.features))
    cache = ctx.cache if ctx is not None else {}
    if key not in cache:
        enc = FeatureEncoder().fit(ds.frame, ds.column_types, ds.features)
        cache[key] = (enc, enc.transform(ds.frame))
    return cache[key]


def with_sensitive(ds: Dataset, ctx: AuditContext | None, enc: EncodedFeatures) -> tuple[np.ndarray, np.ndarray]:
    """``enc.X`` with one categorical code column per sensitive attribute appended."""
    if not ds.sensitive:
        return enc.X, enc.categorical
    sc = sensitive_codes(ds, ctx)
    extra = []
    for col in ds.sensitive:
        codes, labels = sc[col]
        if len(labels) > MAX_CATEGORIES:
            continue
        extra.append(codes.astype(np.float32))
    if not extra:
        return enc.X, enc.categorical
    X = np.column_stack([enc.X] + extra)
    return X, np.concatenate([enc.categorical, np.ones(len(extra), dtype=bool)])


# --------------------------------------------------------------------------- out-of-sample probabilities

@dataclass
class OutOfSampleProbs:
    """Out-of-sample predicted probabilities of the target classes.

    Attributes
    ----------
    pred_probs : ndarray of shape (n_rows, n_classes)
    labels : ndarray of int
        Class code of each row's given label.
    classes : list
        Class values, in code order (sorted).
    info : dict
        How the probabilities were obtained (folds, training rows, model,
        out-of-sample accuracy).
    """

    pred_probs: np.ndarray
    labels: np.ndarray
    classes: list
    info: dict


def target_codes(ds: Dataset) -> tuple[np.ndarray, list]:
    """Class code of every row (classes sorted) and the class values."""
    codes, classes = pd.factorize(ds.y, sort=True)
    return np.asarray(codes, dtype=np.int64), list(classes)


def out_of_sample_probs(ds: Dataset, ctx: AuditContext | None = None, *, n_folds: int = DEFAULT_FOLDS,
                        max_train_rows: int | None = DEFAULT_MAX_TRAIN_ROWS,
                        include_sensitive: bool = False) -> OutOfSampleProbs:
    """Cross-validated probabilities of the target for every row (cached in ``ctx.cache``).

    The model sees the encoded features and, with ``include_sensitive``, the
    sensitive attributes too (as categorical codes). Sample weights, when
    declared, weight the fit. See :func:`cross_val_proba`.
    """
    key = ("oos_probs", id(ds.frame), ds.target, tuple(ds.features), include_sensitive, n_folds,
           max_train_rows, ctx.random_state if ctx is not None else 0)
    cache = ctx.cache if ctx is not None else {}
    if key in cache:
        return cache[key]
    _, enc = encoded_features(ds, ctx)
    X, categorical = with_sensitive(ds, ctx, enc) if include_sensitive else (enc.X, enc.categorical)
    y, classes = target_codes(ds)
    if X.shape[1] == 0:
        raise UnskewInputError("The dataset has no feature columns to learn the target from; "
                               "declare features (--features) or drop --ignore.")
    proba, info = cross_val_proba(
        X, y, len(classes), categorical=categorical, n_folds=n_folds, max_train_rows=max_train_rows,
        sample_weight=ds.sample_weight, random_state=ctx.random_state if ctx is not None else 0)
    pred = proba.argmax(axis=1)
    recalls = [float((pred[y == c] == c).mean()) for c in range(len(classes)) if (y == c).any()]
    info.update(source="cross-validation", include_sensitive=bool(include_sensitive and ds.sensitive),
                accuracy=float((pred == y).mean()), balanced_accuracy=float(np.mean(recalls)))
    out = OutOfSampleProbs(proba, y, classes, info)
    cache[key] = out
    return out


__all__ = [
    "MAX_CATEGORIES",
    "EncodedFeatures",
    "FeatureEncoder",
    "OutOfSampleProbs",
    "encoded_features",
    "out_of_sample_probs",
    "target_codes",
]
