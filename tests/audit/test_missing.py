import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unskew.audit import audit
from unskew.datasets import load_adult, load_compas, make_synthetic, plant_missingness


def _mv(df, sensitive=("sex", "race"), target="y", **kw):
    return audit(df, target=target, sensitive=list(sensitive) if sensitive else None,
                 checks=["missing_values"], **kw)["missing_values"]


def test_clean_synthetic_has_nothing_to_report():
    res = _mv(make_synthetic(3000))
    assert res.status == "pass"
    assert res.summary["n_missing_cells"] == 0
    assert not res.scores.any()


def test_missingness_planted_in_one_group_is_detected():
    df = plant_missingness(make_synthetic(4000), column="num_1", where={"sex": "female"}, rate=0.3,
                           other_rate=0.02)
    res = _mv(df)
    assert res.status == "fail"
    col = res.summary["columns"]["num_1"]
    assert col["missing_rows"] == int(df["num_1"].isna().sum())
    sex = res.summary["per_group"]["sex"]["num_1"]
    f = df["sex"] == "female"
    assert sex["groups"]["sex=female"]["fraction"] == pytest.approx(df.loc[f, "num_1"].isna().mean())
    assert sex["groups"]["sex=female"]["fraction"] == pytest.approx(0.3, abs=0.001)
    assert sex["max_group"] == "sex=female" and sex["min_group"] == "sex=male"
    tab = pd.crosstab(df["sex"], df["num_1"].isna()).to_numpy()
    assert sex["p_value"] == pytest.approx(stats.chi2_contingency(tab, correction=False)[1], rel=1e-6, abs=1e-300)
    assert sex["status"] == "fail"
    # race alone shows no dependence
    assert res.summary["per_group"]["race"]["num_1"]["status"] == "pass"
    top = res.findings[0]
    assert top.severity == "fail" and top.subject == "num_1" and "sex=female" in top.message
    np.testing.assert_array_equal(res.scores, df.isna().sum(axis=1).to_numpy())
    json.dumps(res.to_dict(), allow_nan=False)


def test_uniform_missingness_is_not_a_group_problem():
    df = plant_missingness(make_synthetic(4000), column="num_2", where={"sex": "female"}, rate=0.1,
                           other_rate=0.1)
    res = _mv(df)
    assert res.status == "pass", [f.message for f in res.findings]
    assert res.summary["columns"]["num_2"]["fraction"] == pytest.approx(0.1, abs=0.002)


def test_fisher_for_small_groups_and_ratio_rule():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n), "g": ["a"] * 360 + ["b"] * 40, "y": rng.integers(0, 2, n)})
    df.loc[360:369, "x"] = np.nan  # 25% missing in b, none in a
    res = _mv(df, sensitive=("g",))
    g = res.summary["per_group"]["g"]["x"]
    assert g["test"] == "Fisher exact"
    assert g["p_value"] == pytest.approx(stats.fisher_exact([[0, 360], [10, 30]])[1], rel=1e-9)
    assert g["status"] == "fail"


def test_mostly_missing_column_and_excluded_rows_are_reported():
    df = make_synthetic(1000)
    df.loc[: int(0.85 * len(df)) - 1, "num_3"] = np.nan
    df.loc[:99, "y"] = np.nan  # the data layer drops these 100 rows
    res = _mv(df, sensitive=None)
    assert res.summary["excluded_rows"] == {"target is missing": 100}
    assert res.summary["n_rows_read"] == 1000
    assert res.summary["columns"]["num_3"]["status"] == "fail"  # 750 / 900 > 0.8
    msgs = [f.message for f in res.findings]
    assert any("100 of 1000 rows read" in m for m in msgs)
    assert [f.severity for f in res.findings if "rows read" in f.message] == ["warn"]  # 10% >= 5%


def test_disguised_missing_markers_are_mentioned():
    df = make_synthetic(1000)
    df.loc[:29, "cat_1"] = "?"
    res = _mv(df)
    assert res.summary["disguised_missing"] == {"cat_1": {"?": 30}}
    assert any("na-values" in f.message for f in res.findings)


def test_weighted_fractions():
    df = plant_missingness(make_synthetic(2000), column="num_1", where={"race": "C"}, rate=0.5)
    w = np.where(df["race"] == "C", 4.0, 1.0)
    df["w"] = w
    res = _mv(df, weights="w")
    m = df["num_1"].isna().to_numpy()
    assert res.summary["columns"]["num_1"]["fraction"] == pytest.approx((w * m).sum() / w.sum())
    assert "w" not in res.summary["columns"]
    assert res.summary["per_group"]["race"]["num_1"]["groups"]["race=C"]["fraction"] == pytest.approx(0.5, abs=0.01)
    assert res.status == "fail"


def test_adult_missing_values(data_home):
    df = load_adult(data_home=data_home)
    res = audit(df, target="income", sensitive=["sex", "race"], checks=["missing_values"])["missing_values"]
    cols = res.summary["columns"]
    assert cols["workclass"]["missing_rows"] == 2799
    assert cols["occupation"]["missing_rows"] == 2809
    assert cols["native_country"]["missing_rows"] == 857
    assert cols["age"]["missing_rows"] == 0
    assert res.summary["n_columns_with_missing"] == 3
    # native_country is missing far more often for Asian-Pacific-Islander respondents
    nc = res.summary["per_group"]["race"]["native_country"]
    assert nc["max_group"] == "race=Asian-Pac-Islander" and nc["status"] != "pass"
    assert res.status == "warn"


def test_compas_missing_values(data_home):
    df = load_compas(data_home=data_home)
    res = audit(df, target="two_year_recid", sensitive=["race", "sex"], checks=["missing_values"])["missing_values"]
    assert res.summary["columns"]["c_charge_desc"]["missing_rows"] == 5
    assert res.summary["n_columns_with_missing"] == 1
    assert res.status == "pass"
