"""The routing table: the order in which a text is matched, pinned, and what that order means
for a person (STOP before everything, a check-in answer before an exam answer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import flows
from content.catalog import get_catalog
from content.segments import fold_for_sms, segment_count
from flows.routes import ROUTES
from store.mentoring import CheckIn
from store.models import MENTOR, OPTED_OUT, STUDENT, Attempt, Person
from store.settings import Settings
from tests.flows_support import Phone, content_folder, seed_bank
from tests.mentoring_support import add_mentor, pair

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_the_routes_are_tried_in_this_order():
    assert [name for name, _ in ROUTES] == [
        "opt-out word",
        "one channel's opt-out",
        "opted out",
        "help or start",
        "role",
        "first contact",
        "empty",
        "keyword",
        "open flow",
        "check-in answer",
        "exam answer",
        "not yet onboarded",
        "unknown",
    ]


# --- without a database: the routes before any flow reads its state -------------------------


def _text(person: Person, text: str, first_contact: bool = False, media: int = 0) -> list[str]:
    # No session: a route that reached for the database here would fail.
    ctx = flows.Context(None, get_catalog(), Settings(), NOW)  # type: ignore[arg-type]  # on purpose, as said above
    return flows.handle(ctx, person, flows.Inbound(text, "sms", NOW, num_media=media), first_contact).replies


def _person(**values: object) -> Person:
    return Person(**{"phone": "+2348031234567", "language": "en", "status": "active", **values})


@pytest.mark.parametrize(
    "person",
    [
        _person(role=STUDENT, flow="onboarding:time"),  # before the open flow
        _person(role=MENTOR),  # before the mentor's own conversation
        _person(role=STUDENT),
    ],
    ids=["onboarding", "mentor", "student"],
)
def test_stop_comes_before_everything(person):
    catalog = get_catalog()
    assert _text(person, "stop.", first_contact=True) == [catalog.render("stopped")]
    assert person.status == OPTED_OUT and person.next_push_at is None
    assert _text(person, "Q") == []  # nothing more until START
    assert _text(person, "HELP") == [catalog.render("help_opted_out")]


def test_help_start_and_empty_texts_are_answered_before_any_flow():
    catalog = get_catalog()
    student = _person(role=STUDENT, flow="onboarding:name")
    assert _text(student, "help") == [catalog.render("help")]
    assert _text(student, "START") == [catalog.render("already_active")]
    assert _text(_person(role=STUDENT, track="step1", daily_time="08:00"), " ", media=1) == [
        catalog.render("media_only"),
        catalog.render("help"),
    ]
    assert _text(_person(role=STUDENT), "", first_contact=True) == [catalog.render("welcome", channel="SMS")]


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_help_2_lists_the_second_wave_words_in_one_segment(language):
    catalog = get_catalog()
    student = _person(role=STUDENT, track="step1", daily_time="08:00", language=language)
    assert "HELP 2" in _text(student, "help")[0]
    for text in ("HELP 2", "help more", "Help 2."):
        [more] = _text(student, text)
        assert more == catalog.render("help_more", language=language)
        for word in ("PROGRAMS", "JOIN", "NEXT", "VERIFY", "OPP", "WEEKLY", "REPORT"):
            assert word in more
        assert segment_count(fold_for_sms(more)) == 1


def test_a_shared_location_is_answered_like_a_picture():
    catalog = get_catalog()
    ctx = flows.Context(None, get_catalog(), Settings(), NOW)  # type: ignore[arg-type]  # no session, as in _text
    student = _person(role=STUDENT, track="step1", daily_time="08:00")
    location = flows.Inbound("", "whatsapp", NOW, message_type="location")
    assert flows.handle(ctx, student, location).replies == [
        catalog.render("media_only"),
        catalog.render("help"),
    ]
    blank = flows.Inbound("", "whatsapp", NOW)
    assert flows.handle(ctx, student, blank).replies == [catalog.render("empty")]


# --- on the database: a check-in answer before an exam answer --------------------------------


@pytest.fixture
def paired_student(db, settings, tmp_path_factory):
    seed_bank(db)
    chat = settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))
    student = Phone(db, chat, "+2348031110022", NOW)
    student.onboard(name="Amina", track="1", time="08:00")
    mentor = add_mentor(db, "+2348039990011", "Dr O")
    pairing = pair(db, mentor, student.person, NOW)
    db.add(
        CheckIn(
            pair_id=pairing.id,
            student_id=student.person.id,
            mentor_id=mentor.id,
            week="2026-W48",
            asked_at=NOW,
        )
    )
    db.flush()
    return student


def test_a_checkin_answer_is_tried_before_an_exam_answer(db, paired_student):
    question = paired_student.say("Q", at=NOW + timedelta(minutes=5))  # an exam question, open after it
    assert question.startswith("Q")
    assert paired_student.say("4 good week") == "Thanks! Your mentor Dr O will see your check-in."
    checkin = db.query(CheckIn).one()
    assert (checkin.score, checkin.note) == (4, "good week")
    attempt = db.query(Attempt).filter(Attempt.person_id == paired_student.person.id).one()
    assert attempt.answered_at is None  # the exam question is still open
    assert paired_student.say("B").startswith(("Correct!", "Not quite"))
