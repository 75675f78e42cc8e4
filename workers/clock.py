"""The clock, the top tier: RQ's own cron scheduler, guarded so that only one clock enqueues.

RQ's cron takes no lock, so two clock processes would enqueue everything twice. Here a
Redis lease elects one leader, and each minute's job also carries a unique job id. Jobs are
enqueued by dotted path; the worker that runs them supplies the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from redis import Redis
from rq import Queue
from rq.cron import CronJob, CronScheduler
from rq.exceptions import DuplicateJobError
from rq.utils import now

from store.clock import SYSTEM_CLOCK, Clock
from store.settings import Settings
from workers import jobs, runtime
from workers.broadcasts.fanout import resume_stalled

log = logging.getLogger("rounds.clock")

LEADER_KEY = "rounds:clock:leader"
LEASE_MS = 90_000  # longer than the scheduler's longest sleep (60 s)
# The nightly message prune: 02:17 UTC, the small hours from West Africa to India, off the hour
# when other installations' cron jobs crowd in.
PRUNE_CRON = "17 2 * * *"
# The nightly impact rollup of yesterday (UTC), after the prune and before the working day in Asia.
ROLLUP_CRON = "47 2 * * *"

# Take the lease if it is free, or renew it if it is ours, in one step.
_LEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class UTCCronJob(CronJob):
    """A cron job whose fields are read in UTC; RQ's own reads them in the clock host's local time,
    which would move a nightly job with the server's time zone setting."""

    def get_next_enqueue_time(self) -> datetime:
        if not self.cron:
            return super().get_next_enqueue_time()
        base = (self.latest_enqueue_time or now()).astimezone(UTC)
        return croniter(self.cron, base).get_next(datetime)


class GuardedCronScheduler(CronScheduler):
    """A CronScheduler that enqueues only while it holds the leader lease."""

    def __init__(self, connection: Redis, clock: Clock = SYSTEM_CLOCK, **kwargs: Any):
        super().__init__(connection, **kwargs)
        self.clock = clock
        self._lease = connection.register_script(_LEASE_SCRIPT)
        self._leading: bool | None = None

    def is_leader(self) -> bool:
        leading = bool(self._lease(keys=[LEADER_KEY], args=[self.name, LEASE_MS]))
        if leading != self._leading:  # said once per change, so an operator sees who leads
            if leading:
                log.info("clock %s leads: it enqueues the periodic jobs", self.name)
            else:
                log.info("clock %s follows: %s leads", self.name, _text(self.connection.get(LEADER_KEY)))
            self._leading = leading
        return leading

    def enqueue_jobs(self) -> list[CronJob]:
        enqueue_time = now()
        due = [job for job in self._cron_jobs if job.should_run()]
        if not due:
            return []
        leader = self.is_leader()
        enqueued: list[CronJob] = []
        for job in due:
            if leader and self._enqueue_once(job, enqueue_time):
                enqueued.append(job)
            # A follower advances its timers too, so taking over later fires no backlog.
            job.set_enqueue_time(enqueue_time)
        return enqueued

    def register_utc(self, func: Callable[..., Any], queue_name: str, cron: str, **options: Any) -> CronJob:
        """Like `register(cron=...)`, with the cron fields in UTC."""
        job = UTCCronJob(queue_name=queue_name, func=func, cron=cron, **options)
        self._cron_jobs.append(job)  # the list `register` appends to; RQ has no hook for the job class
        return job

    def _enqueue_once(self, job: CronJob, enqueue_time: datetime) -> bool:
        if job.func is None:  # a CronJob read back for monitoring; ours are all registered with one
            return False
        # The minute on the process's clock: a time-compressed replay has many in one wall minute.
        slot = self.clock.now().strftime("%Y%m%d%H%M")
        queue = Queue(job.queue_name, connection=self.connection)
        try:
            queue.enqueue(
                job.func_name,
                args=job.args,
                kwargs=job.kwargs,
                job_id=f"{job.name.replace('.', '-')}-{slot}",
                unique=True,
                **job.job_options,
            )
        except DuplicateJobError:
            log.info("%s for %s was already enqueued by another clock", job.name, slot)
            return False
        return True

    def release(self) -> None:
        """Give the lease up (on shutdown) so another clock can take over at once."""
        if self.connection.get(LEADER_KEY) == self.name.encode():
            self.connection.delete(LEADER_KEY)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def build_scheduler(connection: Redis, clock: Clock = SYSTEM_CLOCK) -> GuardedCronScheduler:
    scheduler = GuardedCronScheduler(connection, clock)
    if clock.rate > 1:  # a time-compressed replay: one pass per simulated minute
        every: Any = 60 / clock.rate  # RQ types the interval int; a float works (timedelta seconds)
        scheduler.register(jobs.tick, runtime.DEFAULT, interval=every, name="rounds.tick", result_ttl=600)
    else:
        scheduler.register(jobs.tick, runtime.DEFAULT, cron="* * * * *", name="rounds.tick", result_ttl=600)
    scheduler.register(jobs.sweep, runtime.DEFAULT, interval=60, name="rounds.sweep", result_ttl=600)
    scheduler.register(
        resume_stalled, runtime.DEFAULT, interval=300, name="rounds.resume-broadcasts", result_ttl=600
    )
    scheduler.register_utc(
        jobs.prune,
        runtime.DEFAULT,
        PRUNE_CRON,
        name="rounds.prune",
        job_timeout=jobs.PRUNE_BUDGET_SECONDS + 600,
        result_ttl=86_400,
    )
    scheduler.register_utc(
        jobs.rollup, runtime.DEFAULT, ROLLUP_CRON, name="rounds.rollup", job_timeout=1800, result_ttl=86_400
    )
    # Twilio fills a message's price some minutes after the send: ask for the new ones every 5 minutes.
    scheduler.register(
        jobs.fetch_costs, runtime.DEFAULT, interval=300, name="rounds.fetch-costs", result_ttl=600
    )
    # The month's projection moves with each day's traffic: half-hourly catches a crossing the same
    # morning; one alert per month however often it runs (workers/budget.py).
    scheduler.register(
        jobs.check_budget, runtime.DEFAULT, interval=1800, name="rounds.budget-check", result_ttl=3600
    )
    # Prices change rarely; Monday 03:17 UTC keeps the sync off busy hours.
    scheduler.register_utc(
        jobs.sync_prices, runtime.DEFAULT, "17 3 * * 1", name="rounds.sync-prices", result_ttl=3600
    )
    return scheduler


def run_clock(settings: Settings) -> None:
    scheduler = build_scheduler(runtime.redis_for(settings), settings.clock)
    try:
        scheduler.start()
    finally:
        scheduler.release()
