"""Creating, fanning out and cancelling a broadcast. The fan-out is an RQ job (`fan_out_broadcast`)
that writes outbox rows 1,000 at a time with one INSERT .. SELECT each (no row passes through
Python), keyed `broadcast:<id>:<person_id>`, so running it twice adds nothing.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import CursorResult, String, case, cast, func, literal, select, update
from sqlalchemy.orm import Session

from store.admin import CANCELLED, DONE, DRAFT, QUEUED, SENDING, Broadcast
from store.db import insert_for, session_factory
from store.models import SMS, WHATSAPP, Message, MessageStatus, Person
from store.settings import Settings
from workers import runtime
from workers.broadcasts.audience import Audience, skip_reason
from workers.broadcasts.errors import BroadcastError
from workers.broadcasts.preview import Preview, preview
from workers.broadcasts.prices import load_prices
from workers.broadcasts.progress import refresh_status, stalled_broadcasts
from workers.broadcasts.timing import Schedule, schedule_of, send_time
from workers.outbox import enqueue_send, message_row, outbox_room

log = logging.getLogger("rounds.broadcasts")

KIND = "broadcast"
BATCH_SIZE = 1000
BACKPRESSURE_WAIT = 30  # seconds before a waiting fan-out looks at the outbox again
# The fan-out job, by dotted path.
FAN_OUT_JOB = "workers.broadcasts.fanout.fan_out_broadcast"
FAN_OUT_OPTIONS = {"job_timeout": 3600, "result_ttl": 3600, "failure_ttl": 7 * 86400}


def outbox_key(broadcast_id: int, person_id: int) -> str:
    return f"broadcast:{broadcast_id}:{person_id}"


def create_broadcast(
    session: Session,
    text: str,
    audience: Audience,
    schedule: Schedule,
    settings: Settings,
    now: datetime,
    created_by: tuple[int | None, str | None] = (None, None),
    whatsapp_template: str | None = None,
    draft: bool = False,
) -> tuple[Broadcast, Preview]:
    """Store a broadcast with its preview figures; the caller commits, then `start_broadcast`."""
    shown = preview(
        session, text, audience, schedule, settings, load_prices(settings), now, whatsapp_template
    )
    broadcast = Broadcast(
        text=shown.text,
        segment=audience.as_dict(),
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


def start_broadcast(settings: Settings, broadcast_id: int) -> bool:
    """Hand a committed, queued broadcast to the workers; False if Redis did not take the job."""
    try:
        runtime.queue(settings, runtime.DEFAULT).enqueue(FAN_OUT_JOB, broadcast_id, **FAN_OUT_OPTIONS)
        return True
    except (RedisError, RuntimeError) as exc:
        log.warning("could not enqueue the fan-out of broadcast %s: %s", broadcast_id, exc)
        return False


def _resume_later(settings: Settings, broadcast_id: int, seconds: int = BACKPRESSURE_WAIT) -> None:
    """Come back to a fan-out that waited for the outbox to drain (idempotent on re-run)."""
    try:
        runtime.queue(settings, runtime.DEFAULT).enqueue_in(
            timedelta(seconds=seconds), FAN_OUT_JOB, broadcast_id, **FAN_OUT_OPTIONS
        )
    except (RedisError, RuntimeError) as exc:  # resume_stalled picks it up instead
        log.warning("could not schedule the rest of broadcast %s: %s", broadcast_id, exc)


def fan_out_broadcast(broadcast_id: int) -> dict[str, int]:
    """RQ job: write the broadcast's outbox rows in batches and signal the senders."""
    return run_fan_out(runtime.job_settings(), broadcast_id).as_dict()


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


# The columns a recipient's channel decides: the text as rendered for it and what it costs.
RENDERED = ("body", "segments", "encoding")


def _insert_batch(
    session: Session,
    broadcast: Broadcast,
    eligible: list[Any],
    after_id: int,
    last_id: int,
    send_at: Mapping[str | None, datetime],
    fixed: Mapping[str, Any],
    rendered: Mapping[str, tuple[Any, Any]],
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
    for name, (sms, whatsapp) in rendered.items():
        per_person[name] = case(
            (Person.channel == WHATSAPP, literal(whatsapp, table.c[name].type)),
            else_=literal(sms, table.c[name].type),
        )
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
        audience = Audience.from_dict(broadcast.segment)
        schedule = schedule_of(broadcast)
        template = bool(broadcast.whatsapp_template)
        # People change between preview and send: record who was skipped at this moment.
        counted = preview(
            session,
            broadcast.text,
            audience,
            schedule,
            settings,
            load_prices(settings),
            now,
            broadcast.whatsapp_template,
        )
        broadcast.matched, broadcast.skipped = counted.matched, dict(counted.skipped)
        session.commit()
        _fan_out_batches(
            session, broadcast, audience, schedule, template, settings, now, batch_size, report, on_batch
        )
        if report.waiting:
            _resume_later(settings, broadcast_id)
        else:
            _finish_fan_out(session, broadcast_id, report, max(now, settings.clock.now()))
    finally:
        session.close()
    return report


def _fan_out_batches(
    session: Session,
    broadcast: Broadcast,
    audience: Audience,
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
    eligible = [*audience.where(now), skip_reason(now, template) == "send"]
    # message_row renders and counts the text once per channel (SMS folds the accents GSM-7
    # lacks, WhatsApp keeps them); the INSERT picks each recipient's rendering and fills in the rest.
    fixed = message_row(Person(channel=SMS), broadcast.text, KIND, now=now)
    on_whatsapp = message_row(Person(channel=WHATSAPP), broadcast.text, KIND, now=now)
    for name in ("person_id", "channel", "phone", "idempotency_key", "send_after"):
        fixed.pop(name)
    rendered = {name: (fixed.pop(name), on_whatsapp[name]) for name in RENDERED}
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
        inserted = _insert_batch(session, broadcast, eligible, after_id, last_id, times, fixed, rendered, now)
        session.commit()
        room -= len(inserted)
        report.batches += 1
        report.created += len(inserted)
        report.existing += len(people) - len(inserted)
        due = [message_id for message_id, after in inserted if after is None]
        report.deferred += len(inserted) - len(due)
        # Rows due later are left to the sweeper, which signals them once send_after passes.
        enqueue_send(settings, due)
        if on_batch:
            on_batch(len(people))


def _finish_fan_out(session: Session, broadcast_id: int, report: FanOut, now: datetime) -> None:
    broadcast = session.get_one(Broadcast, broadcast_id)
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
        .where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELED, updated_at=now)
    )
    return typing.cast(CursorResult[Any], result).rowcount or 0  # an UPDATE's result counts its rows


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


def resume_stalled() -> int:
    """RQ job for the clock: re-enqueue fan-outs that stalled; the fan-out is idempotent."""
    settings = runtime.job_settings()
    session = session_factory(settings.database_url)()
    try:
        ids = stalled_broadcasts(session, settings.clock.now())
    finally:
        session.close()
    return sum(start_broadcast(settings, broadcast_id) for broadcast_id in ids)
