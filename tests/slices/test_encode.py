import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.slices import SliceEncoder


def test_numeric_quantile_bins_and_labels():
    x = np.arange(1, 101, dtype=float)
    enc = SliceEncoder(n_bins=4)
    codes = enc.fit_transform(pd.DataFrame({"x": x}))
    assert enc.features_ == ["x"]
    texts = [lv.text for lv in enc.levels_[0]]
    assert texts[0].startswith("x <= ") and texts[-1].startswith("x > ")
    assert np.bincount(codes[0]).tolist() == [25, 25, 25, 25]
    # right-closed intervals: the first bin holds exactly the values <= its upper edge
    hi = enc.levels_[0][0].high
    assert set(x[codes[0] == 0]) == set(x[x <= hi])


def test_mostly_zero_column_gets_zero_and_positive_bins():
    x = np.r_[np.zeros(90), np.arange(1, 11)]
    enc = SliceEncoder(n_bins=5)
    codes = enc.fit_transform(pd.DataFrame({"gain": x}))
    assert [lv.text for lv in enc.levels_[0]] == ["gain <= 0", "gain > 0"]
    assert (codes[0] == (x > 0)).all()


def test_few_distinct_numeric_values_are_kept_as_values():
    x = np.array([0, 1, 1, 0, 1, 3] * 5)
    enc = SliceEncoder(n_bins=5)
    codes = enc.fit_transform({"a": x})
    assert [lv.text for lv in enc.levels_[0]] == ["a = 0", "a = 1", "a = 3"]
    assert (np.array([0, 1, 3])[codes[0]] == x).all()


def test_missing_values_are_their_own_level():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan],
                       "c": ["a", None, "b", "a", "b", "a", None, "b"]})
    enc = SliceEncoder(n_bins=2)
    codes = enc.fit_transform(df)
    for f in range(2):
        miss = df.iloc[:, f].isna().to_numpy()
        mlev = [i for i, lv in enumerate(enc.levels_[f]) if lv.kind == "missing"]
        assert len(mlev) == 1 and (codes[f][miss] == mlev[0]).all() and (codes[f][~miss] != mlev[0]).all()
    assert (enc.transform(df) == codes).all()


def test_rare_categories_pooled_and_unseen_values():
    vals = ["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["d"] * 5 + ["e"] * 5
    enc = SliceEncoder(max_levels=3)
    enc.fit(pd.DataFrame({"c": vals}))
    assert [lv.text for lv in enc.levels_[0]] == ["c = a", "c = b", "c = (other)"]
    new = enc.transform(pd.DataFrame({"c": ["a", "d", "zzz"]}))
    assert new[0].tolist() == [0, 2, 2]
    enc2 = SliceEncoder().fit(pd.DataFrame({"c": ["a", "b"] * 10}))
    assert enc2.transform(pd.DataFrame({"c": ["b", "new"]}))[0].tolist() == [1, -1]


def test_identifier_and_constant_columns_are_dropped():
    n = 200
    df = pd.DataFrame({"id": [f"img{i}.jpg" for i in range(n)], "k": ["x"] * n,
                       "g": np.arange(n) % 3 == 0})
    enc = SliceEncoder(max_levels=10)
    enc.fit(df)
    assert enc.features_ == ["g"]
    assert set(enc.dropped_) == {"id", "k"} and "identifier" in enc.dropped_["id"]
    with pytest.raises(UnskewInputError, match="No column"):
        SliceEncoder().fit(df[["k"]])


def test_transform_matches_fit_and_checks_columns():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["p", "q", "r"], 500)})
    enc = SliceEncoder()
    codes = enc.fit_transform(df)
    assert (enc.transform(df) == codes).all()
    with pytest.raises(UnskewInputError, match="lacks"):
        enc.transform(df[["x"]])
    with pytest.raises(UnskewInputError, match="n_bins"):
        SliceEncoder(n_bins=1).fit(df)


def test_polars_and_numpy_input():
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 10, "c": ["a", "b"] * 20})
    enc = SliceEncoder(n_bins=2).fit(df)
    assert enc.features_ == ["x", "c"]
    enc2 = SliceEncoder(n_bins=2).fit(np.column_stack([np.arange(40.0), np.arange(40) % 2]))
    assert enc2.features_ == ["x0", "x1"]


def test_datetime_bins_are_labelled_with_timestamps_and_unit_independent():
    d = pd.Series(pd.date_range("2020-01-01", periods=400, freq="D"))
    enc = SliceEncoder(n_bins=4)
    codes = enc.fit_transform(pd.DataFrame({"day": d}))
    assert enc.levels_[0][0].text.startswith("day <= 2020-")
    assert np.bincount(codes[0]).tolist() == [100, 100, 100, 100]
    assert (enc.transform(pd.DataFrame({"day": d.dt.as_unit("s")})) == codes).all()
