"""One group encoding: every consumer sees the same codes, names and order.

One table (a text attribute with missing values, a numeric attribute whose
values sort differently as text, a second text attribute) goes through every
part of unskew that forms groups; all must agree with
:func:`unskew.data._groups.encode_groups`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.data import MISSING, MISSING_GROUP, Dataset
from unskew.data._groups import (
    attribute_codes,
    encode_groups,
    encode_labels,
    grid_codes,
    group_name,
    lookup_groups,
    sort_key,
)
from unskew.exceptions import UnskewInputError

SENS = ["race", "band"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 600
    race = rng.choice(np.array(["White", "Black", "Asian"], dtype=object), size=n, p=[0.5, 0.3, 0.2])
    race[rng.random(n) < 0.08] = None
    band = rng.choice([10, 2, 1], size=n)  # as text "10" < "2"; as numbers 1 < 2 < 10
    x1 = rng.normal(size=n) + (race == "Black") * 0.5
    x2 = rng.normal(size=n)
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.8, size=n) > 0).astype(int)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    return pd.DataFrame({"race": race, "band": band, "x1": x1, "x2": x2,
                         "colour": rng.choice(["red", "blue"], size=n), "y": y, "pred": pred})


@pytest.fixture(scope="module")
def expected(table):
    g = encode_groups(table[SENS])
    return g


def test_the_rules(expected, table):
    # numbers numerically, text lexicographically, missing last; first attribute slowest
    race_order = ["Asian", "Black", "White", MISSING]
    band_order = [1, 2, 10]
    want = [(r, b) for r in race_order for b in band_order]
    want = [k for k in want if ((table["race"].fillna(MISSING) == k[0]) & (table["band"] == k[1])).any()]
    assert expected.keys == want
    assert expected.names[0] == "race=Asian & band=1"
    assert expected.names[-1] == f"race={MISSING} & band=10"
    rows = [(MISSING if pd.isna(r) else r, b) for r, b in zip(table["race"], table["band"], strict=True)]
    assert [expected.keys[c] for c in expected.codes] == rows
    assert MISSING_GROUP == MISSING == "(missing)"


def test_dataset_agrees(expected, table):
    ds = Dataset.from_data(table, target="y", sensitive=SENS, predictions="pred")
    codes, names = ds.group_codes()
    np.testing.assert_array_equal(codes, expected.codes)
    assert names == expected.names
    cat = ds.groups()
    assert list(cat.categories) == expected.names
    assert list(ds.sensitive_values("band").unique()) == [str(v) for v in table["band"].unique()]
    # one attribute at a time
    c1, n1 = ds.group_codes(["band"])
    assert n1 == ["band=1", "band=2", "band=10"]
    np.testing.assert_array_equal(c1, encode_groups(table[["band"]]).codes)


def test_metrics_agree(expected, table):
    from unskew.metrics import GroupStats, group_metrics

    st = GroupStats.from_arrays(table["y"], table["pred"], sensitive_features=table[SENS])
    assert st.labels == expected.names
    assert list(st.keys) == expected.keys
    np.testing.assert_array_equal(np.asarray(st.n), np.bincount(expected.codes))
    gm = group_metrics(table["y"], table["pred"], sensitive_features=table[SENS], metrics=["accuracy"], ci=None)
    assert list(gm.by_group.index) == expected.keys
    acc = [float((table["y"] == table["pred"])[expected.codes == i].mean()) for i in range(len(expected))]
    np.testing.assert_allclose(gm.by_group["accuracy"].to_numpy(float), acc)


def test_mitigate_agrees(expected, table):
    from unskew.mitigate._utils import encode_groups as mitigate_groups
    from unskew.mitigate._utils import lookup_groups as mitigate_lookup

    codes, labels = mitigate_groups(table[SENS], len(table))
    np.testing.assert_array_equal(codes, expected.codes)
    assert labels == expected.keys
    assert [group_name(SENS, lab) for lab in labels] == expected.names
    # a subset of the rows is coded under the fitted labels
    sub = table[SENS].iloc[::7]
    np.testing.assert_array_equal(mitigate_lookup(sub, labels, len(sub)), expected.codes[::7])
    # one attribute: scalar labels in the same order
    c1, l1 = mitigate_groups(table["race"], len(table))
    assert l1 == ["Asian", "Black", "White", MISSING]
    np.testing.assert_array_equal(c1, attribute_codes(table["race"])[0])


def test_audit_representation_agrees(expected, table):
    from unskew.audit import audit

    report = audit(table, target="y", sensitive=SENS, checks=["representation"])
    res = report["representation"]
    tab = res.tables[0]
    cols = list(tab.columns)
    gi, ri, ki = cols.index("grouping"), cols.index("group"), cols.index("rows")
    inter = [row for row in tab.rows if row[gi] == "race & band" and float(row[ki]) > 0]
    assert [row[ri] for row in inter] == expected.names
    assert [int(float(row[ki])) for row in inter] == np.bincount(expected.codes).tolist()
    single = [row[ri] for row in tab.rows if row[gi] == "race"]
    assert single == [f"race={v}" for v in ["Asian", "Black", "White", MISSING]]
    assert [row[ri] for row in tab.rows if row[gi] == "band"] == ["band=1", "band=2", "band=10"]


def test_slices_agree(expected, table):
    from unskew.slices import find_slices

    res = find_slices(table, target="y", predictions="pred", sensitive=SENS, features=["x1", "x2", "colour"],
                      min_support=30, top_k=5)
    named = [s.get("over_represented_group", {}).get("group") for s in res.report.checks[0].summary["slices"]]
    named = [g for g in named if g]
    assert named, "no slice was described by a sensitive group"
    assert set(named) <= set(expected.names)


def test_compare_agrees(expected, table):
    from unskew.compare import make_folds, resolve_model

    ds = Dataset.from_data(table, target="y", sensitive=SENS, ignore=["pred"])
    folds = make_folds(ds, resolve_model("logistic"), [0], test_size=0.3, val_fraction=0.25,
                       fairness="demographic_parity")
    f = folds[0]
    assert f.group_labels == expected.names
    codes = np.concatenate([f.groups, f.groups_test])
    assert sorted(np.bincount(codes).tolist()) == sorted(np.bincount(expected.codes).tolist())
    assert np.bincount(codes, minlength=len(expected)).tolist() == np.bincount(expected.codes).tolist()


# --------------------------------------------------------------------------- the module itself
def test_sort_key_and_attribute_codes():
    assert sorted([MISSING, "b", 10, 2, True, "a", None], key=sort_key)[:5] == [True, 2, 10, "a", "b"]
    codes, levels = attribute_codes(pd.Series(["b", None, "a", "(missing)", "b"], dtype=object))
    assert levels == ["a", "b", MISSING]
    assert codes.tolist() == [1, 2, 0, 2, 1]
    # a categorical's declared order is not used: one order everywhere
    cat = pd.Series(pd.Categorical(["z", "a", "z"], categories=["z", "a"]))
    assert attribute_codes(cat)[1] == ["a", "z"]
    flat, shape = grid_codes([(np.array([0, 1]), ["a", "b"]), (np.array([2, 0]), [1, 2, 3])])
    assert shape == (2, 3) and flat.tolist() == [2, 3]


def test_inputs_and_errors():
    g = encode_groups({"s": np.array([2, 1, 2])})
    assert g.names == ["s=1", "s=2"] and g.labels == [1, 2]
    assert encode_groups([[1, "a"], [2, "b"], [1, "a"]]).codes.tolist() == [0, 1, 0]
    with pytest.raises(UnskewInputError, match="sensitive_features is required"):
        encode_groups(None)
    with pytest.raises(UnskewInputError, match="rows but y_true has 4"):
        encode_groups([1, 2], 4, n_what="y_true")
    with pytest.raises(UnskewInputError, match="not present during fit"):
        lookup_groups(["a", "c"], ["a", "b"], 2)
    codes, classes = encode_labels(["no", "yes", "no"])
    assert codes.tolist() == [0, 1, 0] and classes.tolist() == ["no", "yes"]
    assert encode_labels([2, 1], [1, 2])[0].tolist() == [1, 0]
    with pytest.raises(UnskewInputError, match="not among the known labels"):
        encode_labels([3], [1, 2])
    with pytest.raises(UnskewInputError, match="missing labels"):
        encode_labels(np.array([1.0, np.nan]))
