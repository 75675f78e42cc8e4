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
