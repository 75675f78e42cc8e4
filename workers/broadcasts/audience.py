"""Who a broadcast is for: the `Audience` an admin picks with `--segment KEY=VALUE` and the SQL
that selects those students, with the reason a matched student gets nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select

from store.mentoring import PAIR_ACTIVE, Pair
from store.models import OPTED_OUT, PAUSED, STUDENT, WHATSAPP, Person
from workers.broadcasts.errors import BroadcastError
from workers.outbox import WHATSAPP_WINDOW

SKIP_REASONS = ("opted_out", "paused", "unreachable", "outside_window")
# The keys of `--segment KEY=VALUE` (and of the stored `segment` column).
SEGMENT_KEYS = (
    "track",
    "country",
    "language",
    "channel",
    "status",
    "mentor",
    "joined-before",
    "joined-after",
    "last-active",
    "inactive",
)

_DURATION = re.compile(r"(\d{1,4})\s*([dhw])")


def _duration(key: str, value: str) -> timedelta:
    match = _DURATION.fullmatch(value.strip().lower())
    if not match:
        raise BroadcastError(f"{key}={value!r}: give a span such as 7d, 48h or 2w")
    amount, unit = int(match[1]), match[2]
    return timedelta(hours=amount) if unit == "h" else timedelta(days=amount * (7 if unit == "w" else 1))


def _day(key: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise BroadcastError(f"{key}={value!r}: give a date such as 2026-01-31") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Audience:
    """Which students a broadcast is for: every key must match; values of one key are alternatives."""

    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> Audience:
        """From the CLI's `KEY=VALUE` strings (`country=NG,GH` and repeated keys both mean either)."""
        pairs: dict[str, list[str]] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not value.strip():
                raise BroadcastError(f"--segment {item!r}: write KEY=VALUE, e.g. country=NG")
            pairs.setdefault(key, []).extend(value.split(","))
        return cls.from_dict(pairs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Audience:
        """From JSON: `{"country": "NG"}` or `{"country": ["NG", "GH"]}`."""
        if data is not None and not isinstance(data, Mapping):
            raise BroadcastError('segment must be an object such as {"country": "NG"}')
        filters: dict[str, list[str]] = {}
        for raw_key, raw_value in (data or {}).items():
            key = str(raw_key).strip().lower().replace("_", "-")
            if key not in SEGMENT_KEYS:
                raise BroadcastError(
                    f"unknown segment key {raw_key!r}; use one of: {', '.join(SEGMENT_KEYS)}"
                )
            values = raw_value if isinstance(raw_value, list | tuple) else [raw_value]
            cleaned = [str(v).strip() for v in values if str(v).strip()]
            if not cleaned:
                raise BroadcastError(f"segment key {key!r} has no value")
            filters.setdefault(key, []).extend(_normalise_values(key, cleaned))
        return cls(tuple(sorted((k, tuple(dict.fromkeys(v))) for k, v in filters.items())))

    def as_dict(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self.filters}

    def describe(self) -> str:
        if not self.filters:
            return "every student"
        return "; ".join(f"{key}={','.join(values)}" for key, values in self.filters)

    def where(self, now: datetime) -> list[Any]:
        """SQL conditions on `people` for this audience (students only)."""
        clauses: list[Any] = [Person.role == STUDENT]
        for key, values in self.filters:
            clauses.append(_clause(key, values, now))
        return clauses


def _normalise_values(key: str, values: list[str]) -> list[str]:
    if key == "country":
        bad = [v for v in values if not re.fullmatch(r"[A-Za-z]{2}", v)]
        if bad:
            raise BroadcastError(f"country={bad[0]!r}: use a two-letter ISO code such as NG")
        return [v.upper() for v in values]
    if key == "channel":
        values = [v.lower() for v in values]
        if any(v not in ("sms", "whatsapp") for v in values):
            raise BroadcastError("channel must be sms or whatsapp")
        return values
    if key == "status":
        values = [v.lower().replace("-", "_") for v in values]
        if any(v not in ("active", "paused", "opted_out") for v in values):
            raise BroadcastError("status must be active, paused or opted_out")
        return values
    if key in ("joined-before", "joined-after"):
        return [_day(key, v).isoformat() for v in values[-1:]]
    if key in ("last-active", "inactive"):
        for value in values:
            _duration(key, value)
        return [v.lower() for v in values[-1:]]
    if key == "mentor":
        return [v if v.startswith("+") else v.lower() for v in values]
    return [v.lower() if key in ("track", "language") else v for v in values]


def _clause(key: str, values: tuple[str, ...], now: datetime) -> Any:
    if key == "track":
        return Person.track.in_(values)
    if key == "country":
        return Person.country.in_(values)
    if key == "language":
        return Person.language.in_(values)
    if key == "channel":
        return Person.channel.in_(values)
    if key == "status":
        return Person.status.in_(values)
    if key == "joined-before":
        return Person.created_at < datetime.fromisoformat(values[0])
    if key == "joined-after":
        return Person.created_at >= datetime.fromisoformat(values[0])
    if key == "last-active":
        return Person.last_inbound_at >= now - _duration(key, values[0])
    if key == "inactive":
        since = now - _duration(key, values[0])
        return or_(Person.last_inbound_at.is_(None), Person.last_inbound_at < since)
    if key == "mentor":
        return _mentor_clause(values)
    raise BroadcastError(f"unknown segment key {key!r}")  # unreachable: keys are checked on parse


def _mentor_clause(values: tuple[str, ...]) -> Any:
    """Students with any mentor, none, or a given mentor (by phone), from the mentoring pairs."""
    paired = select(Pair.student_id).where(Pair.status == PAIR_ACTIVE)
    options = []
    for value in values:
        if value == "any":
            options.append(Person.id.in_(paired))
        elif value == "none":
            options.append(Person.id.not_in(paired))
        else:
            mentor_ids = select(Person.id).where(Person.phone == value)
            options.append(Person.id.in_(paired.where(Pair.mentor_id.in_(mentor_ids))))
    return or_(*options)


def skip_reason(now: datetime, template: bool) -> Any:
    """One SQL expression for why a matched student gets nothing, or 'send'.

    The WhatsApp test is `within_whatsapp_window` written in SQL, so the preview and the
    fan-out count the same people.
    """
    paused = and_(Person.status == PAUSED, or_(Person.paused_until.is_(None), Person.paused_until > now))
    whens: list[tuple[Any, str]] = [
        (Person.status == OPTED_OUT, "opted_out"),
        (paused, "paused"),
        (Person.unreachable.is_(True), "unreachable"),
    ]
    if not template:
        outside = and_(
            Person.channel == WHATSAPP,
            or_(Person.last_inbound_at.is_(None), Person.last_inbound_at <= now - WHATSAPP_WINDOW),
        )
        whens.append((outside, "outside_window"))
    return case(*whens, else_="send")
