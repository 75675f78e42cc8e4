"""Mentoring models (mentor profiles, pairs, the waiting list, weekly check-ins, safeguarding flags)
and `Mentoring`, the queries the mentoring flows ask for through `ctx.mentoring`.

Relayed texts live in the message log itself (`Message.kind == "relay"`); every push that
belongs to a pair carries an idempotency key starting `pair:<id>:`, so a pair's history is
one indexed query (`in_pair`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Select,
    UniqueConstraint,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_or_ignore
from store.models import ACTIVE, MENTOR, Base, BigId, Message, Person, utcnow
from store.text import CleanString, CleanText

# Pair.status values
PAIR_ACTIVE, PAIR_ENDED = "active", "ended"
# Message.kind values the mentoring flows use
RELAY, MENTOR_NOTICE, CHECKIN, CHECKIN_SUMMARY, ALERT = (
    "relay",
    "mentor_notice",
    "checkin",
    "checkin_summary",
    "alert",
)
# Relay directions, as they appear in a relay's idempotency key
TO_MENTOR, TO_STUDENT = "to-mentor", "to-student"
# Person.role of an on-call admin number that receives safeguarding alerts
ONCALL = "oncall"


class MentorProfile(Base):
    """What matching needs to know about a mentor (a `Person` with role `mentor`)."""

    __tablename__ = "mentor_profiles"

    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    # What mentees see, e.g. "Dr O": short and GSM-7, never the phone number.
    display_name: Mapped[str] = mapped_column(CleanString(24))
    # Empty means any track / any language.
    tracks: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Pair(Base):
    """A mentor and a student; `number` is how the mentor names the student (e.g. #12)."""

    __tablename__ = "mentor_pairs"
    __table_args__ = (
        # Numbers are never reused by a mentor, so an old "12 ..." can never reach a new mentee.
        UniqueConstraint("mentor_id", "number", name="uq_mentor_pairs_number"),
        # A student has at most one active mentor, even when two matches race.
        Index(
            "uq_mentor_pairs_active_student",
            "student_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_mentor_pairs_mentor_status", "mentor_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(CleanString(8), default=PAIR_ACTIVE)
    # False after the mentor's DONE: a bare reply no longer goes to this student.
    thread_open: Mapped[bool] = mapped_column(Boolean, default=True)
    last_student_message_at: Mapped[datetime | None]
    last_mentor_message_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # Who ended it: "admin", "cli", "rematch" ...
    ended_by: Mapped[str | None] = mapped_column(CleanString(16))


class MentorWait(Base):
    """A student who asked for a mentor when none was free; matched by the scheduling pass."""

    __tablename__ = "mentor_waitlist"

    student_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(default=utcnow)


class CheckIn(Base):
    """One weekly check-in: asked once per pair per ISO week, answered 1-5 with a note."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("pair_id", "week", name="uq_checkins_pair_week"),
        Index("ix_checkins_student_asked", "student_id", "asked_at"),
        Index("ix_checkins_mentor_week", "mentor_id", "week"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pair_id: Mapped[int] = mapped_column(BigId, ForeignKey("mentor_pairs.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    mentor_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    week: Mapped[str] = mapped_column(CleanString(8))  # ISO week of the student's local date, "2026-W48"
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(CleanString(160))
    # Set when the mentor's summary covering this check-in was planned (or skipped).
    summarised_at: Mapped[datetime | None] = mapped_column(index=True)


class Flag(Base):
    """A safeguarding concern for admins: what raised it, the text, and the conversation around it."""

    __tablename__ = "safeguarding_flags"
    __table_args__ = (Index("ix_safeguarding_flags_resolved_created", "resolved", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # SET NULL, not CASCADE: a flag outlives the number that raised it.
    person_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    pair_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mentor_pairs.id", ondelete="SET NULL"))
    checkin_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("checkins.id", ondelete="SET NULL"))
    # The most serious category: self_harm, crisis, abuse, burnout or low_score.
    reason: Mapped[str] = mapped_column(CleanString(32))
    # Every category and phrase that matched, e.g. ["self_harm:want to die", "low_score:1"].
    matched: Mapped[list[str]] = mapped_column(default=list)
    excerpt: Mapped[str] = mapped_column(CleanText, default="")
    # The conversation around it: ids of the person's and the pair's recent messages.
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(CleanString(120))
    resolution_note: Mapped[str | None] = mapped_column(CleanText)


def pair_key(pair_id: int, what: str, token: str) -> str:
    """The idempotency key of a push that belongs to a pair (relay, notice, check-in)."""
    return f"pair:{pair_id}:{what}:{token}"


def in_pair(pair_id: int) -> ColumnElement[bool]:
    """Everything sent within a pair (relays both ways, notices, check-ins): their keys start
    `pair:<id>:`, which the key's unique index answers."""
    return Message.idempotency_key.like(f"pair:{pair_id}:%")


def flag_conversation(session: Session, flag: Flag) -> list[Message]:
    """The messages attached to a flag, oldest first (for the admin console)."""
    ids = [int(i) for i in flag.message_ids or []]
    if not ids:
        return []
    return list(session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)))


def open_flags(session: Session, limit: int = 100) -> list[Flag]:
    """Unresolved flags, newest first."""
    return list(
        session.scalars(
            select(Flag)
            .where(Flag.resolved.is_(False))
            .order_by(Flag.created_at.desc(), Flag.id.desc())
            .limit(limit)
        )
    )


def available_mentors_query() -> Select:
    """Active, reachable mentors who are not away, with their profiles, in id order."""
    return (
        select(Person, MentorProfile)
        .join(MentorProfile, MentorProfile.person_id == Person.id)
        .where(
            # A literal, so both databases match it to the partial index on the mentors.
            Person.role == literal_column(f"'{MENTOR}'"),
            Person.status == ACTIVE,
            Person.unreachable.is_(False),
            MentorProfile.away.is_(False),
        )
        .order_by(Person.id)
    )


class Mentoring:
    """The mentoring queries over one session (the caller commits); flows reach it as `ctx.mentoring`."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, row: object) -> None:
        """A new row, written now so its id is known."""
        self.session.add(row)
        self.session.flush()

    def flush(self) -> None:
        self.session.flush()

    # --- people ---------------------------------------------------------------------------

    def person(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def member(self, person_id: int) -> Person:
        """Someone a pair or check-in names: the foreign key guarantees the row."""
        return self.session.get_one(Person, person_id)

    def person_by_phone(self, phone: str) -> Person | None:
        return self.session.scalar(select(Person).where(Person.phone == phone))

    def profile(self, mentor_id: int) -> MentorProfile | None:
        return self.session.get(MentorProfile, mentor_id)

    def available_mentors(self) -> list[tuple[Person, MentorProfile, int]]:
        """Every mentor who can take a mentee now, with their profile and active mentee count."""
        counts = dict(
            self.session.execute(
                select(Pair.mentor_id, func.count())
                .where(Pair.status == PAIR_ACTIVE)
                .group_by(Pair.mentor_id)
            ).all()
        )
        rows = self.session.execute(available_mentors_query()).all()
        return [(mentor, profile, counts.get(mentor.id, 0)) for mentor, profile in rows]

    # --- pairs ----------------------------------------------------------------------------

    def pair(self, pair_id: int) -> Pair | None:
        return self.session.get(Pair, pair_id)

    def active_pair_of_student(self, student_id: int) -> Pair | None:
        return self.session.scalar(
            select(Pair).where(Pair.student_id == student_id, Pair.status == PAIR_ACTIVE)
        )

    def active_pairs_of_mentor(self, mentor_id: int) -> list[Pair]:
        return list(
            self.session.scalars(
                select(Pair)
                .where(Pair.mentor_id == mentor_id, Pair.status == PAIR_ACTIVE)
                .order_by(Pair.number)
            )
        )

    def highest_number(self, mentor_id: int) -> int | None:
        """The highest number this mentor ever gave a mentee (numbers are never reused)."""
        return self.session.scalar(select(func.max(Pair.number)).where(Pair.mentor_id == mentor_id))

    def create_pair(self, mentor_id: int, student_id: int, first_number: int, at: datetime) -> Pair | None:
        """A new active pair with the mentor's next number; the student's pair if one raced in first.

        None when a concurrent match took the number: the caller may try again.
        """
        savepoint = self.session.begin_nested()
        created = Pair(
            mentor_id=mentor_id,
            student_id=student_id,
            number=max(first_number, (self.highest_number(mentor_id) or 0) + 1),
            status=PAIR_ACTIVE,
            thread_open=True,
            created_at=at,
        )
        self.session.add(created)
        try:
            self.session.flush()
        except IntegrityError:
            savepoint.rollback()
            return self.active_pair_of_student(student_id)
        savepoint.commit()
        self.leave_waitlist(student_id)
        return created

    def active_pairs_with_students(self) -> list[tuple[Pair, Person]]:
        """Every active pair whose student is active, with the student, in pair order."""
        rows = self.session.execute(
            select(Pair, Person)
            .join(Person, Person.id == Pair.student_id)
            .where(Pair.status == PAIR_ACTIVE, Person.status == ACTIVE)
            .order_by(Pair.id)
        ).all()
        return [(pair, student) for pair, student in rows]

    def recent_relays(self, pair_id: int, receiver_id: int, direction: str, since: datetime) -> int:
        """Relayed texts in this pair and direction since `since`, counted from the message log."""
        return (
            self.session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.person_id == receiver_id,
                    Message.kind == RELAY,
                    Message.created_at >= since,
                    Message.idempotency_key.like(f"pair:{pair_id}:{direction}:%"),
                )
            )
            or 0
        )

    # --- the waiting list -----------------------------------------------------------------

    def join_waitlist(self, student_id: int, at: datetime) -> None:
        """Put the student on the waiting list once; asking again keeps their place."""
        if self.session.get(MentorWait, student_id) is not None:
            return
        savepoint = self.session.begin_nested()
        self.session.add(MentorWait(student_id=student_id, since=at))
        try:
            savepoint.commit()
        except IntegrityError:  # the same student, twice at once: one row is enough
            savepoint.rollback()

    def leave_waitlist(self, student_id: int) -> None:
        self.session.execute(delete(MentorWait).where(MentorWait.student_id == student_id))

    def waiting(self) -> list[Person]:
        """The students on the waiting list, longest waiting first."""
        return list(
            self.session.scalars(
                select(Person)
                .join(MentorWait, MentorWait.student_id == Person.id)
                .order_by(MentorWait.since, MentorWait.student_id)
            )
        )

    # --- check-ins ------------------------------------------------------------------------

    def pairs_asked_since(self, since: datetime) -> set[int]:
        """The pairs whose check-in was asked after `since`."""
        return set(self.session.scalars(select(CheckIn.pair_id).where(CheckIn.asked_at > since)))

    def add_checkin(self, values: dict) -> int | None:
        """A check-in, unless the pair already has this week's; its id, or None."""
        return insert_or_ignore(self.session, CheckIn, values, ["pair_id", "week"])

    def unsummarised_checkins(self) -> list[CheckIn]:
        return list(
            self.session.scalars(select(CheckIn).where(CheckIn.summarised_at.is_(None)).order_by(CheckIn.id))
        )

    def pending_checkin(self, student_id: int, since: datetime) -> CheckIn | None:
        """The student's latest unanswered check-in asked since `since`."""
        return self.session.scalar(
            select(CheckIn)
            .where(
                CheckIn.student_id == student_id,
                CheckIn.answered_at.is_(None),
                CheckIn.asked_at >= since,
            )
            .order_by(CheckIn.asked_at.desc(), CheckIn.id.desc())
            .limit(1)
        )

    # --- safeguarding ---------------------------------------------------------------------

    def conversation(self, person_id: int, pair_id: int | None, size: int) -> list[int]:
        """The ids of the person's latest messages and the pair's latest pushes, oldest first."""
        clauses = [Message.person_id == person_id]
        if pair_id is not None:
            clauses.append(Message.idempotency_key.like(f"pair:{pair_id}:%"))
        ids = self.session.scalars(
            select(Message.id).where(or_(*clauses)).order_by(Message.id.desc()).limit(size)
        ).all()
        return sorted(ids)

    def alerted_since(self, person_id: int, since: datetime, besides: int) -> bool:
        """An alert went out for another of the person's flags since `since`."""
        found = self.session.scalar(
            select(Flag.id)
            .where(
                Flag.person_id == person_id,
                Flag.id != besides,
                Flag.alerted.is_(True),
                Flag.created_at >= since,
            )
            .limit(1)
        )
        return found is not None
