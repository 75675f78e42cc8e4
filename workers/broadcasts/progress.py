"""Following a broadcast: its messages counted by state, the reasons for failures in words an
admin can act on, when it is done, and which fan-outs stalled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from store.admin import DONE, QUEUED, SENDING, Broadcast
from store.models import Message, MessageStatus

# Twilio error codes an admin sees in a broadcast's failures, in words they can act on.
FAILURE_REASONS = {
    21610: "the number sent STOP to the sender (opted out at the carrier)",
    21211: "not a valid phone number",
    21614: "not a mobile number",
    21612: "Twilio cannot route to this number",
    21408: "sending to this country is not enabled on the Twilio account",
    30003: "phone unreachable (off or out of coverage)",
    30005: "unknown or inactive number",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier as spam",
    30008: "unknown delivery error at the carrier",
    63016: "WhatsApp: outside the 24-hour window; an approved template is needed",
}


# The states a broadcast's messages are counted in; `scheduled` is a queued row due later.
SCHEDULED = "scheduled"
PROGRESS_STATES = (
    SCHEDULED,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.FAILED,
    MessageStatus.UNDELIVERED,
    MessageStatus.SUPPRESSED,
    MessageStatus.CANCELED,
)


@dataclass
class Progress:
    counts: dict[str, int]
    failures: list[dict[str, Any]]
    total: int
    segments: int

    @property
    def waiting(self) -> int:
        return self.counts[SCHEDULED] + self.counts[MessageStatus.QUEUED] + self.counts[MessageStatus.SENDING]

    @property
    def delivered(self) -> int:
        return self.counts[MessageStatus.DELIVERED] + self.counts[MessageStatus.READ]

    @property
    def failed(self) -> int:
        return self.counts[MessageStatus.FAILED] + self.counts[MessageStatus.UNDELIVERED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "segments": self.segments,
            **self.counts,
            "delivered_or_read": self.delivered,
            "failed_or_undelivered": self.failed,
            "failures": self.failures,
        }


def progress(session: Session, broadcast_id: int, now: datetime) -> Progress:
    """Counts by message state (queued rows due later shown as `scheduled`) and failure reasons."""
    later = and_(Message.status == MessageStatus.QUEUED, Message.send_after > now)
    state = case((later, SCHEDULED), else_=Message.status).label("state")
    by_state = select(state, Message.segments).where(Message.broadcast_id == broadcast_id).subquery()
    counts = dict.fromkeys(PROGRESS_STATES, 0)
    total = segment_total = 0
    for name, number, used in session.execute(
        select(by_state.c.state, func.count(), func.coalesce(func.sum(by_state.c.segments), 0)).group_by(
            by_state.c.state
        )
    ):
        counts[name] = counts.get(name, 0) + number
        total += number
        segment_total += int(used)
    failures = [
        {
            "error_code": code,
            "count": number,
            "reason": FAILURE_REASONS.get(code or 0, message or "no reason given"),
        }
        for code, message, number in session.execute(
            select(Message.error_code, func.max(Message.error_message), func.count())
            .where(
                Message.broadcast_id == broadcast_id,
                Message.status.in_((MessageStatus.FAILED, MessageStatus.UNDELIVERED)),
            )
            .group_by(Message.error_code)
            .order_by(func.count().desc())
            .limit(10)
        )
    ]
    return Progress(counts, failures, total, segment_total)


def refresh_status(session: Session, broadcast: Broadcast, now: datetime) -> None:
    """A fanned-out broadcast with nothing left to send is done."""
    if broadcast.status != SENDING or broadcast.fanned_out_at is None:
        return
    waiting = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.broadcast_id == broadcast.id,
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
        )
    )
    if not waiting:
        broadcast.status = DONE
        broadcast.finished_at = now


def stalled_broadcasts(
    session: Session, now: datetime, after: timedelta = timedelta(minutes=10)
) -> list[int]:
    """Queued or sending broadcasts whose fan-out never finished (Redis lost the job, a worker died)."""
    return list(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.fanned_out_at.is_(None),
                or_(
                    and_(Broadcast.status == QUEUED, Broadcast.created_at < now - after),
                    # A running fan-out is given its whole job timeout before it counts as lost.
                    and_(Broadcast.status == SENDING, Broadcast.started_at < now - timedelta(hours=1)),
                ),
            )
        )
    )
