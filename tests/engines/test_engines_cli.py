"""`unskew evaluate --engine ...`: the same JSON report; bad engine options exit 2 with a message."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from unskew.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_engine_duckdb_equals_stream(table_files, tmp_path):
    args = ["evaluate", table_files["parquet"], "-t", "y", "-s", "sex,race", "-p", "pred", "--scores", "score",
            "--n-boot", "50", "-q"]
    r1 = invoke(*args, "--engine", "duckdb", "--memory-limit", "1GB", "--json", tmp_path / "d.json")
    assert r1.exit_code in (0, 1), r1.stdout + r1.stderr
    r2 = invoke(*args, "--stream", "--json", tmp_path / "p.json")
    assert r2.exit_code == r1.exit_code
    d, p = (json.loads((tmp_path / f).read_text()) for f in ("d.json", "p.json"))
    assert d["dataset"]["engine"]["engine"] == "duckdb"
    strip = lambda rep: [{k: v for k, v in c.items() if k != "elapsed_s"} for c in rep["checks"]]  # noqa: E731
    assert strip(d) == strip(p)


def test_cli_bad_engine_options(table_files):
    r = invoke("evaluate", table_files["parquet"], "-t", "y", "-s", "sex", "-p", "pred", "--engine", "hive")
    assert r.exit_code == 2 and "Unknown engine 'hive'" in " ".join((r.stdout + r.stderr).split())
    r = invoke("evaluate", table_files["parquet"], "-t", "y", "-s", "sex", "-p", "pred", "--engine", "duckdb",
               "--dask-scheduler", "tcp://127.0.0.1:1")
    assert r.exit_code == 2 and "--dask-scheduler applies to --engine dask" in " ".join((r.stdout + r.stderr).split())
    r = invoke("evaluate", table_files["parquet"], "-t", "y", "-s", "nope", "-p", "pred", "--engine", "duckdb")
    assert r.exit_code == 2 and "'nope'" in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
