"""Helpers for the admin tests: accounts, tokens, signed-in clients and people in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from gateway.admin.accounts import create_admin, find_user, issue_token
from store.db import session_scope
from store.models import Person

PASSWORD = "correct horse battery"


def make_admin(
    settings: Any, email: str = "ada@example.org", role: str = "admin", password: str = PASSWORD
) -> int:
    with session_scope(settings.database_url) as session:
        return create_admin(session, email, password, role).id


def make_token(settings: Any, role: str = "admin", email: str | None = None) -> str:
    email = email or f"{role}@example.org"
    with session_scope(settings.database_url) as session:
        user = find_user(session, email) or create_admin(session, email, PASSWORD, role)
        return issue_token(session, user)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client: Any) -> str:
    """The CSRF token of the client's session (a GET of the login page creates one)."""
    client.get("/admin/login")
    with client.session_transaction() as session:
        return session["csrf"]


def sign_in(client: Any, email: str = "ada@example.org", password: str = PASSWORD) -> Any:
    token = csrf(client)
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})


def post(client: Any, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A console POST with the session's CSRF token."""
    with client.session_transaction() as session:
        token = session.get("csrf", "")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def person_values(phone: str, now: datetime, **fields: Any) -> dict[str, Any]:
    now = fields.pop("created_at", None) or now
    values = {
        "phone": phone,
        "channel": "sms",
        "name": None,
        "language": "en",
        "timezone": "UTC",
        "country": "NG",
        "role": "student",
        "status": "active",
        "track": "step1",
        "daily_time": "08:00",
        "flow_state": {},
        "unreachable": False,
        "last_inbound_at": now - timedelta(hours=1),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return values


def add_person(settings: Any, phone: str, **fields: Any) -> int:
    with session_scope(settings.database_url) as session:
        person = Person(**person_values(phone, settings.clock.now(), **fields))
        session.add(person)
        session.flush()
        return person.id


def add_people(settings: Any, count: int, prefix: str = "+23480100", **fields: Any) -> None:
    """Many students at once (one executemany), numbered from 00000."""
    now = settings.clock.now()
    rows = [person_values(f"{prefix}{n:05d}", now, **fields) for n in range(count)]
    with session_scope(settings.database_url) as session:
        session.execute(insert(Person), rows)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
