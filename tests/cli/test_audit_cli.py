"""`unskew audit` on bad input: exit code 2, a clear message, never a traceback.
Also the gate (--fail-on), the report files and the exclusion counts."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def text_of(result) -> str:
    """stdout and stderr together, with rich's line breaks undone."""
    return " ".join((result.stdout + result.stderr).split())


def assert_bad_input(result, *needles):
    out = text_of(result)
    assert result.exit_code == 2, out
    assert "Traceback" not in out and "internal error" not in out
    assert out.count("error:") >= 1
    for n in needles:
        assert n in out, f"{n!r} not in {out!r}"


def _frame(n=400, seed=0, pos_rate=0.5):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50, 10, n).round(2),
        "sex": rng.choice(["F", "M"], n),
        "y": (rng.random(n) < pos_rate).astype(int),
    })


@pytest.fixture()
def good_csv(tmp_path):
    p = tmp_path / "good.csv"
    _frame().to_csv(p, index=False)
    return p


# ----------------------------------------------------------------------------- bad input
def test_missing_column_names_it_and_suggests_a_close_match(good_csv):
    r = invoke("audit", good_csv, "--target", "y", "--sensitive", "sexx")
    assert_bad_input(r, "'sexx'", "Did you mean 'sex'?")
    r = invoke("audit", good_csv, "--target", "label")
    assert_bad_input(r, "'label'", "Available columns")


def test_target_with_one_class(tmp_path):
    df = _frame()
    df["y"] = 1
    df.to_csv(tmp_path / "one.csv", index=False)
    r = invoke("audit", tmp_path / "one.csv", "--target", "y")
    assert_bad_input(r, "Target column 'y' has 1 class (1)", "at least two")
    assert "np.int64" not in text_of(r)


def test_sensitive_attribute_with_thousands_of_levels(tmp_path):
    df = _frame(3000)
    df["customer_id"] = [f"c{i:05d}" for i in range(len(df))]
    df.to_csv(tmp_path / "ids.csv", index=False)
    r = invoke("audit", tmp_path / "ids.csv", "--target", "y", "--sensitive", "customer_id")
    assert_bad_input(r, "'customer_id' has 3000 distinct values", "--max-levels")


def test_all_nan_column(tmp_path):
    df = _frame()
    df["notes"] = np.nan
    df.to_csv(tmp_path / "nan.csv", index=False)
    r = invoke("audit", tmp_path / "nan.csv", "--target", "y")
    assert_bad_input(r, "'notes'", "entirely missing", "--ignore notes")
    # and the suggested fix works
    r = invoke("audit", tmp_path / "nan.csv", "--target", "y", "--ignore", "notes", "-q",
               "--checks", "target_distribution")
    assert r.exit_code == 0, text_of(r)


def test_empty_file_and_header_only_file(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert_bad_input(invoke("audit", tmp_path / "empty.csv", "--target", "y"), "empty (0 bytes)")
    (tmp_path / "header.csv").write_text("age,income,sex,y\n")
    assert_bad_input(invoke("audit", tmp_path / "header.csv", "--target", "y"), "header but no data rows")
    (tmp_path / "blank.csv").write_text("\n\n  \n")
    assert_bad_input(invoke("audit", tmp_path / "blank.csv", "--target", "y"), "no data")


def test_semicolon_file_is_sniffed_and_wrong_delimiter_gets_a_hint(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "semi.csv", index=False, sep=";", decimal=",")  # European export
    js = tmp_path / "semi.json"
    r = invoke("audit", tmp_path / "semi.csv", "--target", "y", "--sensitive", "sex", "-q",
               "--checks", "target_distribution", "--json", js)
    assert r.exit_code == 0, text_of(r)
    ds = json.loads(js.read_text())["dataset"]
    assert ds["n_columns"] == 4 and ds["column_types"]["income"] == "numeric"  # decimal commas read
    r = invoke("audit", tmp_path / "semi.csv", "--target", "y", "--delimiter", ",")
    assert_bad_input(r, "single column", "--delimiter ';'")


def test_latin1_file_suggests_encoding_and_works_with_it(tmp_path):
    df = _frame()
    df["city"] = np.random.default_rng(0).choice(["Zürich", "Köln", "Malmö"], len(df))
    df.to_csv(tmp_path / "latin.csv", index=False, encoding="latin-1")
    r = invoke("audit", tmp_path / "latin.csv", "--target", "y")
    assert_bad_input(r, "not valid utf-8", "--encoding latin-1")
    js = tmp_path / "latin.json"
    r = invoke("audit", tmp_path / "latin.csv", "--target", "y", "--sensitive", "city",
               "--encoding", "latin-1", "-q", "--checks", "representation", "--json", js)
    assert r.exit_code == 0, text_of(r)
    assert "city=Zürich" in json.dumps(json.loads(js.read_text()), ensure_ascii=False)


def test_mixed_types_name_the_column_and_values(tmp_path):
    df = _frame()
    df["income"] = df["income"].astype(object)
    df.loc[[3, 8], "income"] = "unknown"
    df.loc[5, "income"] = "see file"
    df.to_csv(tmp_path / "mixed.csv", index=False)
    r = invoke("audit", tmp_path / "mixed.csv", "--target", "y")
    assert_bad_input(r, "Column 'income'", "mixed types", "'unknown' (2 rows)", "'see file' (1 row)",
                     "--na-values")
    r = invoke("audit", tmp_path / "mixed.csv", "--target", "y", "--na-values", "unknown,see file",
               "-q", "--checks", "missing_values")
    assert r.exit_code == 0, text_of(r)


def test_nonexistent_file_and_folder(tmp_path):
    assert_bad_input(invoke("audit", tmp_path / "nope.csv", "--target", "y"), "File not found", "nope.csv")
    assert_bad_input(invoke("audit", tmp_path, "--target", "y"), "is a folder")


def test_other_bad_options(good_csv, tmp_path):
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--fail-on", "maybe"),
                     "(--fail-on) must be 'warn' or 'fail'", "'maybe'")
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--checks", "nonsense"),
                     "Unknown check 'nonsense' for --checks")
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--type", "age"), "COLUMN=VALUE")
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--type", "age=weird"),
                     "Unknown column type 'weird'")
    assert_bad_input(invoke("audit", good_csv, "--target", "sex", "--sensitive", "sex"), "two roles")
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--html", tmp_path), "is a folder")
    assert_bad_input(invoke("audit", good_csv, "--target", "y", "--reference", tmp_path / "ref.json"),
                     "Reference file not found")
    (tmp_path / "x.xlsx").write_text("not a table")
    assert_bad_input(invoke("audit", tmp_path / "x.xlsx", "--target", "y"), "Do not know how to read x.xlsx")
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,0\n1,2,3,4\n5,6,1\n")
    assert_bad_input(invoke("audit", tmp_path / "ragged.csv", "--target", "y"), "Could not parse", "line 3")


def test_bad_input_through_the_real_entry_point(tmp_path):
    """The console script path (run_app) too: exit 2 and no traceback."""
    (tmp_path / "empty.csv").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "unskew", "audit", str(tmp_path / "empty.csv"), "-t", "y"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "empty (0 bytes)" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_help_works():
    r = subprocess.run([sys.executable, "-m", "unskew", "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for cmd in ("audit", "demo", "checks"):
        assert cmd in r.stdout
    r = invoke("audit", "--help")
    assert r.exit_code == 0 and "--fail-on" in text_of(r)


# ----------------------------------------------------------------------------- gate and outputs
def test_fail_on_warn_gates_only_when_a_check_warns(tmp_path):
    # 20 % positives: imbalance ratio 4 (warn at 3, fail at 20)
    _frame(1000, seed=1, pos_rate=0.2).to_csv(tmp_path / "warn.csv", index=False)
    _frame(1000, seed=2, pos_rate=0.5).to_csv(tmp_path / "ok.csv", index=False)
    common = ["--target", "y", "--sensitive", "sex", "--checks", "target_distribution", "-q"]
    r = invoke("audit", tmp_path / "warn.csv", *common, "--fail-on", "warn")
    assert r.exit_code == 1, text_of(r)
    assert "warn" in text_of(r)
    assert invoke("audit", tmp_path / "warn.csv", *common, "--fail-on", "fail").exit_code == 0
    assert invoke("audit", tmp_path / "warn.csv", *common).exit_code == 0
    r = invoke("audit", tmp_path / "ok.csv", *common, "--fail-on", "warn")
    assert r.exit_code == 0, text_of(r)


def test_json_html_written_and_exclusions_counted_and_printed(tmp_path):
    df = _frame(600, seed=3)
    df["y"] = df["y"].astype(float)
    df.loc[df.index[:17], "y"] = np.nan
    df.to_csv(tmp_path / "d.csv", index=False)
    js, html = tmp_path / "out" / "r.json", tmp_path / "out" / "r.html"
    r = invoke("audit", tmp_path / "d.csv", "--target", "y", "--sensitive", "sex",
               "--checks", "target_distribution,representation", "--json", js, "--html", html)
    out = text_of(r)
    assert r.exit_code == 0, out
    assert "Excluded 17 rows: target is missing: 17" in out
    assert "583 rows analysed of 600 read" in out
    rep = json.loads(js.read_text())
    assert rep["dataset"]["excluded_rows"] == {"target is missing": 17}
    assert rep["dataset"]["n_rows"] == 583 and rep["dataset"]["n_rows_read"] == 600
    assert [c["name"] for c in rep["checks"]] == ["target_distribution", "representation"]
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "target is missing" in page
    assert f"JSON report: {js}" in out and f"HTML report: {html}" in out
    # --quiet still reports the exclusions
    r = invoke("audit", tmp_path / "d.csv", "--target", "y", "--checks", "target_distribution", "-q")
    assert "Excluded 17 rows" in text_of(r)


def test_markup_like_text_in_data_is_printed_verbatim(tmp_path):
    rng = np.random.default_rng(0)
    df = _frame(300)
    df["sex"] = np.where(df["sex"] == "F", "[bold]F[/bold]", "[/oops]")
    df["y"] = np.where(df["sex"] == "[/oops]", rng.random(300) < 0.8, rng.random(300) < 0.3).astype(int)
    df.to_csv(tmp_path / "m.csv", index=False)
    r = invoke("audit", tmp_path / "m.csv", "--target", "y", "--sensitive", "sex",
               "--checks", "base_rates,representation")
    out = text_of(r)
    assert r.exit_code == 0, out
    assert "sex=[/oops]" in out and "sex=[bold]F[/bold]" in out


def test_compare_table_and_its_exclusions_are_reported(tmp_path):
    df = _frame(300, seed=4)
    df.to_csv(tmp_path / "a.csv", index=False)
    other = _frame(200, seed=5)
    other["income"] += 30  # a clear shift
    other["y"] = other["y"].astype(float)
    other.loc[other.index[:6], "y"] = np.nan
    other.to_csv(tmp_path / "b.csv", index=False)
    js = tmp_path / "r.json"
    r = invoke("audit", tmp_path / "a.csv", "--target", "y", "--sensitive", "sex",
               "--compare", tmp_path / "b.csv", "--checks", "shift", "--json", js)
    out = text_of(r)
    assert r.exit_code == 0, out
    assert "194 rows analysed of 200 read; excluded target is missing: 6" in out
    rep = json.loads(js.read_text())
    assert rep["dataset"]["compare"]["excluded_rows"] == {"target is missing": 6}
    assert rep["checks"][0]["status"] in ("warn", "fail")
