"""HTML report: escaping of everything that comes from the data, capped samples,
self-containedness and chart geometry (no browser needed)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import unskew
from unskew.exceptions import UnskewInputError
from unskew.report import (
    MAX_SAMPLE_ROWS,
    Bar,
    Chart,
    CheckResult,
    Finding,
    Report,
    Table,
    sample_table,
)
from unskew.report._html import MAX_BARS, chart_layout, format_number, render_html

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _evil_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grp = rng.choice(["plain", EVIL, 'q"uote & amp'], size=n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < np.where(grp == EVIL, 0.2, 0.6)).astype(int)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        EVIL: rng.normal(size=n),  # a column name
        "colour": rng.choice(["red", EVIL, "blue"], size=n),  # a category value
        "grp": grp,  # a group label
        "y": y,
    })


def test_html_escapes_column_names_category_values_and_group_labels():
    report = unskew.audit(_evil_frame(), target="y", sensitive="grp")
    html = report.to_html()
    js = report.to_json()
    assert EVIL in js  # the raw text does reach the report...
    assert "<script" not in html.lower()  # ...but never unescaped into the page
    assert EVIL_ESCAPED in html
    # the group label with a quote and an ampersand is escaped in text and in attributes
    assert 'q"uote & amp' not in html
    assert "q&#34;uote &amp; amp" in html
    # the column name itself is escaped where it is listed (missing-value table, column types)
    assert html.count(EVIL_ESCAPED) >= 2


def test_html_escapes_findings_titles_and_dataset_fields():
    check = CheckResult(
        name="custom", title=f"Title {EVIL}", status="fail",
        findings=[Finding(f"Finding about {EVIL}", severity="fail", subject=EVIL)],
        explanation=f"Explanation {EVIL}",
        summary={"worst_group": EVIL, "nested": {EVIL: 1}},
        thresholds={"gap_warn": 0.1},
        charts=[Chart(title=f"chart {EVIL}", x_label=EVIL, reference=0.5, reference_label=EVIL,
                      bars=[Bar(EVIL, 0.2, 0.1, 0.3, flag=True), Bar("ok", 0.6)])],
        tables=[Table(f"table {EVIL}", [EVIL, "n"], [[EVIL, 3]])],
    )
    rep = Report(kind="audit", checks=[check],
                 dataset={"source": f"/tmp/{EVIL}.csv", "n_rows_read": 10, "n_rows": 8,
                          "excluded_rows": {f"'{EVIL}' is missing": 2}, "target": EVIL,
                          "sensitive": [EVIL]},
                 parameters={"reference": {EVIL: {EVIL: 1.0}}, "random_state": 0})
    html = rep.to_html()
    assert "<script" not in html.lower()
    # source, exclusion reason, roles, title, explanation, finding, summary, chart texts, table
    assert html.count(EVIL_ESCAPED) >= 12


def test_sample_table_embeds_only_the_capped_rows():
    marker = "ZQXMARKER"
    frame = pd.DataFrame({"id": np.arange(1000), "note": [f"{marker}-{i:04d}" for i in range(1000)]})
    check = CheckResult(name="samples", title="Samples", status="warn",
                        tables=[sample_table("Flagged rows", frame)])
    html = Report(kind="audit", checks=[check]).to_html()
    found = re.findall(marker + r"-(\d{4})", html)
    assert len(found) == MAX_SAMPLE_ROWS
    assert sorted(set(found)) == [f"{i:04d}" for i in range(MAX_SAMPLE_ROWS)]
    assert f"showing {MAX_SAMPLE_ROWS} of 1,000 rows" in html


def test_audit_with_1000_marked_rows_embeds_a_capped_sample():
    # 1,000 identical rows carrying a unique marker (plus 500 ordinary rows):
    # the duplicates check lists them, but only a capped sample may reach the page.
    marker = "UNIQUEMARKER7731"
    rng = np.random.default_rng(1)
    dup = pd.DataFrame({"x": [1.5] * 1000, "note": [marker] * 1000,
                        "sex": ["f"] * 1000, "y": [1] * 1000})
    rest = pd.DataFrame({"x": rng.normal(size=500), "note": [f"n{i}" for i in range(500)],
                         "sex": rng.choice(["f", "m"], 500), "y": rng.integers(0, 2, 500)})
    frame = pd.concat([dup, rest], ignore_index=True)
    report = unskew.audit(frame, target="y", sensitive="sex", checks=["duplicates", "missing_values"])
    d = report.to_dict()
    samples = [t for c in d["checks"] for t in c["tables"] if t["is_sample"]]
    assert samples, "the duplicates check should show flagged rows"
    assert all(len(t["rows"]) <= MAX_SAMPLE_ROWS for t in samples)
    assert any(t["n_rows_total"] >= 999 for t in samples)
    html = report.to_html()
    n = html.count(marker)
    assert 1 <= n <= MAX_SAMPLE_ROWS * len(samples) + 5
    assert "showing" in html and "999" in html.replace(",", "")


def test_html_is_self_contained_and_shows_exclusions():
    df = _evil_frame(400)
    df.loc[:24, "y"] = np.nan
    report = unskew.audit(df, target="y", sensitive="grp", checks=["target_distribution"])
    html = report.to_html()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "<svg" in html and "<style>" in html
    assert "target is missing" in html
    assert re.search(r"<strong>Excluded rows\.</strong> 25 of 400 rows read", html)


def test_statuses_counts_and_error_details_render():
    checks = [
        CheckResult(name="a", title="A", status="pass"),
        CheckResult(name="b", title="B", status="skipped", summary={"needs": ["target"]},
                    findings=[Finding("Skipped: needs target.")]),
        CheckResult(name="c", title="C", status="error", summary={"traceback": "Traceback: boom"},
                    findings=[Finding("The check failed: ValueError: boom", severity="fail")]),
        CheckResult(name="d", title="D", status="fail"),
    ]
    html = render_html(Report(kind="audit", checks=checks).to_dict())
    for s in ("pass", "skipped", "error", "fail"):
        assert f'class="badge status-{s}"' in html
    assert "Traceback: boom" in html and "Error details" in html
    assert 'class="badge badge-lg status-fail"' in html  # overall = worst of pass/warn/fail
    assert 'href="#check-c"' in html and 'id="check-c"' in html


def test_render_html_rejects_non_reports():
    with pytest.raises(UnskewInputError, match="checks"):
        render_html({"kind": "audit"})
    with pytest.raises(UnskewInputError):
        render_html([1, 2])


# ----------------------------------------------------------------------------- charts
def test_chart_layout_geometry():
    chart = Chart(title="t", reference=0.5, bars=[
        Bar("a", 0.2, 0.1, 0.3, flag=True), Bar("b", 0.8, 0.7, 0.9), Bar("c", float("nan")),
    ]).to_dict()
    lay = chart_layout(chart, "fail")
    a, b, c = lay["bars"]
    assert lay["x0"] <= a["bar"]["x"] and a["bar"]["x"] == lay["zero_x"]
    assert b["bar"]["w"] == pytest.approx(4 * a["bar"]["w"], rel=1e-3)  # 0.8 vs 0.2 from 0
    assert a["whisker"]["x1"] < a["bar"]["x"] + a["bar"]["w"] < a["whisker"]["x2"]
    ref_x = lay["reference"]["x"]
    assert a["bar"]["x"] + a["bar"]["w"] < ref_x < b["bar"]["x"] + b["bar"]["w"]
    assert a["colour"] == "#cf222e" and b["colour"] != a["colour"]
    assert c["bar"] is None and c["value_text"] == "—"
    assert lay["ticks"][0]["text"] == "0"  # axis starts at 0 for non-negative data


def test_chart_layout_negative_values_and_cap():
    lay = chart_layout(Chart("neg", [Bar("down", -0.4), Bar("up", 0.2)]).to_dict())
    down, up = lay["bars"]
    assert down["bar"]["x"] < lay["zero_x"] and down["bar"]["x"] + down["bar"]["w"] == pytest.approx(lay["zero_x"])
    assert up["bar"]["x"] == pytest.approx(lay["zero_x"])
    many = chart_layout(Chart("many", [Bar(f"g{i}", i / 100) for i in range(150)]).to_dict())
    assert len(many["bars"]) == MAX_BARS and many["n_hidden"] == 150 - MAX_BARS
    long = chart_layout(Chart("long", [Bar("x" * 300, 1.0)]).to_dict())
    assert len(long["bars"][0]["short"]) < 60 and long["bars"][0]["label"] == "x" * 300


def test_format_number():
    assert format_number(None) == "—"
    assert format_number(1234567) == "1,234,567"
    assert format_number(0.123456) == "0.123"
    assert format_number(2.5) == "2.50"
    assert format_number(3.0) == "3"
    assert format_number(1.5e-5) == "1.50e-05"
    assert format_number(True) == "yes"
