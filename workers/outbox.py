"""The outbox: every push is a database row first and an RQ job second.

The row is the truth and Redis only the signal: if the enqueue is lost (Redis down,
restarted, flushed) the sweeper finds the row still `queued` and enqueues it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from content import segments
from flows.engine import Push
from flows.schedule import WHATSAPP_WINDOW as WHATSAPP_WINDOW  # the window rule lives with the schedule
from flows.schedule import within_whatsapp_window as within_whatsapp_window
from store.db import (
    as_stored,
    copy_many_or_ignore,
    copy_rows_or_ignore,
    insert_many_or_ignore,
    insert_or_ignore,
)
from store.models import OPTED_OUT, OUTBOUND, Message, MessageStatus, Person
from store.settings import Settings
from store.text import clean, needs_cleaning
from workers import runtime
from workers.ratelimit import rate_for

log = logging.getLogger("rounds.outbox")

# The send job, by dotted path: the send path sits on the tier above this one.
SEND_JOB = "workers.send.send_messages"
SEND_JOB_TIMEOUT = 300  # seconds
SEND_JOB_OPTIONS = {"job_timeout": SEND_JOB_TIMEOUT, "result_ttl": 60, "failure_ttl": 86400}


def message_row(
    person: Person,
    body: str,
    kind: str,
    key: str | None = None,
    send_after: datetime | None = None,
    *,
    now: datetime,
) -> dict:
    """Column values for one queued outbound message to `person`, rendered for their channel."""
    text, counted = segments.rendered(body, person.channel)
    return {
        "person_id": person.id,
        "direction": OUTBOUND,
        "channel": person.channel,
        "phone": person.phone,
        "body": text,
        "kind": kind,
        "status": MessageStatus.QUEUED,
        "idempotency_key": key,
        "segments": counted.segments,
        "encoding": counted.encoding,
        "send_after": send_after,
        "created_at": now,
        "updated_at": now,
        "attempts": 0,
        "num_media": 0,
    }


def queue_message(
    session: Session,
    person: Person,
    body: str,
    kind: str,
    key: str | None = None,
    send_after: datetime | None = None,
    *,
    now: datetime,
) -> int | None:
    """Add a queued message for `person`; None if they opted out or `key` was already used.

    The caller commits, then calls `enqueue_send` with the ids it got back.
    """
    if person.status == OPTED_OUT:
        return None
    values = message_row(person, body, kind, key, send_after, now=now)
    if key is None:
        message = Message(**values)
        session.add(message)
        session.flush()
        return message.id
    return insert_or_ignore(session, Message, values, ["idempotency_key"])


def deliver(
    settings: Settings,
    session: Session,
    pushes: Iterable[Push],
    urgent: bool = True,
    now: datetime | None = None,
) -> list[int]:
    """The one way a decision's pushes leave: queue each for its person, commit, then signal the workers.

    A flow's replies go back in the webhook's own answer; everything else it (or an admin, or a
    job) decided to send is a `Push`. Nobody is queued who is gone or opted out, and a push whose
    key was already used is dropped. Commits the session (and whatever else it holds), so the
    rows are there before any worker looks; returns the ids queued. `now` defaults to the
    settings' clock.
    """
    now = now or settings.clock.now()
    queued = []
    for push in pushes:
        person = session.get(Person, push.person_id)
        if person is not None:
            message_id = queue_message(session, person, push.body, push.kind, push.key, now=now)
            if message_id is not None:
                queued.append(message_id)
    session.commit()
    enqueue_send(settings, queued, urgent=urgent)
    return queued


def queue_messages(session: Session, rows: list[dict]) -> list[int]:
    """Add many `message_row`s, each with its own key, in one statement; the ids of those added.

    A row whose key was already used is skipped, as `queue_message` does. The caller leaves
    out people who opted out, commits, then calls `enqueue_send`.
    """
    return [new_id for (new_id,) in insert_many_or_ignore(session, Message, rows, ["idempotency_key"])]


def queue_many_messages(session: Session, rows: list[dict]) -> list[int]:
    """`queue_messages` for thousands of rows at once (by COPY on PostgreSQL)."""
    return [new_id for (new_id,) in copy_many_or_ignore(session, Message, rows, ["idempotency_key"])]


# A queued message's columns in a row of `queue_many_texts`, in order.
_TEXT_COLUMNS = [
    "person_id",
    "direction",
    "channel",
    "phone",
    "body",
    "kind",
    "status",
    "idempotency_key",
    "segments",
    "encoding",
    "send_after",
    "created_at",
    "updated_at",
    "attempts",
    "num_media",
]


def queue_many_texts(
    session: Session, texts: Iterable[tuple[Person, str, str]], kind: str, *, now: datetime
) -> list[int]:
    """`queue_many_messages` of (person, body, key) for one kind at one time, as plain tuples: the
    rows `message_row` would make, without a dict and a check of every value for each of 100,000.

    Only the body can need cleaning: the phone and channel were read from cleaned columns, and
    the key and kind are the caller's own.
    """
    stamp = as_stored(now)
    rows = []
    for person, body, key in texts:
        text, counted = segments.rendered(body, person.channel)
        if needs_cleaning(text):
            text = clean(text).text
        rows.append(
            (
                person.id,
                OUTBOUND,
                person.channel,
                person.phone,
                text,
                kind,
                MessageStatus.QUEUED.value,
                key,
                counted.segments,
                counted.encoding,
                None,
                stamp,
                stamp,
                0,
                0,
            )
        )
    found = copy_rows_or_ignore(session, Message, _TEXT_COLUMNS, rows, ["idempotency_key"])
    return [new_id for (new_id,) in found]


def batches(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def enqueue_send(settings: Settings, ids: Sequence[int], urgent: bool = False) -> int:
    """Signal the workers to send these committed rows; returns jobs queued (0 if Redis is down).

    A failure here loses nothing: the rows stay `queued` and the sweeper retries.
    """
    if not ids:
        return 0
    name = runtime.URGENT if urgent else runtime.BULK
    try:
        queue = runtime.queue(settings, name)
        jobs = [
            queue.prepare_data(
                SEND_JOB, args=(batch,), timeout=SEND_JOB_TIMEOUT, result_ttl=60, failure_ttl=86400
            )
            for batch in batches(ids, settings.send_batch_size)
        ]
        queue.enqueue_many(jobs)
        return len(jobs)
    except (RedisError, RuntimeError) as exc:
        log.warning("could not enqueue %d message(s), the sweeper will: %s", len(ids), exc)
        return 0


def enqueue_send_later(settings: Settings, ids: list[int], seconds: float) -> None:
    """Re-signal deferred rows when the sender has room, or now (the sweeper is the safety net)."""
    try:
        queue = runtime.queue(settings, runtime.BULK)
        if seconds <= 0:
            queue.enqueue(SEND_JOB, ids, **SEND_JOB_OPTIONS)
        else:
            queue.enqueue_in(timedelta(seconds=max(1.0, seconds)), SEND_JOB, ids, **SEND_JOB_OPTIONS)
    except Exception as exc:  # Redis trouble: the rows are queued in the database anyway
        log.warning("could not schedule %d deferred message(s): %s", len(ids), exc)


@dataclass(frozen=True)
class OutboxDepth:
    messages: int
    segments: int
    drain_seconds: float  # at each sender's rate, the senders draining in parallel


def outbox_depth(session: Session, settings: Settings) -> OutboxDepth:
    """How much is waiting to be sent, and how long the senders need to send it."""
    rows = session.execute(
        select(Message.channel, func.count(), func.coalesce(func.sum(Message.segments), 0))
        .where(Message.direction == OUTBOUND, Message.status == MessageStatus.QUEUED)
        .group_by(Message.channel)
    ).all()
    messages = sum(count for _, count, _ in rows)
    segments = sum(int(total) for _, _, total in rows)
    drain = 0.0
    for channel, _, total in rows:
        sender = settings.whatsapp_from if channel == "whatsapp" else (settings.sms_from or "sms")
        rate = rate_for(sender or channel, settings)
        drain = max(drain, int(total) / rate if rate > 0 else 0.0)
    return OutboxDepth(messages, segments, drain)


def outbox_room(session: Session, settings: Settings) -> int:
    """How many more messages the outbox takes before ROUNDS_OUTBOX_LIMIT queued ones: at the
    limit new broadcasts wait instead of flooding Redis and the sender's queue at Twilio."""
    queued = session.execute(
        select(func.count()).where(Message.direction == OUTBOUND, Message.status == MessageStatus.QUEUED)
    ).scalar_one()
    return settings.outbox_limit - queued
