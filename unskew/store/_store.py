"""One session factory from a URL; migrations applied on open."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import UnskewInputError

DEFAULT_URL = "sqlite:///unskew.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(url: str | None = None) -> str:
    """The store URL: the argument, else ``$UNSKEW_STORE``, else ``sqlite:///unskew.db``."""
    url = url or os.environ.get("UNSKEW_STORE") or DEFAULT_URL
    if "://" not in url:  # a bare path means a SQLite file
        url = f"sqlite:///{url}"
    return url


class Store:
    """A database holding unskew's state (monitoring, review), migrated to the newest schema.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL; ``sqlite:///path.db`` (default ``sqlite:///unskew.db`` in
        the working directory, or ``$UNSKEW_STORE``) or ``postgresql+psycopg://...``.
    migrate : bool, default True
        Apply the packaged Alembic migrations up to ``head`` on open.

    Examples
    --------
    >>> store = Store("sqlite:///:memory:")  # doctest: +SKIP
    >>> with store.session() as s:  # doctest: +SKIP
    ...     ...
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True):
        try:
            import sqlalchemy  # noqa: F401
        except ImportError as exc:  # pragma: no cover
            from ..exceptions import MissingExtraError

            raise MissingExtraError("sqlalchemy", "monitor", "the store") from exc
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
        from sqlalchemy.orm import sessionmaker

        self.url = resolve_url(url)
        kwargs = {}
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1] if "///" in self.url else ""
            if path and path != ":memory:" and not Path(path).parent.exists():
                raise UnskewInputError(
                    f"Store {self.url!r}: folder {str(Path(path).parent)!r} does not exist; create it or give another --store."
                )
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
            if path in ("", ":memory:"):
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(self.url, **kwargs)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise UnskewInputError(
                f"Store URL {self.url!r} is not usable ({exc}); use sqlite:///FILE.db or postgresql+psycopg://USER@HOST:PORT/DB."
            ) from None
        if self.is_sqlite:

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised via every sqlite test
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            @event.listens_for(self.engine, "begin")
            def _begin(conn):  # pragma: no cover
                # A write lock from the start: no lost updates between read and write.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.upgrade()

    # ------------------------------------------------------------------ schema
    def upgrade(self, revision: str = "head") -> None:
        """Apply the packaged migrations up to ``revision``."""
        from alembic import command
        from sqlalchemy.exc import OperationalError

        cfg = alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except OperationalError as exc:
            raise UnskewInputError(f"Cannot open the store {self.url!r}: {exc.orig}") from None

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def session(self):
        """A session in one transaction: committed when the block ends, rolled back on error."""
        s = self._sessions()
        try:
            with s.begin():
                yield s
        finally:
            s.close()

    def sessionmaker(self):
        """The underlying :class:`sqlalchemy.orm.sessionmaker`."""
        return self._sessions

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"


def alembic_config():
    """An Alembic ``Config`` pointing at the migrations shipped inside the package."""
    try:
        from alembic.config import Config
    except ImportError as exc:  # pragma: no cover
        from ..exceptions import MissingExtraError

        raise MissingExtraError("alembic", "monitor", "the store") from exc
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open (and migrate) the store at ``url`` (default ``$UNSKEW_STORE`` or ``sqlite:///unskew.db``).

    Examples
    --------
    >>> from unskew.store import open_store
    >>> store = open_store("sqlite:///:memory:")  # doctest: +SKIP
    """
    return Store(url, migrate=migrate)
