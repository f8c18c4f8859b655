"""Monitoring end to end on synthetic data: profile, ingestion, aggregates, detectors, queue."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from _monitor_data import make_rows

from unskew.exceptions import UnskewInputError
from unskew.monitor import Monitor, build_profile
from unskew.monitor._profile import group_names
from unskew.store import Bucket, PredictionRow


def _count(mon, table):
    with mon.store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table))


def test_profile_matches_the_metrics_engine(reference):
    prof = build_profile(reference, target="y", predictions="pred", scores="score", sensitive=["sex", "race"])
    assert sum(prof.groups.values()) == len(reference)
    g = group_names(reference, ["sex", "race"])
    for name, entry in prof.data["performance"].items():
        if name == "__all__":
            m = np.ones(len(reference), bool)
        else:
            m = g == name
        assert entry["n"] == m.sum()
        assert entry["accuracy"] == pytest.approx((reference.y[m] == reference.pred[m]).mean())
    x1 = prof.feature("x1")
    assert len(x1["edges"]) == 9 and sum(x1["hist"]["all"]) == len(reference)
    assert prof.feature("region")["categories"][0] == "north"
    assert 0.005 <= prof.data["ood"]["rate"] <= 0.0101


def test_log_accepts_pandas_polars_arrow_and_skips_resent_ids(mon):
    import polars as pl
    import pyarrow as pa

    rows = make_rows(300, 1)
    a, b, c = rows.iloc[:100], rows.iloc[100:200], rows.iloc[200:]
    assert mon.log("credit", a, id="id")["stored"] == 100
    assert mon.log("credit", pl.from_pandas(b), id="id")["stored"] == 100
    assert mon.log("credit", pa.Table.from_pandas(c, preserve_index=False), id="id")["stored"] == 100
    again = mon.log("credit", rows.iloc[50:250], id="id")
    assert again["stored"] == 0 and again["duplicates"] == 200
    assert _count(mon, PredictionRow) == 300
    wins = mon.windows("credit", "300")
    assert len(wins) == 1 and wins[0]["n"] == 300
    assert sum(wins[0]["payload"]["groups"].values()) == 300


def test_aggregates_equal_a_rescan_of_the_raw_rows(mon):
    rows = make_rows(1000, 2)
    for i in range(0, 1000, 250):
        mon.log("credit", rows.iloc[i:i + 250], id="id")
    prof = mon.profile("credit")
    codes = prof.bin_codes(rows)
    groups = group_names(rows, ["sex", "race"])
    wins = mon.windows("credit", "500")
    assert [w["n"] for w in wins] == [500, 500]
    for w, sl in zip(wins, (slice(0, 500), slice(500, 1000)), strict=True):
        for f in prof.features:
            h = w["payload"]["hist"][f["name"]]
            assert h["all"] == np.bincount(codes[f["name"]][sl], minlength=f["n_bins"]).tolist()
            gm = groups[sl] == "sex=F & race=a"
            assert h["by_group"]["sex=F & race=a"] == np.bincount(codes[f["name"]][sl][gm], minlength=f["n_bins"]).tolist()
        p = prof.calibrate(rows.score[sl].to_numpy())
        exp = np.where(rows.pred[sl] == 1, p, 1 - p)
        tot = sum(v[1] for v in w["payload"]["cbpe"].values())
        assert tot == pytest.approx(exp.sum())


def test_bad_batch_names_column_and_value_and_writes_nothing(mon):
    rows = make_rows(200, 3)
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[17, "x1"] = "abc"
    with pytest.raises(UnskewInputError, match=r"'x1'.*row 17.*'abc'"):
        mon.log("credit", rows, id="id")
    ok = make_rows(10, 3)
    with pytest.raises(UnskewInputError, match="'region'"):
        mon.log("credit", ok.drop(columns="region"), id="id")
    dup = make_rows(10, 3)
    dup.loc[3, "id"] = dup.loc[2, "id"]
    with pytest.raises(UnskewInputError, match="repeats 'r2'"):
        mon.log("credit", dup, id="id")
    bad_score = make_rows(10, 3)
    bad_score.loc[4, "score"] = 1.5
    with pytest.raises(UnskewInputError, match=r"'score' row 4 is 1.5"):
        mon.log("credit", bad_score, id="id")
    assert _count(mon, PredictionRow) == 0 and _count(mon, Bucket) == 0
    with pytest.raises(UnskewInputError, match="No monitored model named 'nope'"):
        mon.log("nope", ok, id="id")


def test_labels_join_by_id_relabel_and_count_unmatched(mon):
    rows = make_rows(600, 4)
    mon.log("credit", rows, id="id")
    lab = rows[["id", "y"]].iloc[:400]
    r = mon.log_labels("credit", lab, id="id", target="y")
    assert r["stored"] == 400 and r["unmatched"] == 0
    assert mon.log_labels("credit", lab, id="id", target="y")["unchanged"] == 400
    extra = pd.DataFrame({"id": ["r0", "zzz"], "y": [1 - rows.y[0], 1]})
    r = mon.log_labels("credit", extra, id="id", target="y")
    assert r["unmatched"] == 1 and r["stored"] == 1
    truth = rows.y.copy().iloc[:400]
    truth.iloc[0] = 1 - truth.iloc[0]
    w = mon.windows("credit", "600")[0]
    assert sum(v["n"] for v in w["labels"].values()) == 400
    assert sum(v["correct"] for v in w["labels"].values()) == int((truth == rows.pred.iloc[:400]).sum())
    with pytest.raises(UnskewInputError, match="label '7'"):
        mon.log_labels("credit", pd.DataFrame({"id": ["r1"], "y": [7]}), id="id", target="y")
    q = mon.queue("credit", reasons=["wrong_prediction"])
    assert set(q.row_id) == set(rows.id.iloc[:400][truth != rows.pred.iloc[:400]]) | ({"r0"} if truth.iloc[0] != rows.pred[0] else set())


def test_new_subpopulation_and_shift_alert_and_queue(mon):
    mon.log("credit", make_rows(1000, 5), id="id")
    mon.log("credit", make_rows(500, 6, new_region=True, start=1000), id="id")
    mon.log("credit", make_rows(500, 7, shift=1.5, start=1500), id="id")
    rep = mon.check("credit", window="500")
    assert rep.kind == "monitor"
    sub = rep["subpopulations"]
    assert sub.status == "fail"
    assert any("region=west" in f.message and "absent from training" in f.message for f in sub.findings)
    ood = rep["ood"]
    assert ood.status == "fail" and any("rows 1000-1499" in f.message for f in ood.findings)
    drift = rep["feature_drift"]
    assert drift.status in ("warn", "fail")
    assert any("x1" in f.message and "rows 1500-1999" in f.message for f in drift.findings)
    assert not any("rows 0-499" in f.message or "rows 500-999" in f.message
                   for c in rep.checks for f in c.findings if f.severity != "info")
    q = mon.queue("credit")
    assert (q.reason == "new_subpopulation").sum() == 500
    assert {"x1", "region", "prediction"} <= set(q.columns)
    json.loads(rep.to_json())
    html = rep.to_html()
    assert "Feature drift" in html and "<script>alert" not in html
    # alerts are stored once
    again = mon.check("credit", window="500")
    assert again["windows"].summary["new_alerts"] == 0


def test_cbpe_estimate_agrees_with_realised_accuracy(mon):
    rows = make_rows(3000, 8)
    mon.log("credit", rows, id="id")
    mon.log_labels("credit", rows[["id", "y"]], id="id", target="y")
    rep = mon.check("credit", window="3000")
    w = mon.windows("credit", "3000")[0]
    est = sum(v[1] for v in w["payload"]["cbpe"].values()) / 3000
    real = (rows.y == rows.pred).mean()
    oracle = np.where(rows.pred == 1, rows.score, 1 - rows.score).mean()  # the true expected accuracy
    assert abs(est - oracle) < 0.01
    assert abs(est - real) < 4 * np.sqrt(real * (1 - real) / len(rows))
    assert rep["cbpe"].status == "pass" and rep["performance"].status == "pass"


def test_accuracy_drop_is_caught_from_labels(mon):
    rows = make_rows(1000, 9)
    mon.log("credit", rows, id="id")
    flipped = rows[["id", "y"]].copy()
    m = (rows.sex == "F").to_numpy() & (np.arange(1000) % 3 == 0)
    flipped.loc[m, "y"] = 1 - flipped.loc[m, "y"]
    mon.log_labels("credit", flipped, id="id", target="y")
    rep = mon.check("credit", window="1000")
    assert rep["performance"].status == "fail"
    assert any("sex=F" in (f.subject or "") for f in rep["performance"].findings)


def test_null_replays_raise_at_most_five_percent_alerts(reference):
    """40 replays with windows drawn from the reference distribution: at most 5% of runs alert."""
    alerted = 0
    runs = 40
    for seed in range(runs):
        mon = Monitor("sqlite:///:memory:")
        ref = make_rows(3000, 1000 + seed).drop(columns="id")
        mon.init("m", ref, target="y", predictions="pred", scores="score", sensitive=["sex", "race"], block_rows=300)
        rows = make_rows(3000, 5000 + seed)
        mon.log("m", rows, id="id")
        mon.log_labels("m", rows[["id", "y"]], id="id", target="y")
        rep = mon.check("m", window="300", store_alerts=False)
        if rep["windows"].summary["alerts"]:
            alerted += 1
        mon.store.dispose()
    assert alerted / runs <= 0.05, f"{alerted} of {runs} null replays raised an alert"


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_posts_each_new_alert_once(mon):
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        _Hook.received.clear()
        mon.log("credit", make_rows(500, 10, new_region=True), id="id")
        url = f"http://127.0.0.1:{srv.server_port}/hook"
        rep = mon.check("credit", window="500", webhook=url)
        n = rep["windows"].summary["new_alerts"]
        assert n >= 1 and len(_Hook.received) == n
        assert any(a["detector"] == "subpopulations" and a["severity"] == "fail" for a in _Hook.received)
        mon.check("credit", window="500", webhook=url)
        assert len(_Hook.received) == n
    finally:
        srv.shutdown()


def test_retention_drops_old_rows_but_keeps_aggregates(mon):
    mon.set_retention("credit", 1)
    old = make_rows(200, 11)
    old["ts"] = "2026-01-01T00:00:00Z"
    new = make_rows(200, 12, start=200)
    new["ts"] = "2026-01-05T00:00:00Z"
    mon.log("credit", old, id="id", timestamp="ts")
    r = mon.log("credit", new, id="id", timestamp="ts")
    assert r["expired"] == 200
    assert _count(mon, PredictionRow) == 200
    wins = mon.windows("credit", "1d")
    assert [w["n"] for w in wins] == [200, 200]
    assert wins[0]["label"] == "2026-01-01"


def test_window_parsing():
    from unskew.monitor import parse_window

    assert parse_window("7d") == ("days", 7) and parse_window("10000") == ("rows", 10000)
    with pytest.raises(UnskewInputError, match="--window"):
        parse_window("week")


def test_works_on_postgres(postgres_db):
    mon = Monitor(postgres_db)
    mon.init("pg", make_rows(2000, 13).drop(columns="id"), target="y", predictions="pred", scores="score",
             sensitive=["sex"], block_rows=100)
    rows = make_rows(400, 14)
    assert mon.log("pg", rows, id="id")["stored"] == 400
    assert mon.log("pg", rows, id="id")["duplicates"] == 400
    assert mon.log_labels("pg", rows[["id", "y"]], id="id", target="y")["stored"] == 400
    rep = mon.check("pg", window="200")
    assert rep["windows"].summary["rows"] == 400
    assert len(mon.queue("pg")) >= 1
    mon.store.dispose()
