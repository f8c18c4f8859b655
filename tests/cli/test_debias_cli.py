import json
import subprocess
import sys

import numpy as np
import pandas as pd


def _run(*args):
    return subprocess.run([sys.executable, "-m", "unskew", *args], capture_output=True, text=True)


def test_debias_cli_writes_outputs(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < 0.9, y, 1 - y)
    pd.DataFrame({"x": y + rng.normal(scale=1.2, size=n), "z": (2 * a - 1) + rng.normal(size=n),
                  "grp": np.where(a == 1, "p", "q"), "y": y}).to_csv(tmp_path / "d.csv", index=False)
    r = _run("debias", str(tmp_path / "d.csv"), "--target", "y", "--sensitive", "grp",
             "--out", str(tmp_path / "clean.csv"), "--removed", str(tmp_path / "rm.csv"),
             "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"), "--fail-on", "fail")
    assert r.returncode == 0, r.stderr
    # the shared output path: every written file is named
    for line in (f"JSON report: {tmp_path / 'r.json'}", f"HTML report: {tmp_path / 'r.html'}",
                 f"cleaned table: {tmp_path / 'clean.csv'}", f"removed examples: {tmp_path / 'rm.csv'}"):
        assert line in r.stdout, r.stdout
    assert "<html" in (tmp_path / "r.html").read_text()
    removed = pd.read_csv(tmp_path / "rm.csv")
    clean = pd.read_csv(tmp_path / "clean.csv")
    assert len(clean) + len(removed) == n
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["checks"][0]["summary"]["n_removed"] == len(removed)
    assert rep["parameters"]["rounds"] == 1 and "round" not in removed.columns
    # in rounds: the budget in chunks, each re-scored; the removed table says which round chose each row
    r = _run("debias", str(tmp_path / "d.csv"), "--target", "y", "--sensitive", "grp", "--removal", "k", "--k", "60",
             "--rounds", "3", "--removed", str(tmp_path / "rm3.csv"), "--json", str(tmp_path / "r3.json"))
    assert r.returncode == 0, r.stderr
    rm3 = pd.read_csv(tmp_path / "rm3.csv")
    assert list(rm3["round"]) == [1] * 20 + [2] * 20 + [3] * 20
    assert json.loads((tmp_path / "r3.json").read_text())["parameters"]["rounds"] == 3


def test_debias_cli_bad_input_exits_2(tmp_path):
    pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    r = _run("debias", str(tmp_path / "d.csv"), "--target", "y", "--method", "magic")
    assert r.returncode == 2 and "--method" in r.stderr and "Traceback" not in r.stderr + r.stdout
    r = _run("debias", str(tmp_path / "d.csv"), "--target", "label")
    assert r.returncode == 2 and "'label'" in r.stderr and "Traceback" not in r.stderr


def test_debias_cli_option_errors_come_from_the_library(tmp_path):
    pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    for opt, val, text in [("--removal", "all", "--removal must be one of auto, negative, k, sweep"),
                           ("--val-fraction", "1.5", "--val-fraction must be between 0 and 1"),
                           ("--selection", "holdout", "--selection must be one of checked, crossfit, in_sample"),
                           ("--rounds", "0", "--rounds must be a whole number, 1 or more"),
                           ("--rounds", "2 --removal negative", "--removal negative has no budget")]:
        r = _run("debias", str(tmp_path / "d.csv"), "--target", "y", opt, *val.split())
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr + r.stdout
    src = open(__import__("unskew.cli._debias", fromlist=["x"]).__file__).read()
    assert "fail_input" not in src and "val_fraction <" not in src
