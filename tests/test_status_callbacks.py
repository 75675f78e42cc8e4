"""Failed status callbacks as Twilio sends them (tests/payloads/status_*.json): what is answered,
what is stored, and what the send path does next (a real RQ worker and the Twilio stand-in).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from store.db import session_scope
from store.models import OPTED_OUT, Message, Person
from tests.conftest import NOW, drain, payload, sign
from tests.test_send_path import add_person, messages, queue
from workers.outbox import enqueue_send
from workers.send import MAX_ATTEMPTS, sweep_outbox

SID = "SMCALLBACK000000000000000000000001"
TEMPLATE = "HX0123456789abcdef0123456789abcdef"


def callback(client, name: str, **changes: str):
    form = payload(name, **changes)
    return client.post(
        "/twilio/status", data=form, headers={"X-Twilio-Signature": sign(form, "/twilio/status")}
    )


def recent() -> datetime:
    return NOW - timedelta(hours=2)


def sent_row(settings, channel: str, phone: str, sid: str = SID, attempts: int = 1) -> int:
    """A push Twilio accepted (201) with `sid`, for a person on `channel`."""
    person_id = add_person(settings, phone=phone, channel=channel, last_inbound_at=recent())
    with session_scope(settings.database_url) as session:
        message = Message(
            person_id=person_id,
            direction="out",
            channel=channel,
            phone=phone,
            body="Q101 A 60yo man...",
            kind="question",
            status="sent",
            twilio_sid=sid,
            attempts=attempts,
        )
        session.add(message)
        session.flush()
        return message.id


def row(settings, message_id: int) -> Message:
    with session_scope(settings.database_url) as session:
        return session.get(Message, message_id)


def person_status(settings, phone: str) -> str:
    with session_scope(settings.database_url) as session:
        return session.query(Person).filter_by(phone=phone).one().status


# payload, the channel and number the message went to, and the stored effect:
# (row status, error code, sid kept, send_after set)
CASES = [
    ("status_failed_63016", "whatsapp", "+447700900123", ("queued", 63016, False, False)),
    ("status_undelivered_63018", "whatsapp", "+447700900123", ("queued", 63018, False, True)),
    ("status_undelivered_30001", "sms", "+2348031234111", ("queued", 30001, False, True)),
    ("status_failed_30008", "sms", "+2348031234111", ("queued", 30008, False, True)),
    ("status_undelivered_30003", "sms", "+2348031234111", ("undelivered", 30003, True, False)),
]


@pytest.mark.parametrize(("name", "channel", "phone", "effect"), CASES)
def test_failed_callbacks(client, app_settings, name, channel, phone, effect):
    message_id = sent_row(app_settings, channel, phone)
    response = callback(client, name)
    assert response.status_code == 204
    stored = row(app_settings, message_id)
    status, code, sid_kept, later = effect
    assert (stored.status, stored.error_code) == (status, code)
    assert (stored.twilio_sid == SID) is sid_kept
    assert (stored.send_after is not None) is later
    assert person_status(app_settings, phone) == "active"


def test_a_callback_requeues_nothing_after_the_last_attempt(client, app_settings):
    message_id = sent_row(app_settings, "sms", "+2348031234111", attempts=MAX_ATTEMPTS)
    callback(client, "status_undelivered_30001")
    stored = row(app_settings, message_id)
    assert (stored.status, stored.error_code) == ("undelivered", 30001)
    assert f"no retry after {MAX_ATTEMPTS} attempts" in stored.error_message


def test_21610_for_a_sid_rounds_never_stored_opts_the_to_number_out(client, app_settings):
    add_person(app_settings, phone="+2348031234111")
    other = add_person(app_settings, phone="+2348031234222")
    assert callback(client, "status_failed_21610_reply").status_code == 204
    assert person_status(app_settings, "+2348031234111") == OPTED_OUT
    with session_scope(app_settings.database_url) as session:
        assert session.get(Person, other).status == "active"


def test_21610_for_a_whatsapp_reply_opts_that_address_out(client, app_settings):
    add_person(app_settings, phone="+447700900123", channel="whatsapp")
    callback(client, "status_failed_21610_reply", To="whatsapp:+447700900123", From="whatsapp:+14155238886")
    assert person_status(app_settings, "+447700900123") == OPTED_OUT


# --- through the worker and the stand-in ----------------------------------------------------


def sent_whatsapp_push(settings, twilio) -> tuple[int, str]:
    """A WhatsApp push inside the noted window, sent free-form; Twilio answered 201."""
    person_id = add_person(settings, phone="+447700900123", channel="whatsapp", last_inbound_at=recent())
    message_id = queue(settings, person_id, "Q101 A 60yo man...")
    enqueue_send(settings, [message_id])
    drain(settings)
    (first,) = twilio.sent
    assert "Body" in first and "ContentSid" not in first
    return message_id, first["sid"]


def test_63016_in_a_callback_falls_back_to_the_template_once(client, send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={"question": TEMPLATE})
    message_id, sid = sent_whatsapp_push(settings, twilio)

    for _ in range(2):  # Twilio repeats the callback: one fallback all the same
        assert callback(client, "status_failed_63016", MessageSid=sid, SmsSid=sid).status_code == 204
        drain(settings)

    assert len(twilio.sent) == 2
    fallback = twilio.sent[1]
    assert fallback["ContentSid"] == TEMPLATE and fallback["To"] == "whatsapp:+447700900123"
    assert "Body" not in fallback
    (stored,) = messages(settings)
    assert stored.id == message_id and stored.status == "sent" and stored.twilio_sid == fallback["sid"]


def test_63016_in_a_callback_falls_back_to_sms(client, send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={}, whatsapp_fallback="sms")
    _, sid = sent_whatsapp_push(settings, twilio)
    callback(client, "status_failed_63016", MessageSid=sid, SmsSid=sid)
    drain(settings)
    fallback = twilio.sent[1]
    assert fallback["To"] == "+447700900123" and fallback["From"] == settings.sms_from
    assert fallback["Body"] == "Q101 A 60yo man..."
    (stored,) = messages(settings)
    assert (stored.status, stored.channel) == ("sent", "sms")


def test_63016_in_a_callback_is_skipped_when_configured(client, send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={}, whatsapp_fallback="skip")
    _, sid = sent_whatsapp_push(settings, twilio)
    callback(client, "status_failed_63016", MessageSid=sid, SmsSid=sid)
    drain(settings)
    assert len(twilio.sent) == 1
    (stored,) = messages(settings)
    assert (stored.status, stored.error_code) == ("failed", 63016)
    assert "no template or SMS fallback" in stored.error_message


def test_63018_in_a_callback_is_retried_with_backoff_a_bounded_number_of_times(client, send_settings, twilio):
    person_id = add_person(send_settings, phone="+447700900123", channel="whatsapp", last_inbound_at=recent())
    message_id = queue(send_settings, person_id, "Q101 A 60yo man...")
    enqueue_send(send_settings, [message_id])
    drain(send_settings)
    for attempt in range(1, MAX_ATTEMPTS + 2):
        sid = twilio.sent[-1]["sid"]
        before = NOW
        callback(client, "status_undelivered_63018", MessageSid=sid, SmsSid=sid)
        callback(client, "status_undelivered_63018", MessageSid=sid, SmsSid=sid)  # repeated
        stored = row(send_settings, message_id)
        if attempt >= MAX_ATTEMPTS:
            assert (stored.status, stored.error_code, stored.attempts) == ("undelivered", 63018, MAX_ATTEMPTS)
            break
        assert stored.status == "queued" and stored.attempts == attempt
        # The send path's backoff: about 2, 4, 8 ... seconds from the callback.
        assert before + timedelta(seconds=0.5 * 2**attempt - 1) <= stored.send_after
        assert stored.send_after <= NOW + timedelta(seconds=2**attempt)
        drain(send_settings)
        assert len(twilio.sent) == attempt  # not before its time
        with session_scope(send_settings.database_url) as session:
            session.execute(update(Message).values(send_after=None))
        sweep_outbox(send_settings, older_than_seconds=0)
        drain(send_settings)
        assert len(twilio.sent) == attempt + 1  # one more send, however often the callback came
    assert len(twilio.sent) == MAX_ATTEMPTS
    assert {sent["To"] for sent in twilio.sent} == {"whatsapp:+447700900123"}
