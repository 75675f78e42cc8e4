"""The shortcuts the send path and the scheduling pass take for speed keep their promises:
rate grants stay within the sender's burst, the pooled HTTP client sends what requests would,
sends recorded in batches survive a dying job, and an attempt kept without a re-read is right.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from redis import Redis
from sqlalchemy import select

import workers.send as send
from store.learning import Learning
from store.models import Attempt, Person, Question
from tests.test_send_path import add_person, messages, queue
from workers.ratelimit import BatchAllowance, SenderLimiter
from workers.transport import PooledHttpClient


class CountingLimiter(SenderLimiter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[int] = []

    def wait_seconds(self, sender: str, segments: int) -> float:
        self.asked.append(segments)
        return super().wait_seconds(sender, segments)


def test_a_long_code_still_asks_the_limiter_for_every_message(redis_url, settings):
    paced = settings.with_(send_rate=1.0, send_rates={})
    limiter = CountingLimiter(Redis.from_url(redis_url), paced)
    allowance = BatchAllowance(limiter)
    assert allowance.wait_seconds("+15005550006", 1, upcoming=100) == 0
    assert allowance.wait_seconds("+15005550006", 1, upcoming=99) > 0  # one segment a second
    assert limiter.asked == [1, 1]


def test_a_fast_sender_is_granted_a_tenth_of_its_burst_at_a_time(redis_url, settings):
    fast = settings.with_(send_rate=1000.0, send_rates={})
    limiter = CountingLimiter(Redis.from_url(redis_url), fast)
    allowance = BatchAllowance(limiter)
    waits = [allowance.wait_seconds("+15005550006", 2, upcoming=100 - n) for n in range(100)]
    assert waits == [0.0] * 100
    # 200 segments in grants of at most 100 (a tenth of 1,000/s over a one-second burst).
    assert sum(limiter.asked) == 200 and max(limiter.asked) <= 100 and len(limiter.asked) == 2


def test_a_grant_never_exceeds_what_the_job_still_has_to_send(redis_url, settings):
    fast = settings.with_(send_rate=1000.0, send_rates={})
    limiter = CountingLimiter(Redis.from_url(redis_url), fast)
    allowance = BatchAllowance(limiter)
    assert allowance.wait_seconds("+15005550006", 3, upcoming=2) == 0
    assert limiter.asked == [6]


def test_pooled_client_sends_the_form_as_requests_would(twilio):
    client = PooledHttpClient(timeout=5)
    url = f"{twilio.url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    response = client.request(
        "POST",
        url,
        data={"To": "+2348031234111", "Body": "a b&c=d é", "MediaUrl": ["u1", "u2"], "From": None},
        auth=(twilio.account_sid, twilio.auth_token),
    )
    assert response.status_code == 201 and '"sid"' in response.text
    (sent,) = twilio.sent
    assert sent["To"] == "+2348031234111" and sent["Body"] == "a b&c=d é"
    assert "From" not in sent


def test_pooled_client_puts_params_in_the_query_string(twilio):
    client = PooledHttpClient(timeout=5)
    twilio.add_sent("+2348031234111", "hello")
    url = f"{twilio.url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    response = client.request("GET", url, params={"To": "+2348031234111"}, auth=(twilio.account_sid, "x"))
    assert response.status_code == 401  # the stand-in checks the token: the header was sent
    ok = client.request(
        "GET", url, params={"To": "+2348031234111"}, auth=(twilio.account_sid, twilio.auth_token)
    )
    assert ok.status_code == 200 and "hello" in ok.text


def test_an_attempt_is_read_back_right_after_a_rolled_back_savepoint(db):
    # SQLite may give the next row the id a rolled-back row had while the session still holds it.
    person = Person(phone="+2348031234111", channel="sms", status="active", flow_state={})
    question = Question(
        id=17, topic="cardiology", tracks=["step1"], stem="s", options={"A": "a"}, answer="A", explanation="e"
    )
    db.add_all([person, question])
    db.commit()
    at = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    savepoint = db.begin_nested()
    first = Learning(db).insert_attempt(person.id, question.id, date(2026, 11, 27), "daily", at)
    assert first is not None
    savepoint.rollback()
    second = Learning(db).insert_attempt(person.id, question.id, date(2026, 11, 28), "daily", at)
    db.commit()
    stored = db.scalars(select(Attempt)).all()
    assert [(a.id, a.local_date) for a in stored] == [(second.id, date(2026, 11, 28))]
    assert second.local_date == date(2026, 11, 28) and second.answered_at is None


def die_at(monkeypatch, settings, body: str) -> None:
    """The send job dies (as if killed) when it comes to the message with this body."""
    real = send.transport_for(settings)

    class Dying:
        def send(self, outgoing):
            if outgoing.body == body:
                raise RuntimeError("the job was killed")
            return real.send(outgoing)

    monkeypatch.setattr(send, "transport_for", lambda settings: Dying())


@pytest.mark.parametrize(
    ("concurrency", "expected"),
    [
        (1, ["sent", "sent", "sending", "sending"]),
        # The fourth request was under way when the third failed: it went out, so it is kept.
        (8, ["sent", "sent", "sending", "sent"]),
    ],
)
def test_a_job_that_dies_mid_batch_keeps_the_sends_that_went_out(
    send_settings, twilio, monkeypatch, concurrency, expected
):
    settings = send_settings.with_(send_concurrency=concurrency)
    twilio.delay = 0.05  # far enough away for requests to overlap
    ids = [queue(settings, add_person(settings, phone=f"+23480312340{n:02d}"), f"push {n}") for n in range(4)]
    die_at(monkeypatch, settings, "push 2")
    with pytest.raises(RuntimeError):
        send.send_batch(settings, ids)
    states = {row.id: row.status for row in messages(settings)}
    assert [states[i] for i in ids] == expected
    assert len(twilio.sent) == expected.count("sent")
