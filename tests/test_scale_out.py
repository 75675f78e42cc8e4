"""Beyond one server: what must hold when several clock and worker processes share one
PostgreSQL and one Redis through DATABASE_URL and REDIS_URL alone (README, Deploying).

Real `rounds clock` and `rounds worker` processes, the Twilio stand-in answering them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select

from store.db import session_scope
from store.models import Message
from tests.test_faults import (
    _die_with_the_test,
    _wait_until,
    assert_exactly_once,
    assert_rows_hold_the_sids,
    broadcast,
    caught_mid_job,
    kill_worker_and_job,
    private_redis,  # noqa: F401 - the fixture
    queued_ids,
    release_after_the_kill,
)
from workers import runtime
from workers.clock import LEADER_KEY
from workers.outbox import enqueue_send
from workers.send import reconcile_sending

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _postgresql_only(database_url):
    """Processes on separate hosts share a database server; a SQLite file cannot be shared so."""
    if not database_url.startswith("postgresql"):
        pytest.skip("scaling out needs PostgreSQL")


def clock_process(settings, log: Path) -> subprocess.Popen:
    """`rounds clock` as on a host of its own: only the two connection URLs in common."""
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url)
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "clock"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_the_test,
        )


def wait_for_workers(redis: Redis, count: int, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=redis)) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(p.poll() is None for p in processes), "a worker exited"
        time.sleep(0.1)


def test_two_clocks_elect_one_leader_that_enqueues_alone(app_settings, tmp_path):
    redis = Redis.from_url(app_settings.redis_url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = clock_process(app_settings, first_log)
    second = None
    try:
        _wait_until(lambda: redis.get(LEADER_KEY) is not None, timeout=60)
        leader = redis.get(LEADER_KEY).decode()
        assert f":{first.pid}:" in leader  # hostname:pid:suffix, RQ's name for a cron scheduler
        second = clock_process(app_settings, second_log)
        _wait_until(lambda: "follows" in second_log.read_text(), timeout=60)
        time.sleep(1.0)  # time for a second enqueue, were the follower to make one
        assert redis.get(LEADER_KEY).decode() == leader
        assert f"follows: {leader} leads" in second_log.read_text()
        assert "leads: it enqueues" in first_log.read_text()
        assert "leads: it enqueues" not in second_log.read_text()
        # Each periodic job was enqueued once, by the leader.
        queued = Counter(job.func_name for job in Queue(runtime.DEFAULT, connection=redis).jobs)
        assert queued["workers.jobs.sweep"] == 1
        assert queued["workers.broadcasts.fanout.resume_stalled"] == 1
        assert queued["workers.jobs.fetch_costs"] == 1
        assert first.poll() is None and second.poll() is None
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()  # by its own pid: a clock gives its lease up on SIGTERM
                process.wait(30)
    # The leader let go of the lease on its way out, so a new clock would not wait out its 90 s.
    assert redis.get(LEADER_KEY) is None


def test_a_sender_rate_is_shared_by_two_worker_processes(send_settings, twilio, start_worker):
    rate, count = 10, 60
    settings = send_settings.with_(send_batch_size=5)  # twelve jobs, for both workers to take turns
    phones = broadcast(settings, count)
    redis = Redis.from_url(settings.redis_url)
    workers = [
        start_worker(settings, settings.redis_url, ROUNDS_SEND_RATES=f"{settings.sms_from}={rate}")
        for _ in range(2)
    ]
    wait_for_workers(redis, 2, workers)
    enqueue_send(settings, queued_ids(settings))
    _wait_until(lambda: len(twilio.sent) == count, timeout=120)
    finished = FinishedJobRegistry(runtime.BULK, connection=redis)
    _wait_until(lambda: len(finished.get_job_ids()) >= count // 5, timeout=60)
    # Both workers sent, through one budget: a second's burst, then `rate` a second between them.
    senders = {job.worker_name for job in Job.fetch_many(finished.get_job_ids(), connection=redis) if job}
    assert len(senders) == 2, senders
    arrivals = sorted(twilio.arrivals)
    burst = rate  # one second's worth (workers.ratelimit.SenderLimiter)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= rate + burst + 2, busiest  # + 2: requests' own jitter on a busy machine
    # Each worker alone would have taken its own `rate`: together they would finish in half the time.
    assert arrivals[-1] - arrivals[0] >= (count - burst) / rate - 0.5
    assert_exactly_once(settings, twilio, phones)


def test_a_worker_killed_mid_job_then_two_workers_on_the_same_jobs_send_once(
    send_settings,
    twilio,
    private_redis,  # noqa: F811
    start_worker,
):
    """A worker host dies mid-job (SIGKILL, by its PID); after the sweep, each unsent row is signalled
    twice and two fresh workers race over the same rows: every message still goes out once."""
    settings = send_settings.with_(redis_url=private_redis.url, send_batch_size=50)
    phones = broadcast(settings)
    enqueue_send(settings, queued_ids(settings))
    worker, horse = caught_mid_job(settings, twilio, start_worker)
    kill_worker_and_job(worker, horse)
    release_after_the_kill(twilio)
    # The clock's sweep after the sending timeout, as at the rows' own time (the dead worker's clock).
    with session_scope(settings.database_url) as session:
        last_touch = session.execute(select(func.max(Message.updated_at))).scalar_one()
    reconcile_sending(settings.with_(sending_timeout_seconds=60), last_touch + timedelta(seconds=61))
    unsent = queued_ids(settings)
    assert unsent
    enqueue_send(settings, unsent)
    enqueue_send(settings, unsent)  # a second signal, as a second sweep on another host would send
    fresh = [start_worker(settings, private_redis.url, "--burst", "--without-scheduler") for _ in range(2)]
    assert [process.wait(120) for process in fresh] == [0, 0]
    assert_exactly_once(settings, twilio, phones)
    assert_rows_hold_the_sids(settings, twilio)
