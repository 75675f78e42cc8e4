"""The top tier: the RQ worker a Rounds process runs, carrying the settings it was started with.

Each job runs with the worker's settings bound (`runtime.job_settings`), so two workers with
different settings in one process (tests, say) never see each other's.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.worker.base import BaseWorker
from sqlalchemy.orm import configure_mappers

import workers.broadcasts  # noqa: F401 - the fan-out jobs
import workers.jobs  # noqa: F401 - the clock's jobs
from store.db import get_engine
from store.settings import Settings
from workers import runtime
from workers.send import transport_for

log = logging.getLogger(__name__)


class _BindsSettings(BaseWorker):
    """Binds `settings` around each job the worker performs (in the work horse, for a forking worker)."""

    settings: Settings

    def subscribe(self) -> None:
        """RQ's command listener waits up to 60 s per read, and teardown joins it after
        unsubscribing, so a stopping worker could hang a minute; a 1 s read bounds that."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # RQ types the attribute from its `None` initial value; it holds the thread once subscribed.
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        with runtime.running_with(self.settings):
            return super().perform_job(job, queue, *args, **kwargs)


class SettingsWorker(_BindsSettings, Worker):
    """RQ's forking worker: each job in a fresh fork."""

    def __init__(self, settings: Settings, queues: list[Queue] | None = None, **kwargs: Any):
        self.settings = settings
        connection = runtime.redis_for(settings)
        super().__init__(queues or rounds_queues(settings), connection=connection, **kwargs)


class SimpleSettingsWorker(_BindsSettings, SimpleWorker):
    """RQ's worker that runs jobs in its own process (`rounds worker --simple`, tests)."""

    def __init__(self, settings: Settings, queues: list[Queue] | None = None, **kwargs: Any):
        self.settings = settings
        connection = runtime.redis_for(settings)
        super().__init__(queues or rounds_queues(settings), connection=connection, **kwargs)


def rounds_queues(settings: Settings) -> list[Queue]:
    """Rounds' queues, most urgent first (a worker takes the first that has a job)."""
    return [runtime.queue(settings, name) for name in runtime.QUEUE_NAMES]


def lower_priority(settings: Settings) -> None:
    """Run below the web processes by ROUNDS_WORKER_NICE (inherited by every job's fork): on a
    host that serves webhooks too, a student's reply then waits less behind a scheduling pass."""
    if settings.worker_nice:
        niceness = os.nice(settings.worker_nice)
        log.info("worker running at niceness %d (ROUNDS_WORKER_NICE)", niceness)


def warm_up(settings: Settings) -> None:
    """Build the ORM mappers, import the database driver and twilio's API before a forking worker starts.

    RQ's default worker runs each job in a fresh fork; without this every fork re-imported the
    job modules, the database driver and twilio's Messages API (about half of a 100-message job).
    The job modules are imported at the top of this module.
    """
    configure_mappers()
    get_engine(settings.database_url)  # imports the driver; no connection is opened here
    transport = transport_for(settings)
    getattr(getattr(transport, "client", None), "messages", None)  # twilio loads its API lazily
