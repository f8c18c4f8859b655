"""The partial -> merge -> finalise protocol: merging is associative and commutative, and any
partitioning of the rows gives the statistics of one pass (exactly for counts and integer weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unskew.engines import CountTable, StatsSpec, merge, stats_from_aggregates, stats_partial
from unskew.engines._partials import MixedTaskError
from unskew.exceptions import UnskewInputError
from unskew.metrics import GroupStats

from .conftest import make_table

ARRAYS = ("n", "conf", "conf_n", "conf_w2", "sc_group", "sc_value", "sc_pos", "sc_neg", "sc_pos2", "sc_neg2",
          "s_p", "s_p2", "s_yp", "cal_w", "cal_y", "cal_p")


def assert_same(a: GroupStats, b: GroupStats, exact: bool = True) -> None:
    assert a.keys == b.keys and a.names == b.names and a.task == b.task
    assert a.weighted == b.weighted and a.has_scores == b.has_scores
    assert a.classes.tolist() == b.classes.tolist() and a.pos_label == b.pos_label
    for f in ARRAYS:
        x, y = getattr(a, f), getattr(b, f)
        if x is None or y is None:
            assert x is None and y is None, f
            continue
        if exact or f in ("n", "conf_n", "sc_group", "sc_value"):
            assert np.array_equal(x, y), f
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9, err_msg=f)


@st.composite
def rows(draw):
    n = draw(st.integers(1, 60))
    ints = st.lists(st.integers(0, 2), min_size=n, max_size=n)
    frame = pd.DataFrame({
        "g": draw(ints), "h": [["a", "b"][v % 2] for v in draw(ints)],
        "y": [v % 2 for v in draw(ints)], "p": [v % 2 for v in draw(ints)],
        # scores on a grid of quarters and integer weights: every sum is exact in floating point
        "s": [v / 4 for v in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))],
        "w": [float(v + 1) for v in draw(ints)],
    })
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    return frame, cuts


SPEC = StatsSpec.build(target="y", sensitive=["g", "h"], predictions="p", scores="s", weights="w",
                       task="classification")


def pieces(frame, cuts):
    bounds = [0, *cuts, len(frame)]
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.integers(2, 4), st.randoms(use_true_random=False))
def test_any_partitioning_equals_one_pass(data, split_every, rnd):
    frame, cuts = data
    one = stats_partial(frame, SPEC)
    parts = [stats_partial(p, SPEC) for p in pieces(frame, cuts)]
    rnd.shuffle(parts)  # order of arrival does not matter
    assert_same(merge(parts, split_every=split_every), one)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_merge_is_associative_and_commutative(data):
    frame, _ = data
    n = len(frame)
    a, b, c = (stats_partial(frame.iloc[i::3], SPEC) for i in range(3))
    if n < 3:
        return
    assert_same((a + b) + c, a + (b + c))
    assert_same(a + b, b + a)
    assert_same(sum([a, b, c]), merge([c, a, b]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.sampled_from([None, 8]))
def test_aggregates_equal_rows(data, bins):
    """What an SQL engine sends back (rows grouped by group, label, prediction, score) gives the one-pass stats."""
    frame, _ = data
    spec = StatsSpec.build(target="y", sensitive=["g", "h"], predictions="p", scores="s", weights="w",
                           task="classification", score_bins=bins)
    one = stats_partial(frame, spec)
    f = frame.copy()
    f["_s"] = f["s"] if bins is None else np.clip(np.floor(f["s"] * bins), 0, bins - 1)
    f["_eb"] = np.searchsorted(np.linspace(0, 1, 11)[1:-1], f["s"], side="left")
    f["ws"], f["ws2"], f["ww"] = f.w * f.s, f.w * f.s * f.s, f.w * f.w
    agg = f.groupby(["g", "h", "y", "p", "_s", "_eb"], as_index=False).agg(
        _n=("y", "size"), _w=("w", "sum"), _w2=("ww", "sum"), _ws=("ws", "sum"), _ws2=("ws2", "sum"),
        _smin=("s", "min"), _smax=("s", "max")).rename(columns={"y": "_y", "p": "_p"})
    assert_same(stats_from_aggregates(agg, spec), one)


def test_aggregates_with_predictions_from_scores():
    frame = make_table(400, seed=3, missing=False)
    spec = StatsSpec.build(target="y", sensitive=["sex"], scores="score", threshold=0.4)
    one = stats_partial(frame, spec)
    f = frame.assign(_pp=frame.score >= 0.4, _s=frame.score,
                     _eb=np.searchsorted(np.linspace(0, 1, 11)[1:-1], frame.score, side="left"),
                     s2=frame.score**2)
    agg = f.groupby(["sex", "y", "_pp", "_s", "_eb"], as_index=False).agg(
        _n=("y", "size"), _ws=("score", "sum"), _ws2=("s2", "sum"), _smin=("score", "min"),
        _smax=("score", "max")).rename(columns={"y": "_y"})
    assert_same(stats_from_aggregates(agg, spec), one, exact=False)


@st.composite
def count_rows(draw):
    n = draw(st.integers(0, 40))
    vals = draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), min_size=n, max_size=n))
    grp = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    w = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return pd.DataFrame({"v": vals, "g": grp, "w": [float(x) for x in w]}), cuts


@settings(max_examples=30, deadline=None)
@given(count_rows())
def test_count_tables_merge_exactly(data):
    frame, cuts = data
    one = CountTable.from_frame(frame, by=["g", "v"], weights="w")
    parts = [CountTable.from_frame(p, by=["g", "v"], weights="w") for p in pieces(frame, cuts)]
    assert merge(parts, split_every=2) == one
    assert merge(parts[::-1]) == one
    if len(parts) >= 3:
        a, b, c = parts[:3]
        assert (a + b) + c == a + (b + c)
        assert a + b == b + a
    if len(frame):
        expected = frame.assign(v=frame.v.fillna("(missing)")).groupby(["g", "v"]).size()
        got = one.frame().set_index(["g", "v"])["n"]
        assert got.sort_index().tolist() == expected.sort_index().tolist()


def test_merge_errors():
    with pytest.raises(UnskewInputError, match="no rows"):
        merge([None, None])
    a = CountTable.from_frame(pd.DataFrame({"g": [1]}), by=["g"])
    b = CountTable.from_frame(pd.DataFrame({"h": [1]}), by=["h"])
    with pytest.raises(UnskewInputError, match="Cannot merge counts"):
        a + b
    spec = StatsSpec.build(target="y", sensitive="g", predictions="p")
    cls = stats_partial(pd.DataFrame({"y": [0.0, 1.0], "p": [0.0, 1.0], "g": [1, 1]}), spec)
    reg = stats_partial(pd.DataFrame({"y": [0.5, 1.0], "p": [0.1, 1.0], "g": [1, 1]}), spec)
    with pytest.raises(MixedTaskError):
        merge([cls, reg])
    assert stats_partial(pd.DataFrame({"y": [], "p": [], "g": []}), spec) is None


# ---------------------------------------------------------------------------- JSON-safe partials and coded keys
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 3), st.integers(0, 5)), min_size=1,
                max_size=40), st.integers(1, 39))
def test_from_codes_equals_from_frame_and_json_round_trips(cells, cut):
    f = pd.DataFrame(cells, columns=["g", "b", "w"]).astype({"w": float})
    levels = ["a", "b", "c"]
    t = CountTable.from_codes(("g", "b"), [(f["g"].map(levels.index).to_numpy(), levels), (f["b"].to_numpy(), range(4))],
                              sums={"w": f["w"].to_numpy()})
    assert t == CountTable.from_frame(f, by=["g", "b"], sums=["w"])
    assert CountTable.from_json(t.to_json()) == t
    a, b = f.iloc[:cut % len(f)], f.iloc[cut % len(f):]
    parts = [CountTable.from_frame(p, by=["g", "b"], sums=["w"]) for p in (a, b) if len(p)]
    assert merge(parts) == t


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-5, 5)), min_size=3, max_size=3),
       st.lists(st.lists(st.integers(0, 9), max_size=4), min_size=3, max_size=3))
def test_merge_json_associative_commutative_and_undone_by_subtraction(dicts, lists):
    import copy

    from unskew.engines import merge_json

    parts = [{"n": len(li), "groups": d, "hist": li} for d, li in zip(dicts, lists, strict=True)]
    left = merge_json(merge_json(copy.deepcopy(parts[0]), parts[1]), parts[2])
    right = merge_json(copy.deepcopy(parts[2]), merge_json(copy.deepcopy(parts[1]), parts[0]))
    norm = lambda p: {"n": p["n"], "groups": {k: v for k, v in p["groups"].items() if v},  # noqa: E731
                      "hist": list(np.trim_zeros(np.array(p["hist"], dtype=int), "b"))}
    assert norm(left) == norm(right)
    back = merge_json(copy.deepcopy(left), parts[2], -1)
    assert norm(back) == norm(merge_json(copy.deepcopy(parts[0]), parts[1]))
