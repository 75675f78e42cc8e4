"""The send job: claim queued rows, pace them per sender, hand each to Twilio, record the answer.

A row is claimed by moving it from `queued` to `sending` in one statement, so two workers
given the same id never both send it. A row a dead worker left in `sending` is never
resent blindly: Twilio's message list is asked first and a sid that went out is adopted.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from flows.phones import mask
from store.db import session_factory
from store.models import OPTED_OUT, OUTBOUND, SMS, WHATSAPP, Message, Person, utcnow
from store.settings import Settings
from workers import runtime
from workers.outbox import within_whatsapp_window
from workers.ratelimit import BatchAllowance, SenderLimiter
from workers.transport import (
    OPTED_OUT_CODES,
    OUTSIDE_WINDOW_CODES,
    UNREACHABLE_CODES,
    Outgoing,
    SendFailed,
    Transport,
    make_transport,
)

log = logging.getLogger("rounds.send")

MAX_ATTEMPTS = 6
SEND_JOB_TIMEOUT = 300  # seconds; a send job never sleeps longer than a few seconds in all
MAX_INLINE_WAIT = 1.0  # wait this long for the rate limit in the job; longer waits reschedule
# Sends are recorded (sid and state `sent`) with one statement and one commit per this many, or
# sooner: within RECORD_WITHIN seconds, before any wait for the rate and at the end of the job.
# A worker that dies in between leaves those rows in `sending`; reconcile_sending adopts them.
RECORD_EVERY = 50
RECORD_WITHIN = 0.1

_transport: tuple[Settings, Transport] | None = None


def transport_for(settings: Settings) -> Transport:
    """One transport (and its pooled HTTP connections) per process and settings."""
    global _transport
    # Held, not keyed by id(): a freed Settings' id can be reused by a different one.
    if _transport is None or _transport[0] is not settings:
        _transport = (settings, make_transport(settings))
    return _transport[1]


def status_callback_url(settings: Settings) -> str | None:
    return f"{settings.public_url}/twilio/status" if settings.public_url else None


class OutsideWindow(Exception):
    """A WhatsApp push outside the 24 h window with no template and no SMS fallback."""


@dataclass(frozen=True)
class Route:
    outgoing: Outgoing
    channel: str
    rate_key: str  # the sender whose rate the send counts against


def route_for(
    message: Message,
    last_inbound_at: datetime | None,
    settings: Settings,
    now: datetime,
    force_template: bool = False,
) -> Route:
    """How `message` leaves: free-form, a WhatsApp template, or SMS instead of WhatsApp."""
    callback = status_callback_url(settings)
    sms_sender = settings.sms_from or settings.messaging_service_sid
    sms = Route(
        Outgoing(message.phone, message.body, settings.sms_from, settings.messaging_service_sid, callback),
        SMS,
        sms_sender,
    )
    if message.channel != WHATSAPP:
        return sms
    address = f"whatsapp:{message.phone}"
    in_window = message.kind == "reply" or within_whatsapp_window(last_inbound_at, now)
    if in_window and not force_template:
        return Route(
            Outgoing(address, message.body, settings.whatsapp_from, "", callback),
            WHATSAPP,
            settings.whatsapp_from,
        )
    template = message.content_sid or settings.whatsapp_templates.get(message.kind)
    if template:
        variables = json.dumps({"1": message.body})
        return Route(
            Outgoing(address, message.body, settings.whatsapp_from, "", callback, template, variables),
            WHATSAPP,
            settings.whatsapp_from,
        )
    if settings.whatsapp_fallback == "sms" and sms_sender:
        return sms
    raise OutsideWindow("outside the WhatsApp 24-hour window and no template or SMS fallback configured")


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8 ... seconds, capped at 5 minutes."""
    return random.uniform(0.5, 1.0) * min(300.0, 2.0**attempt)


def claim(session: Session, ids: list[int]) -> list[int]:
    """Move the given rows from queued to sending; return the ids this worker now owns."""
    now = utcnow()
    claimed = (
        session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                Message.direction == OUTBOUND,
                Message.status == "queued",
                or_(Message.send_after.is_(None), Message.send_after <= now),
            )
            .values(status="sending", attempts=Message.attempts + 1, updated_at=now)
            .returning(Message.id)
        )
        .scalars()
        .all()
    )
    session.commit()
    return sorted(claimed)


def release(session: Session, ids: list[int], send_after: datetime) -> None:
    """Hand claimed but unsent rows back to the outbox (the attempt did not happen)."""
    if ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.status == "sending")
            .values(
                status="queued", send_after=send_after, attempts=Message.attempts - 1, updated_at=utcnow()
            )
        )
        session.commit()


_messages = Message.__table__
# Only move forward: a fast status callback may already have landed.
_RECORD_SENT = (
    update(_messages)
    .where(_messages.c.id == bindparam("sent_id"), _messages.c.status == "sending")
    .values(
        status="sent",
        twilio_sid=bindparam("sent_sid"),
        sent_at=bindparam("sent_at"),
        updated_at=bindparam("sent_at"),
        channel=bindparam("sent_channel"),
        error_code=None,
        error_message=None,
    )
)


class SentRows:
    """Sends not yet recorded: written with one executemany UPDATE and one commit for many."""

    def __init__(self, session: Session):
        self.session = session
        self.rows: list[dict] = []
        self.since = 0.0

    def add(self, message_id: int, sid: str, channel: str, at: datetime) -> None:
        if not self.rows:
            self.since = time.monotonic()
        self.rows.append({"sent_id": message_id, "sent_sid": sid, "sent_channel": channel, "sent_at": at})
        if len(self.rows) >= RECORD_EVERY or time.monotonic() - self.since >= RECORD_WITHIN:
            self.record()

    def record(self) -> None:
        """Write the waiting sends and commit the session (and whatever else it holds)."""
        if self.rows:
            self.session.execute(_RECORD_SENT, self.rows)
            self.rows = []
        self.session.commit()


def send_messages(ids: list[int]) -> dict[str, int]:
    """RQ job: send each queued message in `ids` at most once, within each sender's rate."""
    settings = runtime.settings()
    transport = transport_for(settings)
    limiter = BatchAllowance(SenderLimiter(runtime.redis_connection(), settings))
    tally = {"sent": 0, "failed": 0, "suppressed": 0, "retry": 0, "skipped": 0, "deferred": 0}
    session = session_factory(settings.database_url)()
    sent = SentRows(session)
    try:
        owned = claim(session, ids)
        tally["skipped"] = len(ids) - len(owned)
        rows = session.execute(
            select(Message, Person.status, Person.last_inbound_at)
            .outerjoin(Person, Person.id == Message.person_id)
            .where(Message.id.in_(owned))
            .order_by(Message.id)
        ).all()
        for index, (message, person_status, last_inbound_at) in enumerate(rows):
            outcome = _send_one(
                session,
                transport,
                limiter,
                settings,
                message,
                person_status,
                last_inbound_at,
                sent,
                upcoming=len(rows) - index,
            )
            if isinstance(outcome, float):
                # The sender is busy for a while: give the rest back and come back later.
                sent.record()
                rest = [m.id for m, _, _ in rows[index:]]
                release(session, rest, utcnow() + timedelta(seconds=outcome))
                _enqueue_later(rest, outcome)
                tally["deferred"] += len(rest)
                break
            tally[outcome] += 1
            if outcome != "sent":
                sent.record()  # failures, retries and suppressions are committed at once
        sent.record()
    except BaseException:
        # Giving up (a job timeout, say): drop the half-done message, as a rollback always did,
        # but record the sends that did go out, as the commit per message used to.
        with suppress(Exception):
            session.rollback()
            sent.record()
        raise
    finally:
        session.close()
    return tally


def _enqueue_later(ids: list[int], seconds: float) -> None:
    """Re-signal deferred rows when the sender has room (the sweeper is the safety net)."""
    try:
        queue = runtime.queue(runtime.BULK)
        queue.enqueue_in(
            timedelta(seconds=max(1.0, seconds)),
            send_messages,
            ids,
            job_timeout=SEND_JOB_TIMEOUT,
            result_ttl=60,
            failure_ttl=86400,
        )
    except Exception as exc:  # Redis trouble: the rows are queued in the database anyway
        log.warning("could not schedule %d deferred message(s): %s", len(ids), exc)


def _send_one(
    session: Session,
    transport: Transport,
    limiter: BatchAllowance,
    settings: Settings,
    message: Message,
    person_status: str | None,
    last_inbound_at: datetime | None,
    sent: SentRows,
    upcoming: int = 1,
) -> str | float:
    now = utcnow()
    if person_status == OPTED_OUT:
        # Checked again at the last moment: a STOP may have arrived after queuing.
        message.status = "suppressed"
        return "suppressed"
    try:
        route = route_for(message, last_inbound_at, settings, now)
    except OutsideWindow as exc:
        return _record_failure(session, message, SendFailed(str(exc), 63016, retryable=False))
    wait = _wait_for_rate(limiter, route, message.segments, sent.record, upcoming)
    if wait:
        return wait
    try:
        accepted = transport.send(route.outgoing)
    except SendFailed as failure:
        if (
            failure.code in OUTSIDE_WINDOW_CODES
            and route.channel == WHATSAPP
            and not route.outgoing.content_sid
        ):
            # Twilio knows the window better than we do: fall back once, now.
            try:
                route = route_for(message, last_inbound_at, settings, now, force_template=True)
                accepted = transport.send(route.outgoing)
            except (SendFailed, OutsideWindow) as second:
                code = second.code if isinstance(second, SendFailed) else 63016
                return _record_failure(session, message, SendFailed(str(second), code, retryable=False))
        else:
            return _record_failure(session, message, failure)
    sent.add(message.id, accepted.sid, route.channel, now)
    log.info("sent message %s to %s as %s", message.id, mask(message.phone), accepted.sid)
    return "sent"


def _wait_for_rate(
    limiter: BatchAllowance,
    route: Route,
    segments: int,
    before_sleep: Callable[[], None],
    upcoming: int = 1,
) -> float:
    """Wait briefly for the sender's rate; return the remaining wait if it is long (0 when clear)."""
    cost = 1 if route.outgoing.content_sid else segments
    while True:
        wait = limiter.wait_seconds(route.rate_key, cost, upcoming)
        if wait <= 0:
            return 0.0
        if wait > MAX_INLINE_WAIT:
            return wait
        before_sleep()  # nothing sent waits unrecorded while we sleep
        time.sleep(wait)


def _record_failure(session: Session, message: Message, failure: SendFailed) -> str:
    message.error_code = failure.code
    message.error_message = str(failure)[:255]
    if failure.throttled or (failure.retryable and message.attempts < MAX_ATTEMPTS):
        if failure.throttled:
            # A 429 says nothing about the message, only about the pace: it costs no attempt.
            message.attempts -= 1
            fallback = random.uniform(1.0, 5.0)
        else:
            fallback = backoff_seconds(message.attempts)
        delay = failure.retry_after if failure.retry_after is not None else fallback
        message.status = "queued"
        message.send_after = utcnow() + timedelta(seconds=delay)
        log.warning("message %s will retry in %.0fs: %s", message.id, delay, failure)
        _enqueue_later([message.id], delay)
        return "retry"
    message.status = "failed"
    if failure.code in OPTED_OUT_CODES and message.person_id:
        session.execute(
            update(Person).where(Person.id == message.person_id).values(status=OPTED_OUT, next_push_at=None)
        )
    elif failure.code in UNREACHABLE_CODES and message.person_id:
        session.execute(update(Person).where(Person.id == message.person_id).values(unreachable=True))
    log.warning("message %s failed (%s): %s", message.id, failure.code, failure)
    return "failed"


def sweep_outbox(older_than_seconds: int | None = None) -> int:
    """RQ job (every minute): re-signal rows still queued and reconcile rows a dead worker left."""
    from workers.outbox import enqueue_send

    settings = runtime.settings()
    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    now = utcnow()
    reconcile_sending(settings, now)
    session = session_factory(settings.database_url)()
    try:
        ids = (
            session.execute(
                select(Message.id)
                .where(
                    Message.direction == OUTBOUND,
                    Message.status == "queued",
                    or_(
                        and_(
                            Message.send_after.is_(None), Message.created_at <= now - timedelta(seconds=age)
                        ),
                        Message.send_after <= now,
                    ),
                )
                .order_by(Message.id)
                .limit(50_000)
            )
            .scalars()
            .all()
        )
    finally:
        session.close()
    if ids:
        enqueue_send(list(ids))
    return len(ids)


def reconcile_sending(settings: Settings, now: datetime) -> dict[str, int]:
    """Rows stuck in `sending` (or `uncertain`): adopt the sid if Twilio has it, else queue again."""
    tally = {"adopted": 0, "requeued": 0, "uncertain": 0}
    cutoff = now - timedelta(seconds=settings.sending_timeout_seconds)
    session = session_factory(settings.database_url)()
    transport = transport_for(settings)
    try:
        stuck = (
            session.execute(
                select(Message)
                .where(
                    Message.direction == OUTBOUND,
                    Message.status.in_(("sending", "uncertain")),
                    Message.updated_at <= cutoff,
                )
                .order_by(Message.id)
                .limit(1000)
            )
            .scalars()
            .all()
        )
        for message in stuck:
            to = f"whatsapp:{message.phone}" if message.channel == WHATSAPP else message.phone
            try:
                found = transport.find_sent(to, message.created_at - timedelta(days=1))
            except SendFailed as exc:
                message.status = "uncertain"
                message.updated_at = now
                message.error_message = f"could not check with Twilio: {exc}"[:255]
                tally["uncertain"] += 1
                session.commit()
                continue
            taken = set(
                session.execute(
                    select(Message.twilio_sid).where(Message.twilio_sid.in_([sid for sid, _ in found]))
                ).scalars()
            )
            match = next((sid for sid, body in found if sid not in taken and message.body in body), None)
            if match:
                message.status, message.twilio_sid, message.sent_at = "sent", match, now
                tally["adopted"] += 1
            else:
                message.status, message.send_after = "queued", None
                tally["requeued"] += 1
            message.updated_at = now
            session.commit()
    finally:
        session.close()
    if any(tally.values()):
        log.warning("reconciled rows left by a dead worker: %s", tally)
    return tally
