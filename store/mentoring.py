"""Mentoring models: mentor profiles, pairs, the waiting list, weekly check-ins and safeguarding flags.

Relayed texts live in the message log itself (`Message.kind == "relay"`); every push that
belongs to a pair carries an idempotency key starting `pair:<id>:`, so a pair's history is
one indexed query (`pair_history`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, BigId, Message, utcnow
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


def pair_history(session: Session, pair_id: int) -> list[Message]:
    """Everything sent within a pair, oldest first: relays both ways, notices and check-ins."""
    return list(
        session.scalars(
            select(Message).where(Message.idempotency_key.like(f"pair:{pair_id}:%")).order_by(Message.id)
        )
    )


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
