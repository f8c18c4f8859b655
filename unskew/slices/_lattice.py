"""SliceLine-style lattice enumeration of slices with score and size pruning.

A slice is a conjunction of conditions on distinct features, each condition a
level of the :class:`~unskew.slices._encode.SliceEncoder` (a value or a bin).
Items (feature-level pairs) get global ids ``offset[feature] + level``; a slice
of level ``L`` is a sorted row of ``L`` item ids.

Scoring follows SliceLine (Sagadeeva & Boehm, SIGMOD 2021)::

    sc(S) = alpha * (mean_error(S) / mean_error - 1) - (1 - alpha) * (n / |S| - 1)

A slice with ``sc > 0`` is worse than average by more than its smallness
costs. Candidates of level ``L + 1`` are joined from pairs of level-``L``
slices that share ``L - 1`` items (all ``L + 1`` parents must have survived),
and are pruned without being evaluated when

- the smallest parent has fewer than ``min_support`` rows (size bound),
- some parent has no error at all (error bound), or
- the score's upper bound, computed from the parents' smallest size, error sum
  and largest single error, cannot beat the current ``pool_size``-th best score
  (or 0). Because the bound is valid, pruning never drops a slice that would
  have entered the top ``pool_size``.

Slice statistics are computed per *combination of features*: the combination's
codes are folded into one integer per row and ``numpy.bincount`` returns the
size and error sum of every level combination in one pass over the rows, so a
level costs ``O(rows)`` per feature combination that still has candidates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LatticeResult:
    """Output of :func:`search_lattice`.

    ``pool_*`` arrays hold the best slices by score (at most ``pool_size``),
    best first. ``tested_*`` hold size, error sum and sum of squared errors of
    every slice that was evaluated and had at least ``min_support`` rows: the
    family of hypotheses for the multiple-testing correction.
    """

    pool_items: list[tuple[int, ...]]
    pool_size: np.ndarray
    pool_err: np.ndarray
    pool_sq: np.ndarray
    pool_score: np.ndarray
    tested_size: np.ndarray
    tested_err: np.ndarray
    tested_sq: np.ndarray
    levels: list[dict] = field(default_factory=list)


def score(size, err, n: int, mean_err: float, alpha: float):
    """SliceLine score of slices with ``size`` rows and error sum ``err``."""
    size = np.asarray(size, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((err / size) / mean_err - 1.0) - (1.0 - alpha) * (n / size - 1.0)
    return np.where(size > 0, sc, -np.inf)


def score_upper_bound(ss_ub, se_ub, sm_ub, n: int, mean_err: float, alpha: float, min_support: int):
    """Largest score any sub-slice can reach given bounds on its size, error sum and max error.

    A sub-slice has size ``s`` in ``[min_support, ss_ub]`` and error sum at
    most ``min(se_ub, s * sm_ub)``. The score is monotone in ``s`` on each
    side of ``se_ub / sm_ub``, so the maximum is at ``min_support``,
    ``se_ub / sm_ub`` (clipped) or ``ss_ub``.
    """
    ss_ub = np.asarray(ss_ub, dtype=float)
    se_ub = np.asarray(se_ub, dtype=float)
    sm_ub = np.asarray(sm_ub, dtype=float)
    lo = np.minimum(float(min_support), ss_ub)
    with np.errstate(divide="ignore", invalid="ignore"):
        knee = np.where(sm_ub > 0, se_ub / sm_ub, ss_ub)
    knee = np.clip(knee, lo, ss_ub)
    best = np.full(ss_ub.shape, -np.inf)
    for s in (lo, knee, ss_ub):
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = alpha * (np.minimum(se_ub, s * sm_ub) / s / mean_err - 1.0) - (1.0 - alpha) * (n / s - 1.0)
        best = np.maximum(best, np.where(s > 0, sc, -np.inf))
    return np.where((ss_ub >= min_support) & (se_ub > 0), best, -np.inf)


class _Keys:
    """Exact lookup of slices (sorted item rows) among a set of parents."""

    def __init__(self, items: np.ndarray, n_items: int):
        self.L = items.shape[1]
        self.base = int(n_items) + 1
        self.use_int = self.L * np.log2(self.base) < 62
        if self.use_int:
            keys = self.encode(items)
            self.order = np.argsort(keys, kind="stable")
            self.sorted = keys[self.order]
        else:  # pragma: no cover - only for enormous item sets at deep levels
            self.map = {tuple(r): i for i, r in enumerate(items.tolist())}

    def encode(self, items: np.ndarray) -> np.ndarray:
        k = np.zeros(len(items), dtype=np.int64)
        for j in range(items.shape[1]):
            k = k * self.base + items[:, j].astype(np.int64)
        return k

    def find(self, items: np.ndarray) -> np.ndarray:
        """Parent index of each row, or -1."""
        if self.use_int:
            k = self.encode(items)
            pos = np.searchsorted(self.sorted, k)
            pos_c = np.minimum(pos, len(self.sorted) - 1)
            hit = self.sorted[pos_c] == k
            return np.where(hit, self.order[pos_c], -1)
        return np.array([self.map.get(tuple(r), -1) for r in items.tolist()], dtype=np.int64)  # pragma: no cover


def _join(parents: np.ndarray, feat_of_item: np.ndarray) -> np.ndarray:
    """Candidate slices of level L+1 from parents of level L (Apriori prefix join)."""
    k, L = parents.shape
    if k < 2:
        return np.empty((0, L + 1), dtype=np.int64)
    if L == 1:
        i, j = np.triu_indices(k, 1)
        a, b = parents[i, 0], parents[j, 0]
        ok = feat_of_item[a] != feat_of_item[b]
        lo, hi = np.minimum(a, b)[ok], np.maximum(a, b)[ok]
        return np.column_stack([lo, hi])
    order = np.lexsort(parents.T[::-1])
    p = parents[order]
    prefix_change = np.any(p[1:, : L - 1] != p[:-1, : L - 1], axis=1)
    group_start = np.concatenate([[0], np.flatnonzero(prefix_change) + 1])
    group_end = np.concatenate([group_start[1:], [k]])
    sizes = group_end - group_start
    end_of = np.repeat(group_end, sizes)
    counts = end_of - np.arange(k) - 1
    total = int(counts.sum())
    if total == 0:
        return np.empty((0, L + 1), dtype=np.int64)
    left = np.repeat(np.arange(k), counts)
    starts = np.cumsum(counts) - counts
    right = left + 1 + (np.arange(total) - np.repeat(starts, counts))
    a, b = p[left, L - 1], p[right, L - 1]
    ok = feat_of_item[a] != feat_of_item[b]
    return np.column_stack([p[left[ok], : L - 1], a[ok], b[ok]])


def search_lattice(codes: np.ndarray, cards: np.ndarray, errors: np.ndarray, *, max_level: int,
                   min_support: int, alpha: float, pool_size: int, binary: bool,
                   max_candidates: int = 5_000_000, dense_bytes: int = 256 * 2**20,
                   on_progress=None) -> LatticeResult:
    """Enumerate slices level by level and keep the ``pool_size`` best by SliceLine score.

    Parameters
    ----------
    codes : ndarray of shape (n_features, n_rows)
        Level code of each row on each feature (every code valid).
    cards : ndarray of shape (n_features,)
        Number of levels per feature.
    errors : ndarray of shape (n_rows,)
        Non-negative per-row errors.
    max_level : int
        Most conditions per slice.
    min_support : int
        Fewest rows a slice may have.
    alpha : float
        SliceLine's weight of the error term against the size term, in (0, 1].
    pool_size : int
        How many of the best slices to keep (and to prune against).
    binary : bool
        Whether the errors are all 0 or 1 (enables faster counting).
    max_candidates : int
        Safety cap on the candidates of one level; beyond it only those with
        the highest score bound are evaluated and the level is flagged
        ``"truncated"``.
    dense_bytes : int
        Memory allowed for a dense one-hot copy of the table; when it fits and
        a cost model predicts it to be faster, a level is evaluated with
        matrix products (parent-slice membership x one-hot) instead of one
        ``bincount`` pass per feature combination. ``0`` disables it.
    on_progress : callable, optional
        ``(label, done, total)`` callback.
    """
    d, n = codes.shape
    cards = np.asarray(cards, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(np.int64)
    m = int(cards.sum())
    feat_of_item = np.repeat(np.arange(d), cards)
    val_of_item = np.arange(m) - offsets[feat_of_item]
    e = np.asarray(errors, dtype=float)
    total = float(e.sum())
    mean_err = total / n
    err_rows = np.flatnonzero(e > 0)
    codes_err = codes[:, err_rows] if binary else None
    e_sq = None if binary else e * e

    # Dense one-hot matrix products pay off for moderate tables with many feature combinations.
    # Only for 0/1 errors: float32 sums of 0/1 values are exact, so results match the counting path.
    dense_ok = binary and n * m * 8 <= dense_bytes
    dense = None
    pool = _Pool(pool_size)
    tested: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    levels: list[dict] = []

    # ---------------------------------------------------------------- level 1
    t0 = time.perf_counter()
    ss = np.zeros(m)
    se = np.zeros(m)
    sq = np.zeros(m)
    sm = np.zeros(m)
    for f in range(d):
        sl = slice(offsets[f], offsets[f] + cards[f])
        ss[sl] = np.bincount(codes[f], minlength=cards[f])
        if binary:
            se[sl] = np.bincount(codes_err[f], minlength=cards[f])
        else:
            se[sl] = np.bincount(codes[f], weights=e, minlength=cards[f])
            sq[sl] = np.bincount(codes[f], weights=e_sq, minlength=cards[f])
            np.maximum.at(sm[sl], codes[f], e)
    if binary:
        sq = se.copy()
        sm = (se > 0).astype(float)
    items = np.arange(m, dtype=np.int64)[:, None]
    _record(items, ss, se, sq, min_support, n, mean_err, alpha, pool, tested)
    levels.append({"level": 1, "candidates": m, "evaluated": m, "tested": int((ss >= min_support).sum()),
                   "feature_combinations": d, "seconds": time.perf_counter() - t0, "truncated": False,
                   "method": "counts"})
    if on_progress:
        on_progress("level 1", 1, max_level)

    for level in range(2, max_level + 1):
        t0 = time.perf_counter()
        thr = pool.threshold()
        ub = score_upper_bound(ss, se, sm, n, mean_err, alpha, min_support)
        keep = (ss >= min_support) & (se > 0) & (ub > thr)
        parents, p_ss, p_se, p_sm = items[keep], ss[keep], se[keep], sm[keep]
        cand = _join(parents, feat_of_item)
        n_joined = len(cand)
        if n_joined == 0:
            break
        # every parent (drop one item) must be present; bounds are the parents' minima
        keys = _Keys(parents, m)
        c_ss = np.full(n_joined, np.inf)
        c_se = np.full(n_joined, np.inf)
        c_sm = np.full(n_joined, np.inf)
        valid = np.ones(n_joined, dtype=bool)
        cols = np.arange(level)
        for drop in range(level):
            idx = keys.find(cand[:, cols != drop])
            valid &= idx >= 0
            idx = np.maximum(idx, 0)
            c_ss = np.minimum(c_ss, p_ss[idx])
            c_se = np.minimum(c_se, p_se[idx])
            c_sm = np.minimum(c_sm, p_sm[idx])
        c_ub = score_upper_bound(c_ss, c_se, c_sm, n, mean_err, alpha, min_support)
        valid &= c_ub > thr
        cand, c_ub, c_sm = cand[valid], c_ub[valid], c_sm[valid]
        truncated = False
        if len(cand) > max_candidates:
            top = np.sort(np.argpartition(-c_ub, max_candidates)[:max_candidates])
            cand, c_sm, truncated = cand[top], c_sm[top], True
        if len(cand) == 0:
            levels.append({"level": level, "candidates": n_joined, "evaluated": 0, "tested": 0,
                           "feature_combinations": 0, "seconds": time.perf_counter() - t0,
                           "truncated": truncated})
            break
        label = f"level {level}"
        feats = feat_of_item[cand]
        combos, combo_inv = np.unique(feats, axis=0, return_inverse=True)
        prefixes, prefix_inv = np.unique(_Keys(cand[:, :-1], m).encode(cand[:, :-1]), return_inverse=True)
        k_prod = 2
        cost_counts = len(combos) * n * _NS_PER_ROW_COMBO
        cost_dense = len(prefixes) * n * (2 * m * k_prod / _FLOPS + (level + k_prod) * 1e-9)
        if dense_ok and 2 * cost_dense < cost_counts:
            if dense is None:
                dense = _Dense(codes, offsets, m, e)
            ss, se, sq = dense.evaluate(cand, prefix_inv.ravel(), len(prefixes), on_progress, label)
            sm = (se > 0).astype(float)
            path = "dense"
        else:
            ss, se, sq, sm = _evaluate(cand, combos, combo_inv.ravel(), codes, codes_err, cards, val_of_item,
                                       e, e_sq, binary, need_max=level < max_level, on_progress=on_progress,
                                       label=label)
            path = "counts"
        n_combos = len(combos)
        items = cand
        _record(items, ss, se, sq, min_support, n, mean_err, alpha, pool, tested)
        levels.append({"level": level, "candidates": n_joined, "evaluated": len(cand),
                       "tested": int((ss >= min_support).sum()), "feature_combinations": n_combos,
                       "seconds": time.perf_counter() - t0, "truncated": truncated, "method": path})

    t_ss = np.concatenate([t[0] for t in tested]) if tested else np.zeros(0)
    t_se = np.concatenate([t[1] for t in tested]) if tested else np.zeros(0)
    t_sq = np.concatenate([t[2] for t in tested]) if tested else np.zeros(0)
    return LatticeResult(
        pool_items=[tuple(int(i) for i in r) for r in pool.items],
        pool_size=np.array(pool.ss, dtype=float), pool_err=np.array(pool.se, dtype=float),
        pool_sq=np.array(pool.sq, dtype=float), pool_score=np.array(pool.sc, dtype=float),
        tested_size=t_ss, tested_err=t_se, tested_sq=t_sq, levels=levels,
    )


def _record(items, ss, se, sq, min_support, n, mean_err, alpha, pool, tested):
    ok = ss >= min_support
    tested.append((ss[ok], se[ok], sq[ok]))
    sc = score(ss, se, n, mean_err, alpha)
    good = np.flatnonzero(ok & (sc > 0))
    pool.merge(items[good], ss[good], se[good], sq[good], sc[good])


#: Rough costs on one core, used only to choose between the two evaluation paths
#: (the dense path is taken when predicted to be at least twice as fast).
_NS_PER_ROW_COMBO = 12e-9
_FLOPS = 2e10


class _Dense:
    """Dense one-hot copy of the table for matrix-product evaluation (0/1 errors).

    A batch of parent slices becomes a membership matrix ``M`` (parents x
    rows); ``M @ X`` gives, for every parent and every item, the size of
    ``parent & item``, and ``(M * e) @ X`` its error sum: all children of
    the batch in a few BLAS calls.
    """

    def __init__(self, codes, offsets, m, e):
        d, n = codes.shape
        self.n = n
        self.XT = np.zeros((m, n), dtype=np.float32)  # item x row, for gathering parent rows
        for f in range(d):
            self.XT[offsets[f] + codes[f], np.arange(n)] = 1.0
        self.X = np.ascontiguousarray(self.XT.T)
        self.e = e.astype(np.float32)

    def evaluate(self, cand, prefix_inv, n_prefix, on_progress, label):
        # The products are tall and thin (parents x rows x items); multi-threaded BLAS spends more
        # time synchronising than computing on them, and the cost model assumes one core.
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return self._evaluate(cand, prefix_inv, n_prefix, on_progress, label)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._evaluate(cand, prefix_inv, n_prefix, on_progress, label)

    def _evaluate(self, cand, prefix_inv, n_prefix, on_progress, label):
        c, width = cand.shape
        ss, se = np.zeros(c), np.zeros(c)
        order = np.argsort(prefix_inv, kind="stable")
        first = np.zeros(n_prefix, dtype=np.int64)
        first[prefix_inv[order][::-1]] = order[::-1]  # one candidate per prefix, to read the prefix items
        prefix_items = cand[first, : width - 1]
        last = cand[:, -1]
        batch = 512  # parents per product: BLAS is efficient from a few hundred rows up
        chunk = max(4096, int(32 * 2**20 // (4 * batch)))  # table rows per product (M chunk <= 32 MiB)
        bounds = np.searchsorted(prefix_inv[order], np.arange(0, n_prefix + batch, batch))
        for b, lo in enumerate(range(0, n_prefix, batch)):
            hi = min(lo + batch, n_prefix)
            cnt = np.zeros((hi - lo, self.X.shape[1]), dtype=np.float32)
            err = np.zeros_like(cnt)
            for r0 in range(0, self.n, chunk):
                r1 = min(r0 + chunk, self.n)
                M = self.XT[prefix_items[lo:hi, 0], r0:r1]
                for t in range(1, width - 1):
                    M *= self.XT[prefix_items[lo:hi, t], r0:r1]
                X = self.X[r0:r1]
                cnt += M @ X
                err += (M * self.e[r0:r1]) @ X
            rows = order[bounds[b]:bounds[b + 1]]
            col, it = prefix_inv[rows] - lo, last[rows]
            ss[rows] = cnt[col, it]
            se[rows] = err[col, it]
            if on_progress:
                on_progress(label, hi, n_prefix)
        ss, se = np.rint(ss), np.rint(se)
        return ss, se, se.copy()


def _evaluate(cand, combos, inv, codes, codes_err, cards, val_of_item, e, e_sq, binary, need_max,
              on_progress, label):
    """Size, error sum, sum of squares and max error of each candidate slice (one pass per combination)."""
    n = codes.shape[1]
    c = len(cand)
    vals = val_of_item[cand]
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(combos) + 1))
    ss = np.zeros(c)
    se = np.zeros(c)
    sq = np.zeros(c)
    sm = np.zeros(c)
    for j, fs in enumerate(combos):
        rows = order[bounds[j]:bounds[j + 1]]
        radix = cards[fs]
        size = int(np.prod(radix.astype(float))) if np.prod(radix.astype(float)) < 2**62 else None
        key = np.zeros(len(rows), dtype=np.int64)
        for t in range(len(fs)):
            key = key * radix[t] + vals[rows, t]
        joint = _fold(codes, fs, radix)
        joint_err = _fold(codes_err, fs, radix) if binary else None
        if size is not None and size <= max(4 * n, 1 << 20):
            cnt = np.bincount(joint, minlength=size)
            ss[rows] = cnt[key]
            if binary:
                se[rows] = np.bincount(joint_err, minlength=size)[key]
            else:
                se[rows] = np.bincount(joint, weights=e, minlength=size)[key]
                sq[rows] = np.bincount(joint, weights=e_sq, minlength=size)[key]
                if need_max:
                    buf = np.zeros(size)
                    np.maximum.at(buf, joint, e)
                    sm[rows] = buf[key]
        else:
            uniq, jinv = np.unique(joint, return_inverse=True)
            pos = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
            hit = uniq[pos] == key
            cnt = np.bincount(jinv, minlength=len(uniq))
            ss[rows] = np.where(hit, cnt[pos], 0)
            if binary:
                epos = np.searchsorted(uniq, joint_err)
                ecnt = np.bincount(epos, minlength=len(uniq))
                se[rows] = np.where(hit, ecnt[pos], 0)
            else:
                se[rows] = np.where(hit, np.bincount(jinv, weights=e, minlength=len(uniq))[pos], 0)
                sq[rows] = np.where(hit, np.bincount(jinv, weights=e_sq, minlength=len(uniq))[pos], 0)
                if need_max:
                    buf = np.zeros(len(uniq))
                    np.maximum.at(buf, jinv, e)
                    sm[rows] = np.where(hit, buf[pos], 0)
        if on_progress and (j % 16 == 0 or j == len(combos) - 1):
            on_progress(label, j + 1, len(combos))
    if binary:
        sq = se.copy()
        sm = (se > 0).astype(float)
    return ss, se, sq, sm


def _fold(codes, fs, radix) -> np.ndarray:
    if len(fs) == 1:
        return codes[fs[0]].astype(np.int64)
    joint = codes[fs[0]] * np.int64(radix[1])  # int32 * int64 -> a fresh int64 array
    joint += codes[fs[1]]
    for t in range(2, len(fs)):
        joint *= radix[t]
        joint += codes[fs[t]]
    return joint


class _Pool:
    """The best slices found so far, by score (ties: larger, then shallower first)."""

    def __init__(self, size: int):
        self.size = size
        self.items: list[np.ndarray] = []
        self.ss: list[float] = []
        self.se: list[float] = []
        self.sq: list[float] = []
        self.sc: list[float] = []

    def threshold(self) -> float:
        return self.sc[-1] if len(self.sc) >= self.size else 0.0

    def merge(self, items, ss, se, sq, sc):
        if len(sc) == 0:
            return
        if len(sc) > self.size:
            top = np.argpartition(-sc, self.size - 1)[: self.size]
            items, ss, se, sq, sc = items[top], ss[top], se[top], sq[top], sc[top]
        all_items = self.items + [r for r in items]
        all_ss = self.ss + list(ss)
        all_se = self.se + list(se)
        all_sq = self.sq + list(sq)
        all_sc = self.sc + list(sc)
        order = sorted(range(len(all_sc)), key=lambda i: (-all_sc[i], -all_ss[i], len(all_items[i]),
                                                           tuple(all_items[i])))[: self.size]
        self.items = [all_items[i] for i in order]
        self.ss = [float(all_ss[i]) for i in order]
        self.se = [float(all_se[i]) for i in order]
        self.sq = [float(all_sq[i]) for i in order]
        self.sc = [float(all_sc[i]) for i in order]
