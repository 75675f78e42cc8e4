"""Broadcasts: choose a segment, preview its cost, fan it out to the outbox, follow and cancel it.

The fan-out is an RQ job (`fan_out_broadcast`) that writes outbox rows 1,000 at a time with
one INSERT .. SELECT each (no row passes through Python), keyed `broadcast:<id>:<person_id>`, so
running it twice adds nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from redis.exceptions import RedisError
from sqlalchemy import String, and_, case, cast, func, literal, or_, select, update
from sqlalchemy.orm import Session

from content import BUNDLED, content_root, segments
from flows.schedule import parse_clock
from store.admin import AT, CANCELLED, DONE, DRAFT, LOCAL, NOW, QUEUED, SENDING, Broadcast
from store.db import insert_for, session_factory
from store.models import OPTED_OUT, PAUSED, STUDENT, WHATSAPP, Message, Person
from store.settings import Settings
from workers import runtime
from workers.outbox import (
    WHATSAPP_WINDOW,
    enqueue_send,
    message_row,
    outbox_room,
)

log = logging.getLogger("rounds.broadcasts")

KIND = "broadcast"
BATCH_SIZE = 1000
BACKPRESSURE_WAIT = 30  # seconds before a waiting fan-out looks at the outbox again
MAX_TEXT = 1600  # Twilio refuses a longer Body
SKIP_REASONS = ("opted_out", "paused", "unreachable", "outside_window")
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

# Twilio error codes an admin sees in a broadcast's failures, in words they can act on.
FAILURE_REASONS = {
    21610: "the number sent STOP to the sender (opted out at the carrier)",
    21211: "not a valid phone number",
    21614: "not a mobile number",
    21612: "Twilio cannot route to this number",
    21408: "sending to this country is not enabled on the Twilio account",
    30003: "phone unreachable (off or out of coverage)",
    30005: "unknown or inactive number",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier as spam",
    30008: "unknown delivery error at the carrier",
    63016: "WhatsApp: outside the 24-hour window; an approved template is needed",
}


def outbox_key(broadcast_id: int, person_id: int) -> str:
    return f"broadcast:{broadcast_id}:{person_id}"


class BroadcastError(ValueError):
    """Input an admin must correct; the message says what to change."""


# --- segments ---------------------------------------------------------------------------

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
class Segment:
    """Which students a broadcast is for: every key must match; values of one key are alternatives."""

    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> Segment:
        """From the CLI's `KEY=VALUE` strings (`country=NG,GH` and repeated keys both mean either)."""
        pairs: dict[str, list[str]] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not value.strip():
                raise BroadcastError(f"--segment {item!r}: write KEY=VALUE, e.g. country=NG")
            pairs.setdefault(key, []).extend(value.split(","))
        return cls.from_dict(pairs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Segment:
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
        """SQL conditions on `people` for this segment (students only)."""
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
    pairs = _pair_columns()
    if pairs is None:
        raise BroadcastError("the mentor segment needs mentoring set up (no pairs table yet)")
    table, student_col, mentor_col, active = pairs
    paired = select(student_col).where(*active)
    options = []
    for value in values:
        if value == "any":
            options.append(Person.id.in_(paired))
        elif value == "none":
            options.append(Person.id.not_in(paired))
        else:
            mentor_ids = select(Person.id).where(Person.phone == value)
            options.append(Person.id.in_(select(student_col).where(*active, mentor_col.in_(mentor_ids))))
    return or_(*options)


def _pair_columns() -> tuple[Any, Any, Any, list[Any]] | None:
    """(table, student id, mentor id, conditions for a current pair) from store.mentoring, if there."""
    import store.mentoring as mentoring

    model = getattr(mentoring, "Pair", None) or getattr(mentoring, "Pairing", None)
    if model is None:
        return None
    table = model.__table__
    student = table.c.get("student_id")
    mentor = table.c.get("mentor_id")
    if student is None or mentor is None:
        return None
    active: list[Any] = []
    if "ended_at" in table.c:
        active.append(table.c.ended_at.is_(None))
    elif "active" in table.c:
        active.append(table.c.active.is_(True))
    return table, student, mentor, active


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


# --- schedule and quiet hours ---------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When a broadcast goes: now, at one UTC instant, or at a clock time in each recipient's zone."""

    kind: str = NOW
    at: datetime | None = None
    local: str | None = None

    @classmethod
    def parse(cls, at: str | None, local: str | None, now: datetime) -> Schedule:
        at, local = (at or "").strip(), (local or "").strip()
        if at and local:
            raise BroadcastError("give either an absolute time (at) or a local time (local), not both")
        if local:
            clock = parse_clock(local if len(local) == 5 else local.zfill(5))
            if clock is None:
                raise BroadcastError(f"local time {local!r}: write HH:MM, e.g. 18:30")
            return cls(LOCAL, None, clock.strftime("%H:%M"))
        if at:
            try:
                instant = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError as exc:
                raise BroadcastError(f"{at!r} is not an ISO-8601 time, e.g. 2026-12-01T07:00:00Z") from exc
            instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
            if instant <= now:
                raise BroadcastError(f"{at} is in the past; leave the time out to send now")
            return cls(AT, instant.astimezone(UTC), None)
        return cls()

    def describe(self) -> str:
        if self.kind == AT and self.at:
            return f"at {self.at:%Y-%m-%d %H:%M} UTC"
        if self.kind == LOCAL:
            return f"at {self.local} in each recipient's time zone"
        return "now"


@lru_cache(maxsize=512)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _next_local(zone: ZoneInfo, clock: time, after: datetime) -> datetime:
    """The first instant at or after `after` when the clock in `zone` reads `clock`."""
    day = after.astimezone(zone).date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), clock, tzinfo=zone).astimezone(UTC)
        if candidate >= after:
            return candidate
    raise AssertionError("one of three consecutive days is always later")


def _in_quiet(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    return (start <= local or local < end) if start > end else (start <= local < end)


def planned_time(timezone: str | None, schedule: Schedule, now: datetime) -> datetime:
    """The instant the schedule names for a recipient in `timezone`, before quiet hours."""
    if schedule.kind == LOCAL:
        return _next_local(_zone(timezone), parse_clock(schedule.local or "") or time(8), now)
    if schedule.kind == AT and schedule.at:
        return schedule.at
    return now


def send_time(timezone: str | None, schedule: Schedule, settings: Settings, now: datetime) -> datetime:
    """When this recipient's copy may go: the planned time, moved to the end of their quiet hours."""
    zone = _zone(timezone)
    base = planned_time(timezone, schedule, now)
    start, end = parse_clock(settings.quiet_start), parse_clock(settings.quiet_end)
    if start and end and _in_quiet(base.astimezone(zone).time(), start, end):
        return _next_local(zone, end, base)
    return base


# --- prices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    """Price per SMS segment and per WhatsApp message by country, from prices.yaml."""

    currency: str
    sms: Mapping[str, float]
    whatsapp: Mapping[str, float]
    source: str = ""

    def price(self, channel: str, country: str | None) -> float:
        table = self.whatsapp if channel == WHATSAPP else self.sms
        return float(table.get((country or "").upper(), table.get("default", 0.0)))


def load_prices(settings: Settings) -> PriceTable:
    """The configured content folder's prices.yaml, else the bundled one."""
    path = content_root(settings.content_path) / "prices.yaml"
    if not path.is_file():
        path = BUNDLED / "prices.yaml"
    return _read_prices(str(path), path.stat().st_mtime)


@lru_cache(maxsize=4)
def _read_prices(path: str, _mtime: float) -> PriceTable:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}

    def table(name: str) -> dict[str, float]:
        return {
            str(k).upper() if k != "default" else "default": float(v)
            for k, v in (data.get(name) or {}).items()
        }

    return PriceTable(str(data.get("currency", "USD")), table("sms"), table("whatsapp"), path)


# --- preview --------------------------------------------------------------------------------


@dataclass
class CountryLine:
    country: str
    sms: int = 0
    whatsapp: int = 0
    cost: float = 0.0


@dataclass
class Preview:
    """What a broadcast would do right now: who gets it, what it costs, what to look out for."""

    text: str
    segment: Segment
    schedule: Schedule
    encoding: str
    units: int
    segments_per_sms: int
    matched: int = 0
    recipients: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: {"sms": 0, "whatsapp": 0})
    countries: list[CountryLine] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    deferred_by_quiet_hours: int = 0
    first_send: datetime | None = None
    last_send: datetime | None = None
    total_segments: int = 0  # SMS segments
    whatsapp_messages: int = 0
    estimated_cost: float = 0.0
    currency: str = "USD"
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "segment": self.segment.as_dict(),
            "schedule": self.schedule.describe(),
            "encoding": self.encoding,
            "characters": self.units,
            "segments_per_message": {"sms": self.segments_per_sms, "whatsapp": 1},
            "matched": self.matched,
            "recipients": self.recipients,
            "by_channel": self.by_channel,
            "by_country": [c.__dict__ | {"cost": round(c.cost, 4)} for c in self.countries],
            "skipped": self.skipped,
            "deferred_by_quiet_hours": self.deferred_by_quiet_hours,
            "first_send": self.first_send.isoformat() if self.first_send else None,
            "last_send": self.last_send.isoformat() if self.last_send else None,
            "total_segments": self.total_segments,
            "whatsapp_messages": self.whatsapp_messages,
            "estimated_cost": round(self.estimated_cost, 2),
            "currency": self.currency,
            "warnings": self.warnings,
        }


def clean_text(text: str) -> str:
    """The text as it will be sent (GSM-7 look-alikes mapped), or a BroadcastError."""
    cleaned = segments.normalise((text or "").strip())
    if not cleaned:
        raise BroadcastError("the message is empty; write the text to send")
    if len(cleaned) > MAX_TEXT:
        raise BroadcastError(f"the message is {len(cleaned)} characters; Twilio takes at most {MAX_TEXT}")
    return cleaned


def preview(
    session: Session,
    text: str,
    segment: Segment,
    schedule: Schedule,
    settings: Settings,
    prices: PriceTable,
    now: datetime,
    whatsapp_template: str | None = None,
) -> Preview:
    """Count recipients and cost with one grouped query; nothing is written."""
    cleaned = clean_text(text)
    counted = segments.count(cleaned)
    result = Preview(cleaned, segment, schedule, counted.encoding, counted.units, counted.segments)
    result.currency = prices.currency
    reason = skip_reason(now, bool(whatsapp_template)).label("reason")
    matched = (
        select(reason, Person.channel, Person.country, Person.timezone).where(*segment.where(now)).subquery()
    )
    rows = session.execute(
        select(
            matched.c.reason, matched.c.channel, matched.c.country, matched.c.timezone, func.count()
        ).group_by(matched.c.reason, matched.c.channel, matched.c.country, matched.c.timezone)
    ).all()
    countries: dict[str, CountryLine] = {}
    for why, channel, country, timezone, number in rows:
        result.matched += number
        if why != "send":
            result.skipped[why] = result.skipped.get(why, 0) + number
            continue
        result.recipients += number
        result.by_channel[channel] = result.by_channel.get(channel, 0) + number
        line = countries.setdefault(country or "??", CountryLine(country or "??"))
        if channel == WHATSAPP:
            line.whatsapp += number
            result.whatsapp_messages += number
            line.cost += number * prices.price(WHATSAPP, country)
        else:
            line.sms += number
            result.total_segments += number * counted.segments
            line.cost += number * counted.segments * prices.price("sms", country)
        when = send_time(timezone, schedule, settings, now)
        if when > planned_time(timezone, schedule, now):
            result.deferred_by_quiet_hours += number
        result.first_send = min(result.first_send or when, when)
        result.last_send = max(result.last_send or when, when)
    result.countries = sorted(countries.values(), key=lambda c: (-c.cost, c.country))
    result.estimated_cost = sum(c.cost for c in result.countries)
    result.warnings = _warnings(result, cleaned, text, segment)
    return result


def _warnings(result: Preview, cleaned: str, original: str, segment: Segment) -> list[str]:
    notes = []
    if result.encoding == "UCS-2":
        odd = sorted({c for c in cleaned if not segments.is_gsm7(c)})[:8]
        notes.append(
            f"{''.join(odd)!r} force UCS-2: {result.segments_per_sms} segment(s) per SMS "
            "at 70 characters each; replace them to halve the cost"
        )
    if cleaned != (original or "").strip():
        notes.append("typographic quotes, dashes or spaces were replaced with plain ones to stay in GSM-7")
    if result.segments_per_sms > 1:
        notes.append(f"each SMS costs {result.segments_per_sms} segments; shorten the text to cut the cost")
    if not segment.filters:
        notes.append("no segment given: this goes to every student")
    if result.skipped.get("outside_window"):
        notes.append(
            f"{result.skipped['outside_window']} WhatsApp recipient(s) have not written in 24 hours and are "
            "skipped unless an approved template is given"
        )
    if result.deferred_by_quiet_hours:
        notes.append(
            f"{result.deferred_by_quiet_hours} recipient(s) are in quiet hours and get it when they end"
        )
    if result.matched and not result.recipients:
        notes.append("nobody in this segment can receive it")
    return notes


# --- creating, fanning out, cancelling ----------------------------------------------------------


def create_broadcast(
    session: Session,
    text: str,
    segment: Segment,
    schedule: Schedule,
    settings: Settings,
    now: datetime,
    created_by: tuple[int | None, str | None] = (None, None),
    whatsapp_template: str | None = None,
    draft: bool = False,
) -> tuple[Broadcast, Preview]:
    """Store a broadcast with its preview figures; the caller commits, then `start_broadcast`."""
    shown = preview(session, text, segment, schedule, settings, load_prices(settings), now, whatsapp_template)
    broadcast = Broadcast(
        text=shown.text,
        segment=segment.as_dict(),
        schedule=schedule.kind,
        send_at=schedule.at,
        local_time=schedule.local,
        whatsapp_template=whatsapp_template or None,
        status=DRAFT if draft else QUEUED,
        created_by_id=created_by[0],
        created_by=created_by[1],
        matched=shown.matched,
        recipients=shown.recipients,
        skipped=dict(shown.skipped),
        encoding=shown.encoding,
        segments_per_sms=shown.segments_per_sms,
        total_segments=shown.total_segments,
        estimated_cost=round(shown.estimated_cost, 4),
        currency=shown.currency,
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    return broadcast, shown


def schedule_of(broadcast: Broadcast) -> Schedule:
    return Schedule(broadcast.schedule, broadcast.send_at, broadcast.local_time)


def start_broadcast(broadcast_id: int) -> bool:
    """Hand a committed, queued broadcast to the workers; False if Redis did not take the job."""
    try:
        runtime.queue(runtime.DEFAULT).enqueue(
            fan_out_broadcast, broadcast_id, job_timeout=3600, result_ttl=3600, failure_ttl=7 * 86400
        )
        return True
    except (RedisError, RuntimeError) as exc:
        log.warning("could not enqueue the fan-out of broadcast %s: %s", broadcast_id, exc)
        return False


def _resume_later(broadcast_id: int, seconds: int = BACKPRESSURE_WAIT) -> None:
    """Come back to a fan-out that waited for the outbox to drain (idempotent on re-run)."""
    try:
        runtime.queue(runtime.DEFAULT).enqueue_in(
            timedelta(seconds=seconds),
            fan_out_broadcast,
            broadcast_id,
            job_timeout=3600,
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
    except (RedisError, RuntimeError) as exc:  # resume_stalled picks it up instead
        log.warning("could not schedule the rest of broadcast %s: %s", broadcast_id, exc)


def fan_out_broadcast(broadcast_id: int) -> dict[str, int]:
    """RQ job: write the broadcast's outbox rows in batches and signal the senders."""
    return run_fan_out(runtime.settings(), broadcast_id).as_dict()


@dataclass
class FanOut:
    created: int = 0
    existing: int = 0
    batches: int = 0
    deferred: int = 0
    cancelled: bool = False
    waiting: bool = False  # stopped for backpressure; resumes when the outbox drains

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "existing": self.existing,
            "batches": self.batches,
            "deferred": self.deferred,
            "cancelled": int(self.cancelled),
            "waiting": int(self.waiting),
        }


def _insert_batch(
    session: Session,
    broadcast: Broadcast,
    eligible: list[Any],
    after_id: int,
    last_id: int,
    send_at: Mapping[str | None, datetime],
    fixed: Mapping[str, Any],
    now: datetime,
) -> list[tuple[int, datetime | None]]:
    """One INSERT .. SELECT for the recipients with ids in (after_id, last_id]: no row passes
    through Python. Rows already written (a fan-out run again) stay as they are (ON CONFLICT DO
    NOTHING), so only new rows come back."""
    insert = insert_for(session.get_bind().dialect.name)
    table = Message.__table__
    never = literal(None, table.c.send_after.type)
    later = [(zone, when) for zone, when in send_at.items() if when > now]
    send_after: Any = never
    if later:
        in_zone = lambda zone: Person.timezone.is_(None) if zone is None else Person.timezone == zone  # noqa: E731
        send_after = case(*((in_zone(zone), literal(when, never.type)) for zone, when in later), else_=never)
    per_person: dict[str, Any] = {
        "person_id": Person.id,
        "channel": Person.channel,
        "phone": Person.phone,
        "idempotency_key": literal(outbox_key(broadcast.id, 0).removesuffix("0")) + cast(Person.id, String),
        "send_after": send_after,
        "broadcast_id": literal(broadcast.id, table.c.broadcast_id.type),
        # The send path uses the template outside the person's 24 h window.
        "content_sid": case(
            (Person.channel == WHATSAPP, literal(broadcast.whatsapp_template, table.c.content_sid.type)),
            else_=literal(None, table.c.content_sid.type),
        ),
    }
    columns = {name: literal(value, table.c[name].type) for name, value in fixed.items()} | per_person
    rows = select(*(expression.label(name) for name, expression in columns.items())).where(
        *eligible, Person.id > after_id, Person.id <= last_id
    )
    statement = (
        insert(table)
        .from_select(list(columns), rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id, table.c.send_after)
    )
    return [(row[0], row[1]) for row in session.execute(statement)]


def run_fan_out(
    settings: Settings,
    broadcast_id: int,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> FanOut:
    """Write one outbox row per eligible recipient, `batch_size` at a time; safe to run again."""
    now = now or settings.clock.now()
    report = FanOut()
    session = session_factory(settings.database_url)()
    try:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status in (DRAFT, DONE, CANCELLED):
            report.cancelled = broadcast is not None and broadcast.status == CANCELLED
            return report
        if broadcast.status == QUEUED:
            broadcast.status = SENDING
            broadcast.started_at = now
        segment = Segment.from_dict(broadcast.segment)
        schedule = schedule_of(broadcast)
        template = bool(broadcast.whatsapp_template)
        # People change between preview and send: record who was skipped at this moment.
        counted = preview(
            session,
            broadcast.text,
            segment,
            schedule,
            settings,
            load_prices(settings),
            now,
            broadcast.whatsapp_template,
        )
        broadcast.matched, broadcast.skipped = counted.matched, dict(counted.skipped)
        session.commit()
        _fan_out_batches(
            session, broadcast, segment, schedule, template, settings, now, batch_size, report, on_batch
        )
        if report.waiting:
            _resume_later(broadcast_id)
        else:
            _finish_fan_out(session, broadcast_id, report, max(now, settings.clock.now()))
    finally:
        session.close()
    return report


def _fan_out_batches(
    session: Session,
    broadcast: Broadcast,
    segment: Segment,
    schedule: Schedule,
    template: bool,
    settings: Settings,
    now: datetime,
    batch_size: int,
    report: FanOut,
    on_batch: Callable[[int], None] | None,
) -> None:
    # skip_reason() == 'send' is within_whatsapp_window written in SQL: without a template no
    # WhatsApp student outside their 24 h window is selected.
    eligible = [*segment.where(now), skip_reason(now, template) == "send"]
    # message_row normalises and counts the text once; the INSERT fills in each recipient's part.
    fixed = message_row(Person(), broadcast.text, KIND, now=now)
    for name in ("person_id", "channel", "phone", "idempotency_key", "send_after"):
        fixed.pop(name)
    times: dict[str | None, datetime] = {}
    room = outbox_room(session, settings)
    last_id = 0
    while True:
        # The batch's bounds and time zones; the rows themselves are written by one INSERT .. SELECT.
        people = session.execute(
            select(Person.id, Person.timezone)
            .where(*eligible, Person.id > last_id)
            .order_by(Person.id)
            .limit(batch_size)
        ).all()
        if not people:
            return
        # Backpressure: with the outbox this full, wait rather than flood Redis and Twilio. The
        # count is taken again only when this fan-out's own rows may have filled it.
        if room <= 0:
            room = outbox_room(session, settings)
            if room <= 0:
                report.waiting = True
                return
        # Checked before every batch so a cancel stops the fan-out within one batch.
        if session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast.id)) == CANCELLED:
            report.cancelled = True
            return
        for _, zone in people:
            if zone not in times:
                times[zone] = send_time(zone, schedule, settings, now)
        after_id, last_id = last_id, people[-1].id
        inserted = _insert_batch(session, broadcast, eligible, after_id, last_id, times, fixed, now)
        session.commit()
        room -= len(inserted)
        report.batches += 1
        report.created += len(inserted)
        report.existing += len(people) - len(inserted)
        due = [message_id for message_id, after in inserted if after is None]
        report.deferred += len(inserted) - len(due)
        # Rows due later are left to the sweeper, which signals them once send_after passes.
        enqueue_send(due)
        if on_batch:
            on_batch(len(people))


def _finish_fan_out(session: Session, broadcast_id: int, report: FanOut, now: datetime) -> None:
    broadcast = session.get(Broadcast, broadcast_id)
    session.refresh(broadcast)
    broadcast.recipients = (
        session.scalar(select(func.count()).select_from(Message).where(Message.broadcast_id == broadcast_id))
        or 0
    )
    if broadcast.status == CANCELLED:
        # A batch may have landed while the cancel ran: cancel whatever is still waiting.
        _cancel_rows(session, broadcast_id, now)
        report.cancelled = True
    else:
        broadcast.fanned_out_at = now
        refresh_status(session, broadcast, now)
    session.commit()


def _cancel_rows(session: Session, broadcast_id: int, now: datetime) -> int:
    result = session.execute(
        update(Message)
        .where(Message.broadcast_id == broadcast_id, Message.status == "queued")
        .values(status="canceled", updated_at=now)
    )
    return result.rowcount or 0


def cancel_broadcast(session: Session, broadcast: Broadcast, now: datetime) -> int:
    """Stop a broadcast: no more rows are written and queued ones become `canceled`. Returns that count."""
    if broadcast.status in (DONE, CANCELLED):
        raise BroadcastError(f"broadcast #{broadcast.id} is already {broadcast.status}; nothing to cancel")
    broadcast.status = CANCELLED
    broadcast.cancelled_at = now
    session.flush()
    return _cancel_rows(session, broadcast.id, now)


def send_draft(session: Session, broadcast: Broadcast) -> None:
    if broadcast.status != DRAFT:
        raise BroadcastError(f"broadcast #{broadcast.id} is {broadcast.status}, not a draft")
    broadcast.status = QUEUED


# --- progress ------------------------------------------------------------------------------------

PROGRESS_STATES = (
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "suppressed",
    "canceled",
)


@dataclass
class Progress:
    counts: dict[str, int]
    failures: list[dict[str, Any]]
    total: int
    segments: int

    @property
    def waiting(self) -> int:
        return self.counts["scheduled"] + self.counts["queued"] + self.counts["sending"]

    @property
    def delivered(self) -> int:
        return self.counts["delivered"] + self.counts["read"]

    @property
    def failed(self) -> int:
        return self.counts["failed"] + self.counts["undelivered"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "segments": self.segments,
            **self.counts,
            "delivered_or_read": self.delivered,
            "failed_or_undelivered": self.failed,
            "failures": self.failures,
        }


def progress(session: Session, broadcast_id: int, now: datetime) -> Progress:
    """Counts by message state (queued rows due later shown as `scheduled`) and failure reasons."""
    later = and_(Message.status == "queued", Message.send_after > now)
    state = case((later, "scheduled"), else_=Message.status).label("state")
    by_state = select(state, Message.segments).where(Message.broadcast_id == broadcast_id).subquery()
    counts = dict.fromkeys(PROGRESS_STATES, 0)
    total = segment_total = 0
    for name, number, used in session.execute(
        select(by_state.c.state, func.count(), func.coalesce(func.sum(by_state.c.segments), 0)).group_by(
            by_state.c.state
        )
    ):
        counts[name] = counts.get(name, 0) + number
        total += number
        segment_total += int(used)
    failures = [
        {
            "error_code": code,
            "count": number,
            "reason": FAILURE_REASONS.get(code or 0, message or "no reason given"),
        }
        for code, message, number in session.execute(
            select(Message.error_code, func.max(Message.error_message), func.count())
            .where(Message.broadcast_id == broadcast_id, Message.status.in_(("failed", "undelivered")))
            .group_by(Message.error_code)
            .order_by(func.count().desc())
            .limit(10)
        )
    ]
    return Progress(counts, failures, total, segment_total)


def refresh_status(session: Session, broadcast: Broadcast, now: datetime) -> None:
    """A fanned-out broadcast with nothing left to send is done."""
    if broadcast.status != SENDING or broadcast.fanned_out_at is None:
        return
    waiting = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.broadcast_id == broadcast.id, Message.status.in_(("queued", "sending")))
    )
    if not waiting:
        broadcast.status = DONE
        broadcast.finished_at = now


def stalled_broadcasts(
    session: Session, now: datetime, after: timedelta = timedelta(minutes=10)
) -> list[int]:
    """Queued or sending broadcasts whose fan-out never finished (Redis lost the job, a worker died)."""
    return list(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.fanned_out_at.is_(None),
                or_(
                    and_(Broadcast.status == QUEUED, Broadcast.created_at < now - after),
                    # A running fan-out is given its whole job timeout before it counts as lost.
                    and_(Broadcast.status == SENDING, Broadcast.started_at < now - timedelta(hours=1)),
                ),
            )
        )
    )


def resume_stalled() -> int:
    """RQ job for the clock: re-enqueue fan-outs that stalled; the fan-out is idempotent."""
    settings = runtime.settings()
    session = session_factory(settings.database_url)()
    try:
        ids = stalled_broadcasts(session, settings.clock.now())
    finally:
        session.close()
    return sum(start_broadcast(broadcast_id) for broadcast_id in ids)
