"""Tables of production monitoring (Alembic revisions ``0001`` and ``0003``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class MonitoredModel(Base):
    """A model under monitoring: its name, configuration and current version."""

    __tablename__ = "monitor_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    config: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    current_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class ModelVersion(Base):
    """One version of a monitored model with its reference profile (and the model file)."""

    __tablename__ = "monitor_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_monitor_versions_model_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    profile: Mapped[dict] = mapped_column(JSON, nullable=False)
    model_blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Batch(Base):
    """One ingested batch (predictions or labels); a batch is stored whole or not at all."""

    __tablename__ = "monitor_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    n_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    n_new: Mapped[int] = mapped_column(Integer, nullable=False)
    n_duplicate: Mapped[int] = mapped_column(Integer, nullable=False)
    n_updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    client_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class PredictionRow(Base):
    """One production row: id, time, group, prediction, score and (later) its label.

    Its feature values live in its batch's :class:`RowBlock`, at position ``block_row``
    (revision ``0003``; before, a JSON document per row)."""

    __tablename__ = "monitor_rows"
    __table_args__ = (
        UniqueConstraint("model_id", "row_id", name="uq_monitor_rows_model_row"),
        Index("ix_monitor_rows_model_ts", "model_id", "ts"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    row_id: Mapped[str] = mapped_column(String(255), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ts: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("monitor_batches.id", ondelete="CASCADE"), nullable=False)
    bucket_id: Mapped[int] = mapped_column(ForeignKey("monitor_buckets.id", ondelete="CASCADE"), nullable=False)
    group_key: Mapped[str] = mapped_column(Text, nullable=False)
    block_row: Mapped[int] = mapped_column(Integer, nullable=False)
    prediction: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    ood_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    label_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RowBlock(Base):
    """The stored column values of one batch's new rows: one compressed Parquet blob (revision ``0003``).

    ``n_live`` counts the batch's rows not yet deleted by retention; the block goes with the last."""

    __tablename__ = "monitor_row_blocks"
    batch_id: Mapped[int] = mapped_column(ForeignKey("monitor_batches.id", ondelete="CASCADE"), primary_key=True,
                                          autoincrement=False)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    n_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    n_live: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Bucket(Base):
    """Mergeable aggregates of the rows of one (version, UTC day, sequence block).

    Windows (``1d``, ``7d`` or every N rows) are unions of buckets, so a check
    never rescans raw rows."""

    __tablename__ = "monitor_buckets"
    __table_args__ = (
        UniqueConstraint("model_id", "version", "day", "block", name="uq_monitor_buckets_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    day: Mapped[str] = mapped_column(String(10), nullable=False)
    block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    min_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    max_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    min_ts: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    max_ts: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    labels: Mapped[dict] = mapped_column(JSON, nullable=False)


class Alert(Base):
    """An alert raised by a detector on a window (severity, group, evidence)."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (UniqueConstraint("model_id", "key", name="uq_monitor_alerts_model_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str] = mapped_column(String(500), nullable=False)
    detector: Mapped[str] = mapped_column(String(100), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False)
    window: Mapped[str] = mapped_column(String(100), nullable=False)
    group: Mapped[str | None] = mapped_column(Text, nullable=True)
    feature: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    notified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class QueueItem(Base):
    """A failing production row queued for review (wrong prediction, OOD, new subpopulation)."""

    __tablename__ = "monitor_queue"
    __table_args__ = (UniqueConstraint("model_id", "row_id", "reason", name="uq_monitor_queue_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("monitor_models.id", ondelete="CASCADE"), nullable=False)
    row_id: Mapped[str] = mapped_column(String(255), nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    group_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
