import json
import time
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unskew.audit import audit
from unskew.audit._shift import bin_codes, chi2_homogeneity, level_codes, psi
from unskew.datasets import load_adult, make_synthetic, plant_shift
from unskew.exceptions import UnskewInputError


def _halves(n=8000, seed=0, **kw):
    df = make_synthetic(n, random_state=seed, **kw)
    return df.iloc[: n // 2].reset_index(drop=True), df.iloc[n // 2:].reset_index(drop=True)


def _shift(ref, cmp, sensitive=("sex", "race"), target="y", thresholds=None, **kw):
    th = {"shift": thresholds} if thresholds else None
    return audit(ref, target=target, sensitive=list(sensitive) if sensitive else None, compare=cmp,
                 checks=["shift"], thresholds=th, **kw)["shift"]


def test_psi_by_hand_and_bins():
    r, c = np.array([50, 30, 20]), np.array([30, 30, 40])
    rs, cs = (r + 0.5) / 101.5, (c + 0.5) / 101.5
    assert psi(r, c) == pytest.approx(((cs - rs) * np.log(cs / rs)).sum())
    assert psi(r, r) == 0.0
    assert chi2_homogeneity(r, c) == pytest.approx(stats.chi2_contingency(np.vstack([r, c]), correction=False)[1])
    ref = np.r_[np.arange(100.0), np.nan]
    rc, cc, k, labels = bin_codes(ref, np.array([-5.0, 50.0, 500.0, np.nan]), 10)
    assert k == 11 and len(labels) == 11 and np.bincount(rc[:-1]).tolist() == [10] * 10
    assert cc.tolist() == [0, 5, 9, 10] and rc[-1] == 10
    rcode, ccode, k, labels, new = level_codes(pd.Series(["a", "a", "b", None]), pd.Series(["a", "z", "z", None]),
                                               max_levels=1)
    assert labels == ["a", "(other)", "(new in comparison)", "(missing)"]
    assert rcode.tolist() == [0, 0, 1, 3] and ccode.tolist() == [0, 2, 2, 3] and new == {"z": 2}


def test_random_halves_raise_no_alarm():
    ref, cmp = _halves(8000, seed=1)
    res = _shift(ref, cmp)
    assert res.status == "pass", [f.message for f in res.findings]
    assert res.summary["n_shifted_features"] == 0
    assert res.summary["max_psi"] < 0.05
    assert 0.45 < res.summary["domain_classifier"]["auc"] < 0.56
    assert res.summary["target"]["status"] == "pass"
    json.dumps(res.to_dict(), allow_nan=False)


def test_planted_shift_in_num_0_is_detected():
    ref, cmp = _halves(8000, seed=2)
    res = _shift(ref, plant_shift(cmp, column="num_0", delta=1.0))
    f = res.summary["features"]
    assert f["num_0"]["status"] == "fail" and f["num_0"]["psi"] > 0.5 and f["num_0"]["q_value"] < 1e-10
    assert f["num_0"]["comparison_median"] - f["num_0"]["reference_median"] == pytest.approx(1.0, abs=0.15)
    assert all(f[c]["status"] == "pass" for c in f if c != "num_0")
    assert res.findings[0].subject == "num_0" and res.findings[0].severity == "fail"
    assert res.summary["domain_classifier"]["auc"] > 0.65
    assert res.status == "fail"
    # a shift of the whole table is not repeated as a finding for every group
    assert not any(f.subject and f.subject.startswith(("sex=", "race=")) and f.severity != "info"
                   for f in res.findings)
    chart = res.charts[0]
    assert chart.bars[0].label == "num_0" and chart.bars[0].flag


def test_shift_only_within_one_group_is_reported_for_that_group():
    ref, cmp = _halves(10000, seed=3)
    res = _shift(ref, plant_shift(cmp, column="num_0", delta=1.0, where={"sex": "female"}))
    sex = res.summary["groupings"]["sex"]["features"]
    female, male = sex["sex=female"]["num_0"], sex["sex=male"]["num_0"]
    assert female["status"] == "fail" and female["concentrated"] and female["psi"] > 0.5
    assert male["status"] == "pass" and male["psi"] < 0.05
    assert female["rest_psi"] < 0.05
    # the group finding names the group; other features are not flagged in any group
    group_findings = [f for f in res.findings if f.severity in ("warn", "fail") and f.subject
                      and "=" in f.subject]
    assert [f.subject for f in group_findings] == ["sex=female"]
    for gname, g in res.summary["groupings"].items():
        for lab, feats in g.get("features", {}).items():
            for col, e in feats.items():
                if col != "num_0":
                    assert e["status"] == "pass", (gname, lab, col)


def test_group_shares_new_groups_and_target_shift():
    ref, cmp = _halves(8000, seed=4)
    cmp = cmp.copy()
    cmp.loc[cmp.index[:600], "race"] = "D"  # a new group
    cmp = cmp[cmp["race"] != "C"]  # a group missing from the comparison table
    cmp.loc[cmp["sex"] == "male", "y"] = 1  # label shift for men only
    res = _shift(ref, cmp.reset_index(drop=True))
    race = res.summary["groupings"]["race"]
    assert race["new_groups"] == ["race=D"] and race["missing_groups"] == ["race=C"]
    assert race["status"] in ("warn", "fail")
    tgt = res.summary["target"]
    assert tgt["status"] == "fail" and tgt["groups"]["sex=male"]["status"] == "fail"
    assert tgt["groups"]["sex=female"]["status"] == "pass"
    msgs = " ".join(f.message for f in res.findings)
    assert "race=D appears only in the comparison table" in msgs and "race=C is absent" in msgs


def test_new_categories_and_missing_features():
    ref, cmp = _halves(4000, seed=5)
    cmp = cmp.copy()
    cmp.loc[cmp.index[:300], "cat_0"] = "zz"
    res = _shift(ref, cmp)
    e = res.summary["features"]["cat_0"]
    assert e["new_values"] == {"zz": 300} and e["status"] != "pass"
    assert any("never seen in the reference" in f.message for f in res.findings)
    with pytest.raises(UnskewInputError, match="num_1"):
        _shift(ref, cmp.drop(columns="num_1"))


def test_datetime_shift_is_reported_but_does_not_set_status():
    ref, cmp = _halves(2000, seed=6)
    ref = ref.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(ref)) % 365, unit="D"))
    cmp = cmp.assign(when=pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(len(cmp)) % 365, unit="D"))
    res = _shift(ref, cmp, thresholds={"domain_classifier": False})
    e = res.summary["features"]["when"]
    assert e["type"] == "datetime" and e["psi"] > 1 and e["counts_for_status"] is False
    assert res.status == "pass" and res.summary["domain_classifier"] == {"used": False}


def test_skipped_without_compare():
    ref, _ = _halves(400)
    res = audit(ref, target="y", sensitive="sex", checks=["shift"])["shift"]
    assert res.status == "skipped" and res.summary["needs"] == ["compare"]


def test_adult_audit_runs_all_model_checks(data_home):
    train, test = load_adult("train", data_home=data_home), load_adult("test", data_home=data_home)
    rep = audit(train, target="income", sensitive=["sex", "race"], compare=test, ignore=["split"],
                checks=["label_quality", "outliers", "proxies", "shift"])
    assert [c.name for c in rep.checks] == ["label_quality", "outliers", "proxies", "shift"]
    assert all(c.status in ("pass", "warn", "fail") for c in rep.checks), [
        (c.name, c.findings[0].message) for c in rep.checks]
    # known facts: relationship encodes sex; train and test are random splits of one census
    px = rep["proxies"].summary
    assert px["top_proxy"]["feature"] == "relationship" and px["top_proxy"]["attribute"] == "sex"
    sh = rep["shift"]
    assert sh.status == "pass" and sh.summary["domain_classifier"]["auc"] < 0.55
    lq = rep["label_quality"].summary
    assert 0.02 < lq["issue_rate"] < 0.15 and lq["probabilities"]["accuracy"] > 0.84
    # men's labels are flagged more often, but not once the difficulty of their rows is accounted for
    male = lq["groupings"]["sex"]["sex=Male"]
    assert male["ratio"] > 1.5 and male["status"] == "pass"
    assert len(rep["outliers"].scores) == len(train)
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("unskew.report").joinpath("schema.json").read_text("utf-8"))
    jsonschema.validate(json.loads(rep.to_json()), schema, cls=jsonschema.Draft202012Validator)
    assert "<svg" in rep.to_html()


@pytest.mark.slow
def test_shift_on_a_million_rows_is_fast():
    ref = make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=0)
    cmp = plant_shift(make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=1),
                      column="num_0", delta=1.0, where={"sex": "female"})
    t0 = time.perf_counter()
    res = _shift(ref, cmp)
    assert time.perf_counter() - t0 < 20
    assert res.summary["groupings"]["sex"]["features"]["sex=female"]["num_0"]["status"] == "fail"


@pytest.mark.slow
def test_four_model_checks_on_a_million_rows_are_fast():
    """Budget: label quality, outliers, proxies and shift together on 1,000,000 x 20 (+ a 1M-row compare)."""
    ref = make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=0)
    cmp = make_synthetic(1_000_000, n_numeric=14, n_categorical=4, random_state=1)
    from unskew.audit import AuditContext, run_checks
    from unskew.data import Dataset

    ds = Dataset.from_data(ref, target="y", sensitive=["sex", "race"])
    ctx = AuditContext(compare=Dataset.from_data(cmp, target="y", sensitive=["sex", "race"], features=ds.features))
    t0 = time.perf_counter()
    results = run_checks(ds, ["label_quality", "outliers", "proxies", "shift"], ctx=ctx)
    elapsed = time.perf_counter() - t0
    assert all(r.status in ("pass", "warn", "fail") for r in results)
    assert elapsed < 30, {r.name: round(r.elapsed_s, 1) for r in results}


def test_identical_rows_in_both_tables_are_noted():
    ref, _ = _halves(1200, seed=7)
    res = _shift(ref, ref.sample(frac=1.0, random_state=0).reset_index(drop=True))
    assert res.status == "pass"
    assert res.summary["domain_classifier"]["auc"] < 0.45
    assert any("share many identical rows" in f.message for f in res.findings)
