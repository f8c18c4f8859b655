"""`audit --engine duckdb`: count-based checks number for number equal to pandas; model-based checks on a stated sample."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unskew.audit import audit
from unskew.cli import app
from unskew.engines._audit_report import COUNT_CHECKS
from unskew.exceptions import UnskewInputError

runner = CliRunner()
COUNTED = list(COUNT_CHECKS)
ROW_SAMPLE = "Rows with the most missing cells"


def _checks(report: dict) -> list[dict]:
    out = []
    for c in report["checks"]:
        c = {k: v for k, v in c.items() if k != "elapsed_s"}
        c["summary"] = {k: v for k, v in c["summary"].items() if k != "computed_by"}
        # the one per-row part: a capped sample of the rows with most missing cells needs the rows
        c["tables"] = [t for t in c["tables"] if t["title"] != ROW_SAMPLE]
        out.append(c)
    return out


@pytest.fixture(scope="module")
def adult_parquet(tmp_path_factory):
    from unskew.datasets import load_adult

    frame = load_adult().iloc[:6000].reset_index(drop=True)
    path = tmp_path_factory.mktemp("adult") / "adult.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("weights", [None, "w"])
def test_count_checks_equal_pandas(table, weights):
    kw = {"target": "y", "sensitive": "sex,race", "checks": COUNTED, "weights": weights}
    p = audit(table, **kw).to_dict()
    d = audit(table, engine="duckdb", **kw).to_dict()
    assert [c["name"] for c in d["checks"]] == COUNTED
    assert all("duckdb" in c["summary"]["computed_by"] for c in d["checks"])
    assert json.dumps(_checks(d), sort_keys=True) == json.dumps(_checks(p), sort_keys=True)
    # the table has missing 'sex' values: the (missing) group is counted by both
    assert "(missing)" in json.dumps(d["checks"][1])


def test_missing_values_with_disguised_markers(table):
    t = table.copy()
    t["c"] = ["?" if i % 50 == 0 else ("a" if i % 3 else None) for i in range(len(t))]
    t.loc[::7, "x"] = None
    kw = {"target": "y", "sensitive": "sex,race", "checks": ["missing_values"], "weights": "w"}
    p = audit(t, **kw).to_dict()
    d = audit(t, engine="duckdb", **kw).to_dict()
    assert d["checks"][0]["summary"]["disguised_missing"] == {"c": {"?": len(t) // 50}}
    assert ROW_SAMPLE in [x["title"] for x in p["checks"][0]["tables"]]
    assert _checks(d) == _checks(p)


def test_cli_adult_duckdb_equals_pandas(adult_parquet, tmp_path):
    args = ["audit", str(adult_parquet), "-t", "income", "-s", "sex,race", "--checks", ",".join(COUNTED), "-q"]
    r1 = runner.invoke(app, [*args, "--engine", "duckdb", "--json", str(tmp_path / "d.json")])
    r2 = runner.invoke(app, [*args, "--json", str(tmp_path / "p.json")])
    assert r1.exit_code in (0, 1), r1.output
    assert r1.exit_code == r2.exit_code, r1.output + r2.output
    d, p = (json.loads((tmp_path / f).read_text()) for f in ("d.json", "p.json"))
    assert d["parameters"]["engine"]["engine"] == "duckdb"
    assert d["parameters"]["engine"]["counts"]["n_rows"] == 6000
    assert _checks(d) == _checks(p)


def test_model_checks_state_the_sample(table_files):
    rep = audit(table_files["parquet"], target="y", sensitive="sex,race", checks=["outliers", "duplicates"],
                engine="duckdb", engine_options={"sample_size": 500, "min_per_stratum": 20}).to_dict()
    sample = rep["parameters"]["engine"]["sample"]
    assert sample["n_rows"] == 3000
    assert 500 <= sample["n_sample"] < 3000
    assert "stratified by sex x race x y" in sample["method"]
    for c in rep["checks"]:
        assert c["status"] != "error", c
        assert c["summary"]["sample"] == sample
    assert rep["dataset"]["engine"] == "duckdb"


def test_sample_has_every_stratum(table):
    rep = audit(table, target="y", sensitive="sex,race", checks=["duplicates"], engine="duckdb",
                engine_options={"sample_size": 100, "min_per_stratum": 5}).to_dict()
    # 3 sex values (F, M, missing) x 3 races x 2 classes, all present in the table
    assert rep["parameters"]["engine"]["sample"]["strata"] == 18


def test_needs_target_and_sensitive(table):
    with pytest.raises(UnskewInputError, match="--target and --sensitive"):
        audit(table, sensitive="sex", engine="duckdb")


@pytest.mark.parametrize("args", [["--engine", "nope"], ["--engine", "duckdb", "--dask-scheduler", "tcp://127.0.0.1:1"],
                                  ["--engine", "dask", "--memory-limit", "1GB"]])
def test_cli_bad_engine_exits_2(table_files, args):
    r = runner.invoke(app, ["audit", str(table_files["parquet"]), "-t", "y", "-s", "sex", *args, "-q"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert ("pandas, duckdb, spark, dask" if "nope" in args else "applies to --engine") in r.output


def test_shift_on_samples_of_both_tables(table_files, table, tmp_path):
    shifted = table.copy()
    shifted["x"] = shifted["x"] + 1.5
    other = tmp_path / "other.parquet"
    shifted.to_parquet(other)
    kw = {"target": "y", "sensitive": "sex,race", "checks": ["shift"], "engine": "duckdb",
          "engine_options": {"sample_size": 800}}
    same = audit(table_files["parquet"], compare=table_files["parquet"], **kw).to_dict()["checks"][0]
    moved = audit(table_files["parquet"], compare=other, **kw).to_dict()["checks"][0]
    assert same["status"] == "pass", same["findings"]
    assert moved["status"] in ("warn", "fail")
    assert "'x'" in " ".join(f["message"] for f in moved["findings"])
    for c in (same, moved):
        assert set(c["summary"]["sample"]) == {"data", "compare"}
        assert "stratified by sex x race:" in c["summary"]["sample"]["compare"]["method"]


def test_na_values_refused_on_engine(table_files):
    with pytest.raises(UnskewInputError, match="--na-values"):
        audit(table_files["parquet"], target="y", sensitive="sex", engine="duckdb", na_values=["?"])


def test_cli_sample_size_and_memory_limit(table_files, tmp_path):
    out = tmp_path / "r.json"
    r = runner.invoke(app, ["audit", str(table_files["csv"]), "-t", "y", "-s", "sex,race", "--weights", "w",
                            "--checks", "representation,outliers", "--engine", "duckdb", "--sample-size", "400",
                            "--memory-limit", "1GB", "--json", str(out), "-q"])
    assert r.exit_code in (0, 1), r.output
    rep = json.loads(out.read_text())
    assert rep["parameters"]["engine"]["counts"]["n_rows"] == 3000
    assert rep["checks"][1]["summary"]["sample"]["n_sample"] >= 400
    assert "duckdb" in rep["checks"][0]["summary"]["computed_by"]
