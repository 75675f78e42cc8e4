"""Students and mentors as admins see them: search, detail, a person's data export and erasure.

Erasure keeps what makes the programme's numbers true (attempts, correctness, message counts
and costs) and removes what identifies the person: name, number, message text, time zone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import STUDENT, Attempt, Card, Message, MessageStatus, Person, Question
from store.opportunities import Opportunities
from store.weekly import Weekly

ERASED_PREFIX = "erased:"
FILTER_KEYS = ("track", "country", "language", "channel", "status", "role")


@dataclass(frozen=True)
class PersonQuery:
    """A search over people: free text on name or number plus exact filters."""

    text: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    role: str | None = STUDENT

    @classmethod
    def from_args(cls, args: Any, role: str | None = STUDENT) -> PersonQuery:
        filters = tuple(
            (key, str(args.get(key)).strip())
            for key in FILTER_KEYS
            if key != "role" and str(args.get(key) or "").strip()
        )
        return cls(str(args.get("q") or "").strip()[:60], filters, role)

    def statement(self) -> Any:
        statement = select(Person)
        if self.role:
            statement = statement.where(Person.role == self.role)
        if self.text:
            like = f"%{self.text.lower()}%"
            statement = statement.where(or_(func.lower(Person.name).like(like), Person.phone.like(like)))
        for key, value in self.filters:
            column = getattr(Person, key)
            statement = statement.where(column == (value.upper() if key == "country" else value))
        return statement

    def page(self, session: Session, number: int, size: int) -> tuple[list[Person], int]:
        statement = self.statement()
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        rows = session.scalars(statement.order_by(Person.id.desc()).offset((number - 1) * size).limit(size))
        return list(rows), total


def find_person(session: Session, ref: str | int) -> Person | None:
    """By id or by phone number in any common spelling."""
    text = str(ref).strip()
    # Short digit strings are ids; a phone number has at least ten digits.
    if isinstance(ref, int) or (text.isdigit() and len(text) < 10):
        return session.get(Person, int(text))
    from flows.phones import BadPhoneNumber, parse_address

    try:
        phone = parse_address(str(ref)).phone
    except BadPhoneNumber:
        phone = text  # an address that is no number: a WhatsApp business-scoped id, as stored
    return session.scalar(select(Person).where(Person.phone == phone))


def learning_stats(session: Session, person_id: int) -> dict[str, Any]:
    asked, answered, correct, skipped = session.execute(
        select(
            func.count(),
            func.count(Attempt.answered_at),
            func.coalesce(func.sum(case((Attempt.correct.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Attempt.skipped.is_(True), 1), else_=0)), 0),
        ).where(Attempt.person_id == person_id)
    ).one()
    return {
        "asked": asked,
        "answered": answered,
        "correct": int(correct),
        "skipped": int(skipped),
        "accuracy": round(100 * int(correct) / answered) if answered else None,
    }


def conversation(
    session: Session, person: Person, limit: int = 100, before: int | None = None
) -> list[Message]:
    """The latest messages to and from a person, oldest first."""
    statement = select(Message).where(Message.person_id == person.id)
    if before:
        statement = statement.where(Message.id < before)
    rows = list(session.scalars(statement.order_by(Message.id.desc()).limit(limit)))
    return list(reversed(rows))


def person_record(session: Session, person: Person) -> dict[str, Any]:
    """Everything Rounds holds about one person, for a data request (JSON-ready)."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    messages = session.scalars(select(Message).where(Message.person_id == person.id).order_by(Message.id))
    attempts = session.execute(
        select(Attempt, Question.topic)
        .join(Question, Question.id == Attempt.question_id)
        .where(Attempt.person_id == person.id)
        .order_by(Attempt.id)
    )
    return {
        "person": {
            "id": person.id,
            "phone": person.phone,
            "bsuid": person.bsuid,
            "phone_number": person.phone_number,
            "username": person.username,
            "name": person.name,
            "channel": person.channel,
            "language": person.language,
            "timezone": person.timezone,
            "country": person.country,
            "role": person.role,
            "status": person.status,
            "paused_until": when(person.paused_until),
            "track": person.track,
            "daily_time": person.daily_time,
            "created_at": when(person.created_at),
            "last_inbound_at": when(person.last_inbound_at),
        },
        "learning": learning_stats(session, person.id),
        "attempts": [
            {
                "question_id": a.question_id,
                "topic": topic,
                "asked_at": when(a.asked_at),
                "answered_at": when(a.answered_at),
                "choice": a.choice,
                "correct": a.correct,
                "skipped": a.skipped,
            }
            for a, topic in attempts
        ],
        "messages": [
            {
                "at": when(m.created_at),
                "direction": m.direction,
                "channel": m.channel,
                "kind": m.kind,
                "status": m.status,
                "body": m.body,
            }
            for m in messages
        ],
    }


def erased_phone(phone: str) -> str:
    """A stand-in that keeps the column unique without being reversible to the number."""
    return ERASED_PREFIX + hashlib.sha256(phone.encode()).hexdigest()[:24]


def is_erased(person: Person) -> bool:
    return person.phone.startswith(ERASED_PREFIX)


def erase_person(session: Session, person: Person, now: datetime) -> dict[str, int]:
    """Remove personal data and keep anonymous aggregates; the caller commits. Idempotent."""
    if is_erased(person):
        return {"messages": 0}
    original = person.phone
    anonymous = erased_phone(original)
    from gateway.admin.mentoring import forget

    forget(session, person, now)
    Opportunities(session).forget(person.id)
    Weekly(session).forget(person.id)
    # Inbound rows that never got a person (before the first reply) still carry the number.
    blanked = session.execute(
        update(Message)
        .where(or_(Message.person_id == person.id, Message.phone == original))
        .values(body="", phone=anonymous, error_message=None, updated_at=now)
    ).rowcount
    # Nothing of theirs may still go out.
    session.execute(
        update(Message)
        .where(Message.person_id == person.id, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELED)
    )
    person.phone = anonymous
    person.bsuid = person.phone_number = person.username = None
    person.name = None
    person.timezone = None
    person.daily_time = None
    person.flow = None
    person.flow_state = {}
    person.opt_out()
    person.paused_until = None
    person.last_inbound_at = None
    session.flush()
    return {"messages": blanked or 0, "cards_kept": _count(session, Card, person.id)}


def _count(session: Session, model: Any, person_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.person_id == person_id)) or 0
