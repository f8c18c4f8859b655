"""`unskew compare` on the command line: outputs, bad input (exit 2), method listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def _run(*args):
    """The real console script, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "unskew", "compare", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "160"})


def _invoke(*args):
    """The command in this process (fast; same exit codes and messages)."""
    from typer.testing import CliRunner

    from unskew.cli import app

    return CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "160"})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(1)
    n = 1200
    grp = np.where(rng.random(n) < 0.65, "p", "q")
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x + np.where(grp == "p", 0.7, -1.0))))).astype(int)
    path = tmp_path_factory.mktemp("cmp") / "d.csv"
    pd.DataFrame({"x": x, "z": rng.normal(size=n), "grp": grp, "y": y}).to_csv(path, index=False)
    return path


def test_compare_cli_writes_reports(table, tmp_path):
    r = _run(str(table), "--target", "y", "--sensitive", "grp", "--methods", "reweighing,threshold_dp",
             "--seeds", "2", "--n-jobs", "1", "--n-boot", "100", "--constraint", "dp<=0.05",
             "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"), "--csv", str(tmp_path / "l.csv"))
    assert r.returncode == 0, r.stderr
    assert "Recommendation:" in r.stdout and "threshold_dp" in r.stdout
    board = pd.read_csv(tmp_path / "l.csv")
    assert set(board["method"]) == {"baseline", "reweighing", "threshold_dp"}
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["kind"] == "compare" and rep["parameters"]["seeds"] == [0, 1]
    assert rep["checks"][0]["summary"]["recommended"] == board.iloc[0]["method"]
    html = (tmp_path / "r.html").read_text()
    assert "<circle" in html and "Mitigation leaderboard" in html


def test_compare_cli_quiet_prints_only_the_recommendation(table):
    r = _invoke(str(table), "-t", "y", "-s", "grp", "-m", "threshold_eo", "--seeds", "1", "-j", "1", "-q",
                "--n-boot", "50")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("Recommendation:") and "┃" not in r.stdout


@pytest.mark.parametrize("args, word", [
    (["--target", "label", "--sensitive", "grp"], "'label'"),
    (["--target", "y", "--sensitive", "grp", "--methods", "magic"], "Unknown method"),
    (["--target", "y", "--sensitive", "grp", "--constraint", "equalized_odds==0.1"], "Cannot read"),
    (["--target", "y", "--sensitive", "grp", "--model", "forest"], "Unknown model"),
    (["--target", "y", "--sensitive", "grp", "--seeds", "0"], "--seeds"),
    (["--target", "y", "--sensitive", "grp", "--n-jobs", "0"], "--n-jobs"),
    (["--target", "y"], "--sensitive"),
    (["--target", "x", "--sensitive", "grp"], "binary"),
])
def test_compare_cli_bad_input_exits_2(table, args, word):
    r = _invoke(str(table), *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert word in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_compare_cli_missing_file_exits_2(tmp_path):
    r = _invoke(str(tmp_path / "none.csv"), "--target", "y", "--sensitive", "g")
    assert r.exit_code == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_compare_cli_lists_methods():
    r = _invoke("--list-methods")
    assert r.exit_code == 0, r.stderr
    for name in ("baseline", "threshold_eodds", "d3m", "fairlearn_expgrad", "imblearn_smote"):
        assert name in r.stdout
