"""The audit trail: an append-only, hash-chained log of every import, decision,
adjudication, export and user change.

Entry ``i`` stores ``hash_i = sha256(hash_{i-1} + canonical_json(entry_i))``
where the canonical JSON holds ``seq, at, actor, action, payload`` with sorted
keys and no whitespace, and ``hash_0``'s predecessor is 64 zeros. Changing,
removing or reordering any entry breaks every later hash; :func:`verify` names
the first entry that does not match. The database also refuses UPDATE and
DELETE on the table (triggers in migration ``0002``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

GENESIS = "0" * 64


def canonical_json(entry: dict) -> str:
    """``entry`` as JSON with sorted keys, no whitespace and non-ASCII kept."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
                      allow_nan=False)


def entry_hash(prev_hash: str, entry: dict) -> str:
    """SHA-256 (hex) of the previous hash followed by the canonical JSON of the entry."""
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def _content(seq: int, at: str, actor: str, action: str, payload: dict) -> dict:
    return {"seq": seq, "at": at, "actor": actor, "action": action, "payload": payload}


def _lock(session) -> None:
    """Serialise appends: SQLite already holds the write lock (BEGIN IMMEDIATE); PostgreSQL takes an
    advisory transaction lock."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(text("SELECT pg_advisory_xact_lock(1414)"))


def append(session, actor: str, action: str, payload: dict | None = None):
    """Append an entry in the caller's transaction (so the entry and the change it records commit together).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        A session of :func:`unskew.store.open_store`, inside a transaction.
    actor : str
        Who did it (a user name, or ``cli`` / ``system``).
    action : str
        What happened: ``import``, ``decision``, ``adjudication``, ``export``, ``user.add``, ...
    payload : dict
        JSON-serialisable details.

    Returns
    -------
    TrailEntry

    Examples
    --------
    >>> from unskew.store import open_store
    >>> store = open_store("sqlite:///:memory:")
    >>> with store.session() as s:
    ...     e = append(s, "ann", "decision", {"item": 1, "action": "keep"})
    >>> verify(store).ok
    True
    """
    from sqlalchemy import select

    from ..store._review import TrailEntry

    _lock(session)
    last = session.execute(select(TrailEntry.seq, TrailEntry.hash).order_by(TrailEntry.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    payload = json.loads(canonical_json(payload or {}))  # what is stored is exactly what was hashed
    content = _content(seq, at, actor, action, payload)
    e = TrailEntry(seq=seq, at=at, actor=actor, action=action, payload=payload, prev_hash=prev,
                   hash=entry_hash(prev, content))
    session.add(e)
    session.flush()
    return e


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`: ``ok``, entries checked, and the first broken entry with the reason."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""
    head: str = GENESIS

    def message(self) -> str:
        if self.ok:
            return f"Audit trail intact: {self.entries:,} entries, head {self.head[:16]}."
        return f"Audit trail broken at entry {self.first_broken}: {self.reason}"


def verify(store: Any) -> VerifyResult:
    """Recompute the hash chain of the store's audit trail.

    Returns a :class:`VerifyResult` naming the first entry (by ``seq``) whose
    predecessor link or content hash does not match, or whose sequence number
    is missing.
    """
    from sqlalchemy import select

    from ..store._review import TrailEntry

    prev = GENESIS
    n = 0
    expected_seq = 1
    with store.session() as s:
        for e in s.execute(select(TrailEntry).order_by(TrailEntry.seq)).scalars().yield_per(1000):
            n += 1
            if e.seq != expected_seq:
                return VerifyResult(False, n, expected_seq, f"entry {expected_seq} is missing (next is {e.seq}).", prev)
            if e.prev_hash != prev:
                return VerifyResult(False, n, e.seq, "its link to the previous entry does not match "
                                    "(an earlier entry was removed or replaced).", prev)
            h = entry_hash(prev, _content(e.seq, e.at, e.actor, e.action, e.payload))
            if h != e.hash:
                return VerifyResult(False, n, e.seq, f"its content ({e.action} by {e.actor} at {e.at}) does not "
                                    "match its hash (it was altered).", prev)
            prev = e.hash
            expected_seq += 1
    return VerifyResult(True, n, None, "", prev)


def entries(store: Any, limit: int = 200) -> list[dict]:
    """The latest ``limit`` entries, newest first, as dicts."""
    from sqlalchemy import select

    from ..store._review import TrailEntry

    with store.session() as s:
        rows = s.execute(select(TrailEntry).order_by(TrailEntry.seq.desc()).limit(limit)).scalars().all()
        return [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "payload": e.payload,
                 "hash": e.hash} for e in rows]
