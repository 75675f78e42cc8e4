"""Weekly progress: who turned it off (`WEEKLY OFF`), and the week's figures for many students at
once, in a few aggregate statements however many are due: answers and accuracy this week and
last, the streak, strongest and weakest topic, and each track's spread of scores for the week.

A week is an ISO week of the students' local dates (`attempts.local_date`, the date the streak
counts too), so students in every zone share one Monday-to-Sunday range.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
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
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_many_or_ignore
from store.models import STUDENT, Attempt, Base, BigId, Person, Question, utcnow
from store.programs import ENROLLED, Enrolment, Program

# The whole-week scan for the tracks' spread reads attempts by local date, not by person.
Index("ix_attempts_local_date", Attempt.local_date)

# Answer days read for the streak at first (bits of a mask); a run that reaches back that far is
# read again in full.
STREAK_WINDOW = 16
STREAK_MOST_DAYS = 3700
# A topic's strength in millionths, and room for this many topics beside it in one number.
STRENGTH_SCALE = 1_000_000
TOPIC_SLOTS = 1000
# PostgreSQL's memory for the week's hash aggregates over 100,000 students (the default 4 MB spills
# them to disk); set for the pass's transaction only.
WORK_MEM = "64MB"


def _run(days: int) -> int:
    """The streak in an answer-day mask (bit i: `i` days before today): the run of set bits from
    today, or from yesterday when today has none yet."""
    if not days & 1:
        days >>= 1
    streak = 0
    while days & 1:
        streak += 1
        days >>= 1
    return streak


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


def program_day_labels(session: Session, person_ids: list[int] | Select) -> dict[int, str]:
    """person id -> where they are in a program (e.g. `ECG 5/14`: the last day sent), for those
    enrolled and past their first day; `person_ids` a list, or a statement selecting them (a big
    pass: one statement, not thousands of bound ids, each compiled and parsed)."""
    statement = (
        select(Enrolment.person_id, Program.code, Enrolment.day, Program.days)
        .join(Program, Program.id == Enrolment.program_id)
        .where(Enrolment.status == ENROLLED, Enrolment.day > 0)
    )
    if not isinstance(person_ids, list):
        rows = session.execute(statement.where(Enrolment.person_id.in_(person_ids)))
        return {person: f"{code} {day}/{days}" for person, code, day, days in rows}
    labels: dict[int, str] = {}
    for start in range(0, len(person_ids), 5000):  # bound parameters per statement stay few
        rows = session.execute(statement.where(Enrolment.person_id.in_(person_ids[start : start + 5000])))
        labels.update({person: f"{code} {day}/{days}" for person, code, day, days in rows})
    return labels


def days_between(dialect: str, later: date, column: Any) -> ColumnElement[int]:
    """`later - column` in whole days (a date minus a date is an integer in PostgreSQL only)."""
    if dialect == "postgresql":
        return literal(later) - column
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

    def due_students(self, at: datetime) -> Sequence[Row]:
        """Everyone the scheduling pass finds due at `at` (their daily time) who did not text
        WEEKLY OFF: the columns deciding and writing their message, as plain rows, in one query."""
        # On the Core connection: plain rows without the ORM's loading, for 100,000 of them.
        return (
            self.session.connection()
            .execute(
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
            .all()
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
        answered anything in it, in one statement however many they are.

        No window functions and no sorts: the strongest and weakest topic ride in a number that the
        per-person aggregate takes the max and min of (the smoothed accuracy SCORE ranks topics by,
        times TOPIC_SLOTS, plus the topic's place in `topics`), and the answer days in a bit mask
        (bit i: an answer `i` days before `today`) that gives the streak.
        """
        if isinstance(person_ids, list) and not person_ids:
            return {}
        monday, _sunday = week_of(today)
        last_monday = monday - timedelta(days=7)
        start = min(last_monday, today - timedelta(days=STREAK_WINDOW - 1))
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            self.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        topics = self.topics()
        attempts = Attempt.__table__
        scope = (
            attempts.c.person_id.in_(person_ids),
            attempts.c.answered_at.is_not(None),
            attempts.c.local_date.between(start, today),
        )
        this_week = attempts.c.local_date >= monday
        last_week = attempts.c.local_date.between(last_monday, monday - timedelta(days=1))
        right = attempts.c.correct.is_(True)
        place = case({topic: slot for slot, topic in enumerate(topics)}, value=Question.topic, else_=0)
        bit = literal_column("1").op("<<")(days_between(dialect, today, attempts.c.local_date))

        def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
            # An integer, so the per-person sums over it stay integers (a bigint's sum is a numeric).
            return cast(func.sum(case((condition, 1), else_=0)), Integer)

        # Grouped by the topic's number, not its name: no sort by collation of 1,000,000 strings.
        per_topic_columns = [
            attempts.c.person_id,
            place.label("place"),
            counted(this_week).label("n"),
            counted(and_(this_week, right)).label("c"),
            counted(last_week).label("last_n"),
            counted(and_(last_week, right)).label("last_c"),
        ]
        if dialect == "postgresql":
            # The answer days ride along (bit_or of bit_ors): one scan of the attempts, not two.
            per_topic_columns.append(func.bit_or(bit).label("days"))
        per_topic = (
            select(*per_topic_columns)
            .join(Question, Question.id == attempts.c.question_id)
            .where(*scope)
            .group_by(attempts.c.person_id, place)
            .subquery()
        )
        # Integer division on both backends: (c + 1) / (n + 3) in millionths.
        strength = ((per_topic.c.c + 1) * STRENGTH_SCALE) // (per_topic.c.n + 3)
        answered_this_week = per_topic.c.n > 0
        per_person_columns = [
            per_topic.c.person_id,
            func.sum(per_topic.c.n).label("n"),
            func.sum(per_topic.c.c).label("c"),
            func.sum(per_topic.c.last_n).label("last_n"),
            func.sum(per_topic.c.last_c).label("last_c"),
            # Ties: the strongest is the topic first in `topics`, the weakest the last.
            func.max(
                case((answered_this_week, strength * TOPIC_SLOTS + (TOPIC_SLOTS - 1 - per_topic.c.place)))
            ).label("best"),
            func.min(case((answered_this_week, strength * TOPIC_SLOTS + per_topic.c.place))).label("worst"),
        ]
        if dialect == "postgresql":
            per_person_columns.append(func.bit_or(per_topic.c.days).label("days"))
        per_person = (
            select(*per_person_columns).group_by(per_topic.c.person_id).having(func.sum(per_topic.c.n) > 0)
        )
        if dialect == "postgresql":
            rows = self.session.execute(per_person).all()
        else:
            # SQLite has no bit_or: the days' distinct powers of two, summed, per person.
            days = (
                select(attempts.c.person_id, func.sum(bit.distinct()).label("days"))
                .where(*scope)
                .group_by(attempts.c.person_id)
                .subquery()
            )
            person = per_person.subquery()
            rows = self.session.execute(
                select(person, days.c.days).join(days, days.c.person_id == person.c.person_id)
            ).all()
        found = {}
        longer = []
        for person_id, n, c, last_n, last_c, best, worst, answer_days in rows:
            strongest = weakest = None
            if best is not None and worst is not None and best // TOPIC_SLOTS > worst // TOPIC_SLOTS:
                strongest = topics[TOPIC_SLOTS - 1 - best % TOPIC_SLOTS]
                weakest = topics[worst % TOPIC_SLOTS]
            streak = _run(int(answer_days or 0))
            if streak >= STREAK_WINDOW - 1:
                longer.append(person_id)  # it may reach further back than the mask
            found[person_id] = WeekFigures(
                int(n), int(c or 0), int(last_n or 0), int(last_c or 0), strongest, weakest, streak
            )
        if longer:
            for person_id, streak in self.streaks(longer, today, STREAK_MOST_DAYS).items():
                found[person_id] = replace(found[person_id], streak=streak)
        return found

    def topics(self) -> list[str]:
        """Every topic of the bank, in order: a topic's place here is its number in `figures`."""
        found = sorted(self.session.scalars(select(Question.topic).distinct()))
        if len(found) > TOPIC_SLOTS:
            raise ValueError(f"more than {TOPIC_SLOTS} topics; raise TOPIC_SLOTS in store/weekly.py")
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
            days_between(dialect, today, days.c.local_date)
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
