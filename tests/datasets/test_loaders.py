"""Real-data loaders: row counts, cleaning, data-home resolution and the bundled German copy."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from unskew.data import Dataset
from unskew.datasets import (
    ADULT_COLUMNS,
    COMPAS_COLUMNS,
    DATASETS,
    DEFAULT_ROLES,
    get_data_home,
    load,
    load_adult,
    load_celeba_attributes,
    load_compas,
    load_german,
)
from unskew.exceptions import UnskewInputError


# --------------------------------------------------------------------------- Adult
@pytest.fixture(scope="module")
def adult(data_home):
    return load_adult(data_home=data_home)


def test_adult_rows_columns_and_labels(adult):
    assert list(adult.columns) == ADULT_COLUMNS + ["split"]
    assert adult["split"].value_counts().to_dict() == {"train": 32561, "test": 16281}
    assert set(adult["income"].unique()) == {0, 1}
    assert pd.api.types.is_integer_dtype(adult["income"])
    # positives per split as published (7,841 and 3,846 rows >50K)
    assert adult.groupby("split")["income"].sum().to_dict() == {"train": 7841, "test": 3846}
    for col in ("age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"):
        assert pd.api.types.is_integer_dtype(adult[col]), col


def test_adult_cleaning(adult):
    strings = adult.select_dtypes(exclude="number")
    for col in strings:
        vals = strings[col].dropna().astype(str)
        assert not vals.str.contains(r"^\s|\s$", regex=True).any(), col
        assert not (vals == "?").any(), col
    # "?" became missing and those rows were kept
    assert adult["workclass"].isna().sum() == 1836 + 963
    assert adult["occupation"].isna().sum() == 1843 + 966
    assert adult["native_country"].isna().sum() == 583 + 274
    assert adult.attrs["excluded"] == {}
    assert set(adult["sex"].unique()) == {"Male", "Female"}
    # the test file's first row is the one after the comment line
    first_test = adult[adult["split"] == "test"].iloc[0]
    assert (first_test["age"], first_test["education"], first_test["income"]) == (25, "11th", 0)


def test_adult_splits_and_explicit_paths(data_home, tmp_path):
    test = load_adult("test", data_home=data_home)
    assert len(test) == 16281 and set(test["split"]) == {"test"}
    train = load_adult("train", path=data_home / "adult" / "adult.data.gz")
    assert len(train) == 32561
    # an uncompressed copy in a folder passed as path
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in ("adult.data", "adult.test"):
        with gzip.open(data_home / "adult" / f"{name}.gz", "rb") as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    both = load_adult(path=folder)
    assert len(both) == 48842
    pair = load_adult(path=(folder / "adult.data", folder / "adult.test"))
    pd.testing.assert_frame_equal(both, pair)
    with pytest.raises(UnskewInputError, match="split='all'"):
        load_adult(path=folder / "adult.data")
    with pytest.raises(UnskewInputError, match="split must be"):
        load_adult("validation", data_home=data_home)


# --------------------------------------------------------------------------- COMPAS
def test_compas_propublica_filter(data_home):
    df = load_compas(data_home=data_home)
    assert len(df) == 6172
    assert list(df.columns) == COMPAS_COLUMNS
    assert df.attrs["n_rows_read"] == 7214
    assert sum(df.attrs["excluded"].values()) == 7214 - 6172
    assert all(isinstance(v, int) for v in df.attrs["excluded"].values())
    assert set(df["two_year_recid"].unique()) == {0, 1}
    assert not (df["c_charge_degree"] == "O").any()
    assert set(df["score_text"]) == {"Low", "Medium", "High"}
    # ProPublica's published group sizes after the filter
    races = df["race"].value_counts()
    assert races["African-American"] == 3175 and races["Caucasian"] == 2103
    assert df["two_year_recid"].sum() == 2809


# --------------------------------------------------------------------------- German
def test_german_decoded(data_home):
    df = load_german(data_home=data_home)
    assert len(df) == 1000
    assert df.attrs["source"].endswith("german.data")
    assert df["credit"].value_counts().to_dict() == {1: 700, 0: 300}
    assert df["sex"].value_counts().to_dict() == {"male": 690, "female": 310}
    assert pd.api.types.is_integer_dtype(df["age"]) and df["age"].between(19, 75).all()
    assert set(df["age_group"]) == {"<25", ">=25"}
    assert ((df["age"] < 25) == (df["age_group"] == "<25")).all()
    text = df.select_dtypes(include=["object", "string"])
    assert not text.apply(lambda s: s.astype(str).str.fullmatch(r"A\d+")).any().any()
    assert df["telephone"].dtype == bool and df["foreign_worker"].dtype == bool
    assert df.loc[0, "checking_status"] == "... < 0 DM"
    assert df.loc[0, "personal_status_sex"] == "male : single"
    assert df.loc[1, "credit"] == 0  # raw class 2 = bad
    for col in ("checking_status", "savings", "purpose", "housing", "job"):
        assert df[col].notna().all()


def test_german_bundled_copy_works_without_data_home(tmp_path, monkeypatch, data_home):
    monkeypatch.setenv("UNSKEW_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("UNSKEW_DATASETS_URL", raising=False)
    df = load_german()
    assert df.attrs["source"].startswith("bundled")
    assert len(df) == 1000
    pd.testing.assert_frame_equal(df, load_german(data_home=data_home))
    assert not any(tmp_path.iterdir())  # nothing was written


def test_missing_files_raise_a_helpful_error(tmp_path, monkeypatch):
    monkeypatch.setenv("UNSKEW_DATA_HOME", str(tmp_path))
    with pytest.raises(UnskewInputError) as err:
        load_adult()
    msg = str(err.value)
    assert str(tmp_path / "adult" / "adult.data.gz") in msg
    assert "UNSKEW_DATA_HOME" in msg and "download=True" in msg and "data_home" in msg
    with pytest.raises(UnskewInputError, match="compas-scores-two-years"):
        load_compas(data_home=tmp_path / "elsewhere")
    with pytest.raises(UnskewInputError, match="does not exist"):
        load_german(path=tmp_path / "nope.data")


def test_data_home_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("UNSKEW_DATA_HOME", raising=False)
    assert get_data_home().name == "unskew_data"
    monkeypatch.setenv("UNSKEW_DATA_HOME", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"


def test_malformed_files_are_rejected(tmp_path):
    bad = tmp_path / "german.data"
    bad.write_text("A11 6 A34\n")
    with pytest.raises(UnskewInputError, match="fewer than 21 fields"):
        load_german(path=bad)
    bad_adult = tmp_path / "adult.data"
    bad_adult.write_text("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, "
                         "Not-in-family, White, Male, 2174, 0, 40, United-States, rich\n")
    with pytest.raises(UnskewInputError, match="income label"):
        load_adult("train", path=bad_adult)
    bad_celeba = tmp_path / "celeba.csv"
    bad_celeba.write_text("filename,Male,Blond_Hair\n000001.jpg,1,0\n")
    with pytest.raises(UnskewInputError, match="-1 or \\+1"):
        load_celeba_attributes(path=bad_celeba)


# --------------------------------------------------------------------------- CelebA
def test_celeba_attributes(data_home):
    df = load_celeba_attributes(data_home=data_home)
    assert df.shape == (202599, 42)
    assert df.columns[0] == "filename" and df.columns[-1] == "split"
    attrs = df.columns[1:-1]
    assert len(attrs) == 40
    assert set(np.unique(df[attrs].to_numpy())) == {0, 1}
    assert df["split"].value_counts().to_dict() == {"train": 162770, "valid": 19867, "test": 19962}
    assert df.loc[162769, "split"] == "train" and df.loc[162770, "split"] == "valid"
    assert ((df["Blond_Hair"] == 1) & (df["Male"] == 1)).sum() == 1749
    valid = load_celeba_attributes("valid", data_home=data_home)
    assert len(valid) == 19867 and valid["filename"].iloc[0] == "162771.jpg"


def test_celeba_small_file_and_split_numbering(tmp_path):
    p = tmp_path / "celeba.csv"
    p.write_text("filename,Male,Blond_Hair\n000001.jpg,1,-1\n182638.jpg,-1,1\n162771.png,1,1\n")
    df = load_celeba_attributes(path=p)
    assert df["split"].tolist() == ["train", "test", "valid"]
    assert df["Male"].tolist() == [1, 0, 1] and df["Blond_Hair"].tolist() == [0, 1, 1]
    p.write_text("filename,Male\n300000.jpg,1\n")
    with pytest.raises(UnskewInputError, match="split is unknown"):
        load_celeba_attributes(path=p)


# --------------------------------------------------------------------------- registry
def test_registry_roles():
    assert set(DATASETS) == {"adult", "compas", "german", "celeba"}
    assert DEFAULT_ROLES["adult"]["target"] == "income"
    assert DEFAULT_ROLES["adult"]["sensitive"] == ["sex", "race"]
    assert DEFAULT_ROLES["compas"] == {"target": "two_year_recid", "sensitive": ["race", "sex"]}
    assert DEFAULT_ROLES["german"] == {"target": "credit", "sensitive": ["sex", "age_group"]}
    assert DEFAULT_ROLES["celeba"]["target"] == "Blond_Hair"
    assert DEFAULT_ROLES["celeba"]["sensitive"] == ["Male"]
    with pytest.raises(UnskewInputError, match="Unknown dataset"):
        load("mnist")


def test_load_by_name_returns_frame_or_dataset(data_home):
    df = load("german")
    assert isinstance(df, pd.DataFrame) and len(df) == 1000
    ds = load("compas", as_dataset=True, data_home=data_home)
    assert isinstance(ds, Dataset)
    assert ds.target == "two_year_recid" and ds.sensitive == ["race", "sex"]
    assert ds.n_rows_read == 7214 and len(ds) == 6172 and ds.n_excluded == 1042
    ds = load("adult", as_dataset=True, split="test", data_home=data_home)
    assert ds.split == "split" and len(ds) == 16281
