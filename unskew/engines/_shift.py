"""The shift check's exact counts on any engine: reference bins from exact order statistics, then counts.

Quantile bin edges are not mergeable, but order statistics are, by counting:
:func:`order_statistics` finds the values of given ranks in a few passes of
mergeable counts. Each finite value is mapped to a 64-bit key that sorts as
the value does; a pass counts the keys of each open interval in at most
4,096 equal key ranges (one :class:`numpy.ndarray` per interval, added across
pieces), which narrows every wanted rank to one range; once an interval holds
at most ``collect`` values, a last pass returns its distinct keys with their
counts, and the rank is read off exactly. Integer arithmetic on the keys
makes every engine put every value in the same range. With the order
statistics, :func:`unskew.audit._shift.lerp_quantiles` computes the same
edges as ``np.quantile`` on the pandas path.

:func:`shift_counts` then measures both whole tables with the check's own
:func:`~unskew.audit._shift.shift_partial` per piece (record batch or
partition) and merges them with :func:`~unskew.engines.merge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from ._mapreduce import Runner

#: Key ranges per interval and pass.
RANGES = 1 << 12
#: An interval with at most this many values has its distinct keys fetched.
COLLECT = 200_000

_SIGN = np.uint64(1 << 63)


def float_keys(v: np.ndarray) -> np.ndarray:
    """uint64 keys that sort as the finite float64 values do."""
    b = np.ascontiguousarray(v, np.float64).view(np.uint64)
    return np.where(b & _SIGN, ~b, b | _SIGN)


def key_floats(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, np.uint64)
    return np.where(k & _SIGN, k & ~_SIGN, ~k).view(np.float64)


def _finite_keys(frame: pd.DataFrame, col: str, kind: str) -> np.ndarray:
    from ..audit._shift import numeric_values

    v = numeric_values(frame[col], kind)
    return float_keys(v[np.isfinite(v)])


def _count_partial(frame: pd.DataFrame, row_ids, kinds: dict) -> dict:
    out = {}
    for col, kind in kinds.items():
        k = _finite_keys(frame, col, kind)
        if len(k):
            out[col] = (len(k), int(k.min()), int(k.max()))
    return out


def _merge_counts(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for col, (n, lo, hi) in p.items():
            m, a, b = out.get(col, (0, lo, hi))
            out[col] = (m + n, min(a, lo), max(b, hi))
    return out


def _range_partial(frame: pd.DataFrame, row_ids, kinds: dict, requests: list) -> dict:
    """For each request ``(col, lo, hi, shift, collect)``: range counts, or the distinct keys and counts."""
    keys = {col: _finite_keys(frame, col, kinds[col]) for col in {r[0] for r in requests}}
    out = {}
    for i, (col, lo, hi, shift, collect) in enumerate(requests):
        k = keys[col]
        k = k[(k >= np.uint64(lo)) & (k <= np.uint64(hi))]
        if collect:
            u, c = np.unique(k, return_counts=True)
            out[i] = (u, c.astype(np.int64))
        else:
            out[i] = np.bincount(((k - np.uint64(lo)) >> np.uint64(shift)).astype(np.int64),
                                 minlength=((hi - lo) >> shift) + 1)
    return out


def _merge_ranges(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for i, v in p.items():
            if i not in out:
                out[i] = v
            elif isinstance(v, tuple):
                u, inv = np.unique(np.concatenate([out[i][0], v[0]]), return_inverse=True)
                out[i] = (u, np.bincount(inv, weights=np.concatenate([out[i][1], v[1]]), minlength=len(u))
                          .astype(np.int64))
            else:
                out[i] = out[i] + v
    return out


def order_statistics(r: Runner, wanted: dict[str, tuple[str, Sequence[int]]], *, collect: int = COLLECT,
                     counts: dict | None = None) -> tuple[dict, dict]:
    """Exact values of the given 0-based ranks of each column's sorted finite values.

    Parameters
    ----------
    r : Runner
    wanted : dict
        ``{column: (kind, ranks)}``, kind ``numeric`` or ``datetime`` (days).
    counts : dict, optional
        ``{column: (n_finite, min key, max key)}`` from an earlier pass.

    Returns
    -------
    values : dict
        ``{column: {rank: value}}``.
    info : dict
        ``n_finite`` per column and the number of passes.
    """
    kinds = {c: k for c, (k, _) in wanted.items()}
    passes = 0
    if counts is None:
        counts = r.map_reduce(partial(_count_partial, kinds=kinds), list(kinds), _merge_counts) or {}
        passes += 1
    values: dict = {c: {} for c in wanted}
    # open intervals: [col, lo, hi, offset (values below lo), n (values in it), ranks]
    todo = []
    for col, (_, ranks) in wanted.items():
        if col in counts and len(ranks):
            n, lo, hi = counts[col]
            todo.append([col, int(lo), int(hi), 0, int(n), sorted({int(x) for x in ranks})])
    while todo:
        done = [t for t in todo if t[1] == t[2]]  # one key: every rank in it has its value
        for col, lo, _, _, _, ranks in done:
            v = float(key_floats(np.array([lo], np.uint64))[0])
            values[col].update({x: v for x in ranks})
        todo = [t for t in todo if t[1] != t[2]]
        if not todo:
            break
        requests = []
        for col, lo, hi, _, n, _ in todo:
            shift = max(0, (hi - lo).bit_length() - 12)
            requests.append((col, lo, hi, shift, n <= collect))
        res = r.map_reduce(partial(_range_partial, kinds=kinds, requests=requests),
                           list({q[0] for q in requests}), _merge_ranges) or {}
        passes += 1
        nxt = []
        for i, (col, lo, hi, offset, _n, ranks) in enumerate(todo):
            got = res.get(i)
            _, _, _, shift, collected = requests[i]
            if collected:
                u, c = got
                cum = np.cumsum(c)
                for x in ranks:
                    j = int(np.searchsorted(cum, x - offset, side="right"))
                    values[col][x] = float(key_floats(u[j:j + 1])[0])
                continue
            cum = np.cumsum(got)
            by_bin: dict = {}
            for x in ranks:
                by_bin.setdefault(int(np.searchsorted(cum, x - offset, side="right")), []).append(x)
            for b, xs in by_bin.items():
                blo = lo + (b << shift)
                bhi = min(hi, blo + (1 << shift) - 1)
                below = int(cum[b - 1]) if b else 0
                nxt.append([col, blo, bhi, offset + below, int(got[b]), xs])
        todo = nxt
    return values, {"n_finite": {c: int(counts[c][0]) if c in counts else 0 for c in wanted}, "passes": passes}


def _values_partial(frame: pd.DataFrame, row_ids, columns: list[str]):
    from ._partials import CountTable

    out = {}
    for c in columns:
        s = frame[c]
        out[c] = CountTable.from_frame(pd.DataFrame({"v": s[s.notna()].to_numpy()}), by=["v"])
    return out


def _merge_values(parts: list[dict]) -> dict:
    from ._partials import merge

    return {c: merge([p[c] for p in parts if c in p]) for c in {c for p in parts for c in p}}


def _together(frame: pd.DataFrame, row_ids, fns: tuple) -> tuple:
    """Several partial functions in one pass over a piece."""
    return tuple(fn(frame, row_ids) for fn in fns)


def _reduce_together(parts: list[tuple], reduces: tuple) -> tuple:
    return tuple(red([p[i] for p in parts]) for i, red in enumerate(reduces))


def map_together(r: Runner, pairs: list[tuple], columns: list[str]) -> list:
    """``(fn, reduce)`` pairs run in one pass of ``r`` over ``columns``; their results in order."""
    out = r.map_reduce(partial(_together, fns=tuple(f for f, _ in pairs)), list(dict.fromkeys(columns)),
                       partial(_reduce_together, reduces=tuple(red for _, red in pairs)))
    return list(out) if out is not None else [None] * len(pairs)


def shift_counts(reference: Runner, comparison: Runner, *, sensitive: Sequence[str], target: str | None,
                 features: Sequence[tuple[str, str]], n_bins: int = 10):
    """The shift check's :class:`~unskew.audit._shift.ShiftCounts` of two whole tables on an engine.

    ``features`` are ``(column, kind)`` pairs (from the sample's types,
    :func:`unskew.audit._shift.shift_kinds`). Passes over the reference:
    finite counts and key bounds, the order-statistics passes (usually one
    for tables up to :data:`COLLECT` values, a few more beyond), the category
    counts, then the histograms; over the comparison: the same for its
    medians, then its histograms.

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import runner, shift_counts
    >>> ref = pd.DataFrame({"g": ["a", "b"] * 50, "x": range(100)})
    >>> cmp = ref.assign(x=ref.x + 10)
    >>> sc = shift_counts(runner("pandas", ref), runner("pandas", cmp), sensitive=["g"], target=None,
    ...                   features=[("x", "numeric")])
    >>> [round(e, 6) for e in sc.plan.edges["x"][:3]], sc.comparison_median["x"]
    ([9.9, 19.8, 29.7], 59.5)
    """
    from ..audit._shift import (
        ShiftCounts,
        make_plan,
        merge_shift,
        quantile_probs,
        quantile_ranks,
        shift_partial,
    )

    features = list(features)
    num = {c: k for c, k in features if k in ("numeric", "datetime")}
    cat = [c for c, k in features if k not in ("numeric", "datetime")]
    probs = quantile_probs(n_bins)
    n_finite, order_stat, value_counts = {}, {}, {}
    info: dict = {}
    med_r: dict = {}
    # reference, pass 1: finite counts and key bounds of the numeric features, value counts of the others
    first = []
    if num:
        first.append((partial(_count_partial, kinds=num), _merge_counts))
    if cat:
        first.append((partial(_values_partial, columns=cat), _merge_values))
    got = map_together(reference, first, [*num, *cat]) if first else []
    counts = (got.pop(0) or {}) if num else {}
    vc = (got.pop(0) or {}) if cat else {}
    if num:  # reference, passes 2..: the order statistics of the quantile edges and the median
        wanted = {}
        for c, k in num.items():
            n = counts.get(c, (0,))[0]
            wanted[c] = (k, np.r_[quantile_ranks(n, probs), quantile_ranks(n, np.array([0.5]))] if n else [])
        vals, oinfo = order_statistics(reference, wanted, counts=counts)
        info["reference_passes"] = 1 + oinfo["passes"]
        for c in num:
            n_finite[c] = oinfo["n_finite"][c]
            order_stat[c] = _lookup(vals[c])
        med_r = {c: _median(n_finite[c], order_stat[c]) for c in num}
    for c in cat:
        t = vc.get(c)
        value_counts[c] = [] if t is None else [(k[0], int(n)) for k, n in zip(t.keys, t.values[:, 0], strict=True)]
    plan = make_plan(sensitive, target, features, n_bins, n_finite, order_stat, value_counts)
    cols = list(dict.fromkeys([*sensitive, *(c for c, _ in features)]))
    # reference, last pass: the histograms
    ref = reference.map_reduce(partial(shift_partial, plan=plan), cols + ([target] if target else []), merge_shift)
    # comparison, pass 1: the histograms (and the numeric features' counts); then its medians' order statistics
    have_t = bool(target and target in comparison.schema())
    pairs = [(partial(shift_partial, plan=plan), merge_shift)]
    if num:
        pairs.append((partial(_count_partial, kinds=num), _merge_counts))
    got = map_together(comparison, pairs, cols + ([target] if have_t else []))
    cmp = got[0]
    med_c: dict = {}
    if num:
        counts = got[1] or {}
        wanted = {c: (k, quantile_ranks(counts[c][0], np.array([0.5])) if c in counts else [])
                  for c, k in num.items()}
        vals, oinfo = order_statistics(comparison, wanted, counts=counts)
        info["comparison_passes"] = 1 + oinfo["passes"]
        med_c = {c: _median(oinfo["n_finite"][c], _lookup(vals[c])) for c in num}
    sc = ShiftCounts(plan, ref, cmp, med_r, med_c, computed_by=reference.name)
    return sc


def _lookup(values: dict):
    return lambda ranks: np.array([values[int(x)] for x in ranks])


def _median(n: int, order_stat):
    from ..audit._shift import lerp_quantiles

    return float(lerp_quantiles(n, np.array([0.5]), order_stat)[0]) if n else None
