"""The scheduling pass's part for corrections: each notice owed after a retraction (store.corrections)
is queued once it may go, in batches, each one commit, and signalled to the workers.

A notice that may not go yet (quiet hours, a pause) waits for the student's next daily time; one
for a student who opted out is dropped. The idempotency key makes a re-run queue nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

import flows
from content.catalog import get_catalog
from flows.corrections import KIND, correction_text, when_to_send
from store.corrections import Corrections, notice_key
from store.db import session_factory
from store.settings import Settings
from workers.outbox import enqueue_send, queue_message

log = logging.getLogger("rounds.corrections")

BATCH = 500


def run_corrections(settings: Settings, at: datetime) -> int:
    """Queue the correction texts due at `at`; how many were queued."""
    session = session_factory(settings.database_url)()
    ctx = flows.Context(session, get_catalog(settings.content_path), settings, at)
    queued: list[int] = []
    try:
        while batch := Corrections(session).due(at, BATCH):
            for due in batch:
                notice, person = due.notice, due.person
                send_at = when_to_send(ctx, person, at)
                if send_at is None or send_at > at:
                    notice.due_at = send_at  # dropped (opted out), or their next daily time
                    continue
                text = correction_text(ctx, person, due.correction, due.question)
                key = notice_key(due.correction.question_id, due.correction.version, person.id)
                message_id = queue_message(session, person, text, KIND, key, now=at)
                if message_id is not None:
                    queued.append(message_id)
                notice.due_at, notice.queued_at = None, at
            session.commit()
    finally:
        session.close()
    enqueue_send(settings, queued)
    if queued:
        log.info("corrections at %s: %d queued", at.isoformat(), len(queued))
    return len(queued)
