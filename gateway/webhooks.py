"""Twilio's webhooks: inbound SMS/WhatsApp and delivery status callbacks.

Every request is checked with the twilio package's RequestValidator first; a forged or
unsigned one gets 403 and changes nothing. Inbound messages are idempotent on
MessageSid through a unique constraint, so a retry replays the stored answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Row, Select, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

import flows
from content import segments
from content.catalog import get_catalog
from flows.phones import Address, BadPhoneNumber, inbound_address, mask, parse_address
from flows.programs import is_verify, verify_text
from gateway import metrics
from store.db import insert_or_ignore, session_factory
from store.identity import person_for_whatsapp_id
from store.models import (
    INBOUND,
    OUTBOUND,
    STATUS_RANK,
    WHATSAPP,
    Message,
    MessageStatus,
    Person,
)
from store.settings import Settings
from store.text import MAX_BODY, MAX_INT, Cleaned, clean, whole_number
from workers.callbacks import REQUEUE_CODES, Requeued, requeue_failed
from workers.outbox import deliver

log = logging.getLogger("rounds.webhooks")

blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")

# Twilio's status words, folded into Rounds' own message states.
TWILIO_STATUS = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "read": MessageStatus.READ,
    "canceled": MessageStatus.CANCELED,
    "received": MessageStatus.RECEIVED,
}


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_URL plus path and query when configured, else the request's."""
    public = _settings().public_url
    if not public:
        return request.url
    query = request.query_string.decode()
    return f"{public}{request.path}" + (f"?{query}" if query else "")


def twilio_signed(view: Callable[..., Response]) -> Callable[..., Response]:
    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        signature = request.headers.get("X-Twilio-Signature", "")
        token = _settings().webhook_token
        params = request.form.to_dict(flat=True)
        if (
            not signature
            or not token
            or not RequestValidator(token).validate(signed_url(), params, signature)
        ):
            metrics.WEBHOOK_REJECTED.labels(reason="signature").inc()
            return Response("Forbidden: missing or invalid X-Twilio-Signature\n", 403, mimetype="text/plain")
        return view(*args, **kwargs)

    return checked


def twiml(replies: list[str]) -> Response:
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return Response(str(response), 200, mimetype="text/xml")


def _bad_request(message: str) -> Response:
    metrics.WEBHOOK_REJECTED.labels(reason="bad_request").inc()
    return Response(f"Bad request: {message}\n", 400, mimetype="text/plain")


@blueprint.post("/messages")
@twilio_signed
def inbound() -> Response:
    started = time.perf_counter()
    form = request.form
    sid = _field(form, "MessageSid", 64)
    raw_from = _field(form, "From", 64)
    if not sid:
        return _bad_request("MessageSid is required")
    if not raw_from:
        return _bad_request("From is required")
    try:
        response = _handle_inbound(_settings(), form, sid, raw_from)
    finally:
        metrics.WEBHOOK_LATENCY.labels(endpoint="messages").observe(time.perf_counter() - started)
    return response


def _field(form: Mapping[str, str], name: str, limit: int) -> str:
    """A short field Twilio sends (a sid, an address), cleaned and cut to what its column holds."""
    return clean(form.get(name, ""), limit).text.strip()


def _handle_inbound(settings: Settings, form: Mapping[str, str], sid: str, raw_from: str) -> Response:
    now = settings.clock.now()
    # The flows see the text as it is kept: a NUL or a control character never changes the answer.
    body = clean(form.get("Body", ""), MAX_BODY)
    if body.changed or body.cut:
        log.info("inbound %s: body %s", sid, body.flags)
    num_media = _number(form, "NumMedia", 0, 1000) or 0
    profile_name = clean(form.get("ProfileName"), 60).text.strip() or None
    try:
        # A WhatsApp user may have no visible number: the address is then their BSUID.
        address = inbound_address(raw_from, _field(form, "WaId", 32))
    except BadPhoneNumber:
        return _unroutable(settings, sid, raw_from, body, form, now)
    channel = address.channel
    metrics.INBOUND.labels(channel=channel).inc()
    if is_verify(body.text):
        checked = _verify_for_stranger(settings, sid, address, body, form, now)
        if checked is not None:
            return checked

    sessions = session_factory(settings.database_url)
    session = sessions()
    try:
        recorded = _record(session, address, sid, body, form, now)
        if recorded is None:
            return _replay(session, sid)
        person, created, inbound_id = recorded
        _note_identity(person, address, _field(form, "Username", 64))
        ctx = flows.Context(session, get_catalog(settings.content_path), settings, now)
        inbound_text = flows.Inbound(body.text, channel, now, num_media, profile_name, _message_type(form))
        outcome = _run_flow(ctx, person, inbound_text, created)
        if outcome is None:
            # Nothing the failed flow wrote is kept: the text is recorded again, in a transaction
            # of its own, and answered with an apology.
            session.close()
            session = ctx.session = sessions()
            recorded = _record(session, address, sid, body, form, now)
            if recorded is None:
                return _replay(session, sid)
            person, created, inbound_id = recorded
            _note_identity(person, address, _field(form, "Username", 64))
            outcome = flows.Outcome(replies=[ctx.say(person, "error")])

        # Rendered for the channel the text came in on: stored, and replayed, as sent.
        replies = [segments.for_channel(text, channel) for text in outcome.replies]
        _add_replies(session, person.id, channel, address.phone, inbound_id, replies, now)
        deliver(settings, session, outcome.pushes, now=now)
    finally:
        session.close()
    log.info("inbound %s from %s: %d reply(ies)", sid, mask(address.phone), len(replies))
    return twiml(replies)


def _verify_for_stranger(
    settings: Settings, sid: str, address: Address, body: Cleaned, form: Mapping[str, str], now: datetime
) -> Response | None:
    """VERIFY <code> from a number Rounds does not know: answered, and kept, without making it a person.

    None when the number is someone's: the flows answer them, in their own language.
    """
    session = session_factory(settings.database_url)()
    try:
        if session.scalar(select(Person.id).where(Person.phone == address.phone)) is not None:
            return None
        row = _inbound_row(None, address.channel, address.phone, body, "inbound", sid, form, now)
        inbound_id = insert_or_ignore(session, Message, row, ["twilio_sid"])
        if inbound_id is None:
            return _replay(session, sid)
        ctx = flows.Context(session, get_catalog(settings.content_path), settings, now)
        text = verify_text(ctx, "en", body.text.strip().partition(" ")[2])
        replies = [segments.for_channel(text, address.channel)]
        _add_replies(session, None, address.channel, address.phone, inbound_id, replies, now)
        session.commit()
    finally:
        session.close()
    log.info("inbound %s from %s: a certificate check", sid, mask(address.phone))
    return twiml(replies)


def _run_flow(
    ctx: flows.Context, person: Person, inbound: flows.Inbound, created: bool
) -> flows.Outcome | None:
    """Run the flow step; None if it failed (a bug in a flow costs the student an apology, never the message).

    There is no savepoint around the step: on failure the caller rolls the whole transaction back and
    records the text again, so the common path saves the SAVEPOINT and RELEASE round trips.
    """
    try:
        return flows.handle(ctx, person, inbound, first_contact=created)
    except Exception:
        log.exception("flow failed for %s", mask(person.phone))
        return None


def _replay(session: Session, sid: str) -> Response:
    session.rollback()
    log.info("MessageSid %s seen before; replaying its answer", sid)
    return twiml(_stored_replies(session, sid))


_people = Person.__table__
_messages = Message.__table__

# Finds the sender and notes that they texted in one statement (every column RETURNed). On
# PostgreSQL it takes the person's row lock first, so two texts from one person are handled one
# after the other, each seeing what the one before wrote.
_NOTE_SENDER = (
    update(_people)
    .where(_people.c.phone == bindparam("sender_phone", type_=_people.c.phone.type))
    .values(
        channel=bindparam("sender_channel", type_=_people.c.channel.type),
        last_inbound_at=bindparam("received_at", type_=_people.c.last_inbound_at.type),
        # A WhatsApp text opens (or keeps open) the 24 h window; an SMS leaves it as it was.
        whatsapp_inbound_at=case(
            (
                bindparam("sender_channel", type_=_people.c.channel.type) == WHATSAPP,
                bindparam("received_at", type_=_people.c.last_inbound_at.type),
            ),
            else_=_people.c.whatsapp_inbound_at,
        ),
        country=case(
            (
                or_(_people.c.country.is_(None), _people.c.country == ""),
                func.coalesce(bindparam("sender_country", type_=_people.c.country.type), _people.c.country),
            ),
            else_=_people.c.country,
        ),
    )
    .returning(*_people.c)
)
_INSERT_REPLY = insert(_messages)
# The inbound row's columns besides person_id, as _inbound_row gives them.
_INBOUND_COLUMNS = (
    "direction",
    "channel",
    "phone",
    "body",
    "body_flags",
    "kind",
    "status",
    "twilio_sid",
    "segments",
    "encoding",
    "num_media",
    "created_at",
    "updated_at",
)


def _note_and_record_postgresql() -> Select[Any]:
    """_NOTE_SENDER and the inbound INSERT .. ON CONFLICT DO NOTHING in one statement (writable CTEs).

    One round trip instead of two for every text. No row: the number is new. A row whose inbound_id
    is NULL: the MessageSid was recorded before.
    """
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    sender = _NOTE_SENDER.cte("sender")
    values = [bindparam(f"in_{name}", type_=_messages.c[name].type) for name in _INBOUND_COLUMNS]
    # Column defaults are not filled in for an INSERT inside a CTE: the scalar ones go in the SELECT.
    defaults = {
        column.name: bindparam(f"in_{column.name}", column.default.arg, type_=column.type)
        for column in _messages.c
        if column.name not in _INBOUND_COLUMNS and isinstance(column.default, ScalarElementColumnDefault)
    }
    inbound = (
        pg_insert(_messages)
        .from_select(
            ["person_id", *_INBOUND_COLUMNS, *defaults],
            select(sender.c.id, *values, *defaults.values()),
            include_defaults=False,
        )
        .on_conflict_do_nothing(index_elements=["twilio_sid"])
        .returning(_messages.c.id)
        .cte("inbound")
    )
    return select(sender, select(inbound.c.id).scalar_subquery().label("inbound_id"))


_NOTE_AND_RECORD = {"postgresql": _note_and_record_postgresql()}


def _record(
    session: Session, address: Address, sid: str, body: Cleaned, form: Mapping[str, str], now: datetime
) -> tuple[Person, bool, int] | None:
    """The sender (created on a first text) marked as having texted, and the inbound row's id.

    None if the MessageSid was recorded before (a retry): the caller rolls back and replays.
    """
    # A WhatsApp business-scoped id is the person its number (or the id itself) already belongs to.
    key = person_for_whatsapp_id(session, address.bsuid, address.number) if address.bsuid else None
    sender = {
        "sender_phone": key or address.phone,
        "sender_channel": address.channel,
        "received_at": now,
        "sender_country": address.country,
    }
    inbound = _inbound_row(None, address.channel, address.phone, body, "inbound", sid, form, now)
    connection = session.connection()  # the transaction starts here (on SQLite, the write lock)
    dialect = connection.dialect.name
    both = _NOTE_AND_RECORD.get(dialect)
    if both is not None:
        values = {f"in_{name}": inbound[name] for name in _INBOUND_COLUMNS}
        row = connection.execute(both, {**sender, **values}).one_or_none()
        if row is not None:
            if row.inbound_id is None:
                return None
            return _loaded_person(session, row), False, row.inbound_id
    else:
        row = connection.execute(_NOTE_SENDER, sender).one_or_none()
    if row is not None:
        person, created = _loaded_person(session, row), False
    else:
        person, created = _person_for(session, address, now)
        person.channel = address.channel
        person.last_inbound_at = now
        if address.channel == WHATSAPP:
            person.whatsapp_inbound_at = now
        if not person.country and address.country:
            person.country = address.country
    inbound_id = insert_or_ignore(session, Message, {**inbound, "person_id": person.id}, ["twilio_sid"])
    if inbound_id is None:
        return None
    return person, created, inbound_id


def _note_identity(person: Person, address: Address, username: str) -> None:
    """Keep the BSUID, the phone number and the username WhatsApp sent, each in its own field
    (written only when one changed)."""
    if address.bsuid and person.bsuid != address.bsuid:
        person.bsuid = address.bsuid
    if address.number and person.phone_number != address.number:
        person.phone_number = address.number
    if username and person.username != username:
        person.username = username


def _loaded_person(session: Session, row: Row[Any]) -> Person:
    """The person in a row of _NOTE_SENDER's columns, handed to the session as loaded, as a SELECT would."""
    values = row._asdict()
    person = Person(**{key: values[key] for key in _PERSON_KEYS})
    make_transient_to_detached(person)  # nothing to flush unless a flow changes it
    session.add(person)
    return person


_PERSON_KEYS = tuple(column.key for column in _people.c)


def _person_for(session: Session, address: Address, now: datetime) -> tuple[Person, bool]:
    """A number texting for the first time: create its person (unless a concurrent text just did)."""
    new_id = insert_or_ignore(
        session,
        Person,
        {
            "phone": address.phone,
            "channel": address.channel,
            "country": address.country,
            "bsuid": address.bsuid,
            "phone_number": address.number,
            "language": "en",
            "role": "student",
            "status": "active",
            "flow_state": {},
            "unreachable": False,
            "created_at": now,
            "updated_at": now,
        },
        ["phone"],
    )
    person = session.execute(select(Person).where(Person.phone == address.phone)).scalar_one()
    return person, new_id is not None


def _add_replies(
    session: Session,
    person_id: int | None,
    channel: str,
    phone: str,
    inbound_id: int,
    replies: list[str],
    now: datetime,
) -> None:
    """The replies, as sent in the TwiML answer, in one Core INSERT (rows keep the replies' order)."""
    rows = []
    for text in replies:
        counted = segments.count(text)
        rows.append(
            {
                "person_id": person_id,
                "direction": OUTBOUND,
                "channel": channel,
                "phone": phone,
                "body": text,
                "kind": "reply",
                "status": MessageStatus.REPLIED,
                "reply_to_id": inbound_id,
                "segments": counted.segments,
                "encoding": counted.encoding,
                "created_at": now,
                "sent_at": now,
            }
        )
    if rows:
        session.connection().execute(_INSERT_REPLY, rows)


def _stored_replies(session: Session, sid: str) -> list[str]:
    original = select(Message.id).where(Message.twilio_sid == sid).scalar_subquery()
    return list(
        session.execute(
            select(Message.body)
            .where(Message.reply_to_id == original, Message.kind == "reply")
            .order_by(Message.id)
        ).scalars()
    )


def _unroutable(
    settings: Settings, sid: str, raw_from: str, body: Cleaned, form: Mapping[str, str], now: datetime
) -> Response:
    """A sender that is not a phone number (an alphanumeric ID, say): keep it, answer nothing."""
    session = session_factory(settings.database_url)()
    try:
        insert_or_ignore(
            session,
            Message,
            _inbound_row(None, _channel_of(raw_from), raw_from[:32], body, "unroutable", sid, form, now),
            ["twilio_sid"],
        )
        session.commit()
    finally:
        session.close()
    log.warning("inbound %s from a sender that is not a phone number: %r", sid, raw_from[:32])
    return twiml([])


def _channel_of(raw_from: str) -> str:
    return "whatsapp" if raw_from.lower().startswith("whatsapp:") else "sms"


def _inbound_row(
    person_id: int | None,
    channel: str,
    phone: str,
    body: Cleaned,
    kind: str,
    sid: str,
    form: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """Column values for one inbound text as Twilio described it (the body as cleaned and cut)."""
    counted = segments.count(body.text)
    return {
        "person_id": person_id,
        "direction": INBOUND,
        "channel": channel,
        "phone": phone,
        "body": body.text,
        "body_flags": body.flags,
        "kind": kind,
        "status": MessageStatus.RECEIVED,
        "twilio_sid": sid,
        "segments": _number(form, "NumSegments", 1, 1000) or counted.segments,
        "encoding": counted.encoding,
        "num_media": _number(form, "NumMedia", 0, 1000) or 0,
        "created_at": now,
        "updated_at": now,
    }


def _number(form: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A numeric field within [low, high]; None when absent, and None (logged) when it is not one."""
    raw = form.get(name)
    if not raw:
        return None
    number = whole_number(raw, low, high)
    if number is None:
        log.warning("ignored %s=%r: not a whole number from %d to %d", name, raw[:40], low, high)
    return number


def _message_type(form: Mapping[str, str]) -> str:
    """WhatsApp's MessageType; a shared location is recognised by its coordinates too."""
    if form.get("Latitude") or form.get("Longitude"):
        return "location"
    return _field(form, "MessageType", 32).lower() or "text"


@blueprint.post("/status")
@twilio_signed
def status_callback() -> Response:
    form = request.form
    sid = _field(form, "MessageSid", 64)
    twilio_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or not twilio_status:
        return _bad_request("MessageSid and MessageStatus are required")
    status = TWILIO_STATUS.get(twilio_status)
    if status is None:
        return Response(status=204)  # a status word Twilio added later: nothing to move
    error_code = _number(form, "ErrorCode", 0, MAX_INT) or None  # 0: no error
    error_message = _field(form, "ErrorMessage", 255) or None
    metrics.STATUS_CALLBACKS.labels(status=status).inc()
    settings = _settings()
    now = settings.clock.now()
    session = session_factory(settings.database_url)()
    requeued = Requeued()
    try:
        rank = case(STATUS_RANK, value=Message.status, else_=0)
        values: dict = {"status": status, "updated_at": now}
        if error_code is not None:
            values["error_code"] = error_code
        if error_message is not None:
            values["error_message"] = error_message
        moved = session.execute(
            update(Message)
            .where(Message.twilio_sid == sid, rank < STATUS_RANK[status])
            .values(**values)
            .returning(Message.id, Message.person_id)
        ).all()
        if error_code == 21610:
            _opt_out_after_21610(session, sid, [pid for _, pid in moved if pid], _field(form, "To", 200))
        elif error_code in REQUEUE_CODES and status in ("failed", "undelivered") and moved:
            # Only the callback that moved the row requeues it: a repeat finds it moved already.
            requeued = requeue_failed(session, [mid for mid, _ in moved], sid, error_code, now)
        session.commit()
    finally:
        session.close()
    requeued.signal(settings)
    # Unknown sids get a success too, so Twilio stops retrying.
    return Response(status=204)


def _opt_out_after_21610(session: Session, sid: str, person_ids: list[int], to: str) -> None:
    """The carrier says the recipient sent STOP: never send to them again.

    The person is the one the message was for, or, for a sid Rounds never stored (a TwiML
    reply has none), whoever has the callback's `To` address.
    """
    person_ids = person_ids or [
        pid
        for pid in session.execute(select(Message.person_id).where(Message.twilio_sid == sid)).scalars()
        if pid
    ]
    where = Person.id == person_ids[0] if person_ids else None
    if where is None:
        try:
            where = Person.phone == parse_address(to).phone
        except BadPhoneNumber:
            log.warning("21610 for %s, a sid Rounds does not know, with no usable To", sid)
            return
    for person in session.execute(select(Person).where(where)).scalars():
        person.opt_out()


@blueprint.errorhandler(SQLAlchemyError)
def database_unavailable(error: SQLAlchemyError) -> Response:
    """The database is down or locked: a 5xx makes Twilio retry, and the transaction rolled back."""
    log.error("webhook could not reach the database: %s", error)
    return Response(
        "Service temporarily unavailable; please retry\n",
        503,
        mimetype="text/plain",
        headers={"Retry-After": "5"},
    )
