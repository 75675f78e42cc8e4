"""Entry points the clock enqueues (by dotted path): the scheduling pass, the outbox sweep, the
nightly message prune, the nightly impact rollup, the price jobs (the weekly price sync, the
actual-cost fetch) and the budget check.

Each runs with the settings of the worker that picks it up.
"""

from __future__ import annotations

from datetime import datetime

from flows.engine import OPT_OUT_WORDS
from store.retention import SLOW_BATCH_MS, PruneReport, prune_messages
from store.settings import Settings
from workers import budget, pricing, runtime
from workers.impact import run_rollup
from workers.schedule import run_daily_pass, run_tick
from workers.send import sweep_outbox


def tick(at: str | None = None) -> dict[str, int]:
    """One scheduling pass at `at` (ISO 8601; default now)."""
    settings = runtime.job_settings()
    instant = datetime.fromisoformat(at) if at else settings.clock.now()
    return run_tick(settings, instant).as_dict()


def tick_pass(at: str) -> dict[str, int]:
    """A helper pass over the daily questions due at `at`, beside the tick that queued it
    (ROUNDS_TICK_PASSES)."""
    return run_daily_pass(runtime.job_settings(), datetime.fromisoformat(at)).as_dict()


def sweep() -> int:
    """Re-signal outbox rows that are still queued."""
    return sweep_outbox(runtime.job_settings())


# A nightly prune stops here and leaves the rest to the next night, well inside its job timeout.
PRUNE_BUDGET_SECONDS = 1800


def run_prune(settings: Settings, dry_run: bool = False) -> PruneReport | None:
    """Prune the message log to ROUNDS_MESSAGE_RETENTION_DAYS (None when retention is off)."""
    days = settings.message_retention_days
    if days <= 0:
        return None
    return prune_messages(
        settings.database_url,
        settings.clock.now(),
        days,
        opt_out_words=OPT_OUT_WORDS,
        dry_run=dry_run,
        budget_seconds=None if dry_run else PRUNE_BUDGET_SECONDS,
        slow_batch_ms=SLOW_BATCH_MS,
    )


def prune() -> str:
    """The nightly prune (see store/retention.py)."""
    report = run_prune(runtime.job_settings())
    return str(report) if report else "message retention is off (ROUNDS_MESSAGE_RETENTION_DAYS=0)"


def sync_prices() -> dict[str, object]:
    """Per-country SMS prices from Twilio's Pricing API (weekly)."""
    return pricing.sync_prices(runtime.job_settings()).as_dict()


def rollup() -> dict[str, object]:
    """The nightly impact rollup of yesterday (and the counts of the two days before, again)."""
    return run_rollup(runtime.job_settings()).as_dict()


def fetch_costs() -> dict[str, object]:
    """The actual price of messages that reached a final status, in batches."""
    return pricing.fetch_message_costs(runtime.job_settings()).as_dict()


def check_budget() -> dict[str, object]:
    """Text the alert numbers the first time this month's spend projects over the budget."""
    return budget.check_budget(runtime.job_settings())
