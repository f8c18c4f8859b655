"""The lattice search keeps exactly the best slices by SliceLine score (checked by brute force)."""

import itertools

import numpy as np
import pandas as pd
import pytest

import unskew.slices._lattice as lattice
from unskew.slices import SliceEncoder
from unskew.slices._lattice import _join, score, score_upper_bound, search_lattice


def _brute_force(codes, cards, e, max_level, min_support, alpha):
    d, n = codes.shape
    out = []
    for level in range(1, max_level + 1):
        for fs in itertools.combinations(range(d), level):
            for vs in itertools.product(*[range(cards[f]) for f in fs]):
                mask = np.ones(n, dtype=bool)
                for f, v in zip(fs, vs, strict=True):
                    mask &= codes[f] == v
                size = int(mask.sum())
                if size < min_support:
                    continue
                sc = float(score(size, e[mask].sum(), n, e.mean(), alpha))
                if sc > 0:
                    out.append(sc)
    return sorted(out, reverse=True)


def _data(seed, binary):
    rng = np.random.default_rng(seed)
    n = 2000
    df = pd.DataFrame({f"c{i}": rng.choice(list("abcd")[: rng.integers(2, 5)], n) for i in range(5)})
    df["x"] = rng.normal(size=n)
    e = (rng.random(n) < 0.2).astype(float) if binary else rng.exponential(size=n)
    hot = ((df.c1 == "b") & (df.c2 == "a")).to_numpy()
    e[hot] = (rng.random(hot.sum()) < 0.5) if binary else e[hot] * 2
    enc = SliceEncoder(n_bins=3)
    codes = enc.fit_transform(df)
    return codes, enc.cardinalities_, e


@pytest.mark.parametrize("path", ["counts", "dense"])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("alpha", [0.95, 0.999])
def test_pool_equals_brute_force_top_k(monkeypatch, path, binary, alpha):
    if path == "dense":
        monkeypatch.setattr(lattice, "_NS_PER_ROW_COMBO", 1.0)  # always prefer matrix products
    else:
        monkeypatch.setattr(lattice, "_FLOPS", 1e-9)  # always prefer counting
    codes, cards, e = _data(int(alpha * 1000) + binary, binary)
    res = search_lattice(codes, cards, e, max_level=3, min_support=15, alpha=alpha, pool_size=25,
                         binary=binary)
    expected = _brute_force(codes, cards, e, 3, 15, alpha)[:25]
    assert np.allclose(res.pool_score, expected, rtol=1e-9, atol=1e-12)
    methods = {lv.get("method") for lv in res.levels[1:]}
    assert methods == ({"dense"} if path == "dense" and binary else {"counts"})
    # pruning did skip work when alpha favours large slices
    if alpha == 0.95:
        assert res.levels[-1]["evaluated"] <= res.levels[-1]["candidates"]


def test_pool_statistics_match_masks():
    codes, cards, e = _data(3, True)
    res = search_lattice(codes, cards, e, max_level=2, min_support=10, alpha=0.99, pool_size=10, binary=True)
    offsets = np.r_[0, np.cumsum(cards)[:-1]]
    for items, size, err in zip(res.pool_items, res.pool_size, res.pool_err, strict=True):
        mask = np.ones(codes.shape[1], dtype=bool)
        for it in items:
            f = int(np.searchsorted(offsets, it, side="right") - 1)
            mask &= codes[f] == it - offsets[f]
        assert mask.sum() == size and e[mask].sum() == err


def test_upper_bound_dominates_every_sub_slice():
    rng = np.random.default_rng(0)
    n = 3000
    e = rng.exponential(size=n) * (rng.random(n) < 0.3)
    parent = rng.random(n) < 0.2
    ub = score_upper_bound(parent.sum(), e[parent].sum(), e[parent].max(), n, e.mean(), 0.9, 10)
    idx = np.flatnonzero(parent)
    best = -np.inf
    for _ in range(2000):
        k = rng.integers(10, len(idx) + 1)
        sub = rng.choice(idx, k, replace=False)
        best = max(best, float(score(k, e[sub].sum(), n, e.mean(), 0.9)))
    # the most erroneous rows of each size give the largest score
    srt = np.sort(e[parent])[::-1]
    for k in range(10, len(srt) + 1, 7):
        best = max(best, float(score(k, srt[:k].sum(), n, e.mean(), 0.9)))
    assert ub >= best - 1e-12


def test_join_generates_every_candidate_with_all_parents():
    feat_of_item = np.array([0, 0, 1, 1, 2, 3])
    level1 = np.arange(6)[:, None]
    pairs = _join(level1, feat_of_item)
    expected = {(a, b) for a, b in itertools.combinations(range(6), 2) if feat_of_item[a] != feat_of_item[b]}
    assert {tuple(r) for r in pairs.tolist()} == expected
    triples = _join(np.array(sorted(expected)), feat_of_item)
    got = {tuple(r) for r in triples.tolist()}
    want = {t for t in itertools.combinations(range(6), 3) if len({feat_of_item[i] for i in t}) == 3}
    assert got == want
