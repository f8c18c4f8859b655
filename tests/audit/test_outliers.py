import json
import time

import numpy as np
import pandas as pd
import pytest

from unskew.audit import audit
from unskew.audit._outliers import robust_z
from unskew.datasets import load_compas, make_synthetic, plant_outliers


def _out(df, sensitive=("sex", "race"), target="y", thresholds=None, **kw):
    th = {"outliers": thresholds} if thresholds else None
    return audit(df, target=target, sensitive=list(sensitive) if sensitive else None, checks=["outliers"],
                 thresholds=th, **kw)["outliers"]


def test_robust_z_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    z, info = robust_z(x)
    # median 3; below: deviations 2,1,0 -> MAD 1; above: 0,1,97 -> MAD 1; scale 1/0.6745
    assert info["median"] == 3.0 and not info["zero_inflated"]
    np.testing.assert_allclose(z[:5], np.array([2, 1, 0, 1, 97]) * 0.6744897501960817)
    assert np.isnan(z[5])
    # a normal column: z close to |x - median| / sd
    rng = np.random.default_rng(0)
    v = rng.normal(10, 2, size=200_000)
    z, info = robust_z(v)
    assert abs(info["scale_low"] - 2) < 0.03 and abs(info["scale_high"] - 2) < 0.03
    # zero-inflated: zeros get 0, the others are judged against the non-zero values
    gains = np.r_[np.zeros(900), rng.normal(5000, 500, size=99), 99999.0]
    z, info = robust_z(gains)
    assert info["zero_inflated"] and (z[:900] == 0).all()
    assert z[-1] > 50 and (z[900:999] < 5).all()
    # a constant column is never extreme
    assert (robust_z(np.ones(10))[0] == 0).all()


def test_clean_synthetic_has_no_outliers():
    res = _out(make_synthetic(5000, random_state=0))
    assert res.status == "pass"
    assert res.summary["n_outliers"] <= 2
    json.dumps(res.to_dict(), allow_nan=False)


def test_planted_outliers_are_recalled_precisely():
    df, pos = plant_outliers(make_synthetic(8000, random_state=1), rate=0.01, random_state=1)
    res = _out(df)
    flags = res.scores["is_outlier"].to_numpy()
    assert flags[pos].mean() == 1.0
    assert flags.sum() <= len(pos) + 8  # almost nothing else
    assert res.summary["flagged_by_robust"] >= len(pos) and res.summary["flagged_by_model"] >= 0.9 * len(pos)
    assert (res.scores["n_extreme_cells"].to_numpy()[pos] == 6).all()  # every numeric column
    sample = next(t for t in res.tables if t.is_sample)
    assert sample.n_rows_total == flags.sum() and len(sample.to_dict()["rows"]) == 20


def test_single_column_outliers_name_the_column():
    df, pos = plant_outliers(make_synthetic(4000, random_state=2), rate=0.01, columns=["num_3"], random_state=2)
    res = _out(df)
    assert res.scores["is_outlier"].to_numpy()[pos].all()
    assert set(res.scores["extreme_column"].to_numpy()[pos]) == {"num_3"}
    assert res.summary["columns"]["num_3"]["extreme_cells"] == len(pos)
    assert res.summary["columns"]["num_0"]["extreme_cells"] == 0


def test_isolation_forest_finds_rows_extreme_only_in_combination():
    df = make_synthetic(5000, random_state=3)
    rng = np.random.default_rng(1)
    bad = rng.choice(len(df), 20, replace=False)
    for c in [f"num_{j}" for j in range(6)]:
        df.loc[bad, c] = rng.choice([-1, 1], 20) * 3.8  # below the robust threshold in every column
    res = _out(df)
    s = res.scores
    assert s["robust_z"].to_numpy()[bad].max() < 5
    assert s["is_outlier"].to_numpy()[bad].mean() >= 0.8
    assert (s["extreme_column"].to_numpy()[bad][s["is_outlier"].to_numpy()[bad]] == "(combination)").all()


def test_outliers_concentrated_in_one_group_fail():
    df, pos = plant_outliers(make_synthetic(20000, random_state=4), rate=0.03, where={"race": "C"},
                             random_state=4)
    res = _out(df)
    assert res.status == "fail"
    race = res.summary["groupings"]["race"]
    assert race["race=C"]["status"] == "fail" and race["race=C"]["q_value"] < 1e-10
    assert race["race=A"]["status"] == "pass" and race["race=B"]["status"] == "pass"
    assert res.summary["groupings"]["sex"]["sex=female"]["status"] == "pass"
    top = [f for f in res.findings if f.severity == "fail"][0]
    assert top.subject == "race=C"  # single attribute before intersections
    chart = next(c for c in res.charts if c.title.endswith("by race"))
    bar = next(b for b in chart.bars if b.label == "race=C")
    assert bar.flag and bar.low <= bar.value <= bar.high


def test_missing_values_categorical_only_and_weights():
    df = make_synthetic(2000, random_state=5)
    df.loc[::7, "num_1"] = np.nan
    df["w"] = 1.0 + (df["sex"] == "female")
    res = _out(df, weights="w")
    assert res.summary["weighted"] is True and res.status in ("pass", "warn", "fail")
    assert np.isfinite(res.scores["outlier_score"]).all()
    cats = _out(df[["cat_0", "cat_1", "sex", "race", "y"]])
    assert cats.summary["columns"] == {} and cats.summary["model"]["used"]


def test_threshold_override_changes_what_counts():
    df, pos = plant_outliers(make_synthetic(3000, random_state=6), rate=0.02, random_state=6)
    strict = _out(df, thresholds={"z_threshold": 50.0})
    assert strict.summary["n_outliers"] < len(pos)
    res = _out(df, thresholds={"rate_warn": 0.01})
    assert res.status == "warn"


def test_compas_outliers(data_home):
    df = load_compas(data_home=data_home)
    res = _out(df[["sex", "race", "age", "priors_count", "juv_fel_count", "decile_score", "two_year_recid"]],
               target="two_year_recid")
    assert 0 < res.summary["outlier_rate"] < 0.2
    assert "priors_count" in res.summary["columns"]
    assert "race=African-American" in res.summary["groupings"]["race"]


def test_no_sensitive_runs():
    res = _out(make_synthetic(500), sensitive=None, target=None)
    assert "groupings" not in res.summary and len(res.scores) == 500
    assert isinstance(res.scores, pd.DataFrame)


@pytest.mark.slow
def test_outliers_on_a_million_rows_is_fast():
    df = make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=0)
    t0 = time.perf_counter()
    res = _out(df)
    assert time.perf_counter() - t0 < 15
    assert res.summary["model"]["fit_rows"] == 100_000
