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


def test_d3m_methods_are_a_registry():
    from unskew._registry import Registry
    from unskew.mitigate.d3m import METHODS

    assert isinstance(METHODS, Registry)
    assert METHODS.names() == ["d3m", "auto-d3m"]
    assert METHODS["d3m"].needs_groups and not METHODS["auto-d3m"].needs_groups
    with pytest.raises(UnskewInputError, match="Did you mean 'auto-d3m'"):
        debias(_table(n=50), target="y", method="auto_d3m")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"removal": "all"}, "--removal must be negative, k or sweep"),
    ({"removal": "k"}, "--removal k needs --k"),
    ({"removal": "k", "k": -1}, "--removal k needs --k"),
    ({"val_fraction": 1.5}, "--val-fraction must be between 0 and 1"),
    ({"val_fraction": 0}, "--val-fraction must be between 0 and 1"),
    ({"C": 0}, "C .* must be a positive number"),
])
def test_debias_checks_options_before_reading_the_table(tmp_path, kwargs, match):
    # the file does not exist: an option error must come first
    with pytest.raises(UnskewInputError, match=match):
        debias(tmp_path / "absent.csv", target="y", sensitive="site", **kwargs)
