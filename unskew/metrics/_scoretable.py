"""Score tables: per-(group, score) sums of positive and negative weight.

The kernels behind :class:`~unskew.metrics.GroupStats`'s score table (exact
distinct-score entries or a fixed histogram) and its re-aggregation after
merging, pooling or coarsening, shared by :mod:`._groupstats` and
:mod:`._frame`.
"""

from __future__ import annotations

import numpy as np


def bin_index(s: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    b = np.floor((s - lo) * (bins / (hi - lo)))
    return np.clip(b, 0, bins - 1)


def ece_bin_index(s: np.ndarray, bins: int) -> np.ndarray:
    """Calibration bin of each score: equal-width bins over [0, 1], edge values go to the
    lower bin (as in :func:`sklearn.calibration.calibration_curve`)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    if bins == 1:
        return np.zeros(len(s), np.int64)
    # arithmetic guess, then corrected against the edges: same as searchsorted(edges[1:-1], s)
    b = np.clip(np.ceil(np.clip(s, 0.0, 1.0) * bins).astype(np.int64) - 1, 0, bins - 1)
    b -= (b > 0) & (s <= edges[b])
    b += (b < bins - 1) & (s > edges[b + 1])
    return b


def table_hist(g, value, ypos, w, G, bins):
    key = g * bins + value.astype(np.int64)
    size = G * bins
    cnt = np.bincount(key, minlength=size)
    if w is None:
        pos = np.bincount(key, weights=ypos.astype(np.float64), minlength=size)
        neg = cnt - pos
        pos2, neg2 = pos, neg
    else:
        wp = w * ypos
        wn = w - wp
        pos = np.bincount(key, weights=wp, minlength=size)
        neg = np.bincount(key, weights=wn, minlength=size)
        pos2 = np.bincount(key, weights=wp * w, minlength=size)
        neg2 = np.bincount(key, weights=wn * w, minlength=size)
    nz = np.flatnonzero(cnt)
    return (nz // bins).astype(np.int64), (nz % bins).astype(np.float64), pos[nz], neg[nz], pos2[nz], neg2[nz]


def reduce_table(g, s, ypos, w):
    """Aggregate rows into (group, distinct score) entries, sorted."""
    o1 = np.argsort(s)
    gdt = np.int16 if g.max(initial=0) < 2**15 else np.int64
    o2 = np.argsort(g[o1].astype(gdt), kind="stable")
    order = o1[o2]
    gs, ss = g[order], s[order]
    yo = ypos[order]
    if w is None:
        wp = yo.astype(np.float64)
        wn = 1.0 - wp
        wp2, wn2 = wp, wn
    else:
        wo = w[order]
        wp = wo * yo
        wn = wo - wp
        wp2, wn2 = wp * wo, wn * wo
    return reduce_sorted(gs, ss, wp, wn, wp2, wn2)


def reduce_sorted(gs, ss, wp, wn, wp2, wn2):
    if len(gs) == 0:
        return gs, ss, wp, wn, wp2, wn2
    new = np.empty(len(gs), bool)
    new[0] = True
    np.not_equal(gs[1:], gs[:-1], out=new[1:])
    new[1:] |= ss[1:] != ss[:-1]
    starts = np.flatnonzero(new)
    if len(starts) == len(gs):
        return gs, ss, wp, wn, wp2, wn2
    pos = np.add.reduceat(wp, starts)
    neg = np.add.reduceat(wn, starts)
    pos2 = pos if wp2 is wp else np.add.reduceat(wp2, starts)
    neg2 = neg if wn2 is wn else np.add.reduceat(wn2, starts)
    return gs[starts], ss[starts], pos, neg, pos2, neg2


def reduce_entries(group, value, pos, neg, pos2, neg2, bins: int | None = None):
    """Re-aggregate an unsorted table of entries (after concatenation or pooling).

    Histogram tables (``bins`` given, ``value`` = bin index) are summed with
    ``bincount`` over ``group * bins + value``: linear time, already sorted.
    """
    if bins is not None and group.size:
        G = int(group.max()) + 1
        if G * bins <= 1 << 26:
            key = group * bins + value.astype(np.int64)
            size = G * bins
            present = np.flatnonzero(np.bincount(key, minlength=size))
            sums = [np.bincount(key, weights=a, minlength=size)[present] for a in (pos, neg, pos2, neg2)]
            return (present // bins).astype(np.int64), (present % bins).astype(np.float64), *sums
    # Entries usually arrive as sorted runs (one per chunk and group): a stable sort of the
    # values merges the runs in ~linear time, then a stable (radix) sort of the groups.
    order = np.argsort(value, kind="stable")
    g = group[order]
    if group.size and int(group.max()) < 2**15:
        g = g.astype(np.int16)
    order = order[np.argsort(g, kind="stable")]
    return reduce_sorted(group[order], value[order], pos[order], neg[order], pos2[order], neg2[order])
