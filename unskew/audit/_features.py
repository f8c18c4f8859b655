"""Shared model inputs for the model-based audit checks.

Several checks (label quality, outliers, proxies, shift) fit models on the
features. This module turns ``ds.X`` into one numeric matrix and computes
out-of-sample predicted probabilities once; the models, sampling and per-group
statistics themselves live in :mod:`._common`. Everything expensive is cached in :attr:`AuditContext.cache`, keyed by the
dataset, so an audit encodes the table and cross-validates a model only once.

Encoding rules (:class:`FeatureEncoder`, defined in :mod:`unskew.data._encoding`)
----------------------------------------------------------------------------------
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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data._encoding import MAX_CATEGORIES, EncodedFeatures, FeatureEncoder
from ..exceptions import UnskewInputError
from ._base import AuditContext
from ._common import (
    DEFAULT_FOLDS,
    DEFAULT_MAX_TRAIN_ROWS,
    cross_val_proba,
    sensitive_codes,
)

# The encoder itself is the shared one (unskew.data._encoding), re-exported here.


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
