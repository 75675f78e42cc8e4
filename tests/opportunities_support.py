"""Helpers for the opportunity tests: opportunities added straight to the database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from store.opportunities import APPROVED, Opportunity

APPROVED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def opportunity(session: Any, title: str, deadline: date, **fields: Any) -> Opportunity:
    values: dict[str, Any] = {
        "title": title,
        "org": "WHO",
        "kind": "scholarship",
        "deadline": deadline,
        "link": f"https://ex.org/{title.lower().replace(' ', '-')}",
        "countries": [],
        "tracks": [],
        "status": APPROVED,
        "approved_at": APPROVED_AT,
    }
    values.update(fields)
    row = Opportunity(**values)
    session.add(row)
    session.flush()
    return row
