"""The shared output path of every report-writing command (unskew/cli/_output.py)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew import __version__
from unskew.cli import app
from unskew.cli._output import check_outputs, write_report
from unskew.exceptions import UnskewInputError
from unskew.report import CheckResult, Report, Status

REPORT_COMMANDS = ("audit", "evaluate", "slices", "mitigate", "debias", "compare")


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_version():
    r = _invoke("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"unskew {__version__}"


@pytest.mark.parametrize("command", REPORT_COMMANDS)
def test_every_report_command_has_json_html_fail_on(command):
    r = _invoke(command, "--help")
    assert r.exit_code == 0
    for opt in ("--json", "--html", "--fail-on"):
        assert opt in r.stdout, (command, opt)


def _report(*statuses):
    return Report(kind="test", checks=[CheckResult(name=f"c{i}", title="C", status=s)
                                       for i, s in enumerate(statuses)])


def test_write_report_gate(tmp_path, capsys):
    assert write_report(_report("pass", "warn"), fail_on="fail") == 0
    assert write_report(_report("pass", "warn"), fail_on="warn") == 1
    assert write_report(_report("warn", "fail")) == 0  # no gate, never fails
    # a crashed check never passes a gate; skipped never fails one
    assert write_report(_report("pass", "error"), fail_on="fail") == 1
    assert "c1: error" in capsys.readouterr().err
    assert write_report(_report("pass", "skipped"), fail_on="warn") == 0
    assert _report("pass", Status.ERROR).fails("fail") and not _report("skipped").fails("warn")
    j, h = tmp_path / "r.json", tmp_path / "r.html"
    assert write_report(_report("pass"), j, h, "warn") == 0
    out = capsys.readouterr().out
    assert f"JSON report: {j}" in out and f"HTML report: {h}" in out
    assert json.loads(j.read_text())["checks"][0]["status"] == "pass"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_check_outputs_refuses_before_the_run(tmp_path):
    with pytest.raises(UnskewInputError, match=r"\(--fail-on\) must be 'warn' or 'fail', got 'always'"):
        check_outputs(fail_on="always")
    with pytest.raises(UnskewInputError, match="--html .* is a folder"):
        check_outputs(html_path=tmp_path)
    with pytest.raises(UnskewInputError, match="--out .* is a folder"):
        check_outputs(extra={"--out": tmp_path})
    check_outputs(tmp_path / "new" / "r.json", None, "warn")
    assert (tmp_path / "new").is_dir()


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    g = rng.choice(["a", "b"], n, p=[0.8, 0.2])
    y = (rng.random(n) < np.where(g == "a", 0.6, 0.3)).astype(int)
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": rng.normal(size=n) + y, "z": rng.normal(size=n), "g": g, "y": y,
                  "w": rng.uniform(0.5, 3, n).round(3)}).to_csv(path, index=False)
    return path


def test_mitigate_writes_html_and_gates(table, tmp_path):
    j, h, out = tmp_path / "m.json", tmp_path / "m.html", tmp_path / "o.parquet"
    r = _invoke("mitigate", table, "-t", "y", "-s", "g", "-m", "oversample", "--json", j, "--html", h,
                "--out", out, "--fail-on", "warn", "-q")
    assert r.exit_code == 0, r.output
    assert f"HTML report: {h}" in r.stdout and f"output table: {out}" in r.stdout
    assert json.loads(j.read_text())["kind"] == "mitigate" and len(pd.read_parquet(out)) > 400
    r = _invoke("mitigate", table, "-t", "y", "-s", "g", "-m", "oversample", "--out", tmp_path / "o.xlsx")
    assert r.exit_code == 2 and "--out must end in" in r.output
    r = _invoke("mitigate", table, "-t", "y", "-s", "g", "-m", "oversampel")
    assert r.exit_code == 2 and "Did you mean 'oversample'" in r.output
    r = _invoke("mitigate", table, "-t", "y", "-s", "g", "-m", "reweighing", "--strategy", "nope")
    assert r.exit_code == 2 and "--strategy" in r.output


def test_mitigate_correlation_alias_still_works(table, tmp_path):
    with pytest.warns(FutureWarning, match="'correlation' is deprecated"):
        r = _invoke("mitigate", table, "-t", "y", "-s", "g", "-m", "correlation", "-q")
    assert r.exit_code == 0, r.output
    assert "mitigate (correlation_remover)" in r.stdout


def test_audit_weights_and_did_you_mean(table, tmp_path):
    j = tmp_path / "a.json"
    r = _invoke("audit", table, "-t", "y", "-s", "g", "--weights", "w", "--checks", "base_rates",
                "--json", j, "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(j.read_text())
    assert rep["dataset"]["weights"] == "w"
    r2 = _invoke("audit", table, "-t", "y", "-s", "g", "--checks", "base_rates", "--json", tmp_path / "b.json", "-q")
    weighted = rep["checks"][0]["summary"]
    unweighted = json.loads((tmp_path / "b.json").read_text())["checks"][0]["summary"]
    assert r2.exit_code == 0 and weighted != unweighted  # the weights change the rates
    r = _invoke("audit", table, "-t", "y", "--weights", "ww")
    assert r.exit_code == 2 and "'ww'" in r.output
    r = _invoke("audit", table, "-t", "y", "--checks", "base_rate")
    assert r.exit_code == 2 and "Did you mean 'base_rates'" in r.output
    r = _invoke("checks", "proxie")
    assert r.exit_code == 2 and "Did you mean 'proxies'" in r.output
