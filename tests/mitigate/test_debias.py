import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.d3m import debias


def _table(n=3000, seed=0):
    """A label that a spurious attribute (``site``) predicts in training rows only."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    site = np.where(rng.random(n) < 0.9, y, 1 - y)
    return pd.DataFrame({
        "core": y + rng.normal(scale=1.2, size=n),
        "badge": np.where(site == 1, "gold", "grey"),
        "noise": rng.normal(size=n),
        "site": np.where(site == 1, "north", "south"),
        "y": y,
    })


def test_debias_returns_cleaned_table_and_review_list():
    df = _table()
    res = debias(df, target="y", sensitive="site")
    s = res.report["d3m"].summary
    assert s["n_removed"] == len(res.removed) > 0
    assert len(res.cleaned) == len(df) - len(res.removed)
    # removed rows are real input rows, identified by position, most harmful first
    assert set(res.removed["row"]).isdisjoint(set(range(len(df))) - set(res.removed["row"]))
    assert (np.diff(res.removed["score"].to_numpy()) >= 0).all()
    assert {"hurts_most", "core", "site", "y"} <= set(res.removed.columns)
    assert res.report.to_dict()["kind"] == "debias"
    # the sensitive column is not a model feature
    assert s["val_worst_group_accuracy_after"] >= s["val_worst_group_accuracy_before"] - 0.02


def test_auto_d3m_needs_no_groups_and_d3m_does():
    df = _table(seed=1)
    res = debias(df, target="y", method="auto-d3m", removal="sweep")
    assert res.estimator.auto_
    with pytest.raises(UnskewInputError, match="needs validation groups"):
        debias(df, target="y", method="d3m")
    with pytest.raises(UnskewInputError, match="binary target"):
        debias(df.assign(y=np.arange(len(df)) % 3), target="y", sensitive="site")


def test_split_column_is_respected():
    df = _table(1000).assign(part=lambda d: np.where(np.arange(len(d)) < 700, "train", "val"))
    res = debias(df, target="y", sensitive="site", split="part")
    assert res.report["d3m"].summary["n_train"] == 700
    assert (res.removed["row"] < 700).all()
    with pytest.raises(UnskewInputError, match="Split column"):
        debias(df.assign(part="train"), target="y", sensitive="site", split="part")
