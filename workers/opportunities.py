"""The scheduling pass's part for opportunities: expiry, the weekly digest and saved reminders.

Each digest is considered at the student's daily time (`next_check_at`, always moved past the
pass's instant) and queued at most once per ISO week (its idempotency key), only when something
new matches. A reminder is queued once (`opp-remind:<person>:<opportunity>`); while the student is
paused or in quiet hours it waits for their next daily time, and it is dropped once the
opportunity has closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import flows
from content.catalog import get_catalog
from flows.opportunities import may_push, next_daily, plan_digest, remember_listing, reminder_text, week_key
from flows.schedule import local_date
from store.db import session_factory
from store.models import OPTED_OUT
from store.opportunities import DIGEST, REMINDER
from store.settings import Settings
from workers.outbox import enqueue_send, queue_message

log = logging.getLogger("rounds.opportunities")

BATCH = 500


@dataclass
class OpportunityReport:
    expired: int = 0
    digests: int = 0
    reminders: int = 0


def run_opportunities(settings: Settings, at: datetime) -> OpportunityReport:
    """Expire what has passed, then queue the digests and reminders due at `at`."""
    report = OpportunityReport()
    session = session_factory(settings.database_url)()
    ctx = flows.Context(session, get_catalog(settings.content_path), settings, at)
    queued: list[int] = []
    try:
        # A day after the deadline's date in UTC, that date is over in every time zone.
        report.expired = ctx.opportunities.expire((at - timedelta(days=1)).date(), at)
        session.commit()
        report.digests = _digests(ctx, at, queued)
        report.reminders = _reminders(ctx, at, queued)
    finally:
        session.close()
    enqueue_send(settings, queued)
    if report.digests or report.reminders or report.expired:
        log.info("opportunities at %s: %s", at.isoformat(), report)
    return report


def _digests(ctx: flows.Context, at: datetime, queued: list[int]) -> int:
    sent = 0
    while batch := ctx.opportunities.digests_due(at, BATCH):
        for subscription, person in batch:
            digest = plan_digest(ctx, person, subscription.seen_until, at)
            if digest is not None:
                message_id = queue_message(
                    ctx.session, person, digest.text, DIGEST, week_key(person, at), now=at
                )
                if message_id is not None:
                    queued.append(message_id)
                    sent += 1
                    subscription.seen_until = at
                    remember_listing(person, digest.ids, digest.shown)
            subscription.next_check_at = next_daily(person, at)
        ctx.session.commit()
    return sent


def _reminders(ctx: flows.Context, at: datetime, queued: list[int]) -> int:
    sent = 0
    while batch := ctx.opportunities.reminders_due(at, BATCH):
        for saved, opportunity, person in batch:
            if person.status == OPTED_OUT or not opportunity.is_open(local_date(person, at)):
                saved.reminded_at = at  # nothing to remind of, or nobody to remind
                continue
            if not may_push(ctx, person, at):
                saved.remind_at = next_daily(person, at)  # paused or quiet hours: their next daily time
                continue
            key = f"opp-remind:{person.id}:{opportunity.id}"
            message_id = queue_message(
                ctx.session, person, reminder_text(ctx, person, opportunity), REMINDER, key, now=at
            )
            if message_id is not None:
                queued.append(message_id)
                sent += 1
            saved.reminded_at = at
        ctx.session.commit()
    return sent
