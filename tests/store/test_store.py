"""The store: URL resolution, migrations on open, SQLite pragmas, PostgreSQL, transactions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from unskew.exceptions import UnskewInputError
from unskew.store import Base, MonitoredModel, open_store, resolve_url


def test_resolve_url(monkeypatch):
    monkeypatch.delenv("UNSKEW_STORE", raising=False)
    assert resolve_url() == "sqlite:///unskew.db"
    monkeypatch.setenv("UNSKEW_STORE", "sqlite:///x.db")
    assert resolve_url() == "sqlite:///x.db"
    assert resolve_url("sqlite:///y.db") == "sqlite:///y.db"
    assert resolve_url("some/file.db") == "sqlite:///some/file.db"


def test_default_is_unskew_db_in_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("UNSKEW_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    store = open_store()
    assert (tmp_path / "unskew.db").exists()
    store.dispose()


def test_migrates_to_head_and_creates_every_table(store_url):
    store = open_store(store_url)
    from alembic.script import ScriptDirectory

    from unskew.store import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert store.revision() == head
    names = set(sa.inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= names
    # opening again is a no-op
    store2 = open_store(store_url)
    assert store2.revision() == head
    store.dispose()
    store2.dispose()


def test_sqlite_wal_and_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_session_is_one_transaction(store_url):
    store = open_store(store_url)
    with pytest.raises(RuntimeError):
        with store.session() as s:
            s.add(MonitoredModel(name="a", config={}))
            s.flush()
            raise RuntimeError("boom")
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(MonitoredModel)) == 0
        s.add(MonitoredModel(name="a", config={"k": [1, 2]}))
    with store.session() as s:
        m = s.scalar(sa.select(MonitoredModel))
        assert m.name == "a" and m.config == {"k": [1, 2]}
    store.dispose()


def test_bad_urls_are_input_errors(tmp_path):
    with pytest.raises(UnskewInputError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 's.db'}")
    with pytest.raises(UnskewInputError, match="not usable"):
        open_store("nosuchdialect://x")
