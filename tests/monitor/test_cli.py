"""`unskew monitor init/log/labels/check/queue` with the fixed flags."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa
from _monitor_data import make_rows
from typer.testing import CliRunner

from unskew.cli import app
from unskew.store import PredictionRow, open_store

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_monitor_commands_end_to_end(tmp_path):
    url = f"sqlite:///{tmp_path / 'u.db'}"
    ref = tmp_path / "ref.csv"
    make_rows(3000, 0).drop(columns="id").to_csv(ref, index=False)
    r = _run("monitor", "init", "--store", url, "--name", "credit", "--reference", ref, "--target", "y",
             "--predictions", "pred", "--scores", "score", "--sensitive", "sex,race")
    assert r.exit_code == 0, r.output
    assert "version 1" in r.output
    batch = make_rows(1000, 1)
    batch.loc[:499, "region"] = "west"  # a subpopulation absent from training
    batch["ts"] = "2026-03-01T10:00:00Z"
    bp = tmp_path / "batch.parquet"
    batch.drop(columns="y").to_parquet(bp)
    r = _run("monitor", "log", bp, "--store", url, "--name", "credit", "--id", "id", "--timestamp", "ts")
    assert r.exit_code == 0, r.output
    assert "1,000 stored" in r.output
    r = _run("monitor", "log", bp, "--store", url, "--name", "credit", "--id", "id", "--timestamp", "ts")
    assert "1,000 already stored" in r.output
    lp = tmp_path / "labels.csv"
    batch[["id", "y"]].to_csv(lp, index=False)
    r = _run("monitor", "labels", lp, "--store", url, "--name", "credit", "--id", "id", "--target", "y")
    assert r.exit_code == 0 and "1,000 stored" in r.output, r.output
    js, html = tmp_path / "m.json", tmp_path / "m.html"
    r = _run("monitor", "check", "--store", url, "--name", "credit", "--window", "1d", "--json", js, "--html", html)
    assert r.exit_code == 0, r.output
    rep = json.loads(js.read_text())
    assert rep["kind"] == "monitor"
    sub = next(c for c in rep["checks"] if c["name"] == "subpopulations")
    assert sub["status"] == "fail" and any("region=west" in f["message"] for f in sub["findings"])
    assert "<html" in html.read_text().lower()
    r = _run("monitor", "check", "--store", url, "--name", "credit", "--window", "1000", "--fail-on", "fail")
    assert r.exit_code == 1
    qp = tmp_path / "queue.csv"
    r = _run("monitor", "queue", "--store", url, "--name", "credit", "--out", qp)
    assert r.exit_code == 0, r.output
    q = pd.read_csv(qp)
    assert (q.reason == "new_subpopulation").sum() == 500 and "wrong_prediction" in set(q.reason)
    pq = tmp_path / "queue.parquet"
    assert _run("monitor", "queue", "--store", url, "--name", "credit", "--out", pq).exit_code == 0
    qq = pd.read_parquet(pq)
    assert qq.shape == q.shape and list(qq.row_id.astype(str)) == list(q.row_id.astype(str))
    bad = tmp_path / "queue.txt"
    r = _run("monitor", "queue", "--store", url, "--name", "credit", "--out", bad)
    assert r.exit_code == 2 and "queue.txt" in r.output and "Traceback" not in r.output and not bad.exists()


def test_bad_input_exits_2_with_the_column_and_writes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'u.db'}"
    ref = tmp_path / "ref.csv"
    make_rows(500, 0).drop(columns="id").to_csv(ref, index=False)
    r = _run("monitor", "init", "--store", url, "--name", "m", "--reference", ref, "--target", "nope",
             "--predictions", "pred", "--sensitive", "sex")
    assert r.exit_code == 2 and "'nope'" in r.output and "Traceback" not in r.output
    assert _run("monitor", "init", "--store", url, "--name", "m", "--reference", ref, "--target", "y",
                "--predictions", "pred", "--sensitive", "sex").exit_code == 0
    bad = make_rows(50, 1)
    bad["x2"] = bad["x2"].astype(object)
    bad.loc[7, "x2"] = "oops"
    bp = tmp_path / "bad.csv"
    bad.to_csv(bp, index=False)
    r = _run("monitor", "log", bp, "--store", url, "--name", "m", "--id", "id")
    assert r.exit_code == 2 and "'x2'" in r.output and "oops" in r.output
    with open_store(url).session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PredictionRow)) == 0
    r = _run("monitor", "check", "--store", url, "--name", "m", "--window", "week")
    assert r.exit_code == 2 and "--window" in r.output
    r = _run("monitor", "check", "--store", url, "--name", "other")
    assert r.exit_code == 2 and "No monitored model named 'other'" in r.output
