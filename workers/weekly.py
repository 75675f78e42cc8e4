"""The scheduling pass's part for the weekly progress message: planned for everyone due at once
(flows.weekly), then queued in chunks of plain rows, each one COPY and INSERT and one commit, and
signalled to the workers.

It runs before the daily questions move the due students on; each message's key (person + ISO
week) makes a pass that runs again, or stops half way and is re-run, queue none twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

import flows
from content.catalog import get_catalog
from flows.weekly import KIND, plan_weekly_progress
from store.db import session_factory
from store.settings import Settings
from workers.outbox import enqueue_send, queue_many_texts

log = logging.getLogger("rounds.weekly")

# Outbox rows per INSERT and commit.
CHUNK = 5000


def run_weekly_progress(settings: Settings, at: datetime) -> int:
    """Queue the weekly messages due at `at`; how many were queued (none already queued count)."""
    session = session_factory(settings.database_url)()
    ctx = flows.Context(session, get_catalog(settings.content_path), settings, at)
    queued = 0
    try:
        planned = plan_weekly_progress(ctx, at)
        for start in range(0, len(planned), CHUNK):
            chunk = planned[start : start + CHUNK]
            ids = queue_many_texts(session, ((p.person, p.text, p.key) for p in chunk), KIND, now=at)
            session.commit()
            enqueue_send(settings, ids)
            queued += len(ids)
    finally:
        session.close()
    if queued:
        log.info("weekly progress at %s: %d queued", at.isoformat(), queued)
    return queued
