import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.slices import SliceFinder, lattice_size


def _table(n, seed=0, n_cat=6, n_num=2):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"c{i}": rng.choice(list("abcd"), n) for i in range(n_cat)})
    for i in range(n_num):
        df[f"x{i}"] = rng.normal(size=n)
    return df, rng


def test_planted_categorical_slice_recovered_exactly():
    X, rng = _table(6000)
    hot = ((X.c1 == "b") & (X.c3 == "d")).to_numpy()
    e = (rng.random(len(X)) < np.where(hot, 0.45, 0.10)).astype(float)
    f = SliceFinder(top_k=5).fit(X, errors=e)
    top = f.slices_[0]
    assert top.description == "c1 = b & c3 = d"
    assert top.significant and top.size == hot.sum()
    assert top.error == pytest.approx(e[hot].mean())
    assert top.error_ratio == pytest.approx(e[hot].mean() / e.mean())
    # the parents' excess error is explained by the planted slice, so they are not reported
    assert all(s.description not in ("c1 = b", "c3 = d") for s in f.slices_)
    assert sum(s.significant for s in f.slices_) == 1


def test_planted_numeric_bin_slice_recovered_exactly():
    X, rng = _table(8000, seed=1)
    q80 = np.quantile(X.x0, 0.8)
    hot = ((X.x0 > q80) & (X.c0 == "a")).to_numpy()
    y = rng.integers(0, 2, len(X))
    pred = np.where(rng.random(len(X)) < np.where(hot, 0.5, 0.08), 1 - y, y)
    f = SliceFinder(top_k=3).fit(X, y, y_pred=pred)
    top = f.slices_[0]
    assert f.error_metric_ == "zero_one"
    conds = {c.feature: c for c in top.conditions}
    assert set(conds) == {"x0", "c0"} and conds["c0"].value == "a"
    assert conds["x0"].kind == "bin" and conds["x0"].low == pytest.approx(q80) and conds["x0"].high is None
    assert (f.slice_membership(X)[:, 0] == hot).all()


def _null_runs(runs, binary, correction="bonferroni"):
    hits = 0
    for seed in range(runs):
        X, rng = _table(2000, seed=100 + seed, n_cat=5, n_num=2)
        e = (rng.random(len(X)) < 0.15).astype(float) if binary else rng.exponential(size=len(X))
        f = SliceFinder(correction=correction).fit(X, errors=e)
        hits += bool(f.candidates_["significant"].any())
    return hits


def test_family_wise_error_controlled_on_random_binary_errors():
    # at the 5% level, expect about 1 run in 30 with any significant slice
    assert _null_runs(30, binary=True) <= 4


def test_false_discoveries_controlled_with_bh_and_continuous_errors():
    assert _null_runs(15, binary=False) <= 2
    assert _null_runs(15, binary=True, correction="bh") <= 2


def test_bh_is_at_least_as_powerful_and_lattice_family_is_larger():
    X, rng = _table(3000, seed=2)
    hot = (X.c2 == "c").to_numpy() & (X.x1 > 0).to_numpy()
    e = (rng.random(len(X)) < np.where(hot, 0.2, 0.12)).astype(float)
    kw = dict(max_overlap=None, explain_away=False)
    bonf = SliceFinder(**kw).fit(X, errors=e)
    bh = SliceFinder(correction="bh", **kw).fit(X, errors=e)
    lat = SliceFinder(family="lattice", **kw).fit(X, errors=e)
    assert bh.candidates_.significant.sum() >= bonf.candidates_.significant.sum()
    assert (bh.candidates_.p_adjusted.to_numpy() <= bonf.candidates_.p_adjusted.to_numpy() + 1e-12).all()
    assert lat.family_size_ == lattice_size(lat.encoder_.cardinalities_, 3) > lat.n_tested_
    assert (lat.candidates_.p_adjusted.to_numpy() >= bonf.candidates_.p_adjusted.to_numpy()).all()
    assert bonf.n_tested_ == sum(lv["tested"] for lv in bonf.levels_)


def test_lattice_size_counts_conjunctions():
    assert lattice_size([2, 3], 1) == 5
    assert lattice_size([2, 3], 2) == 5 + 6
    assert lattice_size([2, 2, 2], 3) == 6 + 12 + 8


def test_groups_and_membership_on_new_data():
    X, rng = _table(5000, seed=3)
    hot1 = ((X.c0 == "a") & (X.c1 == "a")).to_numpy()
    hot2 = (X.c4 == "d").to_numpy()
    e = (rng.random(len(X)) < np.where(hot1, 0.6, np.where(hot2, 0.3, 0.1))).astype(float)
    f = SliceFinder(top_k=4).fit(X, errors=e)
    names = f.group_names()
    assert names[-1] == "rest" and len(names) == len(f.slices_) + 1
    assert {"c0 = a & c1 = a", "c4 = d"} <= set(names)
    new, _ = _table(300, seed=9)
    new.loc[0, "c0"] = "never seen"
    mem = f.slice_membership(new)
    groups = f.to_groups(new)
    assert mem.shape == (300, len(f.slices_)) and f.transform(new).dtype == np.int8
    for i in range(300):
        inside = np.flatnonzero(mem[i])
        assert groups[i] == (inside[0] if len(inside) else len(f.slices_))
    k = names.index("c4 = d")
    assert (mem[:, k] == (new.c4 == "d")).all()
    assert not mem[0, names.index("c0 = a & c1 = a")]
    sig_groups = f.to_groups(X, only_significant=True)
    assert sig_groups.max() <= len(f.group_names(only_significant=True)) - 1


def test_label_conditioned_slices():
    X, rng = _table(5000, seed=4)
    y = pd.Series(rng.integers(0, 2, len(X)), name="label")
    hot = ((y == 1) & (X.c0 == "b")).to_numpy()
    pred = np.where(rng.random(len(X)) < np.where(hot, 0.6, 0.1), 1 - y, y)
    f = SliceFinder(include_target=True, top_k=3).fit(X, y, y_pred=pred)
    assert f.target_name_ == "label"
    assert f.slices_[0].description == "c0 = b & label = 1"
    with pytest.raises(UnskewInputError, match="pass y"):
        f.slice_membership(X)
    assert (f.slice_membership(X, y)[:, 0] == hot).all()
    plain = SliceFinder(top_k=3).fit(X, y, y_pred=pred)
    assert all("label" not in s.description for s in plain.slices_)


def test_ranking_options_and_overlap():
    X, rng = _table(5000, seed=5)
    hot = (X.c0 == "a").to_numpy()
    small = ((X.c1 == "b") & (X.c2 == "b") & (X.c3 == "b")).to_numpy()
    e = (rng.random(len(X)) < np.where(small, 0.7, np.where(hot, 0.25, 0.1))).astype(float)
    by_size = SliceFinder(rank_by="size").fit(X, errors=e)
    sig = [s for s in by_size.slices_ if s.significant]
    assert [s.size for s in sig] == sorted((s.size for s in sig), reverse=True)
    by_effect = SliceFinder(rank_by="effect_size").fit(X, errors=e)
    sig = [s for s in by_effect.slices_ if s.significant]
    assert [s.effect_size for s in sig] == sorted((s.effect_size for s in sig), reverse=True)
    every = SliceFinder(max_overlap=None, explain_away=False, top_k=20).fit(X, errors=e)
    assert len(every.slices_) >= len(SliceFinder(top_k=20).fit(X, errors=e).slices_)


def test_regression_loss_and_no_errors():
    X, rng = _table(3000, seed=6)
    y = rng.normal(size=len(X)) * 10
    pred = y + rng.normal(size=len(X)) * np.where(X.c5 == "c", 3.0, 1.0)
    f = SliceFinder(top_k=3).fit(X, y, y_pred=pred)
    assert f.error_metric_ == "squared" and not f.binary_errors_
    sig = [s for s in f.slices_ if s.significant]
    assert "c5 = c" in [s.description for s in sig]
    assert all("c5 = c" in s.description for s in sig)
    none = SliceFinder().fit(X, errors=np.zeros(len(X)))
    assert none.slices_ == [] and none.to_groups(X).tolist() == [0] * len(X)


@pytest.mark.parametrize("params, match", [
    ({"max_level": 0}, "max_level"),
    ({"top_k": 0}, "top_k"),
    ({"alpha": 0}, "alpha"),
    ({"min_support": -3}, "min_support"),
    ({"min_support": 2.5}, "min_support"),
    ({"correction": "holm"}, "correction"),
    ({"family": "all"}, "family"),
    ({"rank_by": "p"}, "rank_by"),
    ({"max_overlap": 2}, "max_overlap"),
    ({"significance_level": 1.5}, "significance_level"),
])
def test_bad_parameters(params, match):
    X, rng = _table(200, seed=7)
    with pytest.raises(UnskewInputError, match=match):
        SliceFinder(**params).fit(X, errors=rng.random(200))


def test_bad_input():
    X, rng = _table(200, seed=8)
    with pytest.raises(UnskewInputError, match="rows"):
        SliceFinder().fit(X, errors=rng.random(199))
    with pytest.raises(UnskewInputError, match="needs the true labels"):
        SliceFinder(include_target=True).fit(X, errors=rng.random(200))
    with pytest.raises(UnskewInputError, match="not fitted"):
        SliceFinder().to_groups(X)
    with pytest.raises(UnskewInputError, match="lacks"):
        SliceFinder().fit(X, errors=rng.random(200)).slice_membership(X[["c0"]])


def test_min_support_fraction_and_polars():
    pl = pytest.importorskip("polars")
    X, rng = _table(1000, seed=10)
    f = SliceFinder(min_support=0.05).fit(pl.from_pandas(X), errors=rng.random(1000))
    assert f.min_support_ == 50
    assert all(s.size >= 50 for s in f.slices_)
    assert f.to_frame().columns[0] == "slice"


def test_candidate_cap_is_reported():
    X, rng = _table(2000, seed=11)
    f = SliceFinder(max_candidates=5, alpha=0.999).fit(X, errors=(rng.random(2000) < 0.2).astype(float))
    assert any(lv["truncated"] and lv["evaluated"] <= 5 for lv in f.levels_)
    rep = f.report()
    assert any("max_candidates" in x.message for x in rep["slices"].findings)
