"""A send job keeps several requests to Twilio in flight, and still keeps every promise of the
send path: each row claimed and sent once, each sender's rate, failures and suppressions
recorded, and a killed worker losing and duplicating nothing.

A distant Twilio is simulated by the stand-in answering each create after a delay; overlap is
measured by the stand-in (the most create requests it was answering at one moment), not timed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import update

import workers.send as send
from store.clock import SYSTEM_CLOCK
from store.db import session_scope
from store.models import OPTED_OUT, Message, Person
from tests.conftest import drain
from tests.test_faults import _wait_until, assert_exactly_once, broadcast, finish, queued_ids
from tests.test_send_path import add_person, messages, queue
from tests.test_throughput_paths import die_at
from workers.outbox import enqueue_send

ROUND_TRIP = 0.2  # seconds: Twilio's API as seen from where the students are


def queue_many(settings, count: int, prefix: str = "+2348031") -> list[int]:
    return [
        queue(settings, add_person(settings, phone=f"{prefix}{n:05d}"), f"push {n}") for n in range(count)
    ]


@pytest.mark.parametrize(("concurrency", "count"), [(3, 9), (8, 20)])
def test_a_distant_twilio_gets_overlapping_requests(send_settings, twilio, concurrency, count):
    settings = send_settings.with_(send_concurrency=concurrency)
    twilio.delay = ROUND_TRIP
    ids = queue_many(settings, count)
    enqueue_send(settings, ids)  # one job
    drain(settings)
    # Sequential sends never overlap (1); once the first answer shows Twilio is far away, the job
    # keeps exactly `concurrency` under way, no more.
    assert twilio.max_in_flight == concurrency
    assert sorted(m["Body"] for m in twilio.sent) == sorted(f"push {n}" for n in range(count))
    rows = messages(settings)
    assert [row.status for row in rows] == ["sent"] * count
    assert len({row.twilio_sid for row in rows}) == count and all(row.attempts == 1 for row in rows)


def test_one_at_a_time_when_concurrency_is_one(send_settings, twilio):
    settings = send_settings.with_(send_concurrency=1)
    twilio.delay = 0.02
    enqueue_send(settings, queue_many(settings, 5))
    drain(settings)
    assert twilio.max_in_flight == 1 and len(twilio.sent) == 5


def test_a_twilio_next_door_gets_one_request_at_a_time(send_settings, twilio, monkeypatch):
    # Answers within NEAR_SECONDS: overlapping would only cost the worker CPU. (Widened here so a
    # busy test machine's slow moment does not count as distance.)
    monkeypatch.setattr(send, "NEAR_SECONDS", 0.25)
    settings = send_settings.with_(send_concurrency=8)
    enqueue_send(settings, queue_many(settings, 20))
    drain(settings)
    assert twilio.max_in_flight == 1 and len(twilio.sent) == 20


def test_the_rate_holds_with_requests_in_flight(send_settings, twilio):
    rate = 20.0  # segments a second, with a one-second burst
    settings = send_settings.with_(send_rate=rate, send_concurrency=8)
    twilio.delay = 0.05
    count = 40  # one segment each: a burst of 20, then 20 more at 20 a second
    enqueue_send(settings, queue_many(settings, count))
    drain(settings)
    assert len(twilio.sent) == count and twilio.max_in_flight > 1
    arrivals = sorted(twilio.arrivals)
    # GCRA: any stretch of grants holds at most the burst plus the rate times its length. The
    # stand-in sees arrivals, and on a busy machine the requests granted but not yet arrived (at
    # most the eight in flight) can bunch up; unlimited, 40 at eight in flight come in 0.25 s.
    slack = settings.send_concurrency
    for i in range(count):
        for j in range(i + 1, count):
            assert j - i + 1 <= rate + rate * (arrivals[j] - arrivals[i]) + slack, (i, j)
    assert arrivals[-1] - arrivals[0] >= (count - rate) / rate - 0.1  # it really was paced


def test_failures_and_suppressions_are_recorded_with_requests_in_flight(send_settings, twilio):
    settings = send_settings.with_(send_concurrency=8)
    twilio.delay = 0.05
    ids = queue_many(settings, 20)
    rows = {row.id: row for row in messages(settings)}
    refused = {rows[ids[n]].phone for n in (2, 9, 15)}  # Twilio answers 21610 (unsubscribed)
    twilio.opted_out |= refused
    stopped = {rows[ids[n]].person_id for n in (4, 11)}  # STOP arrived after queuing
    with session_scope(settings.database_url) as session:
        session.execute(update(Person).where(Person.id.in_(stopped)).values(status=OPTED_OUT))
    enqueue_send(settings, ids)
    drain(settings)
    assert twilio.max_in_flight > 1
    after = {row.id: row for row in messages(settings)}
    expected = {
        i: "failed"
        if after[i].phone in refused
        else "suppressed"
        if after[i].person_id in stopped
        else "sent"
        for i in ids
    }
    assert {i: after[i].status for i in ids} == expected
    assert all(after[i].error_code == 21610 for i in ids if expected[i] == "failed")
    with session_scope(settings.database_url) as session:
        for phone in refused:
            assert session.query(Person).filter_by(phone=phone).one().status == OPTED_OUT
    copies = Counter(m["To"] for m in twilio.sent)
    assert sorted(copies) == sorted(after[i].phone for i in ids if expected[i] == "sent")
    assert set(copies.values()) == {1}


def test_every_send_under_way_is_recorded_when_the_job_gives_up(send_settings, twilio, monkeypatch):
    settings = send_settings.with_(send_concurrency=8)
    # The first request goes alone and, taking 0.1 s, makes the job overlap the rest; the five
    # after it are held at the stand-in until all five are there, so they are under way together
    # however busy the machine is.
    twilio.delay = 0.1
    twilio.hold_after = 1
    releaser = threading.Thread(target=lambda: (_wait_until(lambda: twilio.held == 5), twilio.release()))
    releaser.start()
    ids = queue_many(settings, 6)

    class Timeout(BaseException):
        """What RQ raises in the job's thread when the job runs out of time."""

    settle = send.SendJob.settle

    def give_up(job, timeout):
        raise Timeout

    monkeypatch.setattr(send.SendJob, "settle", give_up)
    with pytest.raises(Timeout):
        send.send_batch(settings, ids)  # gives up while the last five requests are under way
    monkeypatch.setattr(send.SendJob, "settle", settle)
    releaser.join()
    assert twilio.max_in_flight == 5 and twilio.in_flight == 0
    assert [row.status for row in messages(settings)] == ["sent"] * 6
    assert len(twilio.sent) == 6


@pytest.mark.slow
def test_worker_killed_with_requests_in_flight(send_settings, twilio, start_worker):
    # The worker process reads the machine's clock, so the reconcile after its death does too.
    settings = send_settings.with_(send_batch_size=50, clock=SYSTEM_CLOCK)
    twilio.delay = 0.05
    phones = broadcast(settings, 300)
    enqueue_send(settings, queued_ids(settings))
    twilio.hold_after = 60  # later requests wait unanswered: the kill finds several under way
    worker = start_worker(settings, settings.redis_url)
    _wait_until(lambda: len(twilio.sent) == 60 and twilio.held >= 2)
    # The worker and the forked job it runs die together, as when their machine goes away.
    worker.send_signal(signal.SIGSTOP)  # no new fork in between
    for child in _children(worker.pid):
        os.kill(child, signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    twilio.release()
    _wait_until(lambda: twilio.in_flight == 0)  # what reached Twilio is created there
    assert len(twilio.sent) < 300 and twilio.max_in_flight > 1
    with session_scope(settings.database_url) as session:
        left = session.query(Message).filter(Message.status == "sending").count()
    assert left > 0  # the dead worker left rows for reconcile_sending
    finish(settings, twilio)
    assert_exactly_once(settings, twilio, phones)


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def test_a_job_claims_its_rows_a_chunk_at_a_time(send_settings, twilio, monkeypatch):
    settings = send_settings.with_(send_concurrency=1)
    monkeypatch.setattr(send, "CLAIM_EVERY", 5)
    ids = queue_many(settings, 12)
    die_at(monkeypatch, settings, "push 7")
    with pytest.raises(RuntimeError):
        send.send_batch(settings, ids)
    states = {row.id: row.status for row in messages(settings)}
    # Only the chunk being sent was claimed; rows after it are still queued, for the sweeper.
    assert [states[i] for i in ids] == ["sent"] * 7 + ["sending"] * 3 + ["queued"] * 2
    assert len(twilio.sent) == 7


def test_a_slow_job_hands_the_rest_to_a_new_job(send_settings, twilio, monkeypatch):
    settings = send_settings.with_(send_concurrency=2)
    monkeypatch.setattr(send, "SEND_JOB_BUDGET", 0.3)
    twilio.delay = 0.1
    ids = queue_many(settings, 20)
    tally = send.send_batch(settings, ids)
    assert 0 < tally["sent"] < 20 and tally["sent"] + tally["deferred"] == 20
    rows = messages(settings)
    assert {row.status for row in rows[tally["sent"] :]} == {"queued"}
    assert all(row.attempts == 0 for row in rows[tally["sent"] :])  # handed back, not attempted
    monkeypatch.setattr(send, "SEND_JOB_BUDGET", 60.0)
    drain(settings)  # the job it queued for the rest
    assert [row.status for row in messages(settings)] == ["sent"] * 20
    assert Counter(m["Body"] for m in twilio.sent) == Counter(f"push {n}" for n in range(20))
