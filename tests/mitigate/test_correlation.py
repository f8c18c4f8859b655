"""Correlation removal against Fairlearn's CorrelationRemover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.pre import CorrelationRemover


def _data(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, size=n).astype(float)
    age = rng.normal(40, 10, size=n)
    X = np.c_[s, rng.normal(size=n) + 2 * s, age, rng.normal(size=n) - 0.03 * age + s]
    return X


@pytest.mark.peers
@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("ids", [[0], [0, 2]])
def test_matches_fairlearn(alpha, ids):
    from fairlearn.preprocessing import CorrelationRemover as FLCorrelationRemover

    X = _data()
    ours = CorrelationRemover(sensitive_feature_ids=ids, alpha=alpha).fit(X)
    theirs = FLCorrelationRemover(sensitive_feature_ids=ids, alpha=alpha).fit(X)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-10)
    X2 = _data(200, seed=1)
    np.testing.assert_allclose(ours.transform(X2), theirs.transform(X2), atol=1e-10)


def test_output_uncorrelated_with_sensitive_columns():
    X = _data()
    out = CorrelationRemover(sensitive_feature_ids=[0, 2]).fit_transform(X)
    assert out.shape == (len(X), 2)
    for j in range(out.shape[1]):
        for s in (X[:, 0], X[:, 2]):
            assert abs(np.corrcoef(out[:, j], s)[0, 1]) < 1e-10
    # before: strongly correlated (the test can fail)
    assert abs(np.corrcoef(X[:, 1], X[:, 0])[0, 1]) > 0.5


def test_alpha_interpolates():
    X = _data()
    full = CorrelationRemover(sensitive_feature_ids=[0], alpha=1.0).fit_transform(X)
    none = CorrelationRemover(sensitive_feature_ids=[0], alpha=0.0).fit_transform(X)
    half = CorrelationRemover(sensitive_feature_ids=[0], alpha=0.5).fit_transform(X)
    np.testing.assert_allclose(none, X[:, 1:])
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * none)
    with pytest.raises(UnskewInputError, match="alpha"):
        CorrelationRemover(sensitive_feature_ids=[0], alpha=1.5).fit(X)


def test_categorical_sensitive_column_by_name_and_pandas_output():
    rng = np.random.default_rng(0)
    n = 900
    race = rng.choice(["A", "B", "C"], size=n)
    df = pd.DataFrame({
        "race": race,
        "income": rng.normal(size=n) + np.select([race == "A", race == "B"], [2.0, -1.0], 0.0),
        "hours": rng.normal(size=n),
    })
    cr = CorrelationRemover(sensitive_feature_ids=["race"]).set_output(transform="pandas")
    out = cr.fit_transform(df)
    assert list(out.columns) == ["income", "hours"]
    means = out.groupby(race)["income"].mean()
    np.testing.assert_allclose(means.to_numpy(), means.mean(), atol=1e-10)  # group means equalised
    assert list(cr.get_feature_names_out()) == ["income", "hours"]
    with pytest.raises(UnskewInputError, match="not seen during fit"):
        cr.transform(df.assign(race="D"))


def test_sensitive_features_argument():
    X = _data()
    a = CorrelationRemover(sensitive_feature_ids=[0]).fit_transform(X)
    b = CorrelationRemover().fit(X[:, 1:], sensitive_features=X[:, 0]).transform(X[:, 1:], sensitive_features=X[:, 0])
    np.testing.assert_allclose(a, b)
    with pytest.raises(UnskewInputError, match="needs the sensitive attribute"):
        CorrelationRemover().fit(X)
    with pytest.raises(UnskewInputError, match="not both"):
        CorrelationRemover(sensitive_feature_ids=[0]).fit(X, sensitive_features=X[:, 0])
    with pytest.raises(UnskewInputError, match="not a column"):
        CorrelationRemover(sensitive_feature_ids=["zzz"]).fit(X)


def test_non_numeric_features_refused():
    df = pd.DataFrame({"s": [0, 1, 0, 1], "t": ["a", "b", "a", "c"], "x": [1.0, 2, 3, 4]})
    with pytest.raises(UnskewInputError, match="numeric features"):
        CorrelationRemover(sensitive_feature_ids=["s"]).fit(df)
