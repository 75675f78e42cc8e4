"""The settings and connections a worker process runs with, set once at start-up."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

from store.settings import Settings

# Replies and relays a person is waiting for go ahead of bulk pushes.
URGENT, DEFAULT, BULK = "rounds-urgent", "rounds-default", "rounds-bulk"
QUEUE_NAMES = (URGENT, DEFAULT, BULK)

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Called by each process's entry point (CLI, web app, tests) before any job runs."""
    global _settings
    _settings = settings
    redis_connection.cache_clear()


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


@lru_cache(maxsize=4)
def redis_connection(url: str | None = None) -> Redis:
    target = url or settings().redis_url
    if not target:
        raise RuntimeError("REDIS_URL is not set: workers need Redis (make run starts one)")
    return Redis.from_url(target, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def queue(name: str, connection: Redis | None = None) -> Queue:
    return Queue(name, connection=connection or redis_connection())


def warm_up() -> None:
    """Import what send jobs use and build the ORM mappers before a forking worker starts.

    RQ's default worker runs each job in a fresh fork; without this every fork re-imported the
    job modules, the database driver and twilio's Messages API (about half of a 100-message job).
    """
    from sqlalchemy.orm import configure_mappers

    import workers.jobs  # noqa: F401 - the clock's job functions
    from store.db import get_engine
    from workers.send import transport_for

    configure_mappers()
    get_engine(settings().database_url)  # imports the driver; no connection is opened here
    transport = transport_for(settings())
    getattr(getattr(transport, "client", None), "messages", None)  # twilio loads its API lazily
