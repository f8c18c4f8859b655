"""Persistent state shared by monitoring and review: SQLAlchemy 2 tables, Alembic migrations.

``open_store(url)`` is the only place a database connection is opened. The
default is an embedded SQLite file (``sqlite:///unskew.db`` in the working
directory, or ``$UNSKEW_STORE``); PostgreSQL works through
``postgresql+psycopg://USER@HOST:PORT/DB``. Migrations ship inside the package
(``unskew/store/migrations``) and are applied on open.

Every table module is imported here, so ``Base.metadata`` holds them all.
"""

from ._base import Base, utcnow
from ._monitor_tables import (
    Alert,
    Batch,
    Bucket,
    ModelVersion,
    MonitoredModel,
    PredictionRow,
    QueueItem,
    RowBlock,
)
from ._store import DEFAULT_URL, Store, alembic_config, open_store, resolve_url

try:  # the review tables (issue 14) live in their own module and revision
    from . import _review  # noqa: F401
except ImportError as _exc:  # pragma: no cover - absent until the review wing lands
    if "_review" not in str(_exc):
        raise

__all__ = [
    "DEFAULT_URL",
    "Alert",
    "Base",
    "Batch",
    "Bucket",
    "ModelVersion",
    "MonitoredModel",
    "PredictionRow",
    "QueueItem",
    "RowBlock",
    "Store",
    "alembic_config",
    "open_store",
    "resolve_url",
    "utcnow",
]
