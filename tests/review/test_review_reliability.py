"""Crash safety and concurrent reviewers against a real server process on loopback."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
from _server import Server
from review_helpers import seed_queue

pytest.importorskip("fastapi")


def _store_with_reviewers(path, template, n_reviewers=1, n_items=10, k=1):
    from unskew.review import _auth
    from unskew.store import open_store

    shutil.copy(template, path)
    store = open_store(f"sqlite:///{path}")
    qid = seed_queue(store, n=n_items, k=k, payloads=False)
    tokens = []
    for i in range(n_reviewers):
        _auth.add_user(store, f"r{i}", "reviewer")
        tokens.append(_auth.create_token(store, f"r{i}"))
    return store, qid, tokens


def test_sigkill_right_after_an_acknowledged_decision(tmp_path, _migrated_db):
    from typer.testing import CliRunner

    from unskew.cli import app

    store, qid, (tok,) = _store_with_reviewers(tmp_path / "s.db", _migrated_db)
    h = {"Authorization": f"Bearer {tok}"}
    srv = Server(store.url, log=tmp_path / "log").start()
    acked = []
    try:
        with httpx.Client(base_url=srv.url, headers=h, timeout=30) as c:
            for _ in range(3):
                item = c.get(f"/api/v1/queues/{qid}/next").json()
                r = c.post(f"/api/v1/items/{item['id']}/decisions", json={"action": "remove", "comment": "kill"})
                assert r.status_code == 201
                acked.append(r.json()["id"])
        srv.kill()  # SIGKILL as soon as the last decision was acknowledged
    finally:
        srv.stop()
    srv2 = Server(store.url, log=tmp_path / "log").start()
    try:
        with httpx.Client(base_url=srv2.url, headers=h, timeout=30) as c:
            got = [d["id"] for d in c.get("/api/v1/decisions").json()]
    finally:
        srv2.stop()
    assert got == acked
    r = CliRunner().invoke(app, ["review", "verify", "--store", store.url])
    assert r.exit_code == 0, r.output


def run_load(url: str, qid: int, tokens: list[str], seconds: float) -> dict:
    """Each reviewer loops: next item, decide. Returns acknowledged decisions and latencies."""
    acked: list[tuple[str, int]] = []
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(tok):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tok}"}, timeout=60) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get(f"/api/v1/queues/{qid}/next")
                if r.status_code == 404:
                    break
                item = r.json()
                r = c.post(f"/api/v1/items/{item['id']}/decisions", json={"action": "keep"})
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 201:
                        acked.append((tok, r.json()["id"]))
                        lat.append(dt)
                    elif r.status_code != 409:  # 409: the item filled up meanwhile (k reviews), not an error
                        errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"acked": acked, "latency": lat, "errors": errors}


@pytest.mark.slow
def test_twenty_concurrent_reviewers(tmp_path, _migrated_db):
    import numpy as np

    store, qid, tokens = _store_with_reviewers(tmp_path / "s.db", _migrated_db, n_reviewers=20, n_items=3000, k=2)
    with Server(store.url, log=tmp_path / "log") as srv:
        res = run_load(srv.url, qid, tokens, seconds=20)
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=60) as c:
            stored = c.get("/api/v1/decisions").json()
    assert res["errors"] == []
    ids = [d["id"] for d in stored]
    assert len(ids) == len(set(ids))  # nothing duplicated
    assert sorted(i for _, i in res["acked"]) == sorted(ids)  # nothing lost, nothing unacknowledged
    pairs = [(d["item_id"], d["reviewer"]) for d in stored]
    assert len(pairs) == len(set(pairs))  # one decision per reviewer and item
    per_item = {}
    for item, _ in pairs:
        per_item[item] = per_item.get(item, 0) + 1
    assert max(per_item.values()) <= 2  # never more than k reviews
    p50, p95 = np.percentile(res["latency"], [50, 95])
    print(f"\n20 reviewers x 20 s: {len(ids)} decisions, p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    from unskew.review._trail import verify

    assert verify(store).ok
