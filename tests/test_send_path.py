"""The send path: outbox rows, a real RQ worker, the twilio REST client and a local stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from flows.engine import Push
from store.db import session_scope
from store.models import OPTED_OUT, Message, Person
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, NOW, PUBLIC_URL, drain
from workers.outbox import deliver, enqueue_send, queue_message
from workers.runtime import URGENT
from workers.send import sweep_outbox


def add_person(settings, phone="+2348031234111", channel="sms", status="active", last_inbound_at=None) -> int:
    with session_scope(settings.database_url) as session:
        person = Person(
            phone=phone, channel=channel, status=status, flow_state={}, last_inbound_at=last_inbound_at
        )
        session.add(person)
        session.flush()
        return person.id


def queue(settings, person_id: int, body: str, key: str | None = None) -> int | None:
    with session_scope(settings.database_url) as session:
        person = session.get(Person, person_id)
        return queue_message(session, person, body, "question", key, now=settings.clock.now())


def messages(settings) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(session.execute(select(Message).order_by(Message.id)).scalars())


def test_queued_message_is_sent_once_with_the_exact_fields(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "Q101 A 60yo man\u2026 \u201cchest pain\u201d")
    assert enqueue_send(send_settings, [message_id]) == 1
    enqueue_send(send_settings, [message_id])  # a duplicate signal must not send twice
    drain(send_settings)

    assert len(twilio.sent) == 1
    fields = twilio.sent[0]
    assert fields["To"] == "+2348031234111"
    assert fields["From"] == send_settings.sms_from
    assert fields["Body"] == 'Q101 A 60yo man... "chest pain"'  # normalised to GSM-7
    assert fields["StatusCallback"] == f"{PUBLIC_URL}/twilio/status"
    (row,) = messages(send_settings)
    assert row.status == "sent" and row.twilio_sid == fields["sid"]
    assert row.encoding == "GSM-7" and row.segments == 1 and row.attempts == 1


def test_whatsapp_push_uses_the_whatsapp_sender(send_settings, twilio):
    person_id = add_person(
        send_settings,
        phone="+447700900123",
        channel="whatsapp",
        last_inbound_at=NOW - timedelta(hours=2),
    )
    enqueue_send(send_settings, [queue(send_settings, person_id, "hello")])
    drain(send_settings)
    assert twilio.sent[0]["To"] == "whatsapp:+447700900123"
    assert twilio.sent[0]["From"] == "whatsapp:+14155238886"


def test_idempotency_key_makes_a_second_queue_a_no_op(send_settings, twilio):
    person_id = add_person(send_settings)
    first = queue(send_settings, person_id, "Q1", key="daily:1:2026-11-26")
    second = queue(send_settings, person_id, "Q1", key="daily:1:2026-11-26")
    assert first is not None and second is None
    enqueue_send(send_settings, [first])
    drain(send_settings)
    assert len(twilio.sent) == 1


def test_nothing_is_ever_sent_to_an_opted_out_number(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "Q1")
    with session_scope(send_settings.database_url) as session:
        session.get(Person, person_id).status = OPTED_OUT  # STOP arrives after queuing
    enqueue_send(send_settings, [message_id])
    drain(send_settings)
    assert twilio.sent == []
    assert messages(send_settings)[0].status == "suppressed"
    assert queue(send_settings, person_id, "another") is None


def test_lost_redis_loses_no_message(send_settings, twilio):
    person_id = add_person(send_settings)
    ids = [queue(send_settings, person_id, f"message {n}") for n in range(3)]
    enqueue_send(send_settings, ids)
    Redis.from_url(send_settings.redis_url).flushdb()  # every job gone, rows still queued
    drain(send_settings)
    assert twilio.sent == []
    assert sweep_outbox(send_settings, older_than_seconds=0) == 3
    drain(send_settings)
    assert sorted(m["Body"] for m in twilio.sent) == ["message 0", "message 1", "message 2"]
    assert sweep_outbox(send_settings, older_than_seconds=0) == 0


def test_enqueue_with_redis_down_leaves_the_row_for_the_sweeper(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "hello")
    assert enqueue_send(send_settings.with_(redis_url="redis://127.0.0.1:1/0"), [message_id]) == 0
    assert sweep_outbox(send_settings, older_than_seconds=0) == 1
    drain(send_settings)
    assert len(twilio.sent) == 1


def test_server_error_is_retried_later_and_sent_once(send_settings, twilio):
    person_id = add_person(send_settings)
    message_id = queue(send_settings, person_id, "hello")
    twilio.inject(500, 20500)
    enqueue_send(send_settings, [message_id])
    drain(send_settings)
    row = messages(send_settings)[0]
    assert row.status == "queued" and row.send_after is not None and row.error_code == 20500
    with session_scope(send_settings.database_url) as session:
        session.get(Message, message_id).send_after = None  # let the backoff elapse
    assert sweep_outbox(send_settings, older_than_seconds=0) == 1
    drain(send_settings)
    assert len(twilio.sent) == 1
    assert messages(send_settings)[0].status == "sent"


def test_21610_marks_the_person_opted_out(send_settings, twilio):
    person_id = add_person(send_settings)
    twilio.opted_out.add("+2348031234111")
    enqueue_send(send_settings, [queue(send_settings, person_id, "hello")])
    drain(send_settings)
    row = messages(send_settings)[0]
    assert (row.status, row.error_code) == ("failed", 21610)
    with session_scope(send_settings.database_url) as session:
        assert session.get(Person, person_id).status == OPTED_OUT


def test_invalid_number_is_marked_unreachable_without_retry(send_settings, twilio):
    person_id = add_person(send_settings)
    twilio.inject(400, 21211, "Invalid 'To' Phone Number")
    enqueue_send(send_settings, [queue(send_settings, person_id, "hello")])
    drain(send_settings)
    assert messages(send_settings)[0].status == "failed"
    with session_scope(send_settings.database_url) as session:
        assert session.get(Person, person_id).unreachable is True
    assert sweep_outbox(send_settings, older_than_seconds=0) == 0


def test_console_transport_without_credentials(app_settings, caplog):
    settings = app_settings.with_(twilio_account_sid="", twilio_auth_token="")
    person_id = add_person(settings)
    enqueue_send(settings, [queue(settings, person_id, "hello from the console")])
    with caplog.at_level("INFO", logger="rounds.send"):
        drain(settings)
    row = messages(settings)[0]
    assert row.status == "sent" and row.twilio_sid.startswith("SMconsole")
    assert "hello from the console" in caplog.text
    assert "+2348031234111" not in caplog.text  # numbers are masked in logs


@pytest.mark.slow
def test_rounds_worker_burst_process_sends(send_settings, twilio):
    person_id = add_person(send_settings)
    enqueue_send(send_settings, [queue(send_settings, person_id, "from a worker process")])
    env = dict(
        os.environ,
        DATABASE_URL=send_settings.database_url,
        REDIS_URL=send_settings.redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE=twilio.url,
        SMS_FROM=send_settings.sms_from,
        PUBLIC_URL=PUBLIC_URL,
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=40,  # a worker that waits out RQ's 60 s command read would miss it
    )
    assert result.returncode == 0, result.stderr
    assert twilio.bodies_to("+2348031234111") == ["from a worker process"]
    assert messages(send_settings)[0].status == "sent"


def test_a_drain_never_waits_on_the_command_channel(send_settings, twilio):
    # RQ's teardown joins a pubsub thread blocked in a 60 s read; a drain opens none.
    worker = drain(send_settings)
    assert worker.pubsub_thread is None and worker.pubsub is None


def test_deliver_queues_each_push_once_for_whoever_can_get_it(send_settings, twilio):
    active = add_person(send_settings)
    stopped = add_person(send_settings, phone="+2348031234112", status=OPTED_OUT)
    pushes = [
        Push(active, "[Mentor Dr O] Welcome!", "relay", "relay:1"),
        Push(active, "[Mentor Dr O] Welcome!", "relay", "relay:1"),  # the same key again
        Push(stopped, "never sent", "relay", "relay:2"),
        Push(999_999, "nobody there", "relay", "relay:3"),
    ]
    with session_scope(send_settings.database_url) as session:
        queued = deliver(send_settings, session, pushes)
    assert len(queued) == 1
    assert Queue(URGENT, connection=Redis.from_url(send_settings.redis_url)).count == 1
    drain(send_settings)
    assert [(m["To"], m["Body"]) for m in twilio.sent] == [("+2348031234111", "[Mentor Dr O] Welcome!")]
