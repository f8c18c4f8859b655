import json
import time

import numpy as np
import pandas as pd
import pytest

from unskew.audit import audit
from unskew.audit._duplicates import column_codes, combine_codes
from unskew.datasets import load_adult, load_compas, make_synthetic, plant_duplicates


def _dup(df, target="y", sensitive=("sex", "race"), **kw):
    return audit(df, target=target, sensitive=list(sensitive) if sensitive else None,
                 checks=["duplicates"], **kw)["duplicates"]


def test_clean_synthetic_has_no_duplicates():
    res = _dup(make_synthetic(4000))
    assert res.status == "pass"
    s = res.summary
    assert s["n_duplicate_rows"] == 0 and s["n_conflicting_groups"] == 0 and s["n_near_duplicate_rows"] == 0
    assert (res.scores == 1).all()


def test_planted_exact_and_conflicting_duplicates_are_counted_exactly():
    df, info = plant_duplicates(make_synthetic(4000), n_exact=50, n_conflicting=20)
    res = _dup(df)
    s = res.summary
    assert s["n_duplicate_rows"] == 70
    assert s["n_exact_duplicate_rows"] == 50
    assert s["n_conflicting_groups"] == 20
    assert s["n_conflicting_rows"] == 40
    assert s["n_duplicate_groups"] == 70 and s["largest_group"] == 2
    planted = np.concatenate([info["exact"], info["exact_source"], info["conflicting"], info["conflicting_source"]])
    assert set(np.flatnonzero(res.scores == 2)) == set(planted.tolist())
    assert res.status == "warn"  # 70 / 4070 = 1.7% copies, 40 / 4070 = 0.98% conflicting rows
    sample = next(t for t in res.tables if t.title.startswith("Identical rows with conflicting"))
    assert sample.is_sample and len(sample.to_dict()["rows"]) == 20 and "20 of 40 rows" in sample.title
    # copies sit next to each other in the sample and disagree on y
    rows = sample.to_dict()["rows"]
    yi = sample.columns.index("y")
    assert rows[0][1:yi] == rows[1][1:yi] and rows[0][yi] != rows[1][yi]
    json.dumps(res.to_dict(), allow_nan=False)


def test_more_conflicts_fail_and_thresholds_override():
    df, _ = plant_duplicates(make_synthetic(2000), n_exact=0, n_conflicting=40)
    assert _dup(df).status == "fail"  # 80 / 2040 rows conflict
    relaxed = audit(df, target="y", checks=["duplicates"],
                    thresholds={"duplicates": {"conflict_fail": 0.5, "conflict_warn": 0.5}})["duplicates"]
    assert relaxed.status == "warn"  # still 2% copies


def test_near_duplicates_found_and_distinguished_from_exact():
    df = make_synthetic(3000)
    rng = np.random.default_rng(0)
    src = rng.choice(len(df), 60, replace=False)
    near = df.iloc[src].copy()
    near["num_0"] = near["num_0"] + 0.001  # 0.001 SD apart: a near, not exact, copy
    exact = df.iloc[rng.choice(np.setdiff1d(np.arange(len(df)), src), 30, replace=False)]
    both = pd.concat([df, near, exact], ignore_index=True)
    res = _dup(both)
    s = res.summary
    assert s["n_duplicate_rows"] == 30
    assert s["n_near_duplicate_rows"] == 120  # each source row and its jittered copy
    assert res.status == "pass"  # 120 / 3090 = 3.9% < near_warn (5%); 30 copies = 0.97% < 1%
    strict = _dup(both, thresholds={"duplicates": {"near_warn": 0.03}})
    assert strict.status == "warn" and any("near duplicate" in f.message for f in strict.findings)
    # a copy moved by 3 SD is not near
    far = df.iloc[src].copy()
    far["num_0"] = far["num_0"] + 3 * df["num_0"].std()
    assert _dup(pd.concat([df, far], ignore_index=True)).summary["n_near_duplicate_rows"] == 0


def test_without_target_and_split_leakage():
    df = make_synthetic(2000)
    df["split"] = np.where(np.arange(len(df)) < 1500, "train", "test")
    copies = df.iloc[:40].copy()
    copies["split"] = "test"
    both = pd.concat([df, copies], ignore_index=True)
    res = audit(both, sensitive="sex", split="split", checks=["duplicates"])["duplicates"]
    assert "n_conflicting_groups" not in res.summary
    assert res.summary["n_duplicate_rows"] == 40
    assert res.summary["n_rows_duplicated_across_splits"] == 80
    assert "y" in res.summary["key_columns"] and "split" not in res.summary["key_columns"]
    assert any("another 'split' split" in f.message for f in res.findings)


def test_coarse_data_is_capped_at_warn():
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.choice(list("xyz"), n), "sex": rng.choice(["f", "m"], n),
                       "y": rng.integers(0, 2, n)})
    res = _dup(df, sensitive=("sex",))
    assert res.summary["coarse_features"] is True
    assert res.summary["duplicate_share"] > 0.9
    assert res.status == "warn"
    assert any("not necessarily errors" in f.message for f in res.findings)


def test_duplicates_concentrated_in_one_group_are_flagged():
    df = make_synthetic(4000)
    fem = np.flatnonzero(df["sex"] == "female")[:200]
    both = pd.concat([df, df.iloc[fem]], ignore_index=True)
    res = _dup(both, thresholds={"duplicates": {"duplicate_warn": 0.5, "duplicate_fail": 0.9}})
    g = res.summary["per_group"]["sex"]
    assert g["groups"]["sex=male"]["in_duplicate_groups"] == 0
    assert g["groups"]["sex=female"]["in_duplicate_groups"] == 400
    assert g["status"] == "warn" and res.status == "warn"


def test_combine_codes_is_exact_across_overflow():
    rng = np.random.default_rng(0)
    n = 5000
    cols = [rng.integers(0, 3000, n) for _ in range(8)]  # 3000**8 overflows int64: forces renumbering
    cols[0][:10] = cols[0][10:20]
    for c in cols[1:]:
        c[:10] = c[10:20]
    key, k = combine_codes([column_codes(pd.Series(c)) for c in cols], n)
    expected = pd.DataFrame(dict(enumerate(cols))).duplicated().sum()
    assert n - k == expected == 10
    np.testing.assert_array_equal(key[:10], key[10:20])


def test_adult_duplicates_match_pandas(data_home):
    df = load_adult(data_home=data_home)
    res = audit(df, target="income", sensitive=["sex", "race"], split="split", checks=["duplicates"])["duplicates"]
    keys = [c for c in df.columns if c not in ("income", "split")]
    assert res.summary["n_duplicate_rows"] == int(df[keys].duplicated().sum())
    assert res.summary["n_exact_duplicate_rows"] == int(df[keys + ["income"]].duplicated().sum())
    conflicts = df.groupby(keys, dropna=False)["income"].nunique()
    assert res.summary["n_conflicting_groups"] == int((conflicts > 1).sum())
    assert res.summary["coarse_features"] is False  # fnlwgt is almost unique
    assert res.status == "pass"  # 0.1% copies, 0.02% conflicting rows


def test_compas_duplicates(data_home):
    df = load_compas(data_home=data_home)
    res = audit(df, target="two_year_recid", sensitive=["race", "sex"], checks=["duplicates"])["duplicates"]
    keys = [c for c in df.columns if c != "two_year_recid"]
    assert res.summary["n_duplicate_rows"] == int(df[keys].duplicated().sum())
    assert res.summary["coarse_features"] is True
    assert res.status == "warn"


@pytest.mark.slow
def test_four_checks_on_a_million_rows_are_fast():
    from unskew.audit import AuditContext, run_checks
    from unskew.data import Dataset

    rng = np.random.default_rng(0)
    n = 1_000_000
    d = {f"num_{i}": rng.standard_normal(n) for i in range(10)}
    d.update({f"cat_{i}": rng.choice(list("abcde"), n) for i in range(6)})
    d["num_0"][rng.random(n) < 0.05] = np.nan
    d["sex"] = rng.choice(["female", "male"], n)
    d["race"] = rng.choice(list("ABCD"), n, p=[0.6, 0.2, 0.15, 0.05])
    d["band"] = rng.choice(["<25", "25-45", ">45"], n)
    d["y"] = (rng.random(n) < 0.3).astype(int)
    ds = Dataset.from_data(pd.DataFrame(d), target="y", sensitive=["sex", "race", "band"])
    t0 = time.perf_counter()
    res = run_checks(ds, ["representation", "base_rates", "missing_values", "duplicates"],
                     ctx=AuditContext(reference={"race": {"A": 0.6, "B": 0.2, "C": 0.15, "D": 0.05}}))
    assert time.perf_counter() - t0 < 20
    assert all(r.status in ("pass", "warn") for r in res)
