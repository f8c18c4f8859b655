"""`unskew demo` (offline German credit audit) and `unskew checks`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

import pytest
from typer.testing import CliRunner

from unskew.audit import get_check, list_checks
from unskew.cli import app
from unskew.cli._demo import DEMO_AGE_THRESHOLD, demo_dataset

runner = CliRunner()


def _text(r) -> str:
    return " ".join((r.stdout + r.stderr).split())


def test_demo_dataset_roles_and_derived_age_group():
    ds = demo_dataset()
    assert len(ds) == 1000 and ds.target == "credit" and ds.sensitive == ["sex", "age_group"]
    young = ds.frame["age"] < DEMO_AGE_THRESHOLD
    assert (ds.frame.loc[young, "age_group"] == "<25").all()
    assert (ds.frame.loc[~young, "age_group"] == ">=25").all()
    assert 100 < young.sum() < 200  # 149 applicants are under 25
    assert set(ds.frame["sex"]) == {"female", "male"}


def test_demo_writes_reports_and_exits_0(tmp_path):
    """Through the console entry, in a fresh folder (default ./unskew-demo), with
    a data home that holds nothing: the demo needs only the bundled copy."""
    env = {**os.environ, "UNSKEW_DATA_HOME": str(tmp_path / "no-data-here"), "COLUMNS": "200",
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "unskew", "demo"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    text = " ".join(r.stdout.split())
    assert "German credit" in text and "derives from 'age'" in text
    for name in list_checks():
        assert name in text  # one terminal line per check
    assert "audit status:" in text
    out = tmp_path / "unskew-demo"
    rep = json.loads((out / "audit.json").read_text())
    assert rep["kind"] == "audit" and rep["dataset"]["n_rows"] == 1000
    assert rep["dataset"]["sensitive"] == ["sex", "age_group"]
    assert [c["name"] for c in rep["checks"]] == list_checks()
    assert "age" in rep["parameters"]["demo"]["age_group"]
    page = (out / "audit.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "age_group" in page and "<svg" in page
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("unskew.report").joinpath("schema.json").read_text("utf-8"))
    jsonschema.validate(rep, schema, cls=jsonschema.Draft202012Validator)


def test_demo_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "file")])
    assert r.exit_code == 2 and "not a folder" in _text(r) and "Traceback" not in _text(r)


def test_checks_lists_every_check_with_thresholds():
    r = runner.invoke(app, ["checks"])
    text = _text(r)
    assert r.exit_code == 0, text
    for name in list_checks():
        cls = get_check(name)
        assert name in text
        for key in cls.default_thresholds:
            assert key in text
    r = runner.invoke(app, ["checks", "base_rates"])
    assert r.exit_code == 0 and "gap_warn" in _text(r) and "duplicates" not in _text(r)
    r = runner.invoke(app, ["checks", "base_rate"])
    assert r.exit_code == 2 and "Did you mean 'base_rates'?" in _text(r)
