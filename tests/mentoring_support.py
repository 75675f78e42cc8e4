"""Helpers for the mentoring tests: people set up in the database, and the outbox read back."""

from __future__ import annotations

import re

from sqlalchemy import select

from flows.mentors import add_mentor, pair
from store.db import session_scope
from store.mentoring import CheckIn, Flag, MentorWait, Pair
from store.models import OUTBOUND, Message, Person

MENTOR_PHONE = "+2348039990011"
STUDENTS = {
    "Amina": "+2348031110022",
    "Bola": "+2348032220033",
    "Chidi": "+2348033330044",
    "Dayo": "+2348034440055",
}


def add_student(
    settings,
    name: str,
    phone: str | None = None,
    track: str = "step1",
    language: str = "en",
    daily_time: str = "08:00",
    timezone: str = "Africa/Lagos",
) -> int:
    """An onboarded student, as the learning flows would leave one."""
    with session_scope(settings.database_url) as session:
        person = Person(
            phone=phone or STUDENTS[name],
            name=f"{name} Okafor",
            track=track,
            language=language,
            daily_time=daily_time,
            timezone=timezone,
            country="NG",
            role="student",
            status="active",
            flow_state={},
        )
        session.add(person)
        session.flush()
        return person.id


def make_mentor(settings, phone: str = MENTOR_PHONE, name: str = "Dr O", **options) -> int:
    with session_scope(settings.database_url) as session:
        return add_mentor(session, phone, name, **options).id


def make_pair(settings, mentor_phone: str, student_phone: str) -> int:
    with session_scope(settings.database_url) as session:
        return pair(session, mentor_phone, student_phone, settings.clock.now()).number


def rows(settings, model=Message, *where) -> list:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def outbox(settings, phone: str, kind: str | None = None) -> list[str]:
    """Bodies of the pushes queued for `phone` (not the webhook's own replies), oldest first."""
    where = [Message.direction == OUTBOUND, Message.phone == phone, Message.kind != "reply"]
    if kind is not None:
        where.append(Message.kind == kind)
    return [m.body for m in rows(settings, Message, *where)]


def queued(settings, phone: str, kind: str | None = None) -> list[Message]:
    where = [Message.direction == OUTBOUND, Message.phone == phone, Message.status == "queued"]
    if kind is not None:
        where.append(Message.kind == kind)
    return rows(settings, Message, *where)


def pairs(settings) -> list[Pair]:
    return rows(settings, Pair)


def flags(settings) -> list[Flag]:
    return rows(settings, Flag)


def checkins(settings) -> list[CheckIn]:
    return rows(settings, CheckIn)


def waiting(settings) -> list[MentorWait]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(MentorWait)))


def person(settings, phone: str) -> Person:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(Person).where(Person.phone == phone))


def number_forms(phone: str) -> list[str]:
    """The ways a number could show up in a text: E.164, bare digits, national, its tail."""
    digits = phone.lstrip("+")
    return [phone, digits, "0" + digits[3:], digits[-8:]]


def assert_numbers_stay_hidden(settings) -> int:
    """No message ever sent to one side of any pair carries the other side's number.

    Checks every outbound row (replies and pushes alike) and returns how many it checked.
    """
    checked = 0
    with session_scope(settings.database_url) as session:
        people = {p.id: p for p in session.scalars(select(Person))}
        outbound = list(session.scalars(select(Message).where(Message.direction == OUTBOUND)))
        links: dict[int, set[int]] = {}
        for item in session.scalars(select(Pair)):
            links.setdefault(item.mentor_id, set()).add(item.student_id)
            links.setdefault(item.student_id, set()).add(item.mentor_id)
    for message in outbound:
        squeezed = re.sub(r"\D", "", message.body)
        for other_id in links.get(message.person_id, ()):
            for form in number_forms(people[other_id].phone):
                assert form not in message.body, f"{form} leaked in {message.body!r}"
                assert form.lstrip("+") not in squeezed, f"{form} leaked in {message.body!r}"
        checked += 1
    return checked
