"""The HTTP service: auth, JSON and Parquet bodies, 422 with nothing written, size limit, SIGKILL durability."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from _monitor_data import make_rows
from fastapi.testclient import TestClient

from unskew.monitor import Monitor
from unskew.monitor._server import create_app
from unskew.store import PredictionRow, open_store

TOKEN = "t0ken"
H = {"Authorization": f"Bearer {TOKEN}"}


def _count(url):
    st = open_store(url)
    with st.session() as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(PredictionRow))
    st.dispose()
    return n


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    Monitor(url).init("m", make_rows(2000, 0).drop(columns="id"), target="y", predictions="pred", scores="score",
                      sensitive=["sex"], block_rows=100)
    return url, TestClient(create_app(url, token=TOKEN, max_bytes=200_000))


def test_json_and_parquet_batches_and_labels(served):
    url, client = served
    rows = make_rows(100, 1)
    body = json.loads(rows.drop(columns="y").to_json(orient="records"))
    r = client.post("/v1/models/m/predictions?id=id", json=body, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 100
    more = make_rows(50, 2, start=100)
    buf = io.BytesIO()
    more.drop(columns="y").to_parquet(buf)
    r = client.post("/v1/models/m/predictions?id=id", content=buf.getvalue(),
                    headers={**H, "Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 200 and r.json()["stored"] == 50
    r = client.post("/v1/models/m/labels?id=id&target=y", json={"rows": json.loads(rows[["id", "y"]].to_json(orient="records"))}, headers=H)
    assert r.status_code == 200 and r.json()["stored"] == 100
    assert _count(url) == 150


def test_auth_errors_and_limits(served):
    url, client = served
    rows = json.loads(make_rows(20, 3).drop(columns="y").to_json(orient="records"))
    assert client.post("/v1/models/m/predictions?id=id", json=rows).status_code == 401
    assert client.post("/v1/models/m/predictions?id=id", json=rows,
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad = [dict(r) for r in rows]
    bad[5]["x1"] = "not-a-number"
    r = client.post("/v1/models/m/predictions?id=id", json=bad, headers=H)
    assert r.status_code == 422 and "'x1'" in r.json()["detail"] and "not-a-number" in r.json()["detail"]
    r = client.post("/v1/models/nope/predictions?id=id", json=rows, headers=H)
    assert r.status_code == 404
    r = client.post("/v1/models/m/predictions?id=id", content=b"x" * 300_000, headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/models/m/predictions", content=b"{not json", headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert _count(url) == 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(url, port, tmp_path):
    env = {**os.environ, "UNSKEW_MONITOR_TOKEN": TOKEN, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "unskew", "monitor", "serve", "--store", url, "--port", str(port)],
                            env=env, stdout=open(tmp_path / "server.log", "ab"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start: " + (tmp_path / "server.log").read_text()[-2000:])


def test_sigkill_while_streaming_keeps_acknowledged_batches_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    Monitor(url).init("m", make_rows(2000, 0).drop(columns="id"), target="y", predictions="pred", scores="score",
                      sensitive=["sex"], block_rows=100)
    port = _free_port()
    proc = _start(url, port, tmp_path)
    n_batches, size = 60, 200
    batches = []
    for b in range(n_batches):
        rows = make_rows(size, 100 + b)
        rows["id"] = [f"b{b}_{i}" for i in range(size)]
        batches.append(json.loads(rows.drop(columns="y").to_json(orient="records")))
    acked: list[int] = []

    def stream(k0):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=H, timeout=30) as c:
            for b in range(k0, n_batches, 2):
                try:
                    r = c.post("/v1/models/m/predictions?id=id", json=batches[b])
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(b)

    threads = [threading.Thread(target=stream, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(acked) < 8 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for t in threads:
        t.join(30)
    assert 8 <= len(acked) < n_batches, "the kill must land while batches are streaming"
    proc = _start(url, port, tmp_path)
    try:
        st = open_store(url)
        with st.session() as s:
            ids = pd.Series(list(s.scalars(sa.select(PredictionRow.row_id))))
        st.dispose()
        per_batch = ids.str.split("_").str[0].str[1:].astype(int).value_counts()
        assert ids.is_unique
        for b in acked:
            assert per_batch.get(b, 0) == size, f"acknowledged batch {b} has {per_batch.get(b, 0)} rows"
        assert set(per_batch.unique()) <= {size}, "a partial batch was stored"
        # re-sending everything after the restart stores each row exactly once
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=H, timeout=30) as c:
            for b in range(n_batches):
                assert c.post("/v1/models/m/predictions?id=id", json=batches[b]).status_code == 200
        assert _count(url) == n_batches * size
    finally:
        proc.kill()
        proc.wait(10)
