import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unskew.audit import audit
from unskew.datasets import load_adult, load_compas, make_synthetic, plant_label_noise


def _br(df, target="y", sensitive=("sex", "race"), **kw):
    return audit(df, target=target, sensitive=list(sensitive), checks=["base_rates"], **kw)["base_rates"]


def _wilson_by_hand(k, n):
    z = stats.norm.ppf(0.975)
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def _gapped(n=4000, rate=0.6):
    """Synthetic data where 60% of the female positives are turned negative."""
    df = make_synthetic(n)
    df, _ = plant_label_noise(df, where={"sex": "female", "y": 1}, rate=rate)
    return df


def test_planted_gap_is_detected_with_hand_computed_wilson_interval():
    df = _gapped()
    res = _br(df)
    sex = res.summary["groupings"]["sex"]
    for g in ("female", "male"):
        y = df.loc[df["sex"] == g, "y"]
        e = sex["groups"][f"sex={g}"]
        lo, hi = _wilson_by_hand(y.sum(), len(y))
        assert e["rows"] == len(y)
        assert e["rate"] == pytest.approx(y.mean())
        assert (e["low"], e["high"]) == pytest.approx((lo, hi), abs=1e-12)
    rf, rm = (df.loc[df["sex"] == g, "y"].mean() for g in ("female", "male"))
    assert sex["gap"] == pytest.approx(rm - rf)
    assert sex["ratio"] == pytest.approx(rf / rm)
    tab = pd.crosstab(df["sex"], df["y"]).to_numpy()
    assert sex["p_value"] == pytest.approx(stats.chi2_contingency(tab, correction=False)[1], rel=1e-6, abs=1e-300)
    assert sex["status"] == "fail" and res.status == "fail"
    assert res.findings[0].severity == "fail"
    assert any("sex=female" in f.message and f.subject == "sex" for f in res.findings)
    # intersections are analysed too
    assert "sex & race" in res.summary["groupings"]
    json.dumps(res.to_dict(), allow_nan=False)


def test_no_false_alarm_when_groups_are_independent_of_the_label():
    df = make_synthetic(4000, random_state=3)
    rng = np.random.default_rng(0)
    df["sex"] = rng.permutation(df["sex"].to_numpy())
    df["race"] = rng.permutation(df["race"].to_numpy())
    res = _br(df)
    assert res.status == "pass", [f.message for f in res.findings]


def test_thresholds_are_overridable():
    df = make_synthetic(20000)  # modest built-in group effects: gap ~ 0.05-0.1
    res = audit(df, target="y", sensitive="sex", checks=["base_rates"],
                thresholds={"base_rates": {"gap_warn": 0.01, "gap_fail": 0.5, "ratio_warn": 0.0,
                                           "ratio_fail": -1.0}})["base_rates"]
    assert res.summary["groupings"]["sex"]["p_value"] < 0.01
    assert res.status == "warn" and res.thresholds["gap_warn"] == 0.01


def test_small_groups_are_reported_but_not_judged():
    df = make_synthetic(3000)
    extra = pd.DataFrame({**{c: df[c].iloc[:5].to_numpy() for c in df.columns}})
    extra["race"] = "Z"
    extra["y"] = 1
    df = pd.concat([df, extra], ignore_index=True)
    res = _br(df, sensitive=("race",))
    race = res.summary["groupings"]["race"]
    assert race["small_groups"] == ["race=Z"]
    assert race["groups"]["race=Z"]["rate"] == 1.0
    assert race["max_group"] != "race=Z"


def test_weighted_rates_use_weights_and_effective_n():
    df = _gapped(3000)
    w = np.where(df["y"] == 1, 2.0, 1.0)
    df["w"] = w
    res = _br(df, weights="w", sensitive=("sex",))
    f = df["sex"] == "female"
    wf, yf = w[f], df.loc[f, "y"].to_numpy()
    rate = (wf * yf).sum() / wf.sum()
    n_eff = wf.sum() ** 2 / (wf**2).sum()
    lo, hi = _wilson_by_hand(rate * n_eff, n_eff)
    e = res.summary["groupings"]["sex"]["groups"]["sex=female"]
    assert e["rate"] == pytest.approx(rate)
    assert (e["low"], e["high"]) == pytest.approx((lo, hi))
    assert res.summary["weighted"] is True
    # constant weights give exactly the unweighted result
    df["w"] = 3.0
    a = _br(df, weights="w").summary["groupings"]["sex & race"]["groups"]
    b = _br(df.drop(columns="w")).summary["groupings"]["sex & race"]["groups"]
    for k in b:
        assert (a[k]["rate"], a[k]["low"], a[k]["high"]) == pytest.approx((b[k]["rate"], b[k]["low"], b[k]["high"]))


def test_numeric_target_means_with_t_intervals():
    df = make_synthetic(2000)
    df["score"] = df["num_0"] * 10 + np.where(df["sex"] == "male", 8.0, 0.0)
    res = audit(df.drop(columns="y"), target="score", sensitive="sex", checks=["base_rates"])["base_rates"]
    assert res.summary["task"] == "regression"
    g = res.summary["groupings"]["sex"]
    x = df.loc[df["sex"] == "female", "score"]
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    e = g["groups"]["sex=female"]
    assert e["mean"] == pytest.approx(x.mean())
    assert (e["low"], e["high"]) == pytest.approx((x.mean() - half, x.mean() + half))
    anova = stats.f_oneway(*(df.loc[df["sex"] == s, "score"] for s in ("female", "male")))
    assert g["p_value"] == pytest.approx(anova.pvalue, rel=1e-6, abs=1e-300)
    assert g["std_gap"] > 0.5 and res.status == "fail"


def test_multiclass_rates_per_class():
    df = make_synthetic(4000)
    df["grade"] = np.where(df["num_0"] > 0.5, "high", np.where(df["num_0"] > -0.5, "mid", "low"))
    df.loc[(df["sex"] == "female") & (df["grade"] == "high"), "grade"] = "mid"
    res = audit(df.drop(columns="y"), target="grade", sensitive="sex", checks=["base_rates"])["base_rates"]
    assert res.summary["task"] == "multiclass"
    classes = res.summary["groupings"]["sex"]["classes"]
    assert set(classes) == {"high", "low", "mid"}
    assert classes["high"]["groups"]["sex=female"]["rate"] == 0.0
    assert classes["high"]["status"] == "fail"
    assert classes["low"]["status"] == "pass"
    assert res.status == "fail"


def test_adult_base_rates(data_home):
    df = load_adult(data_home=data_home)
    res = audit(df, target="income", sensitive=["sex", "race"], checks=["base_rates"])["base_rates"]
    sex = res.summary["groupings"]["sex"]["groups"]
    assert sex["sex=Female"]["rate"] == pytest.approx(0.109, abs=0.002)
    assert sex["sex=Male"]["rate"] == pytest.approx(0.304, abs=0.002)
    assert sex["sex=Female"]["high"] < sex["sex=Male"]["low"]
    assert res.summary["overall_rate"] == pytest.approx(0.239, abs=0.002)
    assert res.summary["groupings"]["sex"]["ratio"] == pytest.approx(0.36, abs=0.01)
    assert res.status == "fail"


def test_compas_base_rates(data_home):
    df = load_compas(data_home=data_home)
    res = audit(df, target="two_year_recid", sensitive=["race", "sex"], checks=["base_rates"])["base_rates"]
    race = res.summary["groupings"]["race"]
    assert race["groups"]["race=African-American"]["rate"] == pytest.approx(0.523, abs=0.01)
    assert race["groups"]["race=Caucasian"]["rate"] == pytest.approx(0.391, abs=0.01)
    assert race["groups"]["race=Native American"]["rows"] == 11
    assert "race=Native American" in race["small_groups"]
    assert res.status in ("warn", "fail")
