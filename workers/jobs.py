"""Entry points the clock enqueues (by dotted path): the scheduling pass and the outbox sweep.

Each runs with the settings of the worker that picks it up.
"""

from __future__ import annotations

from datetime import datetime

from workers import runtime
from workers.schedule import run_tick
from workers.send import sweep_outbox


def tick(at: str | None = None) -> dict[str, int]:
    """One scheduling pass at `at` (ISO 8601; default now)."""
    settings = runtime.job_settings()
    instant = datetime.fromisoformat(at) if at else settings.clock.now()
    return run_tick(settings, instant).as_dict()


def sweep() -> int:
    """Re-signal outbox rows that are still queued."""
    return sweep_outbox(runtime.job_settings())
