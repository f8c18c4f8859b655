"""Statistics of chunks merge into exactly the statistics of one pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metrics_data import make_binary

from unskew.exceptions import UnskewInputError
from unskew.metrics import GroupStats

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

N = 1200
Y, P, S, W, SF = make_binary(n=N, seed=21, weights="int")
SF_SORTED = SF.sort_values(["sex", "race"]).index.to_numpy()  # rows ordered by group


def _stats(idx, **kw):
    return GroupStats.from_arrays(Y[idx], P[idx], sensitive_features=SF.iloc[idx].reset_index(drop=True),
                                  sample_weight=W[idx], y_score=S[idx], **kw)


def _assert_same(a: GroupStats, b: GroupStats, exact=True):
    assert a.keys == b.keys and a.names == b.names
    eq = np.testing.assert_array_equal if exact else (lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-12))
    np.testing.assert_array_equal(a.n, b.n)
    if a.task == "classification":
        assert list(a.classes) == list(b.classes) and a.pos_label == b.pos_label
        np.testing.assert_array_equal(a.conf_n, b.conf_n)
        eq(a.conf, b.conf)
        eq(a.conf_w2, b.conf_w2)
    if a.has_scores:
        np.testing.assert_array_equal(a.sc_group, b.sc_group)
        np.testing.assert_array_equal(a.sc_value, b.sc_value)
        for f in ("sc_pos", "sc_neg", "sc_pos2", "sc_neg2", "cal_w", "cal_y"):
            eq(getattr(a, f), getattr(b, f))
        for f in ("s_p", "s_p2", "s_yp", "cal_p"):  # float scores: order of additions differs
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-12)
    ma, mb = a.metrics(ci=None), b.metrics(ci=None)
    np.testing.assert_allclose(ma.by_group.to_numpy(float), mb.by_group.to_numpy(float), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ma.overall.to_numpy(float), mb.overall.to_numpy(float), rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, N - 1), min_size=1, max_size=6, unique=True),
       by_group=st.booleans(), score_bins=st.sampled_from([None, 64]))
def test_chunks_merge_to_one_pass(cuts, by_group, score_bins):
    order = SF_SORTED if by_group else np.arange(N)  # by_group: chunks miss whole groups
    whole = _stats(order, score_bins=score_bins)
    bounds = [0, *sorted(cuts), N]
    parts = [_stats(order[a:b], score_bins=score_bins) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    _assert_same(GroupStats.concat(parts), whole)
    _assert_same(sum(parts), whole)
    # pairwise, in reverse order: merging is order-free
    acc = parts[-1]
    for p in reversed(parts[:-1]):
        acc = p + acc
    _assert_same(acc, whole)


def test_float_weights_merge_up_to_rounding():
    y, p, s, w, sf = make_binary(n=2000, seed=22, weights="float")
    whole = GroupStats.from_arrays(y, p, sensitive_features=sf, sample_weight=w, y_score=s)
    rng = np.random.default_rng(0)
    for _ in range(5):
        perm = rng.permutation(len(y))
        parts = [GroupStats.from_arrays(y[i], p[i], sensitive_features=sf.iloc[i], sample_weight=w[i], y_score=s[i])
                 for i in np.array_split(perm, rng.integers(2, 7))]
        _assert_same(GroupStats.concat(parts), whole, exact=False)


def test_exact_table_converts_to_histogram_exactly():
    exact = _stats(np.arange(N))
    hist = _stats(np.arange(N), score_bins=64)
    _assert_same(exact.to_histogram(64), hist)
    # an exact chunk merged with histogram chunks is binned first
    merged = _stats(np.arange(400)) + _stats(np.arange(400, N), score_bins=64)
    _assert_same(merged, hist)


def test_multiclass_chunks_with_missing_classes():
    rng = np.random.default_rng(23)
    y = np.sort(rng.integers(0, 5, 3000))  # early chunks lack the high classes
    p = np.where(rng.random(3000) < 0.7, y, np.maximum(y - 1, 0))
    g = rng.choice(["x", "y"], 3000)
    whole = GroupStats.from_arrays(y, p, sensitive_features=g)
    parts = [GroupStats.from_arrays(y[i], p[i], sensitive_features=g[i]) for i in np.array_split(np.arange(3000), 7)]
    assert len(parts[0].classes) < 5
    _assert_same(GroupStats.concat(parts), whole)


def test_string_labels_pos_label_inferred_after_merge():
    y = np.array(["<=50K"] * 50 + [">50K", "<=50K"] * 25)
    p = np.array([">50K", "<=50K"] * 50)
    g = np.array(["a", "b"] * 50)
    first = GroupStats.from_arrays(y[:50], p[:50], sensitive_features=g[:50])
    whole = GroupStats.from_arrays(y, p, sensitive_features=g)
    merged = first + GroupStats.from_arrays(y[50:], p[50:], sensitive_features=g[50:])
    assert merged.pos_label == whole.pos_label == ">50K"
    _assert_same(merged, whole)


def test_regression_merge_matches_one_pass():
    rng = np.random.default_rng(24)
    n = 5000
    g = rng.choice(["u", "v", "w"], n)
    y = rng.normal(loc=100, size=n)  # large mean: the naive sum-of-squares would lose digits
    p = y + rng.normal(size=n)
    w = rng.uniform(0.5, 2, n)
    whole = GroupStats.from_arrays(y, p, sensitive_features=g, sample_weight=w)
    parts = [GroupStats.from_arrays(y[i], p[i], sensitive_features=g[i], sample_weight=w[i])
             for i in np.array_split(rng.permutation(n), 9)]
    merged = GroupStats.concat(parts)
    for k in whole.reg:
        np.testing.assert_allclose(merged.reg[k], whole.reg[k], rtol=1e-10)
    np.testing.assert_allclose(merged.metrics(ci=None).by_group.to_numpy(float),
                               whole.metrics(ci=None).by_group.to_numpy(float), rtol=1e-10)


def test_parquet_and_csv_streams_equal_one_pass(tmp_path):
    frame = SF.copy()
    frame["y"], frame["p"], frame["s"], frame["w"] = Y, P, S, W
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=300)
    frame.to_csv(tmp_path / "d.csv", index=False)
    whole = _stats(np.arange(N))
    seen = []
    streamed = GroupStats.from_parquet(tmp_path / "d.parquet", target="y", predictions="p", scores="s", weights="w",
                                       sensitive="sex,race", batch_size=250, on_batch=lambda d, t: seen.append(d))
    assert seen[-1] == N and len(seen) >= 4
    _assert_same(streamed, whole)
    chunks = pd.read_csv(tmp_path / "d.csv", chunksize=333)
    _assert_same(GroupStats.from_chunks(chunks, target="y", predictions="p", scores="s", weights="w",
                                        sensitive=["sex", "race"], merge_every=2), whole)


def test_incompatible_statistics_refuse_to_merge(tmp_path):
    a = _stats(np.arange(100))
    b = GroupStats.from_arrays(Y[:100], P[:100], sensitive_features=SF["sex"].iloc[:100])
    with pytest.raises(UnskewInputError, match="different sensitive features"):
        a + b
    r = GroupStats.from_arrays(np.linspace(0, 1, 100) + 0.01, np.linspace(0, 1, 100),
                               sensitive_features=SF.iloc[:100])
    with pytest.raises(UnskewInputError, match="regression"):
        a + r
    with pytest.raises(UnskewInputError, match="histograms"):
        _stats(np.arange(100), score_bins=64) + _stats(np.arange(100, 200), score_bins=32)
    with pytest.raises(UnskewInputError, match="not in"):
        GroupStats.from_parquet(_write(tmp_path), target="nope", predictions="p", sensitive="sex")


def _write(tmp_path):
    frame = SF.iloc[:10].copy()
    frame["p"] = P[:10]
    frame.to_parquet(tmp_path / "x.parquet")
    return tmp_path / "x.parquet"
