"""Students' reports on questions (REPORT Q17 the key is wrong), per question version.

Three students reporting one version hold the question for review (status `review`, so it is not
served) until a reviewer resolves the reports; resolving brings it back when too few stay open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.admin import REVIEWER, AdminUser
from store.learning import PUBLISHED
from store.models import Attempt, Base, BigId, Question, utcnow
from store.text import CleanString, clean

# questions.status while students' reports hold it back.
REVIEW = "review"
# QuestionReport.status values
OPEN, RESOLVED = "open", "resolved"
# Distinct students with an open report on one version that hold the question for review: one
# student cannot take an item away from everyone, three independent voices are worth a look.
HOLD_AFTER = 3
# A report's text is kept to this many characters (an SMS part's worth and a little more).
TEXT_MAX = 300
NOTE_MAX = 500


class QuestionReport(Base):
    """One student's report on the version of a question they were asked."""

    __tablename__ = "question_reports"
    __table_args__ = (
        Index("ix_question_reports_question_status", "question_id", "question_version", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    question_version: Mapped[int] = mapped_column(Integer)
    # Erasing a student erases their reports (their words may say who they are).
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(CleanString(TEXT_MAX))
    status: Mapped[str] = mapped_column(CleanString(10), default=OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(CleanString(254))
    note: Mapped[str | None] = mapped_column(CleanString(NOTE_MAX))


@dataclass(frozen=True)
class Reported:
    """What recording a report did: the report, and whether it put the question on hold."""

    report: QuestionReport
    held: bool


def is_reviewer(user: AdminUser) -> bool:
    """Who may clear reports and retract questions: an account holding the reviewer role (an
    admin holds every role)."""
    return user.holds(REVIEWER)


def report_text(raw: str) -> str:
    """A student's words as kept: control characters out, spaces folded, at most TEXT_MAX."""
    text = " ".join(clean(raw).text.split())
    return text[:TEXT_MAX]


class Reports:
    """Reports queries over one session (the caller commits)."""

    def __init__(self, session: Session):
        self.session = session

    def asked_version(self, person_id: int, question_id: int | None) -> tuple[int, int] | None:
        """(question id, version) of the person's latest asking of `question_id`, or of any
        question when None; None when they were never asked it."""
        statement = select(Attempt.question_id, func.coalesce(Attempt.question_version, 1)).where(
            Attempt.person_id == person_id
        )
        if question_id is not None:
            statement = statement.where(Attempt.question_id == question_id)
        row = self.session.execute(
            statement.order_by(Attempt.asked_at.desc(), Attempt.id.desc()).limit(1)
        ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def record(self, person_id: int, question_id: int, version: int, text: str, at: datetime) -> Reported:
        """Keep a report, and hold the question when HOLD_AFTER students have reported this version."""
        report = QuestionReport(
            question_id=question_id,
            question_version=version,
            person_id=person_id,
            text=report_text(text),
            status=OPEN,
            created_at=at,
        )
        self.session.add(report)
        self.session.flush()
        return Reported(report, self._hold_if_reported(question_id, version))

    def open_reporters(self, question_id: int, version: int) -> int:
        return int(
            self.session.scalar(
                select(func.count(func.distinct(QuestionReport.person_id))).where(
                    QuestionReport.question_id == question_id,
                    QuestionReport.question_version == version,
                    QuestionReport.status == OPEN,
                )
            )
            or 0
        )

    def _hold_if_reported(self, question_id: int, version: int) -> bool:
        question = self.session.get(Question, question_id)
        if question is None or question.version != version or question.status != PUBLISHED:
            return False  # an older version's reports point at what has been changed already
        if self.open_reporters(question_id, version) < HOLD_AFTER:
            return False
        question.status = REVIEW
        self.session.flush()
        return True

    def listing(
        self, status: str | None = OPEN, limit: int = 200, question_id: int | None = None
    ) -> list[QuestionReport]:
        """Reports, newest first; `status` None lists every one; `question_id` those on one item."""
        statement = select(QuestionReport).order_by(QuestionReport.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(QuestionReport.status == status)
        if question_id is not None:
            statement = statement.where(QuestionReport.question_id == question_id)
        return list(self.session.scalars(statement))

    def get(self, report_id: int) -> QuestionReport | None:
        return self.session.get(QuestionReport, report_id)

    def resolve(
        self, report: QuestionReport, note: str, by: str, at: datetime, every_open: bool = False
    ) -> list[QuestionReport]:
        """Resolve a report (with `every_open`, every open report on its version) with a note.

        A question held by reports goes back to `published` once fewer than HOLD_AFTER students'
        reports on the held version stay open: the reviewer has cleared it.
        """
        chosen = [report]
        if every_open:
            chosen = list(
                self.session.scalars(
                    select(QuestionReport).where(
                        QuestionReport.question_id == report.question_id,
                        QuestionReport.question_version == report.question_version,
                        QuestionReport.status == OPEN,
                    )
                )
            ) or [report]
        for row in chosen:
            row.status, row.resolved_at, row.resolved_by = RESOLVED, at, by[:254]
            row.note = clean(note, NOTE_MAX).text
        self.session.flush()
        question = self.session.get(Question, report.question_id)
        if (
            question is not None
            and question.status == REVIEW
            and question.version == report.question_version
            and self.open_reporters(question.id, question.version) < HOLD_AFTER
        ):
            question.status = PUBLISHED
        self.session.flush()
        return chosen

    def resolve_all_on(self, question_id: int, version: int, note: str, by: str, at: datetime) -> int:
        """Resolve every open report on a version (a retraction answers them all); how many."""
        rows = list(
            self.session.scalars(
                select(QuestionReport).where(
                    QuestionReport.question_id == question_id,
                    QuestionReport.question_version == version,
                    QuestionReport.status == OPEN,
                )
            )
        )
        for row in rows:
            row.status, row.resolved_at, row.resolved_by = RESOLVED, at, by[:254]
            row.note = clean(note, NOTE_MAX).text
        return len(rows)
