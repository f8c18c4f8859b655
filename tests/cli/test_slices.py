import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app

runner = CliRunner()


@pytest.fixture()
def eval_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"age": rng.integers(18, 80, n), "job": rng.choice(["clerk", "nurse", "chef"], n),
                       "region": rng.choice(["north", "south"], n), "sex": rng.choice(["F", "M"], n),
                       "id": [f"r{i}" for i in range(n)]})
    df["y"] = rng.integers(0, 2, n)
    hot = ((df.job == "nurse") & (df.region == "south")).to_numpy()
    df["pred"] = np.where(rng.random(n) < np.where(hot, 0.6, 0.1), 1 - df.y, df.y)
    df["p"] = np.where(df.pred == 1, 0.8, 0.2)
    path = tmp_path / "eval.csv"
    df.to_csv(path, index=False)
    return path


def test_slices_cli_writes_reports_and_groups(eval_csv, tmp_path):
    out = tmp_path / "r.json"
    groups = tmp_path / "g.csv"
    r = runner.invoke(app, ["slices", str(eval_csv), "--target", "y", "--predictions", "pred",
                            "--exclude", "p", "--sensitive", "sex", "--top", "3", "--max-level", "2",
                            "--json", str(out), "--groups-out", str(groups),
                            "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "job = nurse & region = south" in r.output
    rep = json.loads(out.read_text())
    assert rep["kind"] == "slices" and rep["status"] == "fail"
    assert rep["parameters"]["max_level"] == 2 and rep["parameters"]["top_k"] == 3
    check = rep["checks"][0]
    assert check["summary"]["slices"][0]["slice"] == "job = nurse & region = south"
    assert "id" in check["summary"]["dropped_features"]
    assert "job = nurse &amp; region = south" in (tmp_path / "r.html").read_text()
    g = pd.read_csv(groups)
    assert (g.slice[g.group == 0] == "job = nurse & region = south").all()
    assert (g.group == 0).sum() == check["summary"]["slices"][0]["size"]


def test_slices_cli_fail_on_and_options(eval_csv):
    r = runner.invoke(app, ["slices", str(eval_csv), "-t", "y", "--scores", "p", "--exclude", "pred,id",
                            "--label-slices", "--correction", "bh", "--rank-by", "effect_size",
                            "--min-support", "0.02", "--fail-on", "warn", "-q"])
    assert r.exit_code == 1, r.output
    assert "slices status: fail" in r.output


@pytest.mark.parametrize("args, message", [
    (["--target", "y"], "--predictions"),
    (["--target", "y", "--predictions", "pred", "--correction", "holm"], "--correction"),
    (["--target", "y", "--predictions", "pred", "--rank-by", "p"], "--rank-by"),
    (["--target", "y", "--predictions", "pred", "--error", "hinge"], "error metric must be one of"),
    (["--target", "y", "--predictions", "pred", "--max-level", "0"], "--max-level"),
    (["--target", "y", "--predictions", "pred", "--min-support", "2.5"], "--min-support"),
    (["--target", "y", "--predictions", "pred", "--fail-on", "always"], "--fail-on"),
    (["--target", "label", "--predictions", "pred"], "'label'"),
    (["--target", "y", "--predictions", "pred", "--features", "age,pred"], "cannot be searched"),
])
def test_slices_cli_bad_input_exits_2(eval_csv, args, message):
    r = runner.invoke(app, ["slices", str(eval_csv), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_slices_console_script_missing_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "unskew", "slices", str(tmp_path / "none.csv"), "--target", "y",
                        "--predictions", "p"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
