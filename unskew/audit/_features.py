"""Shared model inputs for the model-based audit checks.

Several checks (label quality, outliers, proxies, shift) fit models on the
features. This module turns ``ds.X`` into one numeric matrix, computes
out-of-sample predicted probabilities once, and provides the per-group
"flagged rate" statistics that the label-quality and outlier checks share.
Everything expensive is cached in :attr:`AuditContext.cache`, keyed by the
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
from scipy import stats
from threadpoolctl import threadpool_limits

from .._stats import benjamini_hochberg, two_proportion_test, wilson_interval
from ..data import Dataset
from ..exceptions import UnskewInputError
from ..report import Bar, Chart
from ._base import AuditContext
from ._representation import (
    MAX_BARS,
    cell_codes,
    cell_labels,
    group_totals,
    grouping_name,
    groupings,
    sensitive_codes,
)

#: Categorical columns with more levels than this are frequency-encoded
#: (histogram gradient boosting accepts at most 255 categories).
MAX_CATEGORIES = 250

#: Default number of cross-validation folds for out-of-sample probabilities.
DEFAULT_FOLDS = 3

#: Default cap on the training rows of each cross-validation fold.
DEFAULT_MAX_TRAIN_ROWS = 50_000


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


def datetime_days(s: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as floats (NaN for missing); time zones are converted to UTC."""
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s, errors="coerce", format="mixed")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    vals = s.to_numpy(dtype="datetime64[ns]")
    out = (vals - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")
    return np.where(np.isnat(vals), np.nan, out).astype(np.float64)


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


# --------------------------------------------------------------------------- sampling and models
def capped_sample(idx: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``idx`` itself when it has at most ``cap`` entries, else a sorted uniform sample of ``cap``."""
    if cap is None or len(idx) <= cap:
        return idx
    return idx[np.sort(rng.choice(len(idx), size=int(cap), replace=False, shuffle=False))]


def stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of each row; every class is spread evenly over the folds (sizes differ by at most 1)."""
    folds = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        folds[idx] = (rng.permutation(len(idx)) + rng.integers(n_folds)) % n_folds
    return folds


def gradient_boosting(categorical: np.ndarray, random_state: int, n_train: int, max_iter: int = 50):
    """The default model: :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.

    At most 50 boosting iterations with learning rate 0.2 (about as accurate
    as scikit-learn's 100 at 0.1 and half the cost of scoring millions of
    rows), early stopping (10 iterations without improvement on a 10 %
    validation split) when the training set has at least 1,000 rows,
    categorical columns split natively.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.2,
        early_stopping=n_train >= 1000,
        categorical_features=categorical if categorical.any() else None,
        random_state=random_state,
    )


def cross_val_proba(X: np.ndarray, y: np.ndarray, n_classes: int, *, categorical: np.ndarray,
                    n_folds: int = DEFAULT_FOLDS, max_train_rows: int | None = DEFAULT_MAX_TRAIN_ROWS,
                    sample_weight: np.ndarray | None = None, random_state: int = 0,
                    predict_rows: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Out-of-sample class probabilities by stratified K-fold cross-validation.

    Each fold's model is trained on the other folds, on a uniform random
    sample of at most ``max_train_rows`` of them, and predicts every row of
    its own fold, so every row gets a prediction from a model that never saw
    it.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    y : ndarray of int
        Class codes ``0 .. n_classes - 1``.
    n_classes : int
    categorical : ndarray of bool
        Columns of ``X`` holding category codes.
    n_folds : int, default 3
    max_train_rows : int or None, default 50,000
    sample_weight : ndarray, optional
    random_state : int, default 0
    predict_rows : ndarray of int, optional
        Only these rows are predicted (others get NaN); all rows by default.

    Returns
    -------
    proba : ndarray of shape (n, n_classes)
        Rows sum to 1. A class absent from a fold's training rows gets
        probability 0 for that fold.
    info : dict
        ``n_folds``, ``train_rows_per_fold`` and ``model``.
    """
    n = len(y)
    if n_folds < 2:
        raise UnskewInputError(f"n_folds must be at least 2, got {n_folds}.")
    rng = np.random.default_rng(random_state)
    folds = stratified_folds(y, n_folds, rng)
    proba = np.full((n, n_classes), np.nan)
    predict_mask = np.ones(n, dtype=bool)
    if predict_rows is not None:
        predict_mask[:] = False
        predict_mask[predict_rows] = True
    train_rows = []
    prior = np.bincount(y, minlength=n_classes) / max(n, 1)
    for k in range(n_folds):
        train = capped_sample(np.flatnonzero(folds != k), max_train_rows, rng)
        test = np.flatnonzero((folds == k) & predict_mask)
        train_rows.append(int(len(train)))
        if len(test) == 0:
            continue
        present = np.unique(y[train])
        if len(present) < 2:  # nothing to learn: the training prior
            p = np.zeros(n_classes)
            p[present] = 1.0 if len(present) else prior
            proba[test] = p
            continue
        model = gradient_boosting(categorical, random_state + k, len(train))
        w = None if sample_weight is None else sample_weight[train]
        # Fits here are capped at ``max_train_rows``: OpenMP threads gain little on
        # them and collapse (spin-waiting) when another process holds a core, so
        # fitting uses one thread; predicting every row keeps all of them.
        with threadpool_limits(limits=1, user_api="openmp"):
            model.fit(X[train], y[train], sample_weight=w)
        out = np.zeros((len(test), n_classes))
        out[:, model.classes_.astype(np.int64)] = model.predict_proba(X[test])
        proba[test] = out
    info = {"model": "HistGradientBoostingClassifier(max_iter=50, learning_rate=0.2, early stopping from 1,000 rows)",
            "n_folds": int(n_folds), "train_rows_per_fold": train_rows,
            "max_train_rows": None if max_train_rows is None else int(max_train_rows)}
    return proba, info


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


# --------------------------------------------------------------------------- flagged rates per group
def flag_rates_by_group(ds: Dataset, ctx: AuditContext | None, flags: np.ndarray, *,
                        min_group_size: int, breakdown: np.ndarray | None = None,
                        n_breakdown: int = 0, expected: np.ndarray | None = None) -> dict:
    """Share of flagged rows in every sensitive group and intersection, against the rest.

    For each grouping (every attribute, then every combination) and each of
    its groups: rows, flagged rows, the flagged rate with a 95 % Wilson
    interval, the rate among all other rows, their ratio and difference, and
    a two-proportion z-test (group vs rest). Weighted data use weighted rates
    and Kish effective sizes. Benjamini-Hochberg q-values are computed over
    all groups of all groupings whose group and rest both have at least
    ``min_group_size`` rows (the others are reported but not tested).

    With ``breakdown`` (integer codes ``0 .. n_breakdown - 1`` per row, for
    example the given label), each group also gets ``flagged_by``: its
    flagged rows counted by code.

    With ``expected`` (a per-row propensity to be flagged, for example the
    model's uncertainty ``1 - max_k p_k``), each group is also compared with
    the rest after *indirect standardisation*: the flagged rows are shared out
    in proportion to ``expected``, giving an expected count ``E`` per group;
    ``adjusted_ratio`` is ``(O / E)`` in the group over ``(O / E)`` in the
    rest, and ``adjusted_p`` tests whether the group's share of the flagged
    rows equals its share of the expected ones (conditional binomial z-test on
    the flagged rows; with weights, on their Kish effective number). This
    separates "this group is flagged more" from "this group's rows are harder
    to predict". Benjamini-Hochberg ``adjusted_q`` values are computed as for
    the raw test.

    Returns
    -------
    dict
        ``{grouping: {group: {...}}}`` (JSON-ready).
    """
    sc = sensitive_codes(ds, ctx)
    w = ds.sample_weight
    n = len(ds)
    f = flags.astype(float)
    wf = f if w is None else f * w
    W = float(n if w is None else w.sum())
    W2 = float(n if w is None else (w * w).sum())
    F = float(wf.sum())
    out: dict = {}
    tested: list[tuple[str, str]] = []
    pvals: list[float] = []
    adj_pvals: list[float] = []
    if expected is not None:
        we = expected if w is None else expected * w
        H = float(we.sum())
        f_eff = float(f.sum()) if w is None else (
            F**2 / float((wf * wf).sum()) if (wf * wf).sum() > 0 else 0.0)
    for cols in groupings(ds.sensitive, sc):
        gname = grouping_name(cols)
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        k = len(present)
        rows, wsum, neff = group_totals(inv, k, w)
        fl = np.bincount(inv, weights=wf, minlength=k)
        nflag = np.bincount(inv, weights=f, minlength=k)
        w2 = rows if w is None else np.bincount(inv, weights=w * w, minlength=k)
        rest_w = W - wsum
        rest_w2 = W2 - w2
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = fl / wsum
            rest_rate = (F - fl) / rest_w
            rest_neff = np.where(rest_w2 > 0, rest_w**2 / rest_w2, 0.0)
            ratio = np.where(rest_rate > 0, rate / rest_rate, np.where(rate > 0, np.inf, 1.0))
        low, high = wilson_interval(rate * neff, neff)
        _, p = two_proportion_test(rate * neff, neff, rest_rate * rest_neff, rest_neff)
        labels = cell_labels(sc, cols, present, shape)
        adj = None
        if expected is not None:
            share = np.bincount(inv, weights=we, minlength=k) / H if H > 0 else np.zeros(k)
            exp_g = F * share
            with np.errstate(invalid="ignore", divide="ignore"):
                oe_g = fl / exp_g
                oe_r = (F - fl) / (F - exp_g)
                adj_ratio = np.where(oe_r > 0, oe_g / oe_r, np.where(oe_g > 0, np.inf, 1.0))
                obs_share = fl / F if F > 0 else np.zeros(k)
                z = (obs_share - share) / np.sqrt(share * (1 - share) / f_eff)
            ok = np.isfinite(z) & (share > 0) & (share < 1) & (f_eff > 0)
            adj_p = np.where(ok, 2 * stats.norm.sf(np.abs(np.where(ok, z, 0.0))), 1.0)
            adj = (exp_g, adj_ratio, adj_p)
        by = None
        if breakdown is not None:
            sel = flags.astype(bool)
            by = np.bincount(inv[sel] * n_breakdown + breakdown[sel],
                             minlength=k * n_breakdown).reshape(k, n_breakdown)
        groups = {}
        for i in range(k):
            eligible = rows[i] >= min_group_size and (n - rows[i]) >= min_group_size
            groups[labels[i]] = {
                "rows": int(rows[i]), "flagged": int(nflag[i]), "rate": float(rate[i]),
                "low": float(low[i]), "high": float(high[i]), "rest_rate": float(rest_rate[i]),
                "ratio": float(ratio[i]), "difference": float(rate[i] - rest_rate[i]),
                "p_value": float(p[i]) if eligible else None, "q_value": None, "tested": bool(eligible),
            }
            if by is not None:
                groups[labels[i]]["flagged_by"] = by[i].tolist()
            if adj is not None:
                groups[labels[i]].update(
                    expected=float(adj[0][i]), adjusted_ratio=float(adj[1][i]),
                    adjusted_p=float(adj[2][i]) if eligible else None, adjusted_q=None)
            if eligible:
                tested.append((gname, labels[i]))
                pvals.append(float(p[i]))
                if adj is not None:
                    adj_pvals.append(float(adj[2][i]))
        out[gname] = groups
    q = benjamini_hochberg(pvals)
    for (gname, lab), qv in zip(tested, q, strict=True):
        out[gname][lab]["q_value"] = float(qv)
    if expected is not None:
        for (gname, lab), qv in zip(tested, benjamini_hochberg(adj_pvals), strict=True):
            out[gname][lab]["adjusted_q"] = float(qv)
    return out


def judge_group_rate(g: dict, t: dict, adjusted: bool = False) -> str:
    """Status of one group's flagged rate against the rest of the rows.

    ``warn``/``fail`` when the group was tested, its q-value is below
    ``t["alpha"]``, its rate exceeds the rest's by at least
    ``t["min_difference"]`` and the ratio reaches ``t["ratio_warn"]`` /
    ``t["ratio_fail"]``; otherwise ``pass``. With ``adjusted`` the q-value and
    ratio are the difficulty-adjusted ones (the raw rate must still exceed
    the rest's by ``min_difference``).
    """
    qk, rk = ("adjusted_q", "adjusted_ratio") if adjusted else ("q_value", "ratio")
    if not g["tested"] or g.get(qk) is None or g[qk] >= t["alpha"]:
        return "pass"
    if g["difference"] < t["min_difference"]:
        return "pass"
    r = g[rk]
    return "fail" if r >= t["ratio_fail"] else "warn" if r >= t["ratio_warn"] else "pass"


def group_rate_charts(by_group: dict, overall: float, what: str, statuses: dict) -> list[Chart]:
    """One bar chart per single attribute and one for the full intersection."""
    charts = []
    names = list(by_group)
    if not names:
        return charts
    singles = [g for g in names if " & " not in g]
    full = max(names, key=lambda g: g.count(" & "))
    for gname in singles + ([full] if full not in singles else []):
        items = list(by_group[gname].items())
        title = f"{what} by {gname}"
        if len(items) > MAX_BARS:
            items = sorted(items, key=lambda kv: -kv[1]["rate"])[:MAX_BARS]
            title += f" (highest {MAX_BARS} of {len(by_group[gname])})"
        charts.append(Chart(
            title=title, x_label="share of rows (95% Wilson interval)", reference=overall,
            reference_label="overall",
            bars=[Bar(lab, g["rate"], g["low"], g["high"], flag=statuses.get((gname, lab), "pass") != "pass")
                  for lab, g in items]))
    return charts


def group_rate_rows(by_group: dict, adjusted: bool = False) -> list[list]:
    """Table rows ``grouping, group, rows, flagged, rate, low, high, rest rate, ratio, q``.

    With ``adjusted``, the expected count, adjusted ratio and adjusted q follow.
    """
    rows = []
    fin = _finite_or_none
    for gname, groups in by_group.items():
        for lab, g in groups.items():
            row = [gname, lab, g["rows"], g["flagged"], g["rate"], g["low"], g["high"], g["rest_rate"],
                   fin(g["ratio"]), g["q_value"]]
            if adjusted:
                row += [g["expected"], fin(g["adjusted_ratio"]), g["adjusted_q"]]
            rows.append(row)
    return rows


def _finite_or_none(x):
    return float(x) if x is not None and np.isfinite(x) else None


GROUP_RATE_COLUMNS = ["grouping", "group", "rows", "flagged", "rate", "low", "high", "rest rate", "ratio",
                      "q-value"]
ADJUSTED_COLUMNS = ["expected flagged", "adjusted ratio", "adjusted q-value"]


def finding_order(f) -> tuple:
    """Worst first; single attributes before intersections; then largest value."""
    depth = (f.subject or "").count(" & ")
    return ({"fail": 0, "warn": 1}.get(f.severity, 2), depth, -(f.value or 0))


__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_MAX_TRAIN_ROWS",
    "MAX_CATEGORIES",
    "EncodedFeatures",
    "FeatureEncoder",
    "OutOfSampleProbs",
    "capped_sample",
    "cross_val_proba",
    "datetime_days",
    "encoded_features",
    "flag_rates_by_group",
    "out_of_sample_probs",
    "stratified_folds",
    "target_codes",
]
