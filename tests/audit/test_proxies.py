import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unskew.audit import audit
from unskew.audit._common import auc_and_interval
from unskew.audit._proxies import (
    correlation_ratio,
    cramers_v,
    feature_codes,
    mutual_information,
    table_classifier_proba,
)
from unskew.datasets import load_compas, make_synthetic, plant_proxy


def _px(df, sensitive=("sex", "race"), target="y", thresholds=None, **kw):
    th = {"proxies": thresholds} if thresholds else None
    return audit(df, target=target, sensitive=list(sensitive), checks=["proxies"], thresholds=th, **kw)["proxies"]


def test_planted_proxy_ranks_first_and_fails():
    df = plant_proxy(make_synthetic(4000, random_state=0), sensitive="race", name="zip", strength=0.9)
    res = _px(df)
    top = res.summary["features"][0]
    assert (top["feature"], top["attribute"], top["rank"]) == ("zip", "race", 1)
    assert top["status"] == "fail" and top["auc"] > 0.9 and top["association"] > 0.8
    assert res.summary["top_proxy"]["feature"] == "zip"
    assert res.status == "fail"
    assert res.findings[0].subject == "zip" and res.findings[0].severity == "fail"
    # no other feature is called a proxy
    others = [e for e in res.summary["features"] if e["feature"] != "zip"]
    assert all(e["status"] == "pass" for e in others)
    assert max(e["auc"] for e in others) < 0.6
    # all features together predict race (through the proxy), not sex
    assert res.summary["joint"]["race"]["auc"] > 0.9 and res.summary["joint"]["sex"]["auc"] < 0.6
    chart = next(c for c in res.charts if c.title.endswith("race"))
    assert chart.bars[0].label == "(all features)" and chart.bars[1].label == "zip" and chart.bars[1].flag
    assert chart.bars[1].low <= chart.bars[1].value <= chart.bars[1].high
    json.dumps(res.to_dict(), allow_nan=False)


def test_weaker_proxy_warns_and_strength_orders_features():
    df = make_synthetic(6000, random_state=1)
    df = plant_proxy(df, sensitive="sex", name="strong", strength=0.9, random_state=1)
    df = plant_proxy(df, sensitive="sex", name="weak", strength=0.45, random_state=2)
    res = _px(df, sensitive=["sex"])
    order = [e["feature"] for e in res.summary["features"]]
    assert order[:2] == ["strong", "weak"]
    weak = res.summary["features"][1]
    assert weak["status"] == "warn", weak


def test_numeric_proxy_uses_the_correlation_ratio():
    df = make_synthetic(4000, random_state=2)
    rng = np.random.default_rng(2)
    df["height"] = 170 + 12 * (df["sex"] == "male") + rng.normal(0, 7, len(df))
    res = _px(df, sensitive=["sex"])
    top = res.summary["features"][0]
    assert top["feature"] == "height" and top["measure"].startswith("correlation ratio")
    assert top["association"] > 0.5 and top["auc"] > 0.85 and top["status"] == "fail"


def test_clean_data_has_no_proxy():
    res = _px(make_synthetic(4000, random_state=3))
    assert res.status == "pass"
    assert all(e["status"] == "pass" for e in res.summary["features"])
    for j in res.summary["joint"].values():
        assert j["auc"] < 0.6
    assert res.findings[0].severity == "info" and "No feature is a strong proxy" in res.findings[0].message


def test_cramers_v_and_eta_by_hand():
    table = np.array([[30, 10], [10, 50]])
    v, p = cramers_v(table)
    chi2, p_ref, _, _ = stats.chi2_contingency(table, correction=False)
    n = table.sum()
    phi2 = max(0.0, chi2 / n - 1 / (n - 1))
    k = 2 - 1 / (n - 1)
    assert v == pytest.approx(np.sqrt(phi2 / (k - 1)))
    assert p == pytest.approx(p_ref)
    assert cramers_v(np.array([[5, 0], [0, 5]]))[0] > 0.7
    assert cramers_v(np.array([[5, 5]]))[0] == 0.0
    x = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, np.nan])
    g = np.array([0, 0, 0, 1, 1, 1, 1])
    eta, p = correlation_ratio(x, g, 2)
    ok = np.isfinite(x)
    ssb = 3 * (2 - 6.5) ** 2 + 3 * (11 - 6.5) ** 2
    sst = ((x[ok] - 6.5) ** 2).sum()
    assert eta == pytest.approx(np.sqrt(ssb / sst))
    assert p == pytest.approx(stats.f_oneway(x[:3], x[3:6]).pvalue)


def test_mutual_information_matches_sklearn_up_to_the_bias_correction():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(0)
    a = rng.integers(4, size=5000)
    b = (a + rng.integers(2, size=5000)) % 3
    table = np.bincount(a * 3 + b, minlength=12).reshape(4, 3)
    mi, u = mutual_information(table)
    ref = mutual_info_score(a, b) / np.log(2) - (4 - 1) * (3 - 1) / (2 * 5000 * np.log(2))
    assert mi == pytest.approx(ref)
    h = stats.entropy(np.bincount(b), base=2)
    assert u == pytest.approx(mi / h)
    indep = np.bincount(rng.integers(4, size=5000) * 3 + rng.integers(3, size=5000), minlength=12).reshape(4, 3)
    assert mutual_information(indep)[0] < 0.002


def test_auc_and_interval():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(2, size=2000)
    s = y + rng.normal(0, 1.2, size=2000)
    p = np.column_stack([1 - s, s])
    auc, lo, hi = auc_and_interval(y, p, 2)
    assert auc == pytest.approx(roc_auc_score(y, s))
    assert lo < auc < hi and 0.03 < hi - lo < 0.1
    y3 = rng.integers(3, size=3000)
    p3 = np.eye(3)[y3] * 0.5 + rng.random((3000, 3))
    p3 /= p3.sum(axis=1, keepdims=True)
    auc3, lo3, hi3 = auc_and_interval(y3, p3, 3)
    assert auc3 == pytest.approx(roc_auc_score(y3, p3, multi_class="ovr"))
    assert lo3 < auc3 < hi3


def test_feature_codes_and_lookup_classifier():
    s = pd.Series([f"id{i}" for i in range(200)] + [None] * 5)
    codes, k, values = feature_codes(s, "categorical", max_levels=50)
    assert k == 51 and values is None and codes.max() == 50 and (codes[-5:] == 50).all()
    assert len(np.unique(codes[:200])) == 50  # 49 kept levels + "(other)"
    x = pd.Series(np.r_[np.arange(1000.0), [np.nan]])
    codes, k, values = feature_codes(x, "numeric", n_bins=10)
    assert k == 11 and codes[-1] == 10 and np.bincount(codes[:-1]).tolist() == [100] * 10
    # a feature identical to the label is predicted perfectly out of fold
    y = np.repeat([0, 1], 500)
    proba = table_classifier_proba(y.copy(), 2, y, 2, 3, np.random.default_rng(0))
    assert (proba.argmax(1) == y).all()


def test_text_columns_skipped_and_datetime_used():
    df = make_synthetic(1500, random_state=4)
    df["note"] = [f"free text number {i} with several words in it" for i in range(len(df))]
    df["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        np.where(df["sex"] == "female", 0, 400) + np.arange(len(df)) % 100, unit="D")
    res = _px(df, sensitive=["sex"], column_types={"note": "text"})
    assert res.summary["skipped_text_columns"] == ["note"]
    assert res.summary["features"][0]["feature"] == "when"
    assert any("not analysed" in f.message for f in res.findings)


def test_compas_proxies(data_home):
    df = load_compas(data_home=data_home)
    res = _px(df[["sex", "race", "age", "priors_count", "c_charge_degree", "juv_fel_count", "two_year_recid"]],
              target="two_year_recid")
    feats = {(e["feature"], e["attribute"]) for e in res.summary["features"]}
    assert ("priors_count", "race") in feats and ("age", "sex") in feats
    assert 0.5 < res.summary["joint"]["race"]["auc"] < 1


@pytest.mark.slow
def test_proxies_on_a_million_rows_is_fast():
    df = plant_proxy(make_synthetic(1_000_000, n_numeric=13, n_categorical=4, random_state=0))
    t0 = time.perf_counter()
    res = _px(df)
    assert time.perf_counter() - t0 < 15
    assert res.summary["top_proxy"]["feature"] == "proxy"
    assert res.summary["rows_for_predictability"] == 50_000
