"""What a failed status callback still asks of the send path.

Twilio often reports 63016 (a free-form WhatsApp message outside the 24 h window), a channel
rate limit (63018) or a transient carrier error (30001, 30008) only in the status callback,
after the create request was accepted. The row then goes back to the outbox, once, and the
send job takes it from there as if Twilio's API had refused it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import WHATSAPP, Message
from store.settings import Settings
from workers.outbox import enqueue_send, enqueue_send_later
from workers.send import MAX_ATTEMPTS, backoff_seconds
from workers.transport import OUTSIDE_WINDOW_CODES

log = logging.getLogger("rounds.callbacks")

# Worth another try later: the channel's rate limit, a queue overflow, an unknown error.
RETRY_LATER_CODES = frozenset({63018, 30001, 30008})
REQUEUE_CODES = OUTSIDE_WINDOW_CODES | RETRY_LATER_CODES


@dataclass
class Requeued:
    """Rows handed back to the outbox, to be signalled once the caller has committed."""

    now: list[int] = field(default_factory=list)
    later: list[tuple[int, float]] = field(default_factory=list)

    def signal(self, settings: Settings) -> None:
        if self.now:
            enqueue_send(settings, self.now)
        for message_id, seconds in self.later:
            enqueue_send_later(settings, [message_id], seconds)


def requeue_failed(session: Session, ids: list[int], sid: str, code: int, now: datetime) -> Requeued:
    """Hand the rows a failed callback for `sid` just moved back to the outbox, within MAX_ATTEMPTS.

    The caller moved them to failed in this transaction, so a repeated callback finds nothing to
    move and requeues nothing. The sid is cleared here: a late callback for the failed send never
    touches the row's next send.
    """
    requeued = Requeued()
    rows = session.execute(select(Message).where(Message.id.in_(ids), Message.twilio_sid == sid)).scalars()
    for message in rows:
        if message.attempts >= MAX_ATTEMPTS:
            message.error_message = (
                f"{code} from Twilio for {sid}; no retry after {message.attempts} attempts"
            )
            continue
        if code in OUTSIDE_WINDOW_CODES:
            if message.channel != WHATSAPP:
                continue
            # error_code 63016 stays on the row: route_for then sends the template, or SMS, or
            # marks it failed, as ROUNDS_WHATSAPP_TEMPLATES and ROUNDS_WHATSAPP_FALLBACK say.
            delay = 0.0
            message.send_after = None
            requeued.now.append(message.id)
        else:
            delay = backoff_seconds(message.attempts)
            message.send_after = now + timedelta(seconds=delay)
            requeued.later.append((message.id, delay))
        message.status = "queued"
        message.twilio_sid = None
        message.error_message = f"{code} from Twilio for {sid}; sending again"[:255]
        message.updated_at = now
        log.warning("message %s: callback said %s; queued again in %.0fs", message.id, code, delay)
    session.flush()
    return requeued
