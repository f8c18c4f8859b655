"""The synthetic generator and each planter plant exactly what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from unskew.datasets import (
    make_synthetic,
    match_rows,
    plant_duplicates,
    plant_label_noise,
    plant_missing_intersection,
    plant_missingness,
    plant_outliers,
    plant_proxy,
    plant_shift,
)
from unskew.exceptions import UnskewInputError


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return make_synthetic(4000, random_state=0)


def test_make_synthetic_layout_and_shares(base):
    assert list(base.columns) == [f"num_{i}" for i in range(6)] + ["cat_0", "cat_1", "sex", "race", "y"]
    assert len(base) == 4000
    assert isinstance(base.index, pd.RangeIndex)
    assert base.isna().sum().sum() == 0
    assert set(base["y"].unique()) == {0, 1}
    assert pd.api.types.is_integer_dtype(base["y"])
    assert set(base["cat_0"].unique()) <= {"a", "b", "c", "d"}
    sex = base["sex"].value_counts(normalize=True)
    assert abs(sex["female"] - 0.45) < 0.03 and abs(sex["male"] - 0.55) < 0.03
    race = base["race"].value_counts(normalize=True)
    for value, share in {"A": 0.6, "B": 0.3, "C": 0.1}.items():
        assert abs(race[value] - share) < 0.03
    # balanced-ish target with a modest group effect (females lower)
    assert 0.4 < base["y"].mean() < 0.6
    rates = base.groupby("sex")["y"].mean()
    assert 0.0 < rates["male"] - rates["female"] < 0.15


def test_make_synthetic_is_learnable_but_not_trivial(base):
    X = pd.get_dummies(base.drop(columns="y"), dtype=float)
    Xtr, Xte, ytr, yte = train_test_split(X, base["y"], test_size=0.3, random_state=0)
    acc = LogisticRegression(max_iter=2000).fit(Xtr, ytr).score(Xte, yte)
    assert 0.8 <= acc <= 0.92


def test_make_synthetic_seed_and_shape_parameters():
    a = make_synthetic(300, random_state=1)
    pd.testing.assert_frame_equal(a, make_synthetic(300, random_state=1))
    assert not a.equals(make_synthetic(300, random_state=2))
    b = make_synthetic(100, n_numeric=2, n_categorical=0, random_state=0)
    assert list(b.columns) == ["num_0", "num_1", "sex", "race", "y"]
    c = make_synthetic(100, n_numeric=9, n_categorical=3)
    assert "num_8" in c and "cat_2" in c
    with pytest.raises(UnskewInputError, match="n_numeric"):
        make_synthetic(100, n_numeric=0)
    with pytest.raises(UnskewInputError, match="n_samples"):
        make_synthetic(1)


def test_match_rows(base):
    m = match_rows(base, {"sex": "female", "race": ["B", "C"]})
    expected = (base["sex"] == "female") & base["race"].isin(["B", "C"])
    assert np.array_equal(m, expected.to_numpy())
    assert match_rows(base, None).all()
    with pytest.raises(UnskewInputError, match="'nope'"):
        match_rows(base, {"nope": 1})


def test_label_noise_flips_exactly_in_group(base):
    out, flipped = plant_label_noise(base, where={"sex": "female"}, rate=0.1, random_state=3)
    n_female = int((base["sex"] == "female").sum())
    assert len(flipped) == round(0.1 * n_female)
    assert (base["sex"].iloc[flipped] == "female").all()
    changed = np.flatnonzero(out["y"].to_numpy() != base["y"].to_numpy())
    assert np.array_equal(changed, flipped)
    assert np.array_equal(out["y"].iloc[flipped].to_numpy(), 1 - base["y"].iloc[flipped].to_numpy())
    assert out["y"].dtype == base["y"].dtype
    pd.testing.assert_frame_equal(out.drop(columns="y"), base.drop(columns="y"))


def test_label_noise_string_and_multiclass_targets():
    df = make_synthetic(500, random_state=0)
    df["label"] = np.where(df["y"] == 1, "yes", "no")
    df["k"] = np.arange(len(df)) % 3
    out, flipped = plant_label_noise(df, target="label", where=None, rate=0.2)
    assert len(flipped) == 100
    assert (out["label"].iloc[flipped].to_numpy() != df["label"].iloc[flipped].to_numpy()).all()
    assert set(out["label"]) == {"yes", "no"}
    out, flipped = plant_label_noise(df, target="k", where={"race": "A"}, rate=0.5)
    assert (out["k"].iloc[flipped].to_numpy() != df["k"].iloc[flipped].to_numpy()).all()
    assert set(out["k"]) <= {0, 1, 2}
    with pytest.raises(UnskewInputError, match="No row matches"):
        plant_label_noise(df, where={"race": "Z"})


def test_missing_intersection_removes_the_whole_cell(base):
    cell = {"sex": "female", "race": "C"}
    out = plant_missing_intersection(base, cell=cell)
    n_cell = int(match_rows(base, cell).sum())
    assert n_cell > 0
    assert len(out) == len(base) - n_cell
    assert not match_rows(out, cell).any()
    assert out.attrs["planted_removed_rows"] == n_cell
    # the rest of the table is intact: the marginal groups still exist
    assert (out["sex"] == "female").sum() == (base["sex"] == "female").sum() - n_cell
    assert (out["race"] == "C").sum() > 0
    with pytest.raises(UnskewInputError):
        plant_missing_intersection(base, cell={"race": "Z"})


@pytest.mark.parametrize("strength", [0.0, 0.6, 0.9, 1.0])
def test_proxy_agreement_matches_strength(base, strength):
    out = plant_proxy(base, sensitive="race", strength=strength, random_state=0)
    assert "proxy" in out and "proxy" not in base
    decoded = out["proxy"].map({"z0": "A", "z1": "B", "z2": "C"})
    agreement = float((decoded == out["race"]).mean())
    expected = strength + (1 - strength) / 3
    assert abs(agreement - expected) < 0.03
    assert set(out["proxy"]) <= {"z0", "z1", "z2"}


def test_proxy_name_clash(base):
    with pytest.raises(UnskewInputError, match="already exists"):
        plant_proxy(base, name="sex")


def test_shift_in_subgroup_and_globally(base):
    out = plant_shift(base, column="num_0", delta=1.5, where={"race": "B"})
    diff = out["num_0"] - base["num_0"]
    in_b = base["race"] == "B"
    assert np.allclose(diff[in_b], 1.5) and np.allclose(diff[~in_b], 0.0)
    out = plant_shift(base, column="num_1", delta=-2.0)
    assert np.allclose(out["num_1"] - base["num_1"], -2.0)
    with pytest.raises(UnskewInputError, match="not numeric"):
        plant_shift(base, column="sex")


def test_outliers_are_extreme_and_located(base):
    out, pos = plant_outliers(base, rate=0.02, random_state=1)
    assert len(pos) == round(0.02 * len(base))
    num = [f"num_{i}" for i in range(6)]
    z = (out[num] - base[num].median()) / base[num].std(ddof=0)
    assert (z.iloc[pos].abs() >= 8.0 - 1e-9).all().all()
    rest = np.setdiff1d(np.arange(len(base)), pos)
    pd.testing.assert_frame_equal(out.iloc[rest], base.iloc[rest])
    assert out["y"].equals(base["y"])  # the 0/1 target is not a default outlier column
    out, pos = plant_outliers(base, rate=0.05, columns=["num_2"], where={"sex": "male"}, scale=5)
    assert (base["sex"].iloc[pos] == "male").all()
    assert out.drop(columns="num_2").equals(base.drop(columns="num_2"))


def test_duplicates_exact_and_conflicting(base):
    out, info = plant_duplicates(base, n_exact=30, n_conflicting=12, random_state=2)
    assert len(out) == len(base) + 42
    assert out.dtypes.equals(base.dtypes)
    pd.testing.assert_frame_equal(out.iloc[: len(base)], base)
    exact = out.iloc[info["exact"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(exact, base.iloc[info["exact_source"]].reset_index(drop=True))
    conf = out.iloc[info["conflicting"]].reset_index(drop=True)
    src = base.iloc[info["conflicting_source"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(conf.drop(columns="y"), src.drop(columns="y"))
    assert (conf["y"] != src["y"]).all()
    assert len(set(info["exact_source"]) | set(info["conflicting_source"])) == 42
    assert out.duplicated().sum() == 30
    assert out.drop(columns="y").duplicated().sum() == 42
    with pytest.raises(UnskewInputError, match="distinct source rows"):
        plant_duplicates(base.head(10), n_exact=8, n_conflicting=5)


def test_missingness_mostly_in_one_group(base):
    out = plant_missingness(base, column="num_3", where={"sex": "female"}, rate=0.3)
    miss = out["num_3"].isna()
    female = base["sex"] == "female"
    assert miss[female].sum() == round(0.3 * female.sum())
    assert miss[~female].sum() == 0
    assert np.allclose(out.loc[~miss, "num_3"], base.loc[~miss, "num_3"])
    out = plant_missingness(base, column="cat_1", where={"race": "C"}, rate=0.5, other_rate=0.05)
    miss = out["cat_1"].isna()
    race_c = base["race"] == "C"
    assert miss[race_c].mean() == pytest.approx(0.5, abs=0.01)
    assert miss[~race_c].mean() == pytest.approx(0.05, abs=0.01)
    with pytest.raises(UnskewInputError, match="rate"):
        plant_missingness(base, column="num_3", where={"sex": "female"}, rate=1.5)


def test_missingness_in_int_and_bool_columns():
    df = make_synthetic(400, random_state=0)
    df["flag"] = df["y"] == 1
    for col in ("y", "flag"):
        out = plant_missingness(df, column=col, where={"sex": "male"}, rate=0.5)
        male = df["sex"] == "male"
        assert out[col].isna().sum() == round(0.5 * male.sum())
        kept = out[col].notna()
        assert (out.loc[kept, col].astype(int) == df.loc[kept, col].astype(int)).all()


@pytest.mark.parametrize(
    "planter",
    [
        lambda d: plant_label_noise(d, where={"sex": "female"}),
        lambda d: plant_missing_intersection(d, cell={"sex": "male", "race": "B"}),
        lambda d: plant_proxy(d),
        lambda d: plant_shift(d, where={"race": "A"}),
        lambda d: plant_outliers(d),
        lambda d: plant_duplicates(d),
        lambda d: plant_missingness(d, column="num_0", where={"sex": "male"}),
    ],
)
def test_planters_never_mutate_input(planter):
    df = make_synthetic(600, random_state=5)
    before = df.copy()
    planter(df)
    pd.testing.assert_frame_equal(df, before)


def test_planters_reject_non_frames():
    with pytest.raises(UnskewInputError, match="DataFrame"):
        plant_proxy(np.zeros((3, 3)))
