"""The programme's numbers for the dashboard and `/api/v1/stats`: one grouped query per series.

Days are UTC calendar days; a series always has one point per day, zeros included, so a
quiet day shows as a gap in the chart rather than disappearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from flows.engine import OPT_OUT_WORDS
from store.mentoring import Flag
from store.models import INBOUND, OUTBOUND, STUDENT, Attempt, Message, MessageStatus, Person, Question


def day_of(column: Any, session: Session) -> Any:
    """`YYYY-MM-DD` of a stored UTC time, on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


@dataclass
class Series:
    name: str
    days: list[str]
    values: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, **self.values}


def _days(today: date, span: int) -> list[str]:
    return [(today - timedelta(days=offset)).isoformat() for offset in range(span - 1, -1, -1)]


def _series(name: str, days: list[str], rows: Any, names: tuple[str, ...]) -> Series:
    """Rows of (day, value, value...) spread over every day of the span."""
    found = {row[0]: row[1:] for row in rows}
    values = {
        key: [int((found.get(day) or [0] * len(names))[i] or 0) for day in days]
        for i, key in enumerate(names)
    }
    return Series(name, days, values)


def active_students(session: Session, days: list[str], since: datetime) -> Series:
    day = day_of(Message.created_at, session)
    rows = session.execute(
        select(day, func.count(func.distinct(Message.person_id)))
        # status 'received' is every inbound row; naming it lets ix_messages_status_created serve the range.
        .where(
            Message.status == MessageStatus.RECEIVED,
            Message.direction == INBOUND,
            Message.created_at >= since,
        )
        .group_by(day)
    )
    return _series("daily active students", days, rows, ("active",))


def answers(session: Session, days: list[str], since: datetime) -> Series:
    day = day_of(Attempt.answered_at, session)
    rows = session.execute(
        select(day, func.count(), func.sum(case((Attempt.correct.is_(True), 1), else_=0)))
        .where(Attempt.answered_at >= since)
        .group_by(day)
    )
    return _series("answers per day", days, rows, ("answered", "correct"))


def delivery(session: Session, days: list[str], since: datetime) -> Series:
    """Pushes (not webhook replies) by day: delivered or read, failed or undelivered, and the rest."""
    day = day_of(Message.created_at, session)
    delivered = func.sum(
        case((Message.status.in_((MessageStatus.DELIVERED, MessageStatus.READ)), 1), else_=0)
    )
    failed = func.sum(
        case((Message.status.in_((MessageStatus.FAILED, MessageStatus.UNDELIVERED)), 1), else_=0)
    )
    rows = session.execute(
        select(day, delivered, failed, func.count())
        .where(Message.direction == OUTBOUND, Message.kind != "reply", Message.created_at >= since)
        .group_by(day)
    )
    return _series("delivery", days, rows, ("delivered", "failed", "total"))


def opt_outs(session: Session, days: list[str], since: datetime) -> Series:
    """Opt-out words received per day (each STOP counts, as Twilio counts them)."""
    day = day_of(Message.created_at, session)
    rows = session.execute(
        select(day, func.count())
        .where(
            Message.status == MessageStatus.RECEIVED,
            Message.direction == INBOUND,
            Message.created_at >= since,
            func.upper(func.trim(Message.body)).in_(sorted(OPT_OUT_WORDS)),
        )
        .group_by(day)
    )
    return _series("opt-outs", days, rows, ("opt_outs",))


def flags(session: Session, days: list[str], since: datetime) -> Series:
    """Safeguarding flags raised per day."""
    day = day_of(Flag.created_at, session)
    rows = session.execute(select(day, func.count()).where(Flag.created_at >= since).group_by(day))
    return _series("flags", days, rows, ("flags",))


def accuracy_by_topic(session: Session, since: datetime | None = None) -> list[dict[str, Any]]:
    correct = func.sum(case((Attempt.correct.is_(True), 1), else_=0))
    statement = (
        select(Question.topic, func.count(), correct)
        .join(Question, Question.id == Attempt.question_id)
        .where(Attempt.answered_at.is_not(None))
        .group_by(Question.topic)
        .order_by(Question.topic)
    )
    if since is not None:
        statement = statement.where(Attempt.answered_at >= since)
    return [
        {
            "topic": topic,
            "answered": n,
            "correct": int(right or 0),
            "accuracy": round(100 * int(right or 0) / n),
        }
        for topic, n, right in session.execute(statement)
        if n
    ]


def totals(session: Session, now: datetime) -> dict[str, Any]:
    by_status = dict(
        session.execute(
            select(Person.status, func.count()).where(Person.role == STUDENT).group_by(Person.status)
        ).all()
    )
    month = now - timedelta(days=30)
    segments_sent, messages_sent = session.execute(
        select(func.coalesce(func.sum(Message.segments), 0), func.count()).where(
            Message.direction == OUTBOUND,
            Message.created_at >= month,
            Message.status.in_(
                (
                    MessageStatus.SENT,
                    MessageStatus.DELIVERED,
                    MessageStatus.READ,
                    MessageStatus.REPLIED,
                    MessageStatus.UNDELIVERED,
                )
            ),
        )
    ).one()
    return {
        "students": sum(by_status.values()),
        "students_by_status": by_status,
        "messages_out_30d": messages_sent,
        "segments_out_30d": int(segments_sent),
    }


def dashboard(session: Session, now: datetime, span: int = 30) -> dict[str, Any]:
    """Everything the dashboard shows, over the last `span` days."""
    days = _days(now.date(), span)
    since = datetime.fromisoformat(days[0]).replace(tzinfo=now.tzinfo)
    return {
        "span": span,
        "totals": totals(session, now),
        "active": active_students(session, days, since),
        "answers": answers(session, days, since),
        "delivery": delivery(session, days, since),
        "opt_outs": opt_outs(session, days, since),
        "flags": flags(session, days, since),
        "topics": accuracy_by_topic(session),
    }


def dashboard_json(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value.as_dict() if isinstance(value, Series) else value for key, value in data.items()}
