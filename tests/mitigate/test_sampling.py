"""Random over- and under-sampling of (group, class) cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.pre import (
    GroupRandomOverSampler,
    GroupRandomUnderSampler,
    resample_frame,
    target_counts,
)


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["F", "M"], size=n, p=[0.3, 0.7])
    y = (rng.random(n) < np.where(g == "F", 0.15, 0.4)).astype(int)
    X = np.c_[rng.normal(size=(n, 2)), np.arange(n)]
    return X, y, g


def _cells(y, g):
    return pd.crosstab(pd.Series(np.asarray(g), name="g"), pd.Series(np.asarray(y), name="y"))


def test_target_counts_strategies():
    counts = np.array([[100, 20], [300, 80]])
    over = target_counts(counts, "balanced", "over", ["F", "M"], [0, 1])
    np.testing.assert_array_equal(over, [[300, 300], [300, 300]])
    under = target_counts(counts, "balanced", "under", ["F", "M"], [0, 1])
    np.testing.assert_array_equal(under, [[20, 20], [20, 20]])
    ind = target_counts(counts, "independent", "over", ["F", "M"], [0, 1])
    p = ind / ind.sum()
    np.testing.assert_allclose(p, np.outer(p.sum(1), p.sum(0)), atol=2e-3)
    assert (ind >= counts).all()
    bc = target_counts(counts, "balance_classes", "over", ["F", "M"], [0, 1])
    np.testing.assert_array_equal(bc, [[100, 100], [300, 300]])
    bcu = target_counts(counts, "balance_classes", "under", ["F", "M"], [0, 1])
    np.testing.assert_array_equal(bcu, [[20, 20], [80, 80]])
    d = {("F", 0): 0.1, ("F", 1): 0.4, ("M", 0): 0.25, ("M", 1): 0.25}
    t = target_counts(counts, d, "under", ["F", "M"], [0, 1])
    np.testing.assert_allclose(t / t.sum(), [[0.1, 0.4], [0.25, 0.25]], atol=0.01)
    assert (t <= counts).all()


def test_over_sampling_reaches_targets_and_keeps_originals():
    X, y, g = _data()
    smp = GroupRandomOverSampler(random_state=0)
    Xr, yr = smp.fit_resample(X, y, sensitive_features=g)
    cells = _cells(yr, smp.sensitive_resampled_)
    assert (cells.to_numpy() == cells.to_numpy().max()).all()
    n = len(y)
    np.testing.assert_array_equal(Xr[:n], X)
    np.testing.assert_array_equal(yr[:n], y)
    assert not smp.synthetic_mask_[:n].any() and smp.synthetic_mask_[n:].all()
    # every added row is a copy of a row of the same group and class
    src = smp.sample_indices_[n:]
    np.testing.assert_array_equal(Xr[n:], X[src])
    assert (yr[n:] == y[src]).all() and (smp.sensitive_resampled_[n:] == g[src]).all()
    assert (smp.cell_counts_["after"] == smp.cell_counts_["target"]).all()


def test_under_sampling_reaches_targets_without_duplicates():
    X, y, g = _data()
    smp = GroupRandomUnderSampler(random_state=0)
    Xr, yr = smp.fit_resample(X, y, sensitive_features=g)
    cells = _cells(yr, smp.sensitive_resampled_)
    assert cells.to_numpy().min() == cells.to_numpy().max() == _cells(y, g).to_numpy().min()
    assert len(np.unique(smp.sample_indices_)) == len(yr)
    assert (np.diff(smp.sample_indices_) > 0).all()  # input order kept
    np.testing.assert_array_equal(Xr, X[smp.sample_indices_])


def test_independent_strategy_removes_dependence():
    X, y, g = _data(5000)
    for cls in (GroupRandomOverSampler, GroupRandomUnderSampler):
        smp = cls(sampling_strategy="independent", random_state=0)
        _, yr = smp.fit_resample(X, y, sensitive_features=g)
        tab = _cells(yr, smp.sensitive_resampled_).to_numpy()
        rates = tab[:, 1] / tab.sum(1)
        assert abs(rates[0] - rates[1]) < 2e-3
        before = _cells(y, g).to_numpy()
        assert abs(before[0, 1] / before[0].sum() - before[1, 1] / before[1].sum()) > 0.15


def test_dataframe_series_and_sensitive_cols():
    X, y, g = _data(300)
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1].astype(np.float32), "id": np.arange(300), "sex": g})
    ys = pd.Series(y, name="label")
    smp = GroupRandomOverSampler(sensitive_cols="sex", random_state=1)
    Xr, yr = smp.fit_resample(df, ys)
    assert isinstance(Xr, pd.DataFrame) and isinstance(yr, pd.Series)
    assert list(Xr.columns) == list(df.columns) and yr.name == "label"
    assert Xr.dtypes.equals(df.dtypes)
    assert (Xr.index == np.arange(len(Xr))).all()
    assert (Xr["id"].to_numpy() == smp.sample_indices_).all()
    with pytest.raises(UnskewInputError, match="either"):
        smp.fit_resample(df, ys, sensitive_features=g)


def test_sample_weight_carried():
    X, y, g = _data(200)
    w = np.arange(200, dtype=float)
    smp = GroupRandomOverSampler(random_state=0)
    smp.fit_resample(X, y, sensitive_features=g, sample_weight=w)
    np.testing.assert_array_equal(smp.sample_weight_resampled_, w[smp.sample_indices_])


def test_reproducible_with_random_state():
    X, y, g = _data(300)
    a = GroupRandomOverSampler(random_state=3).fit_resample(X, y, sensitive_features=g)[0]
    b = GroupRandomOverSampler(random_state=3).fit_resample(X, y, sensitive_features=g)[0]
    c = GroupRandomOverSampler(random_state=4).fit_resample(X, y, sensitive_features=g)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_empty_cell_warns_and_stays_empty():
    X = np.zeros((6, 1))
    y = np.array([0, 0, 1, 0, 0, 0])
    g = np.array(["a", "a", "a", "b", "b", "b"])
    with pytest.warns(UserWarning, match="no examples"):
        smp = GroupRandomOverSampler(random_state=0)
        _, yr = smp.fit_resample(X, y, sensitive_features=g)
    cells = smp.cell_counts_.set_index(["group", "class"])["after"]
    assert cells[("b", 1)] == 0 and cells[("a", 1)] == 3


def test_dict_strategy_errors():
    X, y, g = _data(100)
    with pytest.raises(UnskewInputError, match="do not occur"):
        GroupRandomUnderSampler(sampling_strategy={("X", 0): 1.0}).fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="no proportion"):
        GroupRandomUnderSampler(sampling_strategy={("F", 0): 1.0}).fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match=">= 0"):
        GroupRandomUnderSampler(sampling_strategy={("F", 0): -1, ("F", 1): 1, ("M", 0): 1, ("M", 1): 1}).fit_resample(
            X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="sampling_strategy must be"):
        GroupRandomUnderSampler(sampling_strategy="nope").fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="needs the sensitive attribute"):
        GroupRandomUnderSampler().fit_resample(X, y)
    with pytest.raises(UnskewInputError, match="rows"):
        GroupRandomUnderSampler().fit_resample(X, y, sensitive_features=g[:10])


def test_dict_strategy_under_drops_zero_cells():
    X, y, g = _data(1000)
    d = {("F", 0): 0.5, ("F", 1): 0.5, ("M", 0): 0.0, ("M", 1): 0.0}
    smp = GroupRandomUnderSampler(sampling_strategy=d, random_state=0)
    _, yr = smp.fit_resample(X, y, sensitive_features=g)
    assert set(smp.sensitive_resampled_) == {"F"}
    assert (yr == 1).sum() == (yr == 0).sum()


def test_resample_frame_marks_added_rows():
    X, y, g = _data(400)
    df = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "sex": g, "label": y, "id": [f"r{i}" for i in range(400)]})
    out = resample_frame(df, GroupRandomOverSampler(random_state=0), target="label", sensitive="sex",
                         features=["x0", "x1"])
    assert out["_synthetic"].dtype == bool
    assert (~out["_synthetic"]).sum() == 400 and out["_synthetic"].sum() == len(out) - 400
    pd.testing.assert_frame_equal(out.iloc[:400].drop(columns="_synthetic"), df)
    # identifiers of added rows come from their source row
    added = out[out["_synthetic"]]
    src = df.set_index("id").loc[added["id"]]
    np.testing.assert_array_equal(src["x0"].to_numpy(), added["x0"].to_numpy())
    assert (src["sex"].to_numpy() == added["sex"].to_numpy()).all()
    with pytest.raises(UnskewInputError, match="not in the table"):
        resample_frame(df, GroupRandomOverSampler(), target="nope", sensitive="sex")
