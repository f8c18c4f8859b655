"""Small statistical helpers shared across modules."""

from __future__ import annotations

import numpy as np
from scipy import stats


def wilson_interval(successes, n, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion.

    Works elementwise on arrays; where ``n == 0`` both bounds are NaN.
    Weighted counts are accepted (use the effective sample size as ``n``).
    """
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return low, high


def effective_n(weights) -> float:
    """Kish effective sample size of a weight vector."""
    w = np.asarray(weights, dtype=float)
    s2 = float((w**2).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else 0.0


def two_proportion_test(x1, n1, x2, n2):
    """Two-sided pooled z-test that two binomial proportions are equal.

    Elementwise on arrays (effective counts are accepted). Returns ``(z, p)``;
    where either ``n`` is 0 or the pooled proportion is 0 or 1, ``z`` is 0 and
    ``p`` is 1 (nothing to test).
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
    ok = (n1 > 0) & (n2 > 0) & (se > 0) & np.isfinite(z)
    z = np.where(ok, z, 0.0)
    p = np.where(ok, 2 * stats.norm.sf(np.abs(z)), 1.0)
    return z, p


def benjamini_hochberg(pvalues):
    """Benjamini-Hochberg adjusted p-values (q-values) controlling the false discovery rate.

    NaN p-values are left out of the correction and stay NaN.
    """
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q
