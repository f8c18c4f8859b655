"""``unskew mitigate`` on small tables (in-process through Typer's runner)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app
from unskew.mitigate.pre import reweighing_weights

runner = CliRunner()


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 800
    sex = rng.choice(["F", "M"], size=n, p=[0.35, 0.65])
    y = (rng.random(n) < np.where(sex == "F", 0.15, 0.45)).astype(int)
    df = pd.DataFrame({
        "age": rng.integers(18, 70, size=n),
        "income": rng.normal(50, 10, size=n) + 5 * (sex == "M"),
        "city": rng.choice([f"c{i}" for i in range(40)], size=n),
        "sex": sex,
        "label": y,
    })
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path, df


def _run(*args):
    return runner.invoke(app, ["mitigate", *map(str, args)])


def test_reweighing_writes_weights_and_json(table, tmp_path):
    path, df = table
    out, rep = tmp_path / "w.csv", tmp_path / "r.json"
    r = _run(path, "--target", "label", "--sensitive", "sex", "--method", "reweighing", "--out", out, "--json", rep)
    assert r.exit_code == 0, r.output
    assert "weight per row" in r.output and "0.000 after" in r.output
    res = pd.read_csv(out)
    np.testing.assert_allclose(res["_weight"], reweighing_weights(df["label"], df["sex"]), rtol=1e-12)
    report = json.loads(rep.read_text())
    assert report["kind"] == "mitigate" and report["parameters"]["method"] == "reweighing"
    check = report["checks"][0]
    assert check["summary"]["positive_rate_gap_after"] == pytest.approx(0.0, abs=1e-12)
    assert check["summary"]["positive_rate_gap_before"] > 0.2
    assert len(check["tables"][0]["rows"]) == 4


def test_smote_on_mixed_table_marks_synthetic_rows(table, tmp_path):
    path, df = table
    out = tmp_path / "s.parquet"
    r = _run(path, "-t", "label", "-s", "sex", "-m", "smote", "-o", out, "--seed", 3)
    assert r.exit_code == 0, r.output
    res = pd.read_parquet(out)
    assert res["_synthetic"].dtype == bool
    orig = res[~res["_synthetic"]].drop(columns="_synthetic").reset_index(drop=True)
    pd.testing.assert_frame_equal(orig, df, check_dtype=False)
    cells = res.groupby(["sex", "label"]).size()
    assert cells.nunique() == 1 and cells.iloc[0] == df.groupby(["sex", "label"]).size().max()
    syn = res[res["_synthetic"]]
    assert set(syn["city"]) <= set(df["city"])
    assert res["age"].dtype.kind == "i"  # integer columns stay integers


@pytest.mark.parametrize("method", ["oversample", "undersample", "mixup", "inverse", "effective", "correlation_remover"])
def test_other_methods_run(table, tmp_path, method):
    path, df = table
    out = tmp_path / f"{method}.csv"
    r = _run(path, "-t", "label", "-s", "sex", "-m", method, "-o", out, "--strategy", "independent")
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out)
    if method == "undersample":
        assert len(res) < len(df) and not res["_synthetic"].any()
    if method == "correlation_remover":
        assert abs(np.corrcoef(res["income"], res["sex"] == "M")[0, 1]) < 1e-8
        assert abs(np.corrcoef(df["income"], df["sex"] == "M")[0, 1]) > 0.1


def test_quiet_prints_one_line(table):
    path, _ = table
    r = _run(path, "-t", "label", "-s", "sex", "-m", "oversample", "-q")
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "magic"], "--method"),
        (["-m", "smote", "--strategy", "equal"], "--strategy"),
        (["-m", "smote", "--k-neighbors", "0"], "--k-neighbors"),
        (["-m", "smote", "-o", "out.xlsx"], "--out"),
    ],
)
def test_bad_options_exit_2(table, args, message):
    path, _ = table
    r = _run(path, "-t", "label", "-s", "sex", *args)
    assert r.exit_code == 2 and message in r.output


def test_bad_input_exits_2_without_traceback(table, tmp_path):
    path, df = table
    r = _run(path, "-t", "labels", "-s", "sex", "-m", "smote")
    assert r.exit_code == 2 and "'labels'" in r.output and "Traceback" not in r.output
    bad = tmp_path / "nan.csv"
    df.assign(income=df["income"].where(df.index % 7 != 0)).to_csv(bad, index=False)
    r = _run(bad, "-t", "label", "-s", "sex", "-m", "smote")
    assert r.exit_code == 2 and "income" in r.output and "impute" in r.output
    clash = tmp_path / "clash.csv"
    df.assign(_synthetic=1).to_csv(clash, index=False)
    r = _run(clash, "-t", "label", "-s", "sex", "-m", "oversample")
    assert r.exit_code == 2 and "_synthetic" in r.output
