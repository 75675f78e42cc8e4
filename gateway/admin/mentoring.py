"""What the console and API need from mentoring: mentors, pairs and safeguarding flags.

Mentoring owns the tables (store.mentoring) and the rules (flows.mentors); this module reads
the tables, calls `add_mentor`/`pair`/`unpair`, and hands back the notices for the caller to deliver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from content.catalog import Catalog
from flows import mentors as mentor_flows
from flows.engine import Push
from flows.phones import BadPhoneNumber, parse_address
from store.mentoring import (
    PAIR_ACTIVE,
    CheckIn,
    Flag,
    MentorProfile,
    MentorWait,
    Pair,
    flag_conversation,
    in_pair,
)
from store.models import MENTOR, Message, Person


class MentoringError(ValueError):
    """Something the admin can correct; the message says what."""


def pairs(session: Session, limit: int = 200, mentor_id: int | None = None) -> list[dict[str, Any]]:
    """Active pairs, newest first, with both names (never numbers: pages may be shown to anyone)."""
    mentor, student = Person.__table__.alias("mentor"), Person.__table__.alias("student")
    statement = (
        select(
            Pair.id,
            Pair.mentor_id,
            Pair.student_id,
            Pair.number,
            Pair.created_at,
            Pair.last_student_message_at,
            Pair.last_mentor_message_at,
            mentor.c.name.label("mentor_name"),
            student.c.name.label("student_name"),
        )
        .join(mentor, mentor.c.id == Pair.mentor_id)
        .join(student, student.c.id == Pair.student_id)
        .where(Pair.status == PAIR_ACTIVE)
        .order_by(Pair.id.desc())
        .limit(limit)
    )
    if mentor_id is not None:
        statement = statement.where(Pair.mentor_id == mentor_id)
    return [dict(row._mapping) for row in session.execute(statement)]


def mentee_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Pair.mentor_id, func.count()).where(Pair.status == PAIR_ACTIVE).group_by(Pair.mentor_id)
    )
    return {mentor_id: count for mentor_id, count in rows}


def profiles(session: Session) -> dict[int, dict[str, Any]]:
    """Mentor profiles (display name, tracks, languages, capacity, away) by person id."""
    return {
        profile.person_id: {
            "display_name": profile.display_name,
            "tracks": list(profile.tracks or []),
            "languages": list(profile.languages or []),
            "capacity": profile.capacity,
            "away": profile.away,
        }
        for profile in session.scalars(select(MentorProfile))
    }


def waiting(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(MentorWait)) or 0


def pairing_of(session: Session, person: Person) -> dict[str, Any]:
    """The mentor of a student, or the mentees of a mentor."""
    if person.role == MENTOR:
        return {"mentees": pairs(session, mentor_id=person.id)}
    mentor_id = session.scalar(
        select(Pair.mentor_id).where(Pair.student_id == person.id, Pair.status == PAIR_ACTIVE)
    )
    return {"mentor": session.get(Person, mentor_id) if mentor_id else None}


def add(
    session: Session, phone: str, name: str, tracks: Sequence[str], languages: Sequence[str], capacity: Any
) -> Person:
    if not (name or "").strip():
        raise MentoringError("give the mentor's name as students will see it, e.g. Dr O")
    try:
        capacity = int(capacity)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: a JSON Infinity
        raise MentoringError("capacity must be a whole number of mentees, e.g. 5") from exc
    if not 0 <= capacity <= 100:
        raise MentoringError("capacity must be between 0 and 100 mentees")
    try:
        return mentor_flows.add_mentor(
            session, phone, name.strip(), tracks=tuple(tracks), languages=tuple(languages), capacity=capacity
        )
    except BadPhoneNumber as exc:
        raise MentoringError(f"{exc}; write the number as +E164, e.g. +2348031234567") from exc
    except mentor_flows.MentoringError as exc:
        raise MentoringError(str(exc)) from exc


def _person(session: Session, phone: str, what: str) -> Person:
    try:
        number = parse_address(phone).phone
    except BadPhoneNumber as exc:
        raise MentoringError(f"{what}: {exc}; write the number as +E164, e.g. +2348031234567") from exc
    person = session.scalar(select(Person).where(Person.phone == number))
    if person is None:
        raise MentoringError(f"{what}: nobody with the number {number} has texted Rounds yet")
    return person


def pair_phones(
    session: Session, catalog: Catalog, mentor_phone: str, student_phone: str, now: datetime
) -> list[Push]:
    """Pair by phone numbers; returns both sides' notices for the caller to `deliver`."""
    mentor, student = _person(session, mentor_phone, "mentor"), _person(session, student_phone, "student")
    current = mentor_flows.active_pair_of_student(session, student)
    try:
        created = mentor_flows.pair(session, mentor, student, now)
    except mentor_flows.MentoringError as exc:
        raise MentoringError(str(exc)) from exc
    if current is not None and current.id == created.id:
        return []  # already paired: nobody needs telling again
    notices = mentor_flows.ending_notices(session, catalog, current) if current is not None else []
    return [*notices, *mentor_flows.pairing_notices(session, catalog, created)]


def unpair_student(session: Session, catalog: Catalog, student_id: int, now: datetime) -> list[Push]:
    """End a student's pairing; returns both sides' notices for the caller to `deliver`."""
    student = session.get(Person, student_id)
    if student is None:
        raise MentoringError(f"there is no student #{student_id}")
    try:
        ended = mentor_flows.unpair(session, student, now, by="admin")
    except mentor_flows.MentoringError as exc:
        raise MentoringError(str(exc)) from exc
    if ended is None:
        raise MentoringError(f"student #{student_id} has no mentor")
    return mentor_flows.ending_notices(session, catalog, ended)


# --- flags ------------------------------------------------------------------------------------


def flag_json(flag: Flag) -> dict[str, Any]:
    return {
        "id": flag.id,
        "person_id": flag.person_id,
        "pair_id": flag.pair_id,
        "reason": flag.reason,
        "matched": list(flag.matched or []),
        "excerpt": flag.excerpt,
        "alerted": flag.alerted,
        "created_at": flag.created_at.isoformat() if flag.created_at else None,
        "resolved": flag.resolved,
        "resolved_at": flag.resolved_at.isoformat() if flag.resolved_at else None,
        "resolved_by": flag.resolved_by,
        "resolution_note": flag.resolution_note,
        "message_ids": list(flag.message_ids or []),
    }


def flags(session: Session, open_only: bool = True, limit: int = 200) -> list[Flag]:
    statement = select(Flag).order_by(Flag.created_at.desc(), Flag.id.desc()).limit(limit)
    if open_only:
        statement = statement.where(Flag.resolved.is_(False))
    return list(session.scalars(statement))


def conversation(session: Session, flag: Flag) -> list[Message]:
    return flag_conversation(session, flag)


def open_flags(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Flag).where(Flag.resolved.is_(False))) or 0


def resolve_flag(session: Session, flag_id: int, by: str, now: datetime, note: str | None = None) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise MentoringError(f"there is no flag #{flag_id}")
    if not flag.resolved:
        flag.resolved = True
        flag.resolved_at = now
        flag.resolved_by = by[:120]
        flag.resolution_note = (note or "").strip() or None
    return flag


def forget(session: Session, person: Person, now: datetime) -> None:
    """For erasure: end the pairing, leave the waiting list, blank what they wrote to their mentor."""
    if person.role == MENTOR:
        # Their mentees go back to being matched; nothing is relayed to an erased number.
        for active in mentor_flows.active_pairs_of_mentor(session, person):
            mentor_flows.end_pair(session, active, "erasure", now)
    else:
        mentor_flows.unpair(session, person, now, by="erasure")
        pair_ids = list(session.scalars(select(Pair.id).where(Pair.student_id == person.id)))
        for pair_id in pair_ids:
            # Relays to the mentor carry the student's words under the mentor's person id.
            session.execute(update(Message).where(in_pair(pair_id)).values(body="", updated_at=now))
    session.execute(MentorWait.__table__.delete().where(MentorWait.student_id == person.id))
    session.execute(update(Flag).where(Flag.person_id == person.id).values(excerpt=""))
    session.execute(update(CheckIn).where(CheckIn.student_id == person.id).values(note=None))
