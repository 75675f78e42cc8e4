"""`rounds mentor ...` through Flask's CLI runner, the service functions the admin API shares,
and the mentoring migration.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flows.mentors import MentoringError, add_mentor, pair, unpair
from flows.phones import BadPhoneNumber, mask
from store.db import get_engine, session_scope
from store.mentoring import PAIR_ACTIVE, PAIR_ENDED, MentorProfile
from store.models import MENTOR
from store.schema import metadata
from tests.conftest import Phone
from tests.mentoring_support import (
    MENTOR_PHONE,
    STUDENTS,
    add_student,
    make_mentor,
    outbox,
    pairs,
    person,
)

MENTORING_TABLES = {"mentor_profiles", "mentor_pairs", "mentor_waitlist", "checkins", "safeguarding_flags"}


def test_add_a_mentor(runner, settings):
    result = runner.invoke(
        args=[
            "mentor",
            "add",
            "+234 803 999 0011",
            "--name",
            "Dr O",
            "--tracks",
            "step1,plab",
            "--languages",
            "en",
            "--languages",
            "fr",
            "--capacity",
            "3",
        ]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"mentor Dr O ({mask(MENTOR_PHONE)}): tracks step1,plab1, languages en,fr, capacity 3\n"
    )
    mentor = person(settings, MENTOR_PHONE)
    assert (mentor.role, mentor.name, mentor.timezone, mentor.language) == (
        MENTOR,
        "Dr O",
        "Africa/Lagos",
        "en",
    )
    with session_scope(settings.database_url) as session:
        profile = session.get(MentorProfile, mentor.id)
        assert (profile.tracks, profile.languages, profile.capacity) == (["step1", "plab1"], ["en", "fr"], 3)

    # Adding again updates, it does not duplicate.
    assert runner.invoke(args=["mentor", "add", MENTOR_PHONE, "--name", "Dr Obi"]).exit_code == 0
    with session_scope(settings.database_url) as session:
        assert session.get(MentorProfile, mentor.id).display_name == "Dr Obi"

    # A letter GSM-7 lacks loses its accent, not the whole letter; é stays.
    assert (
        runner.invoke(args=["mentor", "add", MENTOR_PHONE, "--name", "Dr Conceição Bénédicte"]).exit_code == 0
    )
    with session_scope(settings.database_url) as session:
        assert session.get(MentorProfile, mentor.id).display_name == "Dr Conceicao Bénédicte"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mentor", "add", "not-a-number", "--name", "Dr O"], "Invalid value for PHONE"),
        (["mentor", "add", "+12", "--name", "Dr O"], "write it in international form"),
        (["mentor", "add", MENTOR_PHONE, "--name", "Dr 0803"], "has digits"),
        (["mentor", "add", MENTOR_PHONE, "--name", "Dr O", "--tracks", "surgery"], "unknown track 'surgery'"),
        (["mentor", "add", MENTOR_PHONE, "--name", "Dr O", "--languages", "english"], "unknown language"),
        (["mentor", "pair", "12345", STUDENTS["Amina"]], "Invalid value for MENTOR_PHONE"),
        (["mentor", "pair", MENTOR_PHONE, "abc"], "Invalid value for STUDENT_PHONE"),
        (["mentor", "unpair", "abc"], "Invalid value for STUDENT_PHONE"),
    ],
)
def test_clear_errors(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_pair_unpair_and_list(runner, settings):
    make_mentor(settings)
    add_student(settings, "Amina")
    add_student(settings, "Bola")

    missing = runner.invoke(args=["mentor", "pair", MENTOR_PHONE, "+2348035550066"])
    assert missing.exit_code == 1 and "must text Rounds first" in missing.output
    not_mentor = runner.invoke(args=["mentor", "pair", STUDENTS["Bola"], STUDENTS["Amina"]])
    assert not_mentor.exit_code == 1 and "is not a mentor" in not_mentor.output

    result = runner.invoke(args=["mentor", "pair", MENTOR_PHONE, STUDENTS["Amina"]])
    assert result.exit_code == 0, result.output
    assert result.output == f"paired #11 ({mask(STUDENTS['Amina'])}) with mentor {mask(MENTOR_PHONE)}\n"
    assert runner.invoke(args=["mentor", "pair", MENTOR_PHONE, STUDENTS["Amina"]]).output.startswith(
        "already paired: #11"
    )
    # Both sides are told, through the outbox.
    assert outbox(settings, STUDENTS["Amina"], "mentor_notice") == [
        "You now have a mentor: Dr O. Text MENTOR and your message to write to them. "
        "Your phone numbers stay private."
    ]
    assert outbox(settings, MENTOR_PHONE, "mentor_notice")[0].startswith("New mentee: Amina #11")

    assert (
        runner.invoke(args=["mentor", "pair", "--no-notify", MENTOR_PHONE, STUDENTS["Bola"]]).exit_code == 0
    )
    assert outbox(settings, STUDENTS["Bola"]) == []

    listing = runner.invoke(args=["mentor", "list"])
    assert listing.exit_code == 0
    assert listing.output.splitlines() == [
        f"Dr O  {mask(MENTOR_PHONE)}  tracks any, languages any, capacity 5  mentees 2",
        f"  #11 Amina  {mask(STUDENTS['Amina'])}",
        f"  #12 Bola  {mask(STUDENTS['Bola'])}",
        "waiting list: 0 student(s)",
    ]
    for phone in (MENTOR_PHONE, *STUDENTS.values()):
        assert phone not in listing.output

    result = runner.invoke(args=["mentor", "unpair", STUDENTS["Amina"]])
    assert result.exit_code == 0 and result.output == f"ended pair #11 ({mask(STUDENTS['Amina'])})\n"
    assert outbox(settings, STUDENTS["Amina"], "mentor_notice")[-1] == (
        "Your mentoring with Dr O has ended. Text MENTOR to be matched with a new mentor."
    )
    assert outbox(settings, MENTOR_PHONE, "mentor_notice")[-1] == "Amina #11 is no longer your mentee."
    assert (
        runner.invoke(args=["mentor", "unpair", STUDENTS["Amina"]]).output
        == f"{mask(STUDENTS['Amina'])} has no mentor\n"
    )
    assert [(p.number, p.status) for p in pairs(settings)] == [(11, PAIR_ENDED), (12, PAIR_ACTIVE)]


def test_an_empty_list_says_how_to_start(runner):
    result = runner.invoke(args=["mentor", "list"])
    assert result.output.splitlines() == [
        "no mentors yet: add one with `rounds mentor add PHONE --name NAME`",
        "waiting list: 0 student(s)",
    ]


# --- the service functions the admin API calls ------------------------------------------------


def test_service_functions_take_people_or_phone_numbers(db, settings, now):
    mentor = add_mentor(db, "+447700900001", "Dr O", tracks=["step1"], languages=["en"], capacity=2)
    other = add_mentor(db, "+447700900002", "Dr K")
    db.commit()
    add_student(settings, "Amina")
    amina = person(settings, STUDENTS["Amina"])
    amina = db.merge(amina)

    first = pair(db, mentor, amina, now)
    assert (first.number, first.status) == (11, PAIR_ACTIVE)
    # Pairing with another mentor ends the first pair; numbers are per mentor.
    second = pair(db, "+447700900002", STUDENTS["Amina"], now)
    assert (second.mentor_id, second.number) == (other.id, 11)
    assert first.status == PAIR_ENDED and first.ended_by == "rematch"
    assert unpair(db, amina, now).id == second.id
    assert unpair(db, STUDENTS["Amina"], now) is None
    # A new pair with a mentor never reuses a number.
    assert pair(db, mentor, amina, now).number == 12
    db.commit()

    with pytest.raises(BadPhoneNumber):
        add_mentor(db, "nope", "Dr X")
    with pytest.raises(MentoringError, match="is a student with a mentor"):
        add_mentor(db, STUDENTS["Amina"], "Amina")
    db.rollback()


def test_a_student_can_become_a_mentor(client, settings):
    add_student(settings, "Amina")
    with session_scope(settings.database_url) as session:
        add_mentor(session, STUDENTS["Amina"], "Dr Amina")
    amina = person(settings, STUDENTS["Amina"])
    assert (amina.role, amina.daily_time, amina.next_push_at) == (MENTOR, None, None)
    assert Phone(client, STUDENTS["Amina"]).text("LIST") == [
        "You have no mentees yet. We'll text you when you're paired with one."
    ]


def test_migration_matches_the_models(database_url):
    with get_engine(database_url).connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    ours = [d for d in diffs if any(table in repr(d) for table in MENTORING_TABLES)]
    assert ours == []
