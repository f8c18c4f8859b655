"""Helpers for the robust-training tests: tiny spurious-correlation problems."""

from __future__ import annotations

import numpy as np


def spurious(n, p_agree, seed, core_noise=1.0, spur_noise=0.3):
    """Binary label ``y``, attribute ``a`` agreeing with ``y`` with probability ``p_agree``.

    Feature 0 is a noisy copy of the label (the core feature); feature 1 a
    cleaner copy of the attribute (the shortcut); two noise features. Groups
    are ``2 * y + a``; groups 1 and 2 (label and attribute disagree) are the
    minority when ``p_agree`` is high.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < p_agree, y, 1 - y)
    X = np.column_stack([
        (2 * y - 1) + rng.normal(scale=core_noise, size=n),
        2 * (2 * a - 1) + rng.normal(scale=spur_noise, size=n),
        rng.normal(size=(n, 2)),
    ]).astype(np.float32)
    return X, y, 2 * y + a, a


def worst_group_accuracy(pred, y, g):
    return min(float(np.mean(pred[g == k] == y[g == k])) for k in np.unique(g))
