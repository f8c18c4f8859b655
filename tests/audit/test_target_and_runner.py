import json

import numpy as np
import pandas as pd
import pytest

from unskew.audit import CHECKS, AuditContext, Check, audit, register_check, run_checks
from unskew.data import Dataset


def _frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    p = np.where(sex == "female", 0.05, 0.4)
    return pd.DataFrame({"x": rng.normal(size=n), "sex": sex, "y": (rng.random(n) < p).astype(int)})


def test_target_distribution_flags_imbalance_and_absent_class():
    df = _frame()
    rep = audit(df, target="y", sensitive="sex", checks=["target_distribution"])
    res = rep["target_distribution"]
    counts = df["y"].value_counts()
    assert res.summary["imbalance_ratio"] == pytest.approx(counts[0] / counts[1])
    assert res.status == "warn"
    # remove all positives of one group: that group can't learn the class
    df2 = df[~((df["sex"] == "female") & (df["y"] == 1))]
    res2 = audit(df2, target="y", sensitive="sex", checks=["target_distribution"])["target_distribution"]
    assert res2.status == "fail"
    assert any("no examples of class '1'" in f.message for f in res2.findings)


def test_weighted_counts_use_weights():
    df = _frame().assign(w=1.0)
    df.loc[df["y"] == 1, "w"] = 5.0
    rep = audit(df, target="y", weights="w", checks=["target_distribution"])
    cc = rep["target_distribution"].summary["class_counts"]
    assert cc["1"] == pytest.approx(5.0 * (df["y"] == 1).sum())


def test_runner_skips_and_isolates_errors():
    @register_check
    class Broken(Check):
        name = "_broken_for_test"
        title = "broken"

        def run(self, ds, ctx):
            raise RuntimeError("boom")

    try:
        ds = Dataset.from_data(_frame(), target="y")
        results = run_checks(ds, ["target_distribution", "_broken_for_test"], ctx=AuditContext())
        assert results[1].status == "error" and "boom" in results[1].findings[0].message
        # a check needing sensitive attributes is skipped, not run, when none are declared
        class NeedsSensitive(Check):
            name = "_needs"
            requires = ("sensitive",)

        res = run_checks(ds, [NeedsSensitive()], ctx=AuditContext())[0]
        assert res.status == "skipped" and res.summary["needs"] == ["sensitive"]
    finally:
        if "_broken_for_test" in CHECKS:
            CHECKS.unregister("_broken_for_test")


def test_report_json_roundtrip_and_gate():
    rep = audit(_frame(), target="y", sensitive="sex", checks=["target_distribution"])
    data = json.loads(rep.to_json())
    assert data["schema_version"] == "1.0" and data["kind"] == "audit"
    assert [c["name"] for c in data["checks"]] == ["target_distribution"]
    assert {"name", "status", "summary", "findings"} <= set(data["checks"][0])
    assert rep.fails("warn") and not rep.fails("fail")


def test_unknown_threshold_is_rejected():
    from unskew.audit import get_check

    with pytest.raises(ValueError, match="Unknown threshold"):
        get_check("target_distribution")(nope=1)


def test_compare_table_without_labels_and_with_missing_columns():
    df = _frame()
    cur = _frame(seed=1).drop(columns="y")
    rep = audit(df, target="y", sensitive="sex", compare=cur, checks=["target_distribution"])
    assert rep.dataset["compare"]["n_rows"] == len(cur)
    from unskew.exceptions import UnskewInputError

    with pytest.raises(UnskewInputError, match="lacks column"):
        audit(df, target="y", sensitive="sex", compare=cur.drop(columns="x"))
