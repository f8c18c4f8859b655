"""``unskew explain`` on the command line: report sections, schema, HTML, gates and bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from sklearn.ensemble import HistGradientBoostingClassifier

    sio = pytest.importorskip("skops.io")
    tmp = tmp_path_factory.mktemp("explain_cli")
    rng = np.random.default_rng(0)
    n = 1200
    race = rng.choice(["A", "B"], n)
    sex = rng.choice(["F", "M"], n)
    postcode = np.where(race == "A", rng.normal(0, 1, n), rng.normal(3, 1, n))
    income = rng.normal(0, 1, n)
    y = ((postcode > 1.5) | (income > 1.2)).astype(int)
    df = pd.DataFrame({"postcode": postcode, "income": income, "race": race, "sex": sex, "y": y})
    df.to_csv(tmp / "d.csv", index=False)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(df[["postcode", "income"]], y)
    sio.dump(model, tmp / "m.skops")
    import copy
    import os

    evil = copy.deepcopy(model)
    evil.tampered_ = os.system  # a type that can run code: refused unless the file is trusted
    sio.dump(evil, tmp / "evil.skops")
    with open(tmp / "m.pkl", "wb") as fh:
        pickle.dump(model, fh)
    return tmp, df, model


def _invoke(*args):
    return runner.invoke(app, ["explain", *map(str, args)])


def test_report_json_html_and_gate(files):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files as res

    tmp, df, model = files
    r = _invoke(tmp / "d.csv", "-t", "y", "-s", "race,sex", "--model", tmp / "m.skops", "--trust-pickle", "--n-boot", "100",
                "--json", tmp / "r.json", "--html", tmp / "r.html")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp / "r.json").read_text())
    schema = json.loads(res("unskew.report").joinpath("schema.json").read_text())
    jsonschema.validate(rep, schema)
    assert rep["kind"] == "explain"
    names = [c["name"] for c in rep["checks"]]
    assert names == ["attributions", "gaps", "differences", "proxies", "stability"]
    sec = {c["name"]: c for c in rep["checks"]}
    assert sec["attributions"]["summary"]["method"] == "tree"
    assert sec["attributions"]["summary"]["max_additivity_error"] < 1e-9
    # the output gap between races adds up to the observed difference of mean log-odds
    raw = model.decision_function(df[["postcode", "income"]])
    gap = [g for g in sec["gaps"]["summary"]["gaps"] if g["kind"] == "output" and g["group_a"].startswith("race")][0]
    a, b = gap["group_a"].split("=")[1], gap["group_b"].split("=")[1]
    observed = raw[df["race"] == a].mean() - raw[df["race"] == b].mean()
    assert abs(gap["difference"] - observed) < 1e-9
    assert abs(sum(c["contribution"] for c in gap["contributions"]) - observed) < 1e-9
    assert any(g["kind"] == "loss" for g in sec["gaps"]["summary"]["gaps"])
    # postcode is the audit's proxy for race and carries most of the attribution -> fail
    assert "postcode" in sec["proxies"]["summary"]["proxies"]
    assert sec["proxies"]["status"] == "fail"
    html = (tmp / "r.html").read_text()
    assert "Why the groups" in html and "postcode" in html
    r2 = _invoke(tmp / "d.csv", "-t", "y", "-s", "race", "--model", tmp / "m.skops", "--trust-pickle", "--n-boot", "50",
                 "--no-loss", "--fail-on", "fail", "-q")
    assert r2.exit_code == 1, r2.output


@pytest.mark.parametrize("args,message", [
    (["--model", "m.pkl"], "pickle"),
    (["--model", "evil.skops"], "does not trust"),
    (["--model", "nope.skops"], "not found"),
    (["--model", "m.skops", "--trust-pickle", "--method", "magic"], "method must be"),
    (["--model", "m.skops", "--trust-pickle", "--threshold", "bogus=1"], "Unknown threshold"),
    (["--model", "m.skops", "--trust-pickle", "-s", "religion"], "religion"),
])
def test_bad_input_exits_2(files, args, message):
    tmp, _, _ = files
    args = [str(tmp / a) if a.endswith((".pkl", ".skops")) else a for a in args]
    r = _invoke(tmp / "d.csv", "-t", "y", "-s", "race", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output
