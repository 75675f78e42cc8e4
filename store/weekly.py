"""Weekly progress: who turned it off (`WEEKLY OFF`), and the week's figures for many students at
once, in a few aggregate statements however many are due: answers and accuracy this week and
last, the streak, strongest and weakest topic, and each track's spread of scores for the week.

A week is an ISO week of the students' local dates (`attempts.local_date`, the date the streak
counts too), so students in every zone share one Monday-to-Sunday range.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    Row,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_many_or_ignore
from store.models import STUDENT, Attempt, Base, BigId, Person, Question, utcnow

# The whole-week scan for the tracks' spread reads attempts by local date, not by person.
Index("ix_attempts_local_date", Attempt.local_date)

# Answer days read for the streak at first; a run that reaches back that far is read again in full.
STREAK_WINDOW = 16
STREAK_MOST_DAYS = 3700


class WeeklyProgressSwitch(Base):
    """A student who texted `WEEKLY OFF` (enabled false) or `WEEKLY ON` since; no row means on."""

    __tablename__ = "weekly_progress"

    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class WeekFigures:
    """One student's week; topics are None unless this week's answers single them out."""

    answered: int
    correct: int
    last_answered: int
    last_correct: int
    strongest: str | None = None
    weakest: str | None = None
    streak: int = 0


def week_of(day: date) -> tuple[date, date]:
    """The Monday and Sunday of `day`'s ISO week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def program_day_labels(session: Session, person_ids: list[int]) -> dict[int, str]:
    """person id -> where they are in a program (e.g. `ECG 5/14`), for those enrolled.

    The place programs fill in: until programs exist nobody is enrolled, so it is empty. It
    must stay one set-wise query for all `person_ids`, as the weekly pass asks for thousands.
    """
    return {}


def _days_between(dialect: str, later: date, column: ColumnElement[date]) -> ColumnElement[int]:
    """`later - column` in whole days (a date minus a date is an integer in PostgreSQL only)."""
    if dialect == "postgresql":
        return literal(later) - column  # type: ignore[return-value]
    return cast(func.julianday(literal(later.isoformat())) - func.julianday(column), Integer)


@dataclass
class Weekly:
    """Weekly progress queries on one session (the caller commits)."""

    session: Session

    # --- WEEKLY ON / OFF -------------------------------------------------------------------

    def is_on(self, person_id: int) -> bool:
        row = self.session.get(WeeklyProgressSwitch, person_id)
        return row is None or row.enabled

    def switch(self, person_id: int, enabled: bool, now: datetime) -> None:
        row = self.session.get(WeeklyProgressSwitch, person_id)
        if row is None:
            # One statement that yields to a concurrent first switch, rather than failing on it.
            insert_many_or_ignore(
                self.session,
                WeeklyProgressSwitch,
                [{"person_id": person_id, "enabled": enabled, "updated_at": now}],
                ["person_id"],
                returning=("person_id",),
            )
            row = self.session.get(WeeklyProgressSwitch, person_id)
        if row is not None:
            row.enabled, row.updated_at = enabled, now
        self.session.flush()

    def due_students(self, at: datetime) -> list[Row]:
        """Everyone the scheduling pass finds due at `at` (their daily time) who did not text
        WEEKLY OFF: the columns deciding and writing their message, as plain rows, in one query."""
        return list(
            self.session.execute(
                select(
                    Person.id,
                    Person.phone,
                    Person.channel,
                    Person.language,
                    Person.timezone,
                    Person.daily_time,
                    Person.track,
                    Person.role,
                    Person.status,
                    Person.paused_until,
                    Person.flow,
                )
                .outerjoin(WeeklyProgressSwitch, WeeklyProgressSwitch.person_id == Person.id)
                .where(Person.next_push_at <= at, WeeklyProgressSwitch.enabled.is_not(False))
                .order_by(Person.id)
            )
        )

    @staticmethod
    def due_ids(at: datetime) -> Select:
        """The ids of everyone due at `at`, for a pass too big to list them in a statement."""
        return select(Person.id).where(Person.next_push_at <= at)

    def forget(self, person_id: int) -> None:
        """Erasure: the person's switch goes."""
        self.session.execute(delete(WeeklyProgressSwitch).where(WeeklyProgressSwitch.person_id == person_id))

    # --- the figures ------------------------------------------------------------------------

    def figures(self, person_ids: list[int] | Select, today: date) -> dict[int, WeekFigures]:
        """The week of `today` for each of `person_ids` (a list, or a statement selecting them) who
        answered anything in it: two statements however many they are."""
        if isinstance(person_ids, list) and not person_ids:
            return {}
        monday, sunday = week_of(today)
        last_monday = monday - timedelta(days=7)
        attempts = Attempt.__table__
        this_week = attempts.c.local_date >= monday
        right = attempts.c.correct.is_(True)
        per_topic = (
            select(
                attempts.c.person_id,
                Question.topic,
                func.sum(case((this_week, 1), else_=0)).label("n"),
                func.sum(case((and_(this_week, right), 1), else_=0)).label("c"),
                func.sum(case((this_week, 0), else_=1)).label("last_n"),
                func.sum(case((and_(~this_week, right), 1), else_=0)).label("last_c"),
            )
            .join(Question, Question.id == attempts.c.question_id)
            .where(
                attempts.c.person_id.in_(person_ids),
                attempts.c.answered_at.is_not(None),
                attempts.c.local_date.between(last_monday, sunday),
            )
            .group_by(attempts.c.person_id, Question.topic)
            .subquery()
        )
        # The smoothed accuracy SCORE ranks topics by, for topics answered this week only.
        strength = case(
            (per_topic.c.n > 0, (cast(per_topic.c.c, Float) + 1) / (per_topic.c.n + 3)), else_=None
        )
        seen = case((per_topic.c.n > 0, 0), else_=1)
        ranked = select(
            per_topic,
            strength.label("strength"),
            func.row_number()
            .over(partition_by=per_topic.c.person_id, order_by=(seen, strength.desc(), per_topic.c.topic))
            .label("best"),
            func.row_number()
            .over(partition_by=per_topic.c.person_id, order_by=(seen, strength, per_topic.c.topic))
            .label("worst"),
        ).subquery()
        rows = self.session.execute(
            select(
                ranked.c.person_id,
                func.sum(ranked.c.n),
                func.sum(ranked.c.c),
                func.sum(ranked.c.last_n),
                func.sum(ranked.c.last_c),
                func.max(case((ranked.c.best == 1, ranked.c.topic))),
                func.max(case((ranked.c.worst == 1, ranked.c.topic))),
                func.max(ranked.c.strength) - func.min(ranked.c.strength),
            )
            .group_by(ranked.c.person_id)
            .having(func.sum(ranked.c.n) > 0)
        ).all()
        streaks = self.streaks(person_ids, today)
        found = {}
        for person_id, n, c, last_n, last_c, best, worst, spread in rows:
            singled_out = spread is not None and spread > 1e-9  # one topic, or all alike: none named
            found[person_id] = WeekFigures(
                int(n),
                int(c or 0),
                int(last_n or 0),
                int(last_c or 0),
                best if singled_out else None,
                worst if singled_out else None,
                streaks.get(person_id, 0),
            )
        return found

    def streaks(
        self, person_ids: list[int] | Select, today: date, window: int = STREAK_WINDOW
    ) -> dict[int, int]:
        """Consecutive local days with an answer, up to `today` (or yesterday), as SCORE counts them.

        Gaps and islands over the last `window` days: a day's distance from `today` less its rank
        (newest first) is the same along a run, -1 for a run that reaches today, 0 for one that
        ends yesterday. Runs that reach back to the window's start are read again in full.
        """
        if isinstance(person_ids, list) and not person_ids:
            return {}
        attempts = Attempt.__table__
        start = today - timedelta(days=window - 1)
        days = (
            select(attempts.c.person_id, attempts.c.local_date)
            .where(
                attempts.c.person_id.in_(person_ids),
                attempts.c.answered_at.is_not(None),
                attempts.c.local_date.between(start, today),
            )
            .group_by(attempts.c.person_id, attempts.c.local_date)
            .subquery()
        )
        dialect = self.session.get_bind().dialect.name
        offset = (
            _days_between(dialect, today, days.c.local_date)
            - func.row_number().over(partition_by=days.c.person_id, order_by=days.c.local_date.desc())
        ).label("offset")
        runs = select(days.c.person_id, offset).subquery()
        rows = self.session.execute(
            select(
                runs.c.person_id,
                func.sum(case((runs.c.offset == -1, 1), else_=0)),
                func.sum(case((runs.c.offset == 0, 1), else_=0)),
            ).group_by(runs.c.person_id)
        ).all()
        found = {
            person_id: int(today_run or 0) or int(yesterday_run or 0)
            for person_id, today_run, yesterday_run in rows
        }
        # A run as long as the window may reach further back.
        longer = [p for p, streak in found.items() if streak >= window - 1]
        if longer and window < STREAK_MOST_DAYS:
            found.update(self.streaks(longer, today, STREAK_MOST_DAYS))
        return found

    def track_scores(self, today: date) -> dict[str, Counter[int]]:
        """track -> how many students (who answered anything in `today`'s week) got each number right."""
        monday, sunday = week_of(today)
        attempts = Attempt.__table__
        per_student = (
            select(
                attempts.c.person_id,
                func.sum(case((attempts.c.correct.is_(True), 1), else_=0)).label("score"),
            )
            .where(attempts.c.answered_at.is_not(None), attempts.c.local_date.between(monday, sunday))
            .group_by(attempts.c.person_id)
            .subquery()
        )
        rows = self.session.execute(
            select(Person.track, per_student.c.score, func.count())
            .join(Person, Person.id == per_student.c.person_id)
            .where(Person.role == STUDENT, Person.track.is_not(None))
            .group_by(Person.track, per_student.c.score)
        ).all()
        spread: dict[str, Counter[int]] = {}
        for track, score, students in rows:
            spread.setdefault(track, Counter())[int(score or 0)] += int(students)
        return spread
