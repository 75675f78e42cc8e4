"""The bottom tier of the workers: queue names, Redis connections, and the settings a job runs with.

A process binds its settings once at its own start and passes them down. An RQ job reads the
settings of the worker that runs it (`job_settings`), bound around each job by `workers.worker`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

from redis import Redis
from rq import Queue

from store.settings import Settings

# Replies and relays a person is waiting for go ahead of bulk pushes.
URGENT, DEFAULT, BULK = "rounds-urgent", "rounds-default", "rounds-bulk"
QUEUE_NAMES = (URGENT, DEFAULT, BULK)

_job_settings: ContextVar[Settings] = ContextVar("rounds_job_settings")


@contextmanager
def running_with(settings: Settings) -> Iterator[Settings]:
    """Bind `settings` for the jobs run inside this block (a worker does it around each job)."""
    token = _job_settings.set(settings)
    try:
        yield settings
    finally:
        _job_settings.reset(token)


def job_settings() -> Settings:
    """The settings of the worker running the current job."""
    try:
        return _job_settings.get()
    except LookupError:
        raise RuntimeError(
            "a Rounds job ran outside a Rounds worker: run it with `rounds worker` "
            "(workers.worker.SettingsWorker), which binds the settings around each job"
        ) from None


@lru_cache(maxsize=8)
def _redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def redis_for(settings: Settings) -> Redis:
    """One pooled connection per Redis URL and process."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: workers need Redis (make run starts one)")
    return _redis(settings.redis_url)


def queue(settings: Settings, name: str) -> Queue:
    return Queue(name, connection=redis_for(settings))
