"""Per-row errors, one-sided slice-versus-rest tests, effect sizes and corrections.

All functions work on per-slice sufficient statistics (size, sum of errors, sum
of squared errors) so that thousands of slices are tested in one vectorised
call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import UnskewInputError

ERROR_METRICS = ("auto", "zero_one", "log_loss", "brier", "squared", "absolute")
CORRECTIONS = ("bonferroni", "bh")

_EPS = 1e-15


def row_errors(y=None, y_pred=None, y_score=None, errors=None, metric: str = "auto",
               positive_label=None, classes=None) -> tuple[np.ndarray, str]:
    """Per-row error (or loss) of a model, and the name of the metric used.

    Parameters
    ----------
    y : array-like, optional
        True labels (or numeric targets).
    y_pred : array-like, optional
        Predicted labels (or numeric predictions for a regression target).
    y_score : array-like, optional
        Probability of the positive class (1-D, binary target) or class
        probabilities (2-D, columns in the order of ``numpy.unique(y)``).
    errors : array-like, optional
        Per-row errors computed elsewhere (non-negative); used as is.
    metric : {"auto", "zero_one", "log_loss", "brier", "squared", "absolute"}
        ``auto`` is ``zero_one`` when predicted labels are given for a
        classification target (non-numeric, or at most 20 distinct values),
        ``squared`` for a numeric target with more values, and ``log_loss``
        when only scores are given.
    positive_label : optional
        The positive class for a 1-D ``y_score``; by default ``1``/``True`` if
        present, else the larger of the two sorted labels.
    classes : array-like, optional
        Class of each column of a 2-D ``y_score`` (a model's ``classes_``);
        by default ``numpy.unique(y)``.
    """
    if metric not in ERROR_METRICS:
        raise UnskewInputError(f"error metric must be one of {', '.join(ERROR_METRICS)}; got {metric!r}.")
    if errors is not None:
        e = _as_1d(errors, "errors").astype(float)
        if not np.isfinite(e).all():
            raise UnskewInputError("errors contains missing or infinite values.")
        if (e < 0).any():
            raise UnskewInputError("errors must be non-negative (an error or a loss per row).")
        return e, "given"
    if y is None:
        raise UnskewInputError("Pass errors=, or the true labels y with y_pred= or y_score=.")
    y = _as_1d(y, "y")
    if pd.isna(pd.Series(y)).any():
        raise UnskewInputError("y contains missing values.")
    if y_pred is None and y_score is None:
        raise UnskewInputError("Pass the model's predictions (y_pred=) or scores (y_score=) with y.")
    n = len(y)
    if metric == "auto":
        if y_pred is not None:
            metric = "squared" if _is_regression(y) else "zero_one"
        else:
            metric = "log_loss"
    if metric in ("zero_one", "squared", "absolute"):
        if y_pred is None:
            raise UnskewInputError(f"The {metric} error needs predicted labels (y_pred=).")
        p = _as_1d(y_pred, "y_pred")
        if len(p) != n:
            raise UnskewInputError(f"y_pred has {len(p)} rows but y has {n}.")
        if metric == "zero_one":
            return (_values_differ(y, p)).astype(float), metric
        try:
            yf, pf = y.astype(float), p.astype(float)
        except (TypeError, ValueError) as exc:
            raise UnskewInputError(f"The {metric} error needs numeric y and y_pred: {exc}") from exc
        if not (np.isfinite(yf).all() and np.isfinite(pf).all()):
            raise UnskewInputError("y or y_pred contains missing or infinite values.")
        d = yf - pf
        return (d * d if metric == "squared" else np.abs(d)), metric
    # probability-based losses
    if y_score is None:
        raise UnskewInputError(f"The {metric} loss needs scores (y_score=).")
    s = np.asarray(y_score, dtype=float)
    if s.shape[0] != n:
        raise UnskewInputError(f"y_score has {s.shape[0]} rows but y has {n}.")
    if not np.isfinite(s).all():
        raise UnskewInputError("y_score contains missing or infinite values.")
    if (s < 0).any() or (s > 1).any():
        raise UnskewInputError("y_score must hold probabilities between 0 and 1.")
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if s.ndim == 1:
        if len(classes) > 2:
            raise UnskewInputError(
                f"A 1-D y_score is the probability of the positive class, but y has {len(classes)} "
                "classes; pass a 2-D array of class probabilities.")
        pos = positive_label if positive_label is not None else _positive(classes)
        t = (y == pos).astype(float)
        q = np.clip(s, _EPS, 1 - _EPS)
        if metric == "log_loss":
            return -(t * np.log(q) + (1 - t) * np.log(1 - q)), metric
        return (s - t) ** 2, metric
    if s.ndim != 2 or s.shape[1] != len(classes):
        raise UnskewInputError(f"A 2-D y_score needs one column per class ({len(classes)}); "
                               f"got shape {s.shape}.")
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    unknown = [v for v in np.unique(y).tolist() if v not in lookup]
    if unknown:
        raise UnskewInputError(f"y has labels {unknown[:5]} that are not among the score columns' classes.")
    idx = np.array([lookup[v] for v in y.tolist()], dtype=np.int64)
    if metric == "log_loss":
        return -np.log(np.clip(s[np.arange(n), idx], _EPS, 1.0)), metric
    onehot = np.zeros_like(s)
    onehot[np.arange(n), idx] = 1.0
    return ((s - onehot) ** 2).sum(axis=1), metric


def _as_1d(a, what):
    if isinstance(a, (pd.Series, pd.Index)):
        a = a.to_numpy()
    elif hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):
        a = a.to_numpy()
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise UnskewInputError(f"{what} must be one-dimensional; got shape {a.shape}.")
    return a


def _values_differ(y, p) -> np.ndarray:
    if y.dtype.kind in "biuf" and p.dtype.kind in "biuf":
        return y != p
    return pd.Series(y).astype(str).to_numpy() != pd.Series(p).astype(str).to_numpy()


def _is_regression(y) -> bool:
    return y.dtype.kind in "fiu" and len(np.unique(y)) > 20


def _positive(classes):
    vals = list(classes)
    for cand in (1, True, "1", "yes", "Yes", "true", "True", ">50K"):
        if cand in vals:
            return cand
    return vals[-1]


def is_binary_errors(e: np.ndarray) -> bool:
    return bool(np.all((e == 0) | (e == 1)))


# --------------------------------------------------------------------------- tests
def slice_tests(size, err_sum, err_sq, n: int, total: float, total_sq: float, binary: bool,
                exact: bool = True):
    """One-sided test that each slice's mean error exceeds the rest's, and effect sizes.

    For 0/1 errors the p-value is Fisher's exact test (the hypergeometric
    tail: the chance that a random subset of ``size`` rows holds at least as
    many errors), which is exact under the null that errors do not depend on
    slice membership. With ``exact=False`` it is the hypergeometric's normal
    approximation with continuity correction (the pooled two-proportion
    z-test), which is fast for many thousands of slices. For other errors it
    is Welch's t-test of slice against the rest of the rows.

    The effect size is SliceFinder's: ``(mean_slice - mean_rest) /
    sqrt((var_slice + var_rest) / 2)``.

    Returns
    -------
    p_value, effect_size : numpy.ndarray
    """
    size = np.asarray(size, dtype=float)
    err_sum = np.asarray(err_sum, dtype=float)
    err_sq = np.asarray(err_sq, dtype=float)
    rest = n - size
    with np.errstate(divide="ignore", invalid="ignore"):
        m_s = err_sum / size
        m_r = (total - err_sum) / rest
        v_s = np.maximum(err_sq / size - m_s**2, 0.0)
        v_r = np.maximum((total_sq - err_sq) / rest - m_r**2, 0.0)
        # sample variances
        v_s_u = v_s * size / np.maximum(size - 1, 1)
        v_r_u = v_r * rest / np.maximum(rest - 1, 1)
        pooled = np.sqrt((v_s_u + v_r_u) / 2)
        diff = m_s - m_r
        effect = np.where(pooled > 0, diff / pooled, np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))
        if binary and exact:
            k = np.rint(err_sum)
            p = stats.hypergeom.sf(k - 1, n, int(round(total)), size)
        elif binary:
            k = np.rint(err_sum)
            rate = total / n
            var = size * rate * (1 - rate) * rest / max(n - 1, 1)
            z = (k - 0.5 - size * rate) / np.sqrt(var)
            p = np.where(var > 0, stats.norm.sf(z), np.where(k > size * rate, 0.0, 1.0))
        else:
            se2 = v_s_u / size + v_r_u / rest
            t = diff / np.sqrt(se2)
            df = se2**2 / ((v_s_u / size) ** 2 / np.maximum(size - 1, 1)
                           + (v_r_u / rest) ** 2 / np.maximum(rest - 1, 1))
            p = stats.t.sf(t, df)
            p = np.where(se2 > 0, p, np.where(diff > 0, 0.0, 1.0))
    p = np.where((size <= 0) | (rest <= 0), 1.0, p)
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    effect = np.where((size <= 0) | (rest <= 0), 0.0, effect)
    return p, effect


def adjust_pvalues(p_all: np.ndarray, family_size: int, correction: str) -> np.ndarray:
    """Adjusted p-values of ``p_all`` within a family of ``family_size`` hypotheses.

    ``bonferroni`` controls the family-wise error rate (``min(1, p * m)``);
    ``bh`` is Benjamini-Hochberg's step-up procedure, which controls the false
    discovery rate (valid under independence or positive dependence, which
    overlapping slices usually show). Hypotheses counted in ``family_size`` but
    absent from ``p_all`` are treated as having ``p = 1``.
    """
    p_all = np.asarray(p_all, dtype=float)
    m = max(int(family_size), len(p_all), 1)
    if correction == "bonferroni":
        return np.minimum(1.0, p_all * m)
    if correction != "bh":
        raise UnskewInputError(f"correction must be one of {', '.join(CORRECTIONS)}; got {correction!r}.")
    order = np.argsort(p_all, kind="stable")
    ranked = p_all[order] * m / np.arange(1, len(p_all) + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(ranked)
    out[order] = np.minimum(ranked, 1.0)
    return out
