"""`rounds mentor ...`: add mentors, pair and unpair students, and list who mentors whom.

Phone numbers are printed masked; a bad number or request exits non-zero saying what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from content.catalog import get_catalog
from flows.engine import Push
from flows.mentors import (
    MentoringError,
    active_pair_of_student,
    active_pairs_of_mentor,
    add_mentor,
    ending_notices,
    first_name,
    pair,
    pairing_notices,
    profile_of,
    unpair,
)
from flows.phones import BadPhoneNumber, mask, parse_address
from store.db import session_scope
from store.mentoring import MentorProfile, MentorWait
from store.models import ACTIVE, Person
from store.settings import Settings
from workers.outbox import deliver

T = TypeVar("T")

mentor = AppGroup("mentor", help="Mentors and their mentees.")


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


def _phone(value: str, hint: str) -> str:
    try:
        return parse_address(value).phone
    except BadPhoneNumber as exc:
        raise click.BadParameter(
            f"{exc}; write it in international form, e.g. +2348031234567", param_hint=hint
        ) from exc


def _in_session(work: Callable[[Session], tuple[T, list[Push]]]) -> T:
    """Run `work` in one transaction, queue the pushes it returns, then signal the workers."""
    try:
        with session_scope(_settings().database_url) as session:
            result, pushes = work(session)
            deliver(_settings(), session, pushes)
    except MentoringError as exc:
        raise click.ClickException(str(exc)) from exc
    return result


def _describe(profile: MentorProfile) -> str:
    tracks = ",".join(profile.tracks or []) or "any"
    languages = ",".join(profile.languages or []) or "any"
    return f"tracks {tracks}, languages {languages}, capacity {profile.capacity}"


@mentor.command("add")
@click.argument("phone")
@click.option("--name", required=True, help="What mentees see, e.g. 'Dr O'.")
@click.option(
    "--tracks", multiple=True, help="Tracks they mentor (step1, step2ck, plab1, general); default any."
)
@click.option("--languages", multiple=True, help="Language codes they mentor in, e.g. en,fr; default any.")
@click.option(
    "--capacity", type=click.IntRange(min=0), default=5, show_default=True, help="Most mentees at once."
)
def add(phone: str, name: str, tracks: tuple[str, ...], languages: tuple[str, ...], capacity: int) -> None:
    """Add a mentor (or update one) by PHONE."""
    number = _phone(phone, "PHONE")

    def work(session: Session) -> tuple[str, list[Push]]:
        person = add_mentor(session, number, name, tracks, languages, capacity)
        profile = profile_of(session, person)
        return f"mentor {profile.display_name} ({mask(person.phone)}): {_describe(profile)}", []

    click.echo(_in_session(work))


@mentor.command("pair")
@click.argument("mentor_phone")
@click.argument("student_phone")
@click.option("--notify/--no-notify", default=True, show_default=True, help="Text both sides about it.")
def pair_command(mentor_phone: str, student_phone: str, notify: bool) -> None:
    """Pair the student at STUDENT_PHONE with the mentor at MENTOR_PHONE."""
    mentor_number = _phone(mentor_phone, "MENTOR_PHONE")
    student_number = _phone(student_phone, "STUDENT_PHONE")
    catalog = get_catalog(_settings().content_path)

    def work(session: Session) -> tuple[str, list[Push]]:
        student = session.scalar(select(Person).where(Person.phone == student_number))
        before = active_pair_of_student(session, student) if student is not None else None
        made = pair(session, mentor_number, student_number, _settings().clock.now())
        label = f"#{made.number} ({mask(student_number)}) with mentor {mask(mentor_number)}"
        if before is not None and before.id == made.id:
            return f"already paired: {label}", []
        pushes = []
        if notify:
            if before is not None:
                pushes += ending_notices(session, catalog, before)
            pushes += pairing_notices(session, catalog, made)
        return f"paired {label}", pushes

    click.echo(_in_session(work))


@mentor.command("unpair")
@click.argument("student_phone")
@click.option("--notify/--no-notify", default=True, show_default=True, help="Text both sides about it.")
def unpair_command(student_phone: str, notify: bool) -> None:
    """End the mentoring pair of the student at STUDENT_PHONE."""
    student_number = _phone(student_phone, "STUDENT_PHONE")
    catalog = get_catalog(_settings().content_path)

    def work(session: Session) -> tuple[str, list[Push]]:
        ended = unpair(session, student_number, _settings().clock.now(), by="cli")
        if ended is None:
            return f"{mask(student_number)} has no mentor", []
        pushes = ending_notices(session, catalog, ended) if notify else []
        return f"ended pair #{ended.number} ({mask(student_number)})", pushes

    click.echo(_in_session(work))


@mentor.command("list")
def list_command() -> None:
    """Mentors, their mentees by number, and the waiting list."""
    catalog = get_catalog(_settings().content_path)

    def work(session: Session) -> tuple[list[str], list[Push]]:
        lines = []
        mentors = session.execute(
            select(Person, MentorProfile)
            .join(MentorProfile, MentorProfile.person_id == Person.id)
            .order_by(MentorProfile.display_name, Person.id)
        ).all()
        for person, profile in mentors:
            pairs = active_pairs_of_mentor(session, person)
            state = ["away"] if profile.away else []
            if person.status != ACTIVE:
                state.append(person.status)
            lines.append(
                f"{profile.display_name}  {mask(person.phone)}  {_describe(profile)}  mentees {len(pairs)}"
                + (f"  ({', '.join(state)})" if state else "")
            )
            for item in pairs:
                student = session.get(Person, item.student_id)
                lines.append(f"  #{item.number} {first_name(catalog, student, 'en')}  {mask(student.phone)}")
        if not mentors:
            lines.append("no mentors yet: add one with `rounds mentor add PHONE --name NAME`")
        waiting = session.scalar(select(func.count()).select_from(MentorWait))
        lines.append(f"waiting list: {waiting} student(s)")
        return lines, []

    for line in _in_session(work):
        click.echo(line)


COMMANDS: list[click.Command] = [mentor]
