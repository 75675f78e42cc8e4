"""Delivery you can trust: sender pacing, retries, WhatsApp rules and recovery from a dead worker."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy import select, update

from store.db import session_scope
from store.models import Message, Person
from tests.conftest import NOW, drain
from tests.test_send_path import add_person, messages, queue
from workers.outbox import enqueue_send
from workers.ratelimit import SenderLimiter, default_rate, rate_for
from workers.send import reconcile_sending, sweep_outbox


def recent() -> datetime:
    return NOW - timedelta(hours=2)


# --- the rate limiter -------------------------------------------------------------------


def test_default_rates_by_kind_of_sender(settings):
    assert default_rate("+15005550006") == 1.0  # long code
    assert default_rate("+18005550100") == 3.0  # toll-free
    assert default_rate("12345") == 100.0  # short code
    assert default_rate("whatsapp:+14155238886") == 10.0
    overridden = settings.with_(send_rate=None, send_rates={"+15005550006": 25.0})
    assert rate_for("+15005550006", overridden) == 25.0
    assert rate_for("+15005550007", overridden) == 1.0


def test_limiter_counts_segments_and_is_shared_between_processes(redis_url, settings):
    paced = settings.with_(send_rate=None, send_rates={"+15005550006": 2.0})
    one = SenderLimiter(Redis.from_url(redis_url), paced)
    other = SenderLimiter(Redis.from_url(redis_url), paced)  # a second worker's connection
    started = time.monotonic()
    assert one.wait_seconds("+15005550006", 1) == 0
    assert one.wait_seconds("+15005550006", 1) == 0  # burst of 2 segments
    # The bucket is shared: the other worker must now wait about half a second per segment.
    assert 0 < other.wait_seconds("+15005550006", 1) <= 0.5
    # A three-segment message costs three: 1.5 s of budget less the 0.5 s burst still owed,
    # less the time these calls took (on a busy machine, more than a few milliseconds).
    waited = other.wait_seconds("+15005550006", 3)
    assert 1.0 - (time.monotonic() - started) - 0.002 <= waited <= 1.0
    # A different sender has its own budget.
    assert other.wait_seconds("+15005550007", 1) == 0


def test_a_slow_sender_defers_the_rest_of_the_batch(send_settings, twilio):
    slow = send_settings.with_(send_rate=0.1)  # one segment per ten seconds
    person_ids = [add_person(slow, phone=f"+23480312340{n:02d}") for n in range(4)]
    ids = [queue(slow, pid, f"push {n}") for n, pid in enumerate(person_ids)]
    enqueue_send(slow, ids)
    before = NOW
    drain(slow)
    assert [m["Body"] for m in twilio.sent] == ["push 0"]
    rows = messages(slow)
    assert rows[0].status == "sent"
    for row in rows[1:]:
        assert row.status == "queued" and row.attempts == 0
        # The sender has room again ten seconds after the first send, however long the job took.
        assert row.send_after > before + timedelta(seconds=9)


# --- retries ------------------------------------------------------------------------------


def test_429_honours_retry_after(send_settings, twilio):
    person_id = add_person(send_settings)
    twilio.retry_after = "40"
    twilio.inject(429, 20429, "Too Many Requests")
    enqueue_send(send_settings, [queue(send_settings, person_id, "hello")])
    before = NOW
    drain(send_settings)
    row = messages(send_settings)[0]
    assert row.status == "queued" and row.error_code == 20429
    assert row.send_after == before + timedelta(seconds=40)
    assert twilio.sent == []


def test_retries_stop_at_the_limit_and_say_why(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "hello")
    for _ in range(10):
        twilio.inject(503, 20503, "Service Unavailable")
    enqueue_send(send_settings, [message_id])
    for _ in range(8):
        drain(send_settings)
        with session_scope(send_settings.database_url) as session:
            session.execute(update(Message).values(send_after=None))
        sweep_outbox(send_settings, older_than_seconds=0)
    row = messages(send_settings)[0]
    assert row.status == "failed" and row.error_code == 20503
    assert "Service Unavailable" in row.error_message
    assert row.attempts == 6


# --- WhatsApp -----------------------------------------------------------------------------


def test_outside_the_window_a_template_is_used_from_the_start(send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={"question": "HX0123456789abcdef0123456789abcdef"})
    old = NOW - timedelta(hours=30)
    person_id = add_person(settings, phone="+447700900123", channel="whatsapp", last_inbound_at=old)
    enqueue_send(settings, [queue(settings, person_id, "Q101 A 60yo man...")])
    drain(settings)
    (sent,) = twilio.sent
    assert sent["ContentSid"] == "HX0123456789abcdef0123456789abcdef"
    assert sent["ContentVariables"] == '{"1": "Q101 A 60yo man..."}'
    assert "Body" not in sent and sent["To"] == "whatsapp:+447700900123"


def test_63016_falls_back_to_the_template(send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={"question": "HXtemplate"})
    person_id = add_person(settings, phone="+447700900123", channel="whatsapp", last_inbound_at=recent())
    twilio.inject(400, 63016, "Failed to send freeform message because you are outside the allowed window")
    enqueue_send(settings, [queue(settings, person_id, "hello")])
    drain(settings)
    (sent,) = twilio.sent
    assert sent["ContentSid"] == "HXtemplate"
    assert messages(settings)[0].status == "sent"


def test_outside_the_window_without_template_falls_back_to_sms(send_settings, twilio):
    old = NOW - timedelta(days=3)
    person_id = add_person(send_settings, phone="+447700900123", channel="whatsapp", last_inbound_at=old)
    enqueue_send(send_settings, [queue(send_settings, person_id, "hello")])
    drain(send_settings)
    (sent,) = twilio.sent
    assert sent["To"] == "+447700900123" and sent["From"] == send_settings.sms_from
    assert messages(send_settings)[0].channel == "sms"


def test_outside_the_window_with_no_fallback_fails_without_calling_twilio(send_settings, twilio):
    settings = send_settings.with_(whatsapp_fallback="skip")
    person_id = add_person(settings, phone="+447700900123", channel="whatsapp")
    enqueue_send(settings, [queue(settings, person_id, "hello")])
    drain(settings)
    assert twilio.requests == 0
    row = messages(settings)[0]
    assert (row.status, row.error_code) == ("failed", 63016)


# --- a worker that died mid-send -------------------------------------------------------------


def _stuck(settings, person_id: int, body: str) -> int:
    message_id = queue(settings, person_id, body)
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status="sending", attempts=1, updated_at=NOW - timedelta(hours=1))
        )
    return message_id


def test_a_send_that_went_out_is_adopted_not_resent(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = _stuck(send_settings, person_id, "Q101 went out before the crash")
    sid = twilio.add_sent("+2348031234111", "Q101 went out before the crash")
    assert reconcile_sending(send_settings, NOW)["adopted"] == 1
    sweep_outbox(send_settings, older_than_seconds=0)
    drain(send_settings)
    assert len(twilio.sent) == 1
    row = messages(send_settings)[0]
    assert (row.id, row.status, row.twilio_sid) == (message_id, "sent", sid)


def test_a_send_that_never_left_is_sent_once(send_settings, twilio):
    person_id = add_person(send_settings)
    _stuck(send_settings, person_id, "never reached Twilio")
    assert reconcile_sending(send_settings, NOW)["requeued"] == 1
    sweep_outbox(send_settings, older_than_seconds=0)
    drain(send_settings)
    assert twilio.bodies_to("+2348031234111") == ["never reached Twilio"]


def test_when_twilio_cannot_be_asked_the_row_waits_as_uncertain(send_settings, twilio):
    person_id = add_person(send_settings)
    _stuck(send_settings, person_id, "hello")
    unreachable = send_settings.with_(twilio_api_base="http://127.0.0.1:1")
    assert reconcile_sending(unreachable, NOW)["uncertain"] == 1
    assert messages(send_settings)[0].status == "uncertain"
    assert twilio.sent == []


def test_recent_sending_rows_are_left_alone(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "in flight")
    with session_scope(send_settings.database_url) as session:
        session.execute(
            update(Message).where(Message.id == message_id).values(status="sending", updated_at=NOW)
        )
    assert reconcile_sending(send_settings, NOW) == {
        "adopted": 0,
        "requeued": 0,
        "uncertain": 0,
    }


def test_person_rows_untouched_by_reconcile(send_settings, twilio):
    person_id = add_person(send_settings)
    _stuck(send_settings, person_id, "x")
    reconcile_sending(send_settings, NOW)
    with session_scope(send_settings.database_url) as session:
        person = session.execute(select(Person).where(Person.id == person_id)).scalar_one()
        assert person.status == "active"


# --- backpressure -----------------------------------------------------------------------------


def test_outbox_depth_drain_estimate_and_room(send_settings):
    from workers.outbox import outbox_depth, outbox_room

    paced = send_settings.with_(send_rate=1.0, outbox_limit=3)
    person_id = add_person(paced)
    for n in range(3):
        queue(paced, person_id, f"{n} " + "x" * 200)  # two segments each
    with session_scope(paced.database_url) as session:
        depth = outbox_depth(session, paced)
        assert (depth.messages, depth.segments) == (3, 6)
        assert depth.drain_seconds == 6.0  # six segments at one a second
        assert outbox_room(session, paced) == 0  # full: a broadcast waits
        assert outbox_room(session, paced.with_(outbox_limit=4)) == 1


def test_metrics_show_queue_depth_and_drain_time(app_settings):
    from gateway import create_app

    paced = app_settings.with_(send_rate=2.0)
    person_id = add_person(paced)
    queue(paced, person_id, "x" * 200)
    text = create_app(paced).test_client().get("/metrics").get_data(as_text=True)
    assert "rounds_outbox_queued_messages 1.0" in text
    assert "rounds_outbox_queued_segments 2.0" in text
    assert "rounds_outbox_drain_seconds 1.0" in text
