"""Fixtures of the review tests: a small table with label noise in one group, and its audit report."""

from __future__ import annotations

import pytest
from review_helpers import XSS_COL, XSS_VAL, noisy_table, seed_queue  # noqa: F401


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
