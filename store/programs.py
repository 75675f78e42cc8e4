"""Programs: named, ordered sequences of days (a micro-lesson and 1-3 bank questions each), their
cohorts, who is enrolled where, and the certificates of those who finished; `Programs` holds the
queries the flows, the scheduling pass, the console and the API ask for.

A program day's questions are ordinary attempts (so answers feed the same FSRS cards) whose source
names the enrolment, the day and the question's place: `p<enrolment>.<day>.<n>`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Attempt, Base, BigId, Person, utcnow
from store.text import CleanString

# Enrolment.status values
ENROLLED, LEFT, COMPLETED = "active", "left", "completed"
# Message.kind of a program day's push
PROGRAM_DAY = "program"
# Certificate codes: no 0/O, 1/I/L, so a code read aloud or copied by hand cannot be mistaken.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_PREFIX, CODE_LENGTH = "RND-", 6
# Groups smaller than this are never shown in aggregates.
SMALL_GROUP = 10


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(CleanString(8), unique=True)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tracks: Mapped[list[str]] = mapped_column(default=list)
    days: Mapped[int] = mapped_column(Integer, default=0)
    questions: Mapped[int] = mapped_column(Integer, default=0)  # over every day
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def title_in(self, language: str) -> str:
        return str(self.title.get(language) or self.title.get("en") or self.code)


class ProgramDay(Base):
    __tablename__ = "program_days"
    __table_args__ = (UniqueConstraint("program_id", "day", name="uq_program_days"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    day: Mapped[int] = mapped_column(Integer)
    lesson: Mapped[dict[str, Any]] = mapped_column(default=dict)
    questions: Mapped[list[int]] = mapped_column(JSON, default=list)  # question ids, in order

    def lesson_in(self, language: str) -> str:
        return str(self.lesson.get(language) or self.lesson.get("en") or "")


class Cohort(Base):
    __tablename__ = "program_cohorts"
    __table_args__ = (UniqueConstraint("program_id", "starts_on", name="uq_program_cohorts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(CleanString(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("person_id", "program_id", name="uq_enrolments"),
        Index("ix_enrolments_person_status", "person_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("program_cohorts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(CleanString(10), default=ENROLLED)
    # The last day sent (0 before the first), the local date it went, the local date NEXT was used.
    day: Mapped[int] = mapped_column(Integer, default=0)
    day_sent_on: Mapped[date | None] = mapped_column(Date)
    next_used_on: Mapped[date | None] = mapped_column(Date)
    starts_on: Mapped[date | None] = mapped_column(Date)  # a cohort's start; none: the next daily time
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(CleanString(16), unique=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), unique=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    # Copied at issue: the page shows the first name the holder had then, never a surname or number.
    first_name: Mapped[str] = mapped_column(CleanString(60))
    issued_on: Mapped[date] = mapped_column(Date)
    answered_share: Mapped[int] = mapped_column(Integer, default=0)  # percent of the questions answered
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(CleanString(254))


def put_program(
    session: Session,
    code: str,
    values: dict[str, Any],
    days: list[tuple[dict[str, Any], list[int]]],
    now: datetime,
) -> tuple[Program, bool | None]:
    """Serve a program as given (title, summary, tracks; each day's lesson and question ids): the
    content load and the console's publishing both land here. Days beyond the new end go; the
    enrolments keep their day number. (the program, None if new else whether anything changed)."""
    values = {
        **values,
        "days": len(days),
        "questions": sum(len(questions) for _, questions in days),
        "active": True,
    }
    program = session.scalar(select(Program).where(Program.code == code))
    changed: bool | None
    if program is None:
        program = Program(code=code, created_at=now, updated_at=now, **values)
        session.add(program)
        session.flush()
        changed = None
    else:
        changes = {k: v for k, v in values.items() if getattr(program, k) != v}
        for name, value in changes.items():
            setattr(program, name, value)
        changed = bool(changes)
    stored = {
        d.day: d for d in session.scalars(select(ProgramDay).where(ProgramDay.program_id == program.id))
    }
    for number, (lesson, questions) in enumerate(days, start=1):
        row = stored.pop(number, None)
        if row is None:
            session.add(ProgramDay(program_id=program.id, day=number, lesson=lesson, questions=questions))
            changed = changed if changed is None else True
        elif row.lesson != lesson or row.questions != questions:
            row.lesson, row.questions = lesson, questions
            changed = changed if changed is None else True
    for row in stored.values():  # days beyond the new end
        session.delete(row)
        changed = changed if changed is None else True
    if changed:
        program.updated_at = now
    return program, changed


def source_for(enrolment_id: int, day: int, index: int) -> str:
    """Attempt.source of a program question: `p<enrolment>.<day>.<n>` (the column holds 16)."""
    return f"p{enrolment_id}.{day}.{index}"


def parse_source(source: str) -> tuple[int, int, int] | None:
    """(enrolment id, day, n) of a program question's source; None for any other source."""
    if not source.startswith("p"):
        return None
    parts = source[1:].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def is_program_source(source: str) -> bool:
    return parse_source(source) is not None


def new_code() -> str:
    """`RND-7K3P9Q`: 6 characters from a 31-letter alphabet (about 887 million), from `secrets`."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(text: str) -> str:
    """A code as typed (`rnd 7k3p9q`, `7K3P9Q`, `RND-7K3P9Q.`) in its stored form."""
    letters = "".join(c for c in text.upper() if c.isalnum())
    if letters.startswith("RND"):
        letters = letters[3:]
    return CODE_PREFIX + letters


@dataclass(frozen=True)
class Verified:
    code: str
    first_name: str
    program: Program
    issued_on: date
    revoked: bool


@dataclass(frozen=True)
class DayCount:
    day: int
    reached: int  # enrolments that were sent this day (or further)
    at: int  # enrolments whose last sent day is this one


class Programs:
    """The program queries over one session (the caller commits)."""

    def __init__(self, session: Session):
        self.session = session

    # --- programs and days ------------------------------------------------------------------

    def open_programs(self) -> list[Program]:
        return list(
            self.session.scalars(select(Program).where(Program.active.is_(True)).order_by(Program.code))
        )

    def by_code(self, code: str) -> Program | None:
        return self.session.scalar(select(Program).where(Program.code == code.upper()[:8]))

    def program(self, program_id: int) -> Program | None:
        return self.session.get(Program, program_id)

    def day(self, program_id: int, day: int) -> ProgramDay | None:
        return self.session.scalar(
            select(ProgramDay).where(ProgramDay.program_id == program_id, ProgramDay.day == day)
        )

    def next_cohorts(self, today: date) -> dict[int, date]:
        """program id -> the first cohort starting today or later."""
        rows = self.session.execute(
            select(Cohort.program_id, func.min(Cohort.starts_on))
            .where(Cohort.starts_on >= today)
            .group_by(Cohort.program_id)
        )
        return {program_id: day for program_id, day in rows}

    def open_cohort(self, program: Program, starts_on: date, by: str | None, now: datetime) -> Cohort:
        cohort = self.session.scalar(
            select(Cohort).where(Cohort.program_id == program.id, Cohort.starts_on == starts_on)
        )
        if cohort is None:
            cohort = Cohort(program_id=program.id, starts_on=starts_on, created_by=by, created_at=now)
            self.session.add(cohort)
            self.session.flush()
        return cohort

    # --- enrolments -------------------------------------------------------------------------

    def current(self, person_id: int) -> Enrolment | None:
        """The person's enrolment in progress, if any (at most one at a time)."""
        return self.session.scalar(
            select(Enrolment).where(Enrolment.person_id == person_id, Enrolment.status == ENROLLED).limit(1)
        )

    def current_for(self, person_ids: list[int]) -> dict[int, Enrolment]:
        """person id -> enrolment in progress, for a batch of people in one query."""
        if not person_ids:
            return {}
        rows = self.session.scalars(
            select(Enrolment).where(Enrolment.person_id.in_(person_ids), Enrolment.status == ENROLLED)
        )
        return {e.person_id: e for e in rows}

    def enrolment(self, person_id: int, program_id: int) -> Enrolment | None:
        return self.session.scalar(
            select(Enrolment).where(Enrolment.person_id == person_id, Enrolment.program_id == program_id)
        )

    def enrol(self, person_id: int, program: Program, cohort: Cohort | None, now: datetime) -> Enrolment:
        """A new enrolment, or the one the person left, taken up again where they stopped."""
        enrolment = self.enrolment(person_id, program.id)
        if enrolment is None:
            enrolment = Enrolment(person_id=person_id, program_id=program.id, day=0, enrolled_at=now)
            self.session.add(enrolment)
        enrolment.status = ENROLLED
        enrolment.cohort_id = cohort.id if cohort else None
        enrolment.starts_on = cohort.starts_on if cohort else None
        enrolment.updated_at = now
        self.session.flush()
        return enrolment

    def progress(self, person_id: int, enrolment_id: int) -> dict[tuple[int, int], str]:
        """(day, n) -> `answered`, `skipped` or `open` for every program question asked so far.

        Answered once is answered; otherwise the latest asking of it says (a missed day is asked again).
        """
        prefix = f"p{enrolment_id}."
        rows = self.session.execute(
            select(Attempt.source, Attempt.answered_at, Attempt.skipped)
            .where(Attempt.person_id == person_id, Attempt.source.startswith(prefix, autoescape=True))
            .order_by(Attempt.asked_at, Attempt.id)
        )
        found: dict[tuple[int, int], str] = {}
        for source, answered_at, skipped in rows:
            parsed = parse_source(source)
            if parsed is None or parsed[0] != enrolment_id:
                continue
            key = (parsed[1], parsed[2])
            if found.get(key) != "answered":
                found[key] = "answered" if answered_at is not None else "skipped" if skipped else "open"
        return found

    def supersede(self, person_id: int, source: str, before: date) -> None:
        """An unanswered earlier asking of a program question asked again: closed, so a stray letter
        cannot answer it a second time."""
        self.session.execute(
            update(Attempt)
            .where(
                Attempt.person_id == person_id,
                Attempt.source == source,
                Attempt.local_date < before,
                Attempt.answered_at.is_(None),
                Attempt.skipped.is_(False),
            )
            .values(skipped=True)
            .execution_options(synchronize_session="fetch")
        )

    # --- certificates -----------------------------------------------------------------------

    def issue(
        self, enrolment: Enrolment, first_name: str, share: int, today: date, now: datetime
    ) -> Certificate:
        """The enrolment's certificate (one each), under a fresh unique code."""
        held = self.session.scalar(select(Certificate).where(Certificate.enrolment_id == enrolment.id))
        if held is not None:
            return held
        for _ in range(8):
            certificate = Certificate(
                code=new_code(),
                enrolment_id=enrolment.id,
                program_id=enrolment.program_id,
                first_name=first_name,
                issued_on=today,
                answered_share=share,
                issued_at=now,
            )
            try:
                with self.session.begin_nested():
                    self.session.add(certificate)
                    self.session.flush()
                return certificate
            except IntegrityError:
                continue  # the code was taken (about one in a billion): draw again
        raise RuntimeError("could not draw a unique certificate code")

    def certificate(self, code: str) -> Certificate | None:
        return self.session.scalar(select(Certificate).where(Certificate.code == normal_code(code)))

    def verify(self, code: str) -> Verified | None:
        """What a certificate says publicly: first name, program, date; None if there is none."""
        certificate = self.certificate(code)
        if certificate is None:
            return None
        program = self.session.get(Program, certificate.program_id)
        assert program is not None
        return Verified(
            certificate.code,
            certificate.first_name,
            program,
            certificate.issued_on,
            certificate.revoked_at is not None,
        )

    def revoke(self, code: str, by: str, now: datetime) -> Certificate | None:
        certificate = self.certificate(code)
        if certificate is not None and certificate.revoked_at is None:
            certificate.revoked_at, certificate.revoked_by = now, by
        return certificate

    def certificates(self, limit: int = 200) -> list[tuple[Certificate, str]]:
        """The latest certificates with their program's code (no names of anyone else)."""
        rows = self.session.execute(
            select(Certificate, Program.code)
            .join(Program, Program.id == Certificate.program_id)
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
            .limit(limit)
        )
        return [(certificate, code) for certificate, code in rows]

    # --- figures ----------------------------------------------------------------------------

    def figures(self) -> list[dict[str, Any]]:
        """Per program: enrolled, in progress, left, completed, certificates, and the count per day.

        Any count under SMALL_GROUP is withheld (None), so a small group is never shown.
        """
        programs = self.session.scalars(select(Program).order_by(Program.code)).all()
        counts: dict[tuple[int, str], int] = {}
        for program_id, status, n in self.session.execute(
            select(Enrolment.program_id, Enrolment.status, func.count()).group_by(
                Enrolment.program_id, Enrolment.status
            )
        ):
            counts[program_id, status] = n
        days: dict[tuple[int, int], int] = {}
        for program_id, day, n in self.session.execute(
            select(Enrolment.program_id, Enrolment.day, func.count()).group_by(
                Enrolment.program_id, Enrolment.day
            )
        ):
            days[program_id, day] = n
        issued: dict[int, int] = {
            program_id: n
            for program_id, n in self.session.execute(
                select(Certificate.program_id, func.count())
                .where(Certificate.revoked_at.is_(None))
                .group_by(Certificate.program_id)
            )
        }
        out = []
        for program in programs:
            enrolled = sum(counts.get((program.id, s), 0) for s in (ENROLLED, LEFT, COMPLETED))
            by_day = []
            for day in range(1, program.days + 1):
                reached = sum(n for (pid, d), n in days.items() if pid == program.id and d >= day)
                at = days.get((program.id, day), 0)
                by_day.append(DayCount(day, reached, at))
            out.append(
                {
                    "program": program,
                    "enrolled": _shown(enrolled),
                    "in_progress": _shown(counts.get((program.id, ENROLLED), 0)),
                    "left": _shown(counts.get((program.id, LEFT), 0)),
                    "completed": _shown(counts.get((program.id, COMPLETED), 0)),
                    "certificates": _shown(issued.get(program.id, 0)),
                    "days": [
                        {"day": d.day, "reached": _shown(d.reached), "at": _shown(d.at)} for d in by_day
                    ],
                }
            )
        return out


def _shown(n: int) -> int | None:
    """A count as aggregates may show it: none below SMALL_GROUP (zero is no group at all)."""
    return n if n == 0 or n >= SMALL_GROUP else None


def first_name(person: Person) -> str:
    """The first word of the name the person gave (never a surname)."""
    return ((person.name or "").split() or ["-"])[0][:60]
