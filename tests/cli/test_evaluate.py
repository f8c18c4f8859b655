"""``unskew evaluate`` on the command line: reports, gates, models and bad input."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app

runner = CliRunner()


def _data(tmp_path, n=3000, gap=1.0, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["A", "B"], n)
    x = rng.normal(size=n)
    y = (x + rng.normal(scale=0.8, size=n) > 0).astype(int)
    score = 1 / (1 + np.exp(-(2 * x - 3 * gap * (g == "B"))))
    df = pd.DataFrame({"g": g, "r": rng.choice(["n", "s"], n), "x": x, "y": y, "score": score,
                       "pred": (score >= 0.5).astype(int)})
    df.to_csv(tmp_path / "d.csv", index=False)
    return df


def _invoke(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def test_writes_json_and_html_and_gates(tmp_path):
    _data(tmp_path)
    out = tmp_path / "out"
    r = _invoke(tmp_path / "d.csv", "-t", "y", "-s", "g,r", "-p", "pred", "--scores", "score",
                "--json", out / "e.json", "--html", out / "e.html", "--n-boot", "200")
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "e.json").read_text())
    assert rep["kind"] == "evaluate" and rep["status"] == "fail"
    names = [c["name"] for c in rep["checks"]]
    assert names[:3] == ["group_metrics", "fairness_gaps", "calibration"]
    gm = rep["checks"][0]
    assert gm["summary"]["n_groups"] == 4 and gm["charts"][0]["bars"][0]["low"] is not None
    assert (out / "e.html").stat().st_size > 1000
    r = _invoke(tmp_path / "d.csv", "-t", "y", "-s", "g", "-p", "pred", "--fail-on", "fail", "-q")
    assert r.exit_code == 1
    # raising the gate lets it pass
    r = _invoke(tmp_path / "d.csv", "-t", "y", "-s", "g", "-p", "pred", "--fail-on", "fail", "-q",
                "--threshold", "demographic_parity_difference=0.9:0.95", "--threshold", "disparate_impact_ratio=off",
                "--threshold", "equalized_odds_difference=off", "--threshold", "equal_opportunity_difference=off",
                "--threshold", "average_odds_difference=off", "--threshold", "predictive_parity_difference=off",
                "--threshold", "accuracy_difference=off")
    assert r.exit_code == 0, r.output


def test_model_file_challenge_and_stream(tmp_path):
    from sklearn.linear_model import LogisticRegression

    df = _data(tmp_path)
    sio = pytest.importorskip("skops.io")
    X = pd.get_dummies(df[["g"]]).astype(float).assign(x=df["x"])
    df2 = X.assign(y=df["y"], g=df["g"])
    df2.drop(columns=["g"]).assign(grp=df["g"]).to_csv(tmp_path / "m.csv", index=False)
    model = LogisticRegression().fit(X, df["pred"])
    sio.dump(model, tmp_path / "m.skops")
    cases = X.head(4).assign(expected=[1, 0, 1, 0], tags=["a", "a;b", "b", "c"])
    cases.to_csv(tmp_path / "cases.csv", index=False)
    r = _invoke(tmp_path / "m.csv", "-t", "y", "-s", "grp", "--model", tmp_path / "m.skops",
                "--challenge", tmp_path / "cases.csv", "--json", tmp_path / "m.json", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "m.json").read_text())
    checks = {c["name"]: c for c in rep["checks"]}
    assert rep["dataset"]["predictions_from"] == "model"
    assert checks["challenge"]["status"] != "skipped" and checks["challenge"]["summary"]["n_cases"] == 4
    # the model does not take 'grp', so the counterfactual test is skipped with the reason
    assert checks["counterfactual"]["status"] == "skipped"
    assert "do not include" in checks["counterfactual"]["findings"][0]["message"]
    df.to_parquet(tmp_path / "d.parquet")
    r = _invoke(tmp_path / "d.parquet", "-t", "y", "-s", "g", "-p", "pred", "--scores", "score", "--stream",
                "--batch-size", "700", "--score-bins", "4096", "--json", tmp_path / "s.json", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "s.json").read_text())
    assert rep["dataset"]["streamed"] is True and rep["parameters"]["score_table"] == "4096 bins"


@pytest.mark.parametrize("args, message", [
    (["-s", "gg", "-p", "pred"], "'gg'"),
    (["-s", "g", "-p", "pred", "--threshold", "dp=0.1:0.2"], "Unknown threshold"),
    (["-s", "g", "-p", "pred", "--threshold", "accuracy_difference"], "NAME=WARN:FAIL"),
    (["-s", "g", "-p", "pred", "--fail-on", "maybe"], "--fail-on"),
    (["-s", "g"], "--predictions"),
    (["-s", "g", "-p", "pred", "--ci", "exact"], "ci must be one of"),
    (["-s", "g", "-p", "pred", "--privileged", "g"], "--privileged"),
    (["-s", "g", "-p", "pred", "--privileged", "g=Z"], "No group matches"),
])
def test_bad_input_exits_2(tmp_path, args, message):
    _data(tmp_path, n=200)
    r = _invoke(tmp_path / "d.csv", "-t", "y", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_pickle_refused_without_trust_through_the_console_script(tmp_path):
    from sklearn.linear_model import LogisticRegression

    df = _data(tmp_path, n=300)
    model = LogisticRegression().fit(df[["x"]], df["y"])
    with open(tmp_path / "m.pkl", "wb") as fh:
        pickle.dump(model, fh)
    cmd = [sys.executable, "-m", "unskew", "evaluate", str(tmp_path / "d.csv"), "-t", "y", "-s", "g",
           "--model", str(tmp_path / "m.pkl")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "--trust-pickle" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(cmd + ["--trust-pickle", "--features", "x", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_evaluate_cli_refuses_scores_passed_as_predictions(tmp_path):
    _data(tmp_path)
    r = subprocess.run([sys.executable, "-m", "unskew", "evaluate", str(tmp_path / "d.csv"), "--target", "y",
                        "--sensitive", "g", "--predictions", "score"], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--scores" in r.stderr and "threshold" in r.stderr and "Traceback" not in r.stdout + r.stderr
