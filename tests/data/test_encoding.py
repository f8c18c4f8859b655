"""The one feature encoding: every consumer uses it, and it computes what it says."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from unskew.data import Dataset
from unskew.data._encoding import (
    EmbeddingEncoder,
    FeatureEncoder,
    column_kinds,
    datetime_days,
    tabular_encoder,
)
from unskew.exceptions import UnskewInputError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    age = rng.normal(40, 10, n)
    age[::11] = np.nan
    job = rng.choice(np.array(["clerk", "nurse", "pilot", "rare"], dtype=object), n, p=[0.5, 0.3, 0.19, 0.01])
    job[::13] = None
    return pd.DataFrame({
        "age": age,
        "hours": rng.integers(10, 60, n),
        "owner": rng.random(n) < 0.3,
        "job": job,
        "y": rng.integers(0, 2, n),
    })


def test_every_consumer_uses_the_shared_encoders():
    shared = importlib.import_module("unskew.data._encoding")
    assert importlib.import_module("unskew.compare._runner").tabular_encoder is shared.tabular_encoder
    assert importlib.import_module("unskew.mitigate.d3m._debias").tabular_encoder is shared.tabular_encoder
    assert importlib.import_module("unskew.audit._features").FeatureEncoder is shared.FeatureEncoder
    assert importlib.import_module("unskew.audit._common").datetime_days is shared.datetime_days
    from unskew.train import Preprocessor

    X = pd.DataFrame({"x": [1.0, 2.0, 4.0], "c": ["b", "a", None]})
    np.testing.assert_array_equal(Preprocessor().fit(X).transform(X), EmbeddingEncoder().fit(X).transform(X))


def test_tabular_encoder_imputes_standardises_and_one_hot_encodes(frame):
    ds = Dataset.from_data(frame, target="y")
    enc = tabular_encoder(ds, ["age", "hours", "owner", "job"], min_frequency=5)
    Z = enc.fit_transform(frame)
    # numerics (age median-imputed, hours, owner as a number) first, standardised
    age = frame["age"].fillna(frame["age"].median()).to_numpy()
    np.testing.assert_allclose(Z[:, 0], (age - age.mean()) / age.std(), atol=1e-12)
    np.testing.assert_allclose(Z[:, 2], (frame["owner"] - frame["owner"].mean()) / frame["owner"].std(ddof=0))
    # one-hot: clerk, nurse, pilot, (missing); "rare" (< 5 rows) pooled into the infrequent column
    onehot = Z[:, 3:]
    assert onehot.shape[1] == 5
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    cats = enc.named_transformers_["cat"][-1].categories_[0].tolist()
    assert cats == ["(missing)", "clerk", "nurse", "pilot", "rare"]
    # unseen levels encode as all zeros
    new = frame.head(2).assign(job=["astronaut", "clerk"])
    assert enc.transform(new)[0, 3:].sum() == 0.0
    # a DataFrame alone: kinds from the dtypes
    _, cols, kinds = column_kinds(frame[["age", "job"]])
    assert kinds == {"age": "numeric", "job": "categorical"} and cols == ["age", "job"]
    with pytest.raises(UnskewInputError, match="No numeric or categorical"):
        tabular_encoder(frame, ["job"], column_types={"job": "text"})


def test_embedding_encoder_matches_its_definition(frame):
    X = frame.drop(columns="y")
    tr, te = X.iloc[:200], X.iloc[200:].assign(job=lambda d: d["job"].where(d.index % 5 != 0, "astronaut"))
    enc = EmbeddingEncoder().fit(tr)
    Z = enc.transform(te)
    assert enc.numeric_ == ["age", "hours", "owner"] and enc.categorical_ == ["job"]
    num = tr[enc.numeric_].astype(float).to_numpy()
    mean, sd = np.nanmean(num, axis=0), np.nanstd(num, axis=0)
    want = (te[enc.numeric_].astype(float).to_numpy() - mean) / sd
    np.testing.assert_allclose(Z[:, :3], np.where(np.isnan(want), 0.0, want), rtol=1e-6, atol=1e-6)
    levels = sorted(tr["job"].dropna().unique())
    assert enc.categories_["job"] == levels and enc.cardinalities_ == [len(levels) + 1]
    codes = [0 if (v is None or v not in levels) else levels.index(v) + 1 for v in te["job"]]
    np.testing.assert_array_equal(Z[:, 3], codes)
    assert Z.dtype == np.float32
    raw = EmbeddingEncoder(standardize=False).fit(tr).transform(te)
    np.testing.assert_allclose(raw[:, 1], te["hours"].to_numpy())
    with pytest.raises(UnskewInputError, match="missing from X"):
        enc.transform(te.drop(columns="job"))


def test_feature_encoder_keeps_missing_and_orders_codes_by_frequency(frame):
    enc = FeatureEncoder().fit(frame, {"age": "numeric", "job": "categorical", "owner": "boolean"},
                               ["age", "job", "owner"])
    out = enc.transform(frame)
    assert out.names == ["age", "job", "owner"]
    assert np.isnan(out.X[::11, 0]).all()
    job = out.X[:, 1]
    assert np.isnan(job[::13]).all()
    assert job[frame["job"].eq("clerk").to_numpy()].max() == 0.0  # most frequent level -> code 0
    assert out.categorical.tolist() == [False, True, True]
    dense = out.numeric()
    assert not np.isnan(dense).any()


def test_datetime_days():
    s = pd.Series(pd.to_datetime(["1970-01-02 00:00", None, "1970-01-01 12:00"]))
    np.testing.assert_allclose(datetime_days(s), [1.0, np.nan, 0.5])
