"""Corrections: a question retired or re-keyed, and the one correction text owed to each student
who answered the affected version recently.

`retract` is the one place the question's state changes for a correction (so it can be routed
through the version history as a whole). A notice row per student (correction, person) is the
promise of one text; the scheduling pass queues it outside the student's quiet hours, with the
idempotency key `correction:<question>:v<version>:<person>`, so nothing is ever sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, UniqueConstraint, delete, func, insert, literal, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.authoring import record_retraction
from store.learning import PUBLISHED
from store.models import OPTED_OUT, Attempt, Base, Card, Person, Question, utcnow
from store.reports import REVIEW, Reports
from store.text import CleanString, clean
from store.translations import QuestionTranslation

RETIRED = "retired"
# Correction.kind values
RETIRE, REKEY = "retire", "rekey"
REASON_MAX = 200


class Correction(Base):
    """One retraction of one version of a question: retired, or its key changed."""

    __tablename__ = "corrections"
    __table_args__ = (UniqueConstraint("question_id", "version", name="uq_corrections_question_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    # The version that was wrong (a re-key publishes version + 1).
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(CleanString(8))
    old_answer: Mapped[str] = mapped_column(CleanString(1))
    new_answer: Mapped[str | None] = mapped_column(CleanString(1))
    reason: Mapped[str] = mapped_column(CleanString(REASON_MAX))
    created_by: Mapped[str] = mapped_column(CleanString(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who is owed a text: students who answered `version` since this instant.
    answered_since: Mapped[datetime]


class CorrectionNotice(Base):
    """The correction text owed to one student; `due_at` NULL once queued or dropped."""

    __tablename__ = "correction_notices"

    correction_id: Mapped[int] = mapped_column(
        ForeignKey("corrections.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    queued_at: Mapped[datetime | None]


class RetractError(ValueError):
    """A retraction that cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class Retraction:
    """What `retract` did: the correction (None when nothing changed) and how many are owed a text."""

    question_id: int
    correction: Correction | None
    owed: int
    message: str


def notice_key(question_id: int, version: int, person_id: int) -> str:
    """One correction text per person per corrected version, however often the command runs."""
    return f"correction:{question_id}:v{version}:{person_id}"


def retract(
    session: Session,
    question_id: int,
    reason: str,
    key: str | None,
    at: datetime,
    days: int,
    by: str,
) -> Retraction:
    """Retire a question (no `key`) or correct its key (a new version), and owe a correction text
    to each student, not opted out, who answered the affected version in the last `days` days.

    Their spaced-repetition cards for the question go (they learned the wrong thing); open
    reports on the version are resolved with the reason. Running it again changes nothing.
    """
    reason = " ".join(clean(reason).text.split())[:REASON_MAX]
    if not reason:
        raise RetractError("give a reason: it is what the students are told was wrong")
    question = session.get(Question, question_id)
    if question is None:
        raise RetractError(f"there is no question {question_id}")
    letter = (key or "").strip().upper() or None
    if letter is not None and letter not in (question.options or {}):
        letters = ", ".join(sorted(question.options))
        raise RetractError(f"Q{question_id} has no option {letter[:3]}; its options are {letters}")
    if question.status == RETIRED:
        return Retraction(
            question_id, None, 0, f"Q{question_id} is already retired; nothing changed, nothing sent"
        )
    if letter is not None and letter == question.answer:
        return Retraction(
            question_id, None, 0, f"Q{question_id}'s key is already {letter}; nothing changed, nothing sent"
        )
    version = question.version
    correction = Correction(
        question_id=question_id,
        version=version,
        kind=REKEY if letter else RETIRE,
        old_answer=question.answer,
        new_answer=letter,
        reason=reason,
        created_by=by[:254],
        created_at=at,
        answered_since=at - timedelta(days=days),
    )
    session.add(correction)
    if letter:
        question.answer = letter
        question.version = version + 1
        if question.status == REVIEW:
            question.status = PUBLISHED  # the reports that held it are answered by the new key
    else:
        question.status = RETIRED
    session.flush()
    record_retraction(session, question_id, letter, by, at)
    if letter:
        # Only the key letter changed: the French and Spanish texts still translate the item.
        session.execute(
            update(QuestionTranslation)
            .where(QuestionTranslation.question_id == question_id, QuestionTranslation.version == version)
            .values(version=version + 1)
        )
    owed = _owe_notices(session, correction, at)
    session.execute(delete(Card).where(Card.question_id == question_id))
    Reports(session).resolve_all_on(question_id, version, f"retracted: {reason}", by, at)
    what = f"re-keyed to {letter} (version {version + 1})" if letter else "retired"
    return Retraction(
        question_id, correction, owed, f"Q{question_id} {what}; {owed} student(s) will get a correction"
    )


def _owe_notices(session: Session, correction: Correction, at: datetime) -> int:
    """One notice per student who answered the corrected version since `answered_since`, in one INSERT."""
    answered = (
        select(Attempt.person_id)
        .join(Person, Person.id == Attempt.person_id)
        .where(
            Attempt.question_id == correction.question_id,
            func.coalesce(Attempt.question_version, 1) == correction.version,
            Attempt.answered_at >= correction.answered_since,
            Person.status != OPTED_OUT,
        )
        .distinct()
        .subquery()
    )
    session.execute(
        insert(CorrectionNotice).from_select(
            ["correction_id", "person_id", "due_at"],
            select(
                literal(correction.id),
                answered.c.person_id,
                literal(at, CorrectionNotice.__table__.c.due_at.type),
            ),
        )
    )
    # Counted, not the INSERT's rowcount: PostgreSQL's driver reports -1 for INSERT ... SELECT here.
    owed = select(func.count()).where(CorrectionNotice.correction_id == correction.id)
    return int(session.scalar(owed) or 0)


@dataclass(frozen=True)
class Due:
    """A notice due now, with what its text needs."""

    notice: CorrectionNotice
    correction: Correction
    question: Question
    person: Person


def corrected_keys(session: Session) -> dict[int, str]:
    """Question id -> the key its latest re-key set: what a content load must not undo."""
    rows = session.execute(
        select(Correction.question_id, Correction.new_answer)
        .where(Correction.kind == REKEY)
        .order_by(Correction.question_id, Correction.version)
    )
    return {question_id: answer for question_id, answer in rows if answer}


class Corrections:
    """Correction queries over one session (the caller commits)."""

    def __init__(self, session: Session):
        self.session = session

    def due(self, at: datetime, limit: int) -> list[Due]:
        rows = self.session.execute(
            select(CorrectionNotice, Correction, Question, Person)
            .join(Correction, Correction.id == CorrectionNotice.correction_id)
            .join(Question, Question.id == Correction.question_id)
            .join(Person, Person.id == CorrectionNotice.person_id)
            .where(CorrectionNotice.due_at <= at)
            .order_by(CorrectionNotice.due_at, CorrectionNotice.correction_id, CorrectionNotice.person_id)
            .limit(limit)
        )
        return [Due(*row) for row in rows]

    def for_question(self, question_id: int) -> list[Correction]:
        return list(
            self.session.scalars(
                select(Correction).where(Correction.question_id == question_id).order_by(Correction.id)
            )
        )
