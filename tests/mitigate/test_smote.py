"""SMOTE within (group, class) populations, numeric and mixed."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.pre import GroupSMOTE, GroupSMOTENC


def _data(n=1500, d=4, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["F", "M", "X"], size=n, p=[0.3, 0.6, 0.1])
    y = (rng.random(n) < np.where(g == "M", 0.4, 0.15)).astype(int)
    # populations live in different regions so that a cross-population pair would show
    X = rng.normal(size=(n, d)) + 10 * (g == "F")[:, None] + 20 * y[:, None]
    return X, y, g


def _population(y, g):
    return np.char.add(np.asarray(g).astype(str), np.asarray(y).astype(str))


def test_smote_never_pairs_across_populations():
    X, y, g = _data()
    smp = GroupSMOTE(random_state=0)
    Xr, yr = smp.fit_resample(X, y, sensitive_features=g)
    pop = _population(y, g)
    par = smp.synthetic_parents_
    assert len(par) == smp.synthetic_mask_.sum() > 0
    assert (pop[par[:, 0]] == pop[par[:, 1]]).all()
    assert (par[:, 0] != par[:, 1]).all()
    # labels and groups of the synthetic rows are those of their population
    syn = smp.synthetic_mask_
    assert (yr[syn] == y[par[:, 0]]).all()
    assert (smp.sensitive_resampled_[syn] == g[par[:, 0]]).all()
    # each synthetic row lies on the segment between its seed and its neighbour
    a, b, s = X[par[:, 0]], X[par[:, 1]], Xr[syn]
    t = ((s - a) * (b - a)).sum(1) / ((b - a) ** 2).sum(1)
    assert ((t >= -1e-9) & (t <= 1 + 1e-9)).all()
    np.testing.assert_allclose(a + t[:, None] * (b - a), s, atol=1e-9)
    counts = smp.cell_counts_
    assert (counts["after"] == counts["target"]).all() and counts["after"].nunique() == 1


def test_smote_neighbours_are_the_k_nearest_within_the_population():
    X, y, g = _data(800)
    k = 3
    smp = GroupSMOTE(k_neighbors=k, random_state=1)
    smp.fit_resample(X, y, sensitive_features=g)
    pop = _population(y, g)
    for seed, nb in smp.synthetic_parents_[:200]:
        members = np.flatnonzero(pop == pop[seed])
        d = np.linalg.norm(X[members] - X[seed], axis=1)
        d[members == seed] = np.inf
        kth = np.sort(d)[k - 1]
        assert np.linalg.norm(X[nb] - X[seed]) <= kth + 1e-12


@pytest.mark.peers
def test_smote_one_population_agrees_with_imblearn():
    from imblearn.over_sampling import SMOTE

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 5))
    y = (rng.random(6000) < 0.2).astype(int)
    g = np.zeros(6000, dtype=int)
    ours = GroupSMOTE(random_state=0).fit_resample(X, y, sensitive_features=g)
    theirs = SMOTE(random_state=0).fit_resample(X, y)
    assert len(ours[1]) == len(theirs[1])
    assert np.bincount(ours[1]).tolist() == np.bincount(theirs[1]).tolist()
    # same distribution of synthetic points: means and spreads agree
    syn_o = ours[0][len(X):]
    syn_t = theirs[0][len(X):]
    # (seed-sampling noise of each mean is about 1 / sqrt(1200) = 0.03)
    np.testing.assert_allclose(syn_o.mean(0), syn_t.mean(0), atol=0.12)
    np.testing.assert_allclose(syn_o.std(0), syn_t.std(0), rtol=0.06)
    # interpolation shrinks the spread below the minority's by the same factor
    ratio_o = syn_o.std(0) / X[y == 1].std(0)
    ratio_t = syn_t.std(0) / X[y == 1].std(0)
    assert (ratio_o < 1).all() and (ratio_t < 1).all()


def test_smote_dataframe_embeddings_and_dtypes():
    X, y, g = _data(400)
    df = pd.DataFrame(X.astype(np.float32), columns=[f"e{i}" for i in range(X.shape[1])])
    Xr, yr = GroupSMOTE(random_state=0).fit_resample(df, pd.Series(y), sensitive_features=pd.Series(g))
    assert isinstance(Xr, pd.DataFrame) and (Xr.dtypes == np.float32).all()
    arr, _ = GroupSMOTE(random_state=0).fit_resample(X.astype(np.float32), y, sensitive_features=g)
    assert arr.dtype == np.float32


def test_smote_tiny_population_and_errors():
    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 0, 0, 1, 0, 0])
    g = np.array(["a"] * 6)
    with pytest.warns(UserWarning, match="single example"):
        smp = GroupSMOTE(random_state=0)
        Xr, _ = smp.fit_resample(X, y, sensitive_features=g)
    np.testing.assert_array_equal(Xr[6:], np.repeat(X[[3]], 4, axis=0))
    with pytest.raises(UnskewInputError, match="missing"):
        GroupSMOTE().fit_resample(np.where(X > 10, np.nan, X), y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="GroupSMOTENC"):
        GroupSMOTE().fit_resample(pd.DataFrame({"a": list("abcdef")}), y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="k_neighbors"):
        GroupSMOTE(k_neighbors=0).fit_resample(X, y, sensitive_features=g)


def _mixed(n=1000, levels=30, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["F", "M"], size=n, p=[0.35, 0.65])
    y = (rng.random(n) < np.where(g == "F", 0.2, 0.4)).astype(int)
    df = pd.DataFrame({
        "x0": rng.normal(size=n) + 5 * y,
        "x1": rng.normal(size=n) * 3,
        "city": pd.Categorical(rng.choice([f"c{i}" for i in range(levels)], size=n)),
        "kind": rng.choice(["p", "q", "r"], size=n),
        "flag": rng.random(n) < 0.3,
    })
    return df, y, g


def _brute_force_imblearn_distance(df, rows, cand, med):
    """SMOTE-NC distance as imbalanced-learn computes it: one-hot scaled by median_std / sqrt(2)."""
    num = df[["x0", "x1"]].to_numpy(float)
    oh = pd.get_dummies(df[["city", "kind", "flag"]].astype(str)).to_numpy(float) * med / np.sqrt(2)
    Z = np.c_[num, oh]
    return np.linalg.norm(Z[cand][None, :, :] - Z[rows][:, None, :], axis=2)


def test_smotenc_neighbours_match_one_hot_distance():
    df, y, g = _mixed(600)
    k = 4
    smp = GroupSMOTENC(k_neighbors=k, random_state=0)
    smp.fit_resample(df, y, sensitive_features=g)
    pop = _population(y, g)
    assert smp.median_std_  # recorded per resampled population
    for (grp, cls), med in smp.median_std_.items():
        members = np.flatnonzero((g == grp) & (y == cls))
        assert med == pytest.approx(np.median(df[["x0", "x1"]].to_numpy()[members].std(axis=0)))
        par = smp.synthetic_parents_[(pop[smp.synthetic_parents_[:, 0]] == f"{grp}{cls}")][:100]
        D = _brute_force_imblearn_distance(df, par[:, 0], members, med)
        D[members[None, :] == par[:, [0]]] = np.inf
        kth = np.sort(D, axis=1)[:, k - 1]
        chosen = D[np.arange(len(par)), np.searchsorted(members, par[:, 1])]
        assert (chosen <= kth + 1e-9).all()
        assert (pop[par[:, 1]] == pop[par[:, 0]]).all()


def test_smotenc_categories_and_numeric_values():
    df, y, g = _mixed(800)
    smp = GroupSMOTENC(random_state=0)
    Xr, yr = smp.fit_resample(df, y, sensitive_features=g)
    assert list(Xr.columns) == list(df.columns)
    assert isinstance(Xr["city"].dtype, pd.CategoricalDtype)
    assert list(Xr["city"].cat.categories) == list(df["city"].cat.categories)
    assert Xr["flag"].dtype == bool
    syn = smp.synthetic_mask_
    assert set(Xr.loc[syn, "kind"]) <= set(df["kind"])
    par = smp.synthetic_parents_
    a, b = df[["x0", "x1"]].to_numpy()[par[:, 0]], df[["x0", "x1"]].to_numpy()[par[:, 1]]
    s = Xr.loc[syn, ["x0", "x1"]].to_numpy()
    lo, hi = np.minimum(a, b) - 1e-9, np.maximum(a, b) + 1e-9
    assert ((s >= lo) & (s <= hi)).all()
    pop = _population(y, g)
    assert (pop[par[:, 0]] == pop[par[:, 1]]).all()


def test_smotenc_category_rules():
    df, y, g = _mixed(500, levels=8)
    seed_rule = GroupSMOTENC(categorical_value="seed", random_state=0)
    Xr, _ = seed_rule.fit_resample(df, y, sensitive_features=g)
    par = seed_rule.synthetic_parents_
    syn = seed_rule.synthetic_mask_
    np.testing.assert_array_equal(Xr.loc[syn, "kind"].to_numpy(), df["kind"].to_numpy()[par[:, 0]])
    ne = GroupSMOTENC(categorical_value="nearest_endpoint", random_state=0)
    Xn, _ = ne.fit_resample(df, y, sensitive_features=g)
    par = ne.synthetic_parents_
    vals = Xn.loc[ne.synthetic_mask_, "kind"].to_numpy()
    assert np.all((vals == df["kind"].to_numpy()[par[:, 0]]) | (vals == df["kind"].to_numpy()[par[:, 1]]))


def test_smotenc_most_frequent_among_neighbours():
    # one population; every neighbour set of a seed has a clear majority category
    n = 60
    x = np.r_[np.zeros(30), np.full(30, 100.0)] + np.arange(n) * 1e-3
    kind = np.array(["a"] * 30 + ["b"] * 30)
    kind[0] = "b"  # a lone 'b' among 'a' neighbours
    df = pd.DataFrame({"x": x, "kind": kind})
    y = np.r_[np.zeros(n, dtype=int), np.ones(200, dtype=int)]
    big = pd.DataFrame({"x": np.linspace(1000, 2000, 200), "kind": ["a"] * 200})
    X = pd.concat([df, big], ignore_index=True)
    g = np.zeros(len(X), dtype=int)
    smp = GroupSMOTENC(k_neighbors=5, random_state=0)
    Xr, _ = smp.fit_resample(X, y, sensitive_features=g)
    syn = Xr[smp.synthetic_mask_]
    par = smp.synthetic_parents_
    near_zero = par[:, 0] < 30
    assert (syn.loc[near_zero, "kind"] == "a").all()  # majority of neighbours, even for seed 0 ('b')
    assert (syn.loc[~near_zero, "kind"] == "b").all()


def test_smotenc_high_cardinality_uses_little_memory():
    rng = np.random.default_rng(0)
    n = 20_000
    g = rng.choice(["F", "M"], size=n)
    y = (rng.random(n) < 0.1).astype(int)
    df = pd.DataFrame({
        "x0": rng.normal(size=n), "x1": rng.normal(size=n),
        "code": rng.integers(0, 5000, size=n).astype(str),
    })
    tracemalloc.start()
    smp = GroupSMOTENC(sampling_strategy="balance_classes", random_state=0)
    Xr, yr = smp.fit_resample(df, y, sensitive_features=g)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(Xr) > 30_000
    # a dense one-hot of the 5,000 levels for ~16,000 synthetic rows x 5 neighbours would need > 3 GB
    assert peak < 400 * 2**20


def test_smotenc_errors():
    df, y, g = _mixed(100)
    with pytest.raises(UnskewInputError, match="no categorical"):
        GroupSMOTENC().fit_resample(df[["x0", "x1"]], y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="not numeric"):
        GroupSMOTENC(categorical_features=["city"]).fit_resample(df, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="not a column"):
        GroupSMOTENC(categorical_features=["zzz"]).fit_resample(df, y, sensitive_features=g)
    bad = df.copy()
    bad.loc[3, "x0"] = np.nan
    with pytest.raises(UnskewInputError, match="missing"):
        GroupSMOTENC().fit_resample(bad, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="categorical_value"):
        GroupSMOTENC(categorical_value="mode").fit_resample(df, y, sensitive_features=g)


def test_smotenc_array_input_with_positions():
    df, y, g = _mixed(300)
    arr = df[["x0", "kind", "x1"]].to_numpy(dtype=object)
    smp = GroupSMOTENC(categorical_features=[1], random_state=0)
    Xr, yr = smp.fit_resample(arr, y, sensitive_features=g)
    assert isinstance(Xr, np.ndarray) and Xr.shape[1] == 3 and len(Xr) == len(yr)
    assert set(Xr[:, 1]) <= {"p", "q", "r"}
