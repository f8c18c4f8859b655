"""Concurrent reviewers against `unskew review serve` on loopback.

N reviewers (threads, each with its own bearer token) loop "next item, decide" for a fixed time
against a real server process on a SQLite store (or --store URL). Afterwards every acknowledged
decision must be stored exactly once, no reviewer decides an item twice and no item gets more
than k reviews; then the server is SIGKILLed right after an acknowledged decision and restarted,
and the decision must be there with an intact audit trail. Prints decisions/s and p50/p95/p99
latency of one "next + decide" round trip.

    python bench/bench_review.py --reviewers 20 --seconds 60
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "review"))
sys.path.insert(0, str(ROOT))

from _server import Server  # noqa: E402


def seed(store, n_items: int, k: int) -> int:
    from unskew.review._trail import append
    from unskew.store._review import ReviewItem, ReviewQueue

    with store.session() as s:
        q = ReviewQueue(name="bench", source="audit", data_source="bench", label_column="y", key_column=None,
                        reviews_required=k, columns=["x", "y"], classes=["0", "1"], info={})
        s.add(q)
        s.flush()
        s.add_all([ReviewItem(queue_id=q.id, kind="row", row_key=str(i), row={"x": i, "y": str(i % 2)},
                              label=str(i % 2), reason={"flags": []}, priority=float(n_items - i),
                              position=i + 1, status="open") for i in range(n_items)])
        append(s, "bench", "import", {"queue": "bench", "items": n_items})
        return q.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--reviews", type=int, default=2, help="k reviews per item")
    ap.add_argument("--store", default=None, help="store URL (default: a temporary SQLite file)")
    args = ap.parse_args()

    from unskew.review import _auth
    from unskew.review._trail import verify
    from unskew.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    url = args.store or f"sqlite:///{tmp / 'review.db'}"
    store = open_store(url)
    qid = seed(store, args.items, args.reviews)
    tokens = []
    for i in range(args.reviewers):
        _auth.add_user(store, f"r{i}", "reviewer")
        tokens.append(_auth.create_token(store, f"r{i}"))

    acked, lat, errors, conflicts = [], [], [], 0
    lock = threading.Lock()

    def worker(tok: str, stop: float) -> None:
        nonlocal conflicts
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tok}"}, timeout=120) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get(f"/api/v1/queues/{qid}/next")
                if r.status_code == 404:
                    return
                r = c.post(f"/api/v1/items/{r.json()['id']}/decisions", json={"action": "keep"})
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 201:
                        acked.append(r.json()["id"])
                        lat.append(dt)
                    elif r.status_code == 409:
                        conflicts += 1
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

    srv = Server(url, log=tmp / "server.log").start()
    try:
        stop = time.monotonic() + args.seconds
        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(t, stop)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=120) as c:
            stored = c.get("/api/v1/decisions").json()
            # crash right after an acknowledged decision
            nxt = c.get(f"/api/v1/queues/{qid}/next").json()
            last = c.post(f"/api/v1/items/{nxt['id']}/decisions", json={"action": "remove"})
            assert last.status_code == 201, last.text
            srv.kill()
    finally:
        srv.stop()
    srv = Server(url, log=tmp / "server.log").start()
    try:
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=120) as c:
            after = c.get("/api/v1/decisions").json()
    finally:
        srv.stop()

    ids = [d["id"] for d in stored]
    pairs = [(d["item_id"], d["reviewer"]) for d in stored]
    per_item: dict = {}
    for item, _ in pairs:
        per_item[item] = per_item.get(item, 0) + 1
    lost = set(acked) - set(ids)
    unacked = set(ids) - set(acked)
    p50, p95, p99 = (np.percentile(lat, [50, 95, 99]) * 1000) if lat else (float("nan"),) * 3
    survived = last.json()["id"] in {d["id"] for d in after}
    trail = verify(store)
    print(f"store: {url.split('://')[0]}, {args.reviewers} reviewers, {args.seconds:.0f} s, k={args.reviews}")
    print(f"decisions acknowledged: {len(acked)} ({len(acked) / wall:.1f}/s); 409 (item filled meanwhile): {conflicts}")
    print(f"latency of next+decide: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")
    print(f"lost: {len(lost)}, stored but not acknowledged: {len(unacked)}, duplicated ids: {len(ids) - len(set(ids))}, "
          f"reviewer twice on an item: {len(pairs) - len(set(pairs))}, items over k: "
          f"{sum(v > args.reviews for v in per_item.values())}, errors: {len(errors)}")
    print(f"SIGKILL after an acknowledged decision: {'kept' if survived else 'LOST'}; trail: {trail.message()}")
    ok = not lost and not unacked and len(ids) == len(set(ids)) and len(pairs) == len(set(pairs)) \
        and not errors and survived and trail.ok and all(v <= args.reviews for v in per_item.values())
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
