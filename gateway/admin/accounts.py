"""Admin accounts: password hashing, sign-in with throttling, and API tokens.

Passwords are hashed with Werkzeug's scrypt; tokens are random and stored as SHA-256,
so neither the database nor a backup of it can be used to sign in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from store.admin import CAPABILITIES, ROLES, VIEWER, AdminUser, ApiToken, LoginFailure

log = logging.getLogger("rounds.admin")

MIN_PASSWORD = 10
TOKEN_PREFIX = "rnd_"
# Sign-in throttling counts failures per account (an email, whether or not it exists), from any
# address, and per address, over any email. The 5th failure in a row for an account, or the 20th
# in a day from one address, locks it for 15 minutes; each failure after a lock doubles the next
# one (30 min, 1 h, ...), up to a day. A correct password clears the account's count.
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(hours=24)
FAILURE_MEMORY = timedelta(days=1)
# A token's last use is written at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Compared against when the email is unknown, so a wrong email takes as long as a wrong password.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(ValueError):
    """A problem the person can fix; the message says how."""


def normalise_email(email: str) -> str:
    cleaned = (email or "").strip().lower()
    if not _EMAIL.fullmatch(cleaned) or len(cleaned) > 254:
        raise AccountError(f"{email!r} is not an email address")
    return cleaned


# Werkzeug's scrypt at its default cost (N=2^15, r=8, p=1). The test suite lowers N for speed
# (tests/conftest.py); check_password_hash reads the cost from each stored hash.
DEFAULT_PASSWORD_METHOD = "scrypt"
PASSWORD_METHOD = DEFAULT_PASSWORD_METHOD


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when no such account exists, so a miss takes as long as a wrong password.

    Made on first use: hashing at import cost every process (web workers, RQ workers, each CLI
    command) about 0.1 s at start."""
    return generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method=PASSWORD_METHOD)


def create_admin(session: Session, email: str, password: str, role: str = VIEWER) -> AdminUser:
    """Add an account; an existing email gets the new password and role instead.

    `educator` and `reviewer` are capabilities, not ranks: a new account with one of them is a
    viewer holding it; an existing account keeps its rank and other capabilities and gains it.
    """
    if role not in ROLES + CAPABILITIES:
        raise AccountError(f"role must be one of {', '.join(ROLES + CAPABILITIES)}")
    email = normalise_email(email)
    password_hash = hash_password(password)
    user = session.scalar(select(AdminUser).where(AdminUser.email == email))
    rank = role if role in ROLES else None
    if user is None:
        user = AdminUser(
            email=email, password_hash=password_hash, role=rank or VIEWER, active=True, capabilities=[]
        )
        session.add(user)
    else:
        user.password_hash, user.active = password_hash, True
        user.role = rank or user.role
        user.session_generation += 1  # a new password signs every session out
    if role in CAPABILITIES:
        grant_role(user, role)
    session.flush()
    return user


def grant_role(user: AdminUser, capability: str) -> None:
    """Give an account the educator or reviewer capability, keeping its rank and other one."""
    if capability not in CAPABILITIES:
        raise AccountError(f"a second role is one of {', '.join(CAPABILITIES)}, not {capability!r}")
    held = set(user.capabilities or []) | {capability}
    user.capabilities = [c for c in CAPABILITIES if c in held]  # a new list, so the change is saved


def remove_role(user: AdminUser, capability: str) -> None:
    """Take the educator or reviewer capability away (the rank stays)."""
    if capability not in CAPABILITIES:
        raise AccountError(f"a second role is one of {', '.join(CAPABILITIES)}, not {capability!r}")
    user.capabilities = [c for c in (user.capabilities or []) if c != capability]


def find_user(session: Session, email: str) -> AdminUser | None:
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return session.scalar(select(AdminUser).where(AdminUser.email == email))


@dataclass(frozen=True)
class SignIn:
    user: AdminUser | None
    locked_for: timedelta | None = None  # set when the account or address was locked already


@dataclass(frozen=True)
class Lock:
    """An account (email) or an address that may not try to sign in before `until`."""

    kind: str  # "account" or "address"
    key: str
    failures: int
    until: datetime


def lock_length(failures: int, threshold: int) -> timedelta:
    """How long `failures` in a row lock for: nothing below `threshold`, then doubling from FIRST_LOCK."""
    if failures < threshold:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - threshold, 16), LONGEST_LOCK)


def _locks(session: Session, kind: str, now: datetime, key: str | None = None) -> list[Lock]:
    column, threshold = (
        (LoginFailure.email, ACCOUNT_FAILURES) if kind == "account" else (LoginFailure.ip, ADDRESS_FAILURES)
    )
    query = (
        select(column, func.count(), func.max(LoginFailure.at))
        .where(LoginFailure.at > now - FAILURE_MEMORY)
        .group_by(column)
        .having(func.count() >= threshold)
    )
    if key is not None:
        query = query.where(column == key)
    locks = [
        Lock(kind, value, failures, last + lock_length(failures, threshold))
        for value, failures, last in session.execute(query)
    ]
    return sorted((lock for lock in locks if lock.until > now), key=lambda lock: lock.key)


def locks(session: Session, now: datetime) -> list[Lock]:
    """Every account and address locked at `now`, accounts first."""
    return _locks(session, "account", now) + _locks(session, "address", now)


def lock_on(session: Session, email: str, ip: str, now: datetime) -> Lock | None:
    """The lock that stops this email, or this address, from trying a password now."""
    found = _locks(session, "account", now, email) + _locks(session, "address", now, ip)
    return max(found, key=lambda lock: lock.until) if found else None


def unlock(session: Session, email: str) -> int:
    """Forget an account's failures, so its owner can sign in at once; how many there were."""
    key = (email or "").strip().lower()[:254]
    return session.execute(delete(LoginFailure).where(LoginFailure.email == key)).rowcount or 0


def sign_in(session: Session, email: str, password: str, ip: str, now: datetime) -> SignIn:
    """Check a password, throttled per account and per address; the caller commits."""
    key = (email or "").strip().lower()[:254]
    ip = ip[:64]
    lock = lock_on(session, key, ip, now)
    if lock is not None:
        log.info("console sign-in for %r from %s refused: %s locked", key, ip, lock.kind)
        return SignIn(None, locked_for=lock.until - now)
    user = find_user(session, key)
    valid = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    if user is None or not valid or not user.active:
        session.add(LoginFailure(email=key, ip=ip, at=now))
        # Keep the table small: failures older than a day no longer matter.
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - FAILURE_MEMORY))
        session.flush()
        if (lock := lock_on(session, key, ip, now)) is not None:
            log.warning(
                "console sign-in locked: %s %r after %d failures, until %s (see rounds admin list)",
                lock.kind,
                lock.key,
                lock.failures,
                f"{lock.until:%Y-%m-%d %H:%M} UTC",
            )
        return SignIn(None)
    session.execute(delete(LoginFailure).where(LoginFailure.email == key))
    user.last_login_at = now
    return SignIn(user)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: AdminUser, label: str | None = None) -> tuple[ApiToken, str]:
    """A new API token for `user`; the plain token is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=_digest(plain), prefix=plain[:12], label=label)
    session.add(token)
    session.flush()
    return token, plain


def user_for_token(session: Session, plain: str, now: datetime) -> AdminUser | None:
    """The active user a bearer token belongs to, or None; notes when it was last used."""
    if not plain or not plain.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken, AdminUser)
        .join(AdminUser, AdminUser.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _digest(plain), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.AdminUser.active:
        return None
    token = row.ApiToken
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return row.AdminUser


def tokens_of(session: Session, user: AdminUser) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, now: datetime, owner: AdminUser | None = None) -> ApiToken:
    """Revoke one token; with `owner`, only a token of theirs (an admin may revoke any)."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner is not None and token.user_id != owner.id and owner.role != "admin"):
        raise AccountError(f"there is no token #{token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def disable_admin(session: Session, user: AdminUser, now: datetime) -> int:
    """Deactivate an account, end its sessions and revoke its tokens; `rounds admin create` brings it back."""
    user.active = False
    user.session_generation += 1
    revoked = 0
    for token in tokens_of(session, user):
        if token.revoked_at is None:
            token.revoked_at = now
            revoked += 1
    return revoked
