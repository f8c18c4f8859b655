"""Detector rules not covered by the end-to-end monitoring tests."""

from __future__ import annotations

from _monitor_data import make_rows


def test_many_new_values_that_only_together_have_support_are_a_new_subpopulation(mon):
    mon.log("credit", make_rows(500, 5), id="id")
    rows = make_rows(500, 6, start=500)
    # 10 regions the reference never had, 20 rows each: none reaches min_support (30) alone
    rows.loc[:199, "region"] = [f"new{i % 10}" for i in range(200)]
    mon.log("credit", rows, id="id")
    sub = mon.check("credit", window="500")["subpopulations"]
    hits = [f for f in sub.findings if "values of region" in f.message]
    assert sub.status == "fail" and len(hits) == 1, [f.message for f in sub.findings]
    assert "200 rows in window rows 500-999 have one of 10 values" in hits[0].message
    assert "all absent from training" in hits[0].message and hits[0].severity == "fail"
    assert not any("New value region=" in f.message for f in sub.findings)  # no single value had the support
    assert not any("rows 0-499" in f.message for f in sub.findings if f.severity != "info")
