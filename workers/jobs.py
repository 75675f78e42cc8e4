"""Entry points the clock enqueues (by dotted path): the scheduling pass, the outbox sweep, and the
price jobs (the weekly price sync, the actual-cost fetch).

Each runs with the settings of the worker that picks it up.
"""

from __future__ import annotations

from datetime import datetime

from workers import pricing, runtime
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


def sync_prices() -> dict[str, object]:
    """Per-country SMS prices from Twilio's Pricing API (weekly)."""
    return pricing.sync_prices(runtime.job_settings()).as_dict()


def fetch_costs() -> dict[str, object]:
    """The actual price of messages that reached a final status, in batches."""
    return pricing.fetch_message_costs(runtime.job_settings()).as_dict()
