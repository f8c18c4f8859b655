"""Users, roles, API tokens, browser sessions, CSRF tokens and login rate limiting."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from ..exceptions import MissingExtraError, UnskewInputError
from ..store._base import utcnow
from ._trail import append

ROLES = ("viewer", "reviewer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
SESSION_HOURS = 12
#: Failed logins allowed per user name or client within the window before logins are refused.
MAX_FAILED_LOGINS = 5
LOGIN_WINDOW = timedelta(minutes=5)
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")
#: argon2id parameters (argon2-cffi's defaults, RFC 9106's second recommendation); new hashes use
#: these, existing hashes verify with the parameters stored in them.
HASH_PARAMS: dict = {}


class RateLimited(UnskewInputError):
    """Too many failed logins."""


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # pragma: no cover
        raise MissingExtraError("argon2-cffi", "review", "review passwords") from exc
    return PasswordHasher(**HASH_PARAMS)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` is at least ``needed`` (viewer < reviewer < admin)."""
    return _RANK.get(role, -1) >= _RANK[needed]


def add_user(store: Any, name: str, role: str, *, password: str | None = None, actor: str = "cli"):
    """Create a user with an argon2-hashed password (optional: token-only users have none).

    Examples
    --------
    >>> from unskew.store import open_store
    >>> store = open_store("sqlite:///:memory:")
    >>> add_user(store, "ann", "reviewer", password="correct horse").role
    'reviewer'
    """
    from sqlalchemy import select

    from ..store._review import ReviewUser

    if not isinstance(name, str) or not _NAME.match(name):
        raise UnskewInputError(f"User name {name!r}: use 1-100 letters, digits, '_', '.', '@' or '-'.")
    if role not in ROLES:
        raise UnskewInputError(f"--role must be one of {', '.join(ROLES)}, not {role!r}.")
    if password is not None and len(password) < 8:
        raise UnskewInputError("The password must have at least 8 characters.")
    with store.session() as s:
        if s.execute(select(ReviewUser).where(ReviewUser.name == name)).first() is not None:
            raise UnskewInputError(f"User {name!r} already exists.")
        u = ReviewUser(name=name, role=role, password_hash=_hasher().hash(password) if password else None)
        s.add(u)
        s.flush()
        append(s, actor, "user.add", {"user": name, "role": role, "password": bool(password)})
        return u


def list_users(store: Any) -> list:
    from sqlalchemy import select

    from ..store._review import ReviewUser

    with store.session() as s:
        return s.execute(select(ReviewUser).order_by(ReviewUser.id)).scalars().all()


def set_role(store: Any, name: str, role: str, *, actor: str) -> None:
    from sqlalchemy import select

    from ..store._review import ReviewUser

    if role not in ROLES:
        raise UnskewInputError(f"role: must be one of {', '.join(ROLES)}, not {role!r}.")
    with store.session() as s:
        u = s.execute(select(ReviewUser).where(ReviewUser.name == name)).scalar_one_or_none()
        if u is None:
            raise UnskewInputError(f"user: no user {name!r}.")
        old, u.role = u.role, role
        append(s, actor, "user.role", {"user": name, "from": old, "to": role})


def create_token(store: Any, name: str, *, actor: str = "cli") -> str:
    """A new API bearer token for the user (printed once; only its SHA-256 is stored)."""
    from sqlalchemy import select

    from ..store._review import ReviewToken, ReviewUser

    token = "usk_" + secrets.token_urlsafe(32)
    with store.session() as s:
        u = s.execute(select(ReviewUser).where(ReviewUser.name == name)).scalar_one_or_none()
        if u is None:
            raise UnskewInputError(f"No user {name!r}; add it first with `unskew review user add {name} --role ...`.")
        s.add(ReviewToken(user_id=u.id, token_hash=sha256(token)))
        append(s, actor, "token.create", {"user": name, "token_sha256_prefix": sha256(token)[:12]})
    return token


def token_user(store: Any, token: str | None):
    """The active user of a bearer token, or None."""
    from sqlalchemy import select

    from ..store._review import ReviewToken, ReviewUser

    if not token:
        return None
    with store.session() as s:
        return s.execute(select(ReviewUser).join(ReviewToken, ReviewToken.user_id == ReviewUser.id).where(
            ReviewToken.token_hash == sha256(token), ReviewToken.revoked.is_(False),
            ReviewUser.active.is_(True))).scalar_one_or_none()


def login(store: Any, name: str, password: str, client: str) -> tuple[str, str, Any]:
    """Check a password; returns ``(session cookie value, csrf token, user)``.

    Raises :class:`RateLimited` after ``MAX_FAILED_LOGINS`` failures for the name or the client
    within ``LOGIN_WINDOW``, and :class:`UnskewInputError` for a wrong name or password (the same
    message either way).
    """
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
    from sqlalchemy import func, or_, select

    from ..store._review import ReviewLoginAttempt, ReviewSession, ReviewUser

    name = (name or "")[:100]
    client = (client or "?")[:100]
    now = utcnow()
    with store.session() as s:
        n_failed = s.execute(select(func.count()).select_from(ReviewLoginAttempt).where(
            ReviewLoginAttempt.at > now - LOGIN_WINDOW,
            or_(ReviewLoginAttempt.name == name, ReviewLoginAttempt.client == client))).scalar()
        if n_failed >= MAX_FAILED_LOGINS:
            raise RateLimited("Too many failed logins; wait a few minutes and try again.")
        u = s.execute(select(ReviewUser).where(ReviewUser.name == name, ReviewUser.active.is_(True))).scalar_one_or_none()
        ok = False
        if u is not None and u.password_hash:
            try:
                ok = _hasher().verify(u.password_hash, password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        else:
            # same work for unknown users, so timing does not tell which names exist
            try:
                _hasher().verify(_DUMMY, password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                pass
        if not ok:
            s.add(ReviewLoginAttempt(name=name, client=client))
            append(s, name, "login.failed", {"client": client})
    if not ok:
        raise UnskewInputError("Unknown user or wrong password.")
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(ReviewSession(token_hash=sha256(cookie), user_id=u.id, csrf=csrf,
                            expires_at=now + timedelta(hours=SESSION_HOURS)))
        append(s, name, "login", {"client": client})
    return cookie, csrf, u


_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$2r8b2gYFvbjKOr0qyo4ic5Xx8zjRfrcjL1/mP1f4h5w"


def session_user(store: Any, cookie: str | None):
    """``(user, csrf)`` of a live session cookie, or ``(None, None)``."""
    from sqlalchemy import select

    from ..store._review import ReviewSession, ReviewUser

    if not cookie:
        return None, None
    with store.session() as s:
        row = s.execute(select(ReviewUser, ReviewSession.csrf).join(ReviewSession, ReviewSession.user_id == ReviewUser.id)
                        .where(ReviewSession.token_hash == sha256(cookie), ReviewSession.expires_at > utcnow(),
                               ReviewUser.active.is_(True))).first()
    return (row[0], row[1]) if row else (None, None)


def logout(store: Any, cookie: str | None) -> None:
    from sqlalchemy import delete

    from ..store._review import ReviewSession

    if cookie:
        with store.session() as s:
            s.execute(delete(ReviewSession).where(ReviewSession.token_hash == sha256(cookie)))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def revoke_tokens(store: Any, name: str, *, actor: str = "cli") -> int:
    """Revoke every API token of a user; returns how many were live."""
    from sqlalchemy import select, update

    from ..store._review import ReviewToken, ReviewUser

    with store.session() as s:
        u = s.execute(select(ReviewUser).where(ReviewUser.name == name)).scalar_one_or_none()
        if u is None:
            raise UnskewInputError(f"No user {name!r}.")
        n = s.execute(update(ReviewToken).where(ReviewToken.user_id == u.id, ReviewToken.revoked.is_(False))
                      .values(revoked=True)).rowcount
        append(s, actor, "token.revoke", {"user": name, "tokens": int(n)})
        return int(n)
