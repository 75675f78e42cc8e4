"""The mentoring share of the scheduling pass: waiting-list matches, weekly check-ins and
mentor summaries, planned by `flows.checkins` and queued through the outbox.

Safe to run twice for the same instant: the records and the idempotency keys say what was done.
"""

from __future__ import annotations

import logging
from datetime import datetime

from content.catalog import get_catalog
from flows.checkins import plan_checkins
from store.db import session_scope
from store.models import Person
from store.settings import Settings
from workers.outbox import enqueue_send, queue_message

log = logging.getLogger("rounds.mentoring")


def run_checkins(settings: Settings, at: datetime) -> int:
    """Plan and queue everything mentoring has due at `at`; returns messages queued."""
    catalog = get_catalog(settings.content_path)
    queued: list[int] = []
    with session_scope(settings.database_url) as session:
        for person_id, body, kind, key in plan_checkins(session, catalog, settings, at):
            person = session.get(Person, person_id)
            if person is None:
                continue
            message_id = queue_message(session, person, body, kind, key, now=at)
            if message_id is not None:
                queued.append(message_id)
    enqueue_send(queued)
    if queued:
        log.info("mentoring queued %d message(s) at %s", len(queued), at.isoformat())
    return len(queued)
