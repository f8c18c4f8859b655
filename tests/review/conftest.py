"""Fixtures of the review tests: a small table with label noise in one group, and its audit report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def noisy_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    job = rng.choice(["a", "b", "c"], n)
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.3, size=n) > 0).astype(int)
    flip = (sex == "F") & (rng.random(n) < 0.15)
    y = np.where(flip, 1 - y, y)
    x1[:3] = [25.0, -30.0, 40.0]  # outliers
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "sex": sex, "x1": x1, "x2": x2, "job": job, "y": y})
    # two identical rows with conflicting labels
    frame.loc[n - 1, ["sex", "x1", "x2", "job"]] = frame.loc[n - 2, ["sex", "x1", "x2", "job"]].to_numpy()
    frame.loc[n - 1, "y"] = 1 - frame.loc[n - 2, "y"]
    return frame


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2 with small cost in tests (the machine is shared); the parameters are stored in each hash."""
    from unskew.review import _auth

    monkeypatch.setattr(_auth, "HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})


@pytest.fixture(scope="session")
def _migrated_db(tmp_path_factory):
    from unskew.store import open_store

    path = tmp_path_factory.mktemp("template") / "template.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def sqlite_store(tmp_path, _migrated_db):
    """An empty migrated SQLite store (a copy of one migrated once per session)."""
    import shutil

    from unskew.store import open_store

    path = tmp_path / "review.db"
    shutil.copy(_migrated_db, path)
    return open_store(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def audited(tmp_path_factory):
    """(data path, audit report path) of the noisy table."""
    from unskew.audit import audit

    d = tmp_path_factory.mktemp("audited")
    frame = noisy_table()
    path = d / "data.csv"
    frame.to_csv(path, index=False)
    rep = audit(path, target="y", sensitive="sex", checks=["label_quality", "outliers", "duplicates"],
                ignore=["id"])
    rep.save_json(d / "audit.json")
    return path, d / "audit.json"


XSS_COL = '<script>alert("col")</script>'
XSS_VAL = '<img src=x onerror=alert(1)>'


def seed_queue(store, *, name="q", n=6, k=1, label_column="y", classes=("0", "1"), payloads=True):
    """A queue with ``n`` row items (no audit needed); column names and values carry XSS payloads."""
    from unskew.review._trail import append
    from unskew.store._review import ReviewItem, ReviewQueue

    cols = ["x", "job", label_column] + ([XSS_COL] if payloads else [])
    with store.session() as s:
        q = ReviewQueue(name=name, source="audit", data_source="test.csv", label_column=label_column,
                        key_column=None, reviews_required=k, columns=cols, classes=list(classes), info={})
        s.add(q)
        s.flush()
        for i in range(n):
            row = {"x": i, "job": XSS_VAL if payloads and i == 0 else f"job{i}", label_column: str(i % 2)}
            if payloads:
                row[XSS_COL] = XSS_VAL
            s.add(ReviewItem(queue_id=q.id, kind="row", row_key=str(i), row=row, label=str(i % 2),
                             prediction=str(1 - i % 2), priority=float(n - i), position=i + 1, status="open",
                             reason={"flags": [{"check": "label_quality", "score_name": "label_quality",
                                                "score": 0.1 * i, "severity": 0.9, "group": f"sex={XSS_VAL}",
                                                "group_rate": 0.2, "overall_rate": 0.1}],
                                     "neighbours": [{"row_key": "9", "distance": 0.5, "label": XSS_VAL,
                                                     "row": {"x": 9, XSS_COL: XSS_VAL}}]}))
        append(s, "test", "import", {"queue": name})
        return q.id


@pytest.fixture
def review_store(sqlite_store):
    """A store with admin/reviewer/viewer users (password ``pw-<name>-123456``), tokens and a queue."""
    from unskew.review._auth import add_user, create_token

    store = sqlite_store
    tokens = {}
    for name, role in (("admin", "admin"), ("rev", "reviewer"), ("rev2", "reviewer"), ("view", "viewer")):
        add_user(store, name, role, password=f"pw-{name}-123456")
        tokens[name] = create_token(store, name)
    qid = seed_queue(store)
    return store, tokens, qid


@pytest.fixture(scope="session")
def _imported_db(tmp_path_factory, _migrated_db, audited):
    """A store holding queue "q" (k = 2) imported from the audited table, once per session."""
    import shutil

    from unskew.review._queues import import_report
    from unskew.store import open_store

    path = tmp_path_factory.mktemp("imported") / "imported.db"
    shutil.copy(_migrated_db, path)
    store = open_store(f"sqlite:///{path}")
    summary = import_report(store, audited[0], audited[1], queue="q", key="id", reviews_required=2)
    store.dispose()
    return path, summary


@pytest.fixture
def imported_store(tmp_path, _imported_db):
    """(store, import summary): a fresh copy of the imported store."""
    import shutil

    from unskew.store import open_store

    shutil.copy(_imported_db[0], tmp_path / "imported.db")
    return open_store(f"sqlite:///{tmp_path / 'imported.db'}"), dict(_imported_db[1])
