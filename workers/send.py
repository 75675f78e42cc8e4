"""The send job: claim queued rows, hand each to the transport, record what Twilio said.

A row is claimed by moving it from `queued` to `sending` in one statement, so two
workers given the same id never both send it.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from flows.phones import mask
from store.db import session_factory
from store.models import OPTED_OUT, OUTBOUND, WHATSAPP, Message, Person, utcnow
from store.settings import Settings
from workers import runtime
from workers.transport import (
    OPTED_OUT_CODES,
    UNREACHABLE_CODES,
    Outgoing,
    SendFailed,
    Transport,
    make_transport,
)

log = logging.getLogger("rounds.send")

MAX_ATTEMPTS = 6

_transport: tuple[int, Transport] | None = None


def transport_for(settings: Settings) -> Transport:
    """One transport (and its pooled HTTP connections) per process and settings."""
    global _transport
    if _transport is None or _transport[0] != id(settings):
        _transport = (id(settings), make_transport(settings))
    return _transport[1]


def status_callback_url(settings: Settings) -> str | None:
    return f"{settings.public_url}/twilio/status" if settings.public_url else None


def outgoing_for(message: Message, settings: Settings) -> Outgoing:
    whatsapp = message.channel == WHATSAPP
    return Outgoing(
        to=f"whatsapp:{message.phone}" if whatsapp else message.phone,
        body=message.body,
        sender=settings.whatsapp_from if whatsapp else settings.sms_from,
        messaging_service_sid="" if whatsapp else settings.messaging_service_sid,
        status_callback=status_callback_url(settings),
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: about 2, 4, 8 ... seconds, capped at 5 minutes."""
    return random.uniform(0.5, 1.0) * min(300.0, 2.0**attempt)


def claim(session: Session, ids: list[int]) -> list[int]:
    """Move the given rows from queued to sending; return the ids this worker now owns."""
    now = utcnow()
    claimed = session.execute(
        update(Message)
        .where(
            Message.id.in_(ids),
            Message.direction == OUTBOUND,
            Message.status == "queued",
            or_(Message.send_after.is_(None), Message.send_after <= now),
        )
        .values(status="sending", attempts=Message.attempts + 1, updated_at=now)
        .returning(Message.id)
    ).scalars().all()
    session.commit()
    return sorted(claimed)


def send_messages(ids: list[int]) -> dict[str, int]:
    """RQ job: send each queued message in `ids` at most once."""
    settings = runtime.settings()
    transport = transport_for(settings)
    tally = {"sent": 0, "failed": 0, "suppressed": 0, "retry": 0, "skipped": 0}
    session = session_factory(settings.database_url)()
    try:
        owned = claim(session, ids)
        tally["skipped"] = len(ids) - len(owned)
        if not owned:
            return tally
        rows = session.execute(
            select(Message, Person.status)
            .outerjoin(Person, Person.id == Message.person_id)
            .where(Message.id.in_(owned))
            .order_by(Message.id)
        ).all()
        for message, person_status in rows:
            outcome = _send_one(session, transport, settings, message, person_status)
            tally[outcome] += 1
            session.commit()
    finally:
        session.close()
    return tally


def _send_one(
    session: Session, transport: Transport, settings: Settings, message: Message, person_status: str | None
) -> str:
    now = utcnow()
    if person_status == OPTED_OUT:
        # Checked again at the last moment: a STOP may have arrived after queuing.
        message.status = "suppressed"
        return "suppressed"
    try:
        accepted = transport.send(outgoing_for(message, settings))
    except SendFailed as failure:
        return _record_failure(session, message, failure)
    # Only move forward: a fast status callback may already have landed.
    session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == "sending")
        .values(status="sent", twilio_sid=accepted.sid, sent_at=now, updated_at=now)
    )
    log.info("sent message %s to %s as %s", message.id, mask(message.phone), accepted.sid)
    return "sent"


def _record_failure(session: Session, message: Message, failure: SendFailed) -> str:
    message.error_code = failure.code
    message.error_message = str(failure)[:255]
    if failure.retryable and message.attempts < MAX_ATTEMPTS:
        delay = failure.retry_after or backoff_seconds(message.attempts)
        message.status = "queued"
        message.send_after = utcnow() + timedelta(seconds=delay)
        log.warning("message %s will retry in %.0fs: %s", message.id, delay, failure)
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
    """RQ job (every minute): re-signal rows still queued, e.g. after Redis lost its jobs."""
    from workers.outbox import enqueue_send

    settings = runtime.settings()
    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    now = utcnow()
    session = session_factory(settings.database_url)()
    try:
        ids = session.execute(
            select(Message.id)
            .where(
                Message.direction == OUTBOUND,
                Message.status == "queued",
                or_(
                    and_(Message.send_after.is_(None), Message.created_at <= now - timedelta(seconds=age)),
                    Message.send_after <= now,
                ),
            )
            .order_by(Message.id)
            .limit(50_000)
        ).scalars().all()
    finally:
        session.close()
    if ids:
        enqueue_send(list(ids))
    return len(ids)
