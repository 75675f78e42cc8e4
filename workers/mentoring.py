"""The mentoring share of the scheduling pass: waiting-list matches, weekly check-ins and
mentor summaries, planned by `flows.checkins` and queued through the outbox.

Safe to run twice for the same instant: the records and the idempotency keys say what was done.
"""

from __future__ import annotations

import logging
from datetime import datetime

from content.catalog import get_catalog
from flows.checkins import plan_checkins
from flows.engine import Push
from store.db import session_scope
from store.settings import Settings
from workers.outbox import deliver

log = logging.getLogger("rounds.mentoring")


def run_checkins(settings: Settings, at: datetime) -> int:
    """Plan and queue everything mentoring has due at `at`; returns messages queued."""
    catalog = get_catalog(settings.content_path)
    with session_scope(settings.database_url) as session:
        pushes = [Push(*planned) for planned in plan_checkins(session, catalog, settings, at)]
        queued = deliver(settings, session, pushes, urgent=False, now=at)
    if queued:
        log.info("mentoring queued %d message(s) at %s", len(queued), at.isoformat())
    return len(queued)
