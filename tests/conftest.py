"""Shared fixtures: where the real datasets are, and small synthetic tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = ROOT.parent / "shared" / "datasets"


def shared_datasets_dir() -> Path | None:
    env = os.environ.get("UNSKEW_DATA_HOME")
    for cand in (Path(env) if env else None, _DEFAULT_SHARED):
        if cand is not None and (cand / "adult").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def data_home() -> Path:
    """Folder with the real datasets (``../shared/datasets``).

    Tests that need it are skipped where it is absent, except in CI
    (``CI=true``), where its absence is an error.
    """
    path = shared_datasets_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/datasets is missing in CI; set UNSKEW_DATA_HOME")
        pytest.skip("real datasets not found (set UNSKEW_DATA_HOME to ../shared/datasets)")
    return path


# ---------------------------------------------------------------------------- store (issue 13)
# A real PostgreSQL server for the store tests: initdb + pg_ctl in a temporary
# folder on a free loopback port (as the `postgres` user when run as root,
# since initdb refuses root). Skipped only where the binaries are absent and
# CI is not set.
PG_BIN = Path(os.environ.get("UNSKEW_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """URL (``postgresql+psycopg://``) of a throwaway PostgreSQL server on 127.0.0.1."""
    import shutil
    import subprocess
    import tempfile

    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL binaries not found in {PG_BIN}; CI must run the PostgreSQL tests")
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN}")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="unskew-pg-"))
    data = base / "data"

    def run(*cmd):
        full = [str(PG_BIN / cmd[0]), *cmd[1:]]
        if as_root:
            full = ["runuser", "-u", "postgres", "--", *full]
        return subprocess.run(full, check=True, capture_output=True, text=True, timeout=120)

    if as_root:
        shutil.chown(base, user="postgres")
    os.chmod(base, 0o700)
    run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=100"
    try:
        run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:  # pragma: no cover
        log = (base / "log").read_text() if (base / "log").exists() else ""
        pytest.fail(f"pg_ctl start failed: {exc.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url):
    """A fresh empty database on the session's PostgreSQL server; yields its URL."""
    import uuid

    import sqlalchemy as sa

    name = "t_" + uuid.uuid4().hex[:12]
    eng = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    yield url
    eng = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A store URL for an empty database: SQLite in a temp folder, and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_db")
