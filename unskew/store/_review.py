"""Tables of human review (Alembic revision ``0002``): users, queues, items, decisions,
challenge sets and the hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class ReviewUser(Base):
    """A person (or script) using the review UI: name, role and argon2 password hash."""

    __tablename__ = "review_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ReviewToken(Base):
    """An API bearer token (only its SHA-256 is stored)."""

    __tablename__ = "review_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_users.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class ReviewSession(Base):
    """A browser session (cookie value stored as SHA-256) with its CSRF token."""

    __tablename__ = "review_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_users.id", ondelete="CASCADE"), nullable=False)
    csrf: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class ReviewLoginAttempt(Base):
    """A failed login, for rate limiting (kept in the store so that restarts do not reset it)."""

    __tablename__ = "review_login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    client: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    __table_args__ = (Index("ix_review_login_attempts_at", "at"),)


class ReviewQueue(Base):
    """A queue of items imported from one report (or the monitoring failure queue)."""

    __tablename__ = "review_queues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    source: Mapped[str] = mapped_column(String(40), nullable=False)  # audit, slices, debias, monitor
    data_source: Mapped[str] = mapped_column(Text, nullable=False)
    label_column: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_column: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reviews_required: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    columns: Mapped[list] = mapped_column(JSON, nullable=False)
    classes: Mapped[list] = mapped_column(JSON, nullable=False)
    info: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ReviewItem(Base):
    """One flagged row (or one slice) to review: the whole row, why it was flagged, the prediction."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("queue_id", "row_key", name="uq_review_items_queue_row"),
        Index("ix_review_items_queue_status", "queue_id", "status", "position"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), default="row", nullable=False)  # row or slice
    row_key: Mapped[str] = mapped_column(String(255), nullable=False)
    row: Mapped[dict] = mapped_column(JSON, nullable=False)
    reason: Mapped[dict] = mapped_column(JSON, nullable=False)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    prediction: Mapped[str | None] = mapped_column(Text, nullable=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # open (needs reviews), done (enough agreeing reviews), disputed (to adjudicate), adjudicated
    status: Mapped[str] = mapped_column(String(12), default="open", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ReviewDecision(Base):
    """One reviewer's decision on an item (never updated; an adjudication is a new row)."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        UniqueConstraint("item_id", "reviewer_id", "kind", name="uq_review_decisions_item_reviewer"),
        Index("ix_review_decisions_item", "item_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("review_users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(12), default="review", nullable=False)  # review, adjudication
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    new_label: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ReviewSkip(Base):
    """A reviewer skipped an item: it goes to the back of their queue."""

    __tablename__ = "review_skips"
    __table_args__ = (UniqueConstraint("item_id", "user_id", name="uq_review_skips_item_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_users.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ReviewClaim(Base):
    """An item handed to a reviewer by "next": others are not handed it while claims fill its k reviews."""

    __tablename__ = "review_claims"
    __table_args__ = (UniqueConstraint("item_id", "user_id", name="uq_review_claims_item_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_users.id", ondelete="CASCADE"), nullable=False)
    until: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class ChallengeSet(Base):
    """A red-team challenge set: its columns and label column; cases are versioned."""

    __tablename__ = "review_challenge_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("review_queues.id", ondelete="SET NULL"), nullable=True)
    columns: Mapped[list] = mapped_column(JSON, nullable=False)
    label_column: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class ChallengeCase(Base):
    """A case of a challenge set; present in versions ``added_in`` .. ``removed_in - 1``."""

    __tablename__ = "review_challenge_cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("review_challenge_sets.id", ondelete="CASCADE"), nullable=False)
    features: Mapped[dict] = mapped_column(JSON, nullable=False)
    expected: Mapped[str] = mapped_column(Text, nullable=False)
    tags: Mapped[str] = mapped_column(Text, default="", nullable=False)
    rationale: Mapped[str] = mapped_column(Text, default="", nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    added_in: Mapped[int] = mapped_column(Integer, nullable=False)
    removed_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class TrailEntry(Base):
    """Append-only audit trail: each entry carries the SHA-256 of the previous hash and its own content."""

    __tablename__ = "review_trail"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    at: Mapped[str] = mapped_column(String(40), nullable=False)  # ISO 8601 UTC, as hashed
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
