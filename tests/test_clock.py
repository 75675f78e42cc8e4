"""The clock: RQ's cron scheduler guarded by a Redis lease, so two clocks enqueue once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.utils import now

from workers import jobs, runtime
from workers.clock import LEADER_KEY, UTCCronJob, build_scheduler


@pytest.fixture
def connection(redis_url):
    conn = Redis.from_url(redis_url)
    yield conn
    conn.close()


def due_now(scheduler) -> None:
    """Make every registered job due, as if its minute had come."""
    for job in scheduler.get_jobs():
        job.next_enqueue_time = now() - timedelta(seconds=1)
        job.latest_enqueue_time = now() - timedelta(minutes=1)


def test_only_the_leader_enqueues(connection):
    first, second = build_scheduler(connection), build_scheduler(connection)
    due_now(first)
    due_now(second)
    enqueued_first = first.enqueue_jobs()
    enqueued_second = second.enqueue_jobs()
    assert {job.name for job in enqueued_first} == {
        "rounds.tick",
        "rounds.sweep",
        "rounds.resume-broadcasts",
        "rounds.prune",
        "rounds.rollup",
        "rounds.fetch-costs",
        "rounds.sync-prices",
        "rounds.budget-check",
    }
    assert enqueued_second == []
    assert Queue(runtime.DEFAULT, connection=connection).count == 8
    assert connection.get(LEADER_KEY).decode() == first.name


def test_the_same_minute_is_enqueued_once_even_without_the_lease(connection):
    first, second = build_scheduler(connection), build_scheduler(connection)
    due_now(first)
    first.enqueue_jobs()
    connection.delete(LEADER_KEY)  # the lease expired between the two, say
    due_now(second)
    enqueued = second.enqueue_jobs()
    queue = Queue(runtime.DEFAULT, connection=connection)
    # A second clock in the same minute finds the unique job ids taken.
    assert queue.count == 8
    assert enqueued == []


def test_a_follower_takes_over_when_the_leader_stops(connection):
    first, second = build_scheduler(connection), build_scheduler(connection)
    due_now(first)
    first.enqueue_jobs()
    first.release()
    assert connection.get(LEADER_KEY) is None
    assert second.is_leader()


def test_a_follower_keeps_its_timers_moving(connection):
    leader, follower = build_scheduler(connection), build_scheduler(connection)
    assert leader.is_leader()
    due_now(follower)
    follower.enqueue_jobs()
    # Not leader: nothing enqueued, but the jobs are no longer overdue.
    assert all(not job.should_run() for job in follower.get_jobs())


def test_the_message_prune_runs_nightly_at_02_17_utc(connection, monkeypatch):
    # A clock host in India: RQ's own cron jobs would read 02:17 as local time (20:47 UTC).
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    (job,) = [job for job in build_scheduler(connection).get_jobs() if job.name == "rounds.prune"]
    assert job.func_name == "workers.jobs.prune"
    assert job.cron == "17 2 * * *"
    # The pass stops at its own budget before RQ would kill it.
    assert job.job_options["job_timeout"] > jobs.PRUNE_BUDGET_SECONDS
    upcoming = job.get_next_enqueue_time()
    assert (upcoming.hour, upcoming.minute, upcoming.utcoffset()) == (2, 17, timedelta(0))
    assert timedelta(0) < upcoming - now() <= timedelta(days=1)


@pytest.fixture(autouse=True)
def _restore_time_zone():
    yield
    time.tzset()  # after monkeypatch has put TZ back


def test_the_price_jobs_run_weekly_and_every_five_minutes(connection):
    jobs = {job.name: job for job in build_scheduler(connection).get_jobs()}
    # The price sync on Mondays at 03:17; the actual-cost fetch every 5 minutes.
    assert jobs["rounds.sync-prices"].cron == "17 3 * * 1"
    assert isinstance(jobs["rounds.sync-prices"], UTCCronJob)  # 03:17 UTC whatever the host's zone
    assert jobs["rounds.sync-prices"].func_name == "workers.jobs.sync_prices"
    assert jobs["rounds.fetch-costs"].interval == 300
    assert jobs["rounds.fetch-costs"].func_name == "workers.jobs.fetch_costs"


def test_the_impact_rollup_runs_nightly_at_02_47_utc(connection):
    jobs = {job.name: job for job in build_scheduler(connection).get_jobs()}
    rollup = jobs["rounds.rollup"]
    assert isinstance(rollup, UTCCronJob) and rollup.cron == "47 2 * * *"
    assert rollup.func_name == "workers.jobs.rollup"
