"""Entry points the clock enqueues: the scheduling pass and the outbox sweep."""

from __future__ import annotations

from datetime import datetime

from workers import runtime


def tick(at: str | None = None) -> dict[str, int]:
    """One scheduling pass at `at` (ISO 8601; default now)."""
    from workers.schedule import run_tick

    instant = datetime.fromisoformat(at) if at else runtime.settings().clock.now()
    return run_tick(runtime.settings(), instant).as_dict()


def sweep() -> int:
    """Re-signal outbox rows that are still queued."""
    from workers.send import sweep_outbox

    return sweep_outbox()
