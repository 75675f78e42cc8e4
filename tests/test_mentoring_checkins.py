"""Weekly check-ins: asked in each student's local time once per ISO week, answered 1-5 with a
note, summarised to the mentor once per cycle; low scores and crisis words raise flags.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from content.catalog import get_catalog
from flows.checkins import checkin_due, plan_checkins
from gateway import create_app
from store.db import session_scope
from store.mentoring import CHECKIN, CHECKIN_SUMMARY
from store.models import Attempt, Person, Question
from tests.conftest import Phone
from tests.mentoring_support import (
    MENTOR_PHONE,
    STUDENTS,
    add_student,
    assert_numbers_stay_hidden,
    checkins,
    flags,
    make_mentor,
    make_pair,
    outbox,
    pairs,
    person,
    queued,
)
from workers.mentoring import run_checkins

ONCALL_PHONE = "+447700900999"
HELPLINE = "Call the campus line on 0800 100 200."


SUNDAY = date(2026, 11, 29)  # check-in day; texts arrive at the clock the fixture sets
WEEK = "{}-W{:02d}".format(*SUNDAY.isocalendar()[:2])


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return datetime.combine(SUNDAY + timedelta(days=days), time(hour, minute), UTC)


@pytest.fixture
def client(app_settings):
    """The app with an on-call number and a helpline configured."""
    return create_app(app_settings.with_(oncall_phone=ONCALL_PHONE, helpline_text=HELPLINE)).test_client()


@pytest.fixture
def three_mentees(client, settings):
    """Dr O (Lagos) with Amina (Lagos, 08:00), Bola (Lagos, 22:00: quiet) and Chidi (London, 19:00)."""
    make_mentor(settings)
    add_student(settings, "Amina", daily_time="08:00")
    add_student(settings, "Bola", daily_time="22:00")
    add_student(settings, "Chidi", daily_time="19:00", timezone="Europe/London")
    for name in ("Amina", "Bola", "Chidi"):
        make_pair(settings, MENTOR_PHONE, STUDENTS[name])
    settings.clock.set(at(19, 5))  # texts arrive after the day's questions
    return settings


def phone(client, name: str) -> Phone:
    return Phone(client, STUDENTS[name])


ASK = "How was your study week? Reply 1-5 (5 = great), and add a note for your mentor Dr O if you like."


def test_each_student_is_asked_at_their_own_local_time_once_a_week(three_mentees):
    settings = three_mentees
    assert run_checkins(settings, at(5, 59)) == 0  # 06:59 in Lagos: nobody yet
    # Bola's 22:00 is in quiet hours, so hers moves to 07:00 Lagos (06:00 UTC).
    assert run_checkins(settings, at(6, 0)) == 1
    assert outbox(settings, STUDENTS["Bola"], CHECKIN) == [ASK]
    assert run_checkins(settings, at(7, 0)) == 1  # Amina at 08:00 Lagos
    assert run_checkins(settings, at(7, 0)) == 0  # the same instant twice sends nothing twice
    assert run_checkins(settings, at(7, 30)) == 0  # nor does a later tick that week
    assert run_checkins(settings, at(19, 0)) == 1  # Chidi at 19:00 London
    assert run_checkins(settings, at(19, 1)) == 0

    records = checkins(settings)
    assert sorted(c.week for c in records) == [WEEK] * 3
    keys = {m.idempotency_key for m in queued(settings, STUDENTS["Amina"], CHECKIN)}
    pair_id = next(p.id for p in pairs(settings) if p.number == 11)
    assert keys == {f"pair:{pair_id}:checkin:{WEEK}"}

    # The next week is a new cycle.
    # Amina and Bola (06:00 UTC has passed too), and last week's summary, long due, for Dr O.
    assert run_checkins(settings, at(7, 0, days=7)) == 3
    assert len(checkins(settings)) == 5
    assert len(outbox(settings, STUDENTS["Amina"], CHECKIN)) == 2
    assert len(outbox(settings, MENTOR_PHONE, CHECKIN_SUMMARY)) == 1


def test_plan_checkins_alone_is_idempotent_for_the_same_instant(three_mentees):
    settings = three_mentees
    catalog = get_catalog(settings.content_path)
    with session_scope(settings.database_url) as session:
        first = plan_checkins(session, catalog, settings, at(7, 0))
    with session_scope(settings.database_url) as session:
        second = plan_checkins(session, catalog, settings, at(7, 0))
    assert sorted(p[0] for p in first) == sorted(
        [person(settings, STUDENTS["Amina"]).id, person(settings, STUDENTS["Bola"]).id]
    )
    assert all(kind == CHECKIN and key.endswith(WEEK) for _, _, kind, key in first)
    assert second == []


def test_no_checkin_for_a_stopped_student_or_outside_the_weekday(client, three_mentees):
    settings = three_mentees
    phone(client, "Amina").text("STOP")
    assert run_checkins(settings, at(7, 0, days=-1)) == 0  # Saturday
    assert run_checkins(settings, at(7, 0)) == 1  # Bola only
    assert outbox(settings, STUDENTS["Amina"]) == []


def test_checkin_day_and_quiet_hours_are_configurable(three_mentees):
    settings = three_mentees.with_(checkin_weekday=0, quiet_start="06:00", quiet_end="09:00")
    amina = person(settings, STUDENTS["Amina"])
    due, week = checkin_due(amina, settings, at(12, 0))
    # Monday of the same ISO week, and 08:00 is inside 06:00-09:00, so 09:00 Lagos (08:00 UTC).
    assert due == datetime.combine(SUNDAY - timedelta(days=6), time(8, 0), UTC)
    assert week == WEEK


def test_answers_are_recorded_and_the_mentor_gets_one_summary(client, three_mentees):
    settings = three_mentees
    for instant in (at(6, 0), at(7, 0), at(19, 0)):
        run_checkins(settings, instant)

    assert phone(client, "Amina").text("4 good week, tired") == [
        "Thanks! Your mentor Dr O will see your check-in."
    ]
    assert phone(client, "Chidi").text("5") == ["Thanks! Your mentor Dr O will see your check-in."]
    assert run_checkins(settings, at(19, 30)) == 0  # Bola has not answered, and 24 h have not passed

    settings.clock.set(at(19, 30) + timedelta(seconds=30))
    phone(client, "Bola").text("3/5 exams next week")
    assert run_checkins(settings, at(19, 31)) == 1  # everyone answered: the summary goes now
    (summary,) = outbox(settings, MENTOR_PHONE, CHECKIN_SUMMARY)
    assert summary == (
        "Check-ins this week: #11 Amina 4 (good week, tired); #12 Bola 3 (exams next week); "
        "#13 Chidi 5. Reply a number and a message to write to a mentee."
    )
    assert run_checkins(settings, at(20, 0)) == 0
    assert run_checkins(settings, at(8, 0, days=1)) == 0  # and not again the next day
    assert [(c.score, c.note) for c in sorted(checkins(settings), key=lambda c: c.student_id)] == [
        (4, "good week, tired"),
        (3, "exams next week"),
        (5, None),
    ]
    # The mentor can answer any mentee from the summary by number.
    assert Phone(client, MENTOR_PHONE).text("12 Good luck with the exams!") == ["Sent to Bola #12."]
    assert flags(settings) == []
    assert_numbers_stay_hidden(settings)


def test_summary_next_day_lists_who_did_not_answer(client, three_mentees):
    settings = three_mentees
    for instant in (at(6, 0), at(7, 0), at(19, 0)):
        run_checkins(settings, instant)
    phone(client, "Amina").text("4")
    assert run_checkins(settings, at(5, 59, days=1)) == 0  # 24 h after the first question: not yet
    assert run_checkins(settings, at(6, 0, days=1)) == 1
    assert outbox(settings, MENTOR_PHONE, CHECKIN_SUMMARY) == [
        "Check-ins this week: #11 Amina 4; no answer: #12 Bola, #13 Chidi. "
        "Reply a number and a message to write to a mentee."
    ]
    # A late answer is still recorded, but the cycle's summary has gone.
    settings.clock.set(at(7, 0, days=1))
    phone(client, "Chidi").text("5")
    assert run_checkins(settings, at(12, 0, days=1)) == 0


def test_away_mentor_gets_no_summary(client, three_mentees):
    settings = three_mentees
    Phone(client, MENTOR_PHONE).text("PAUSE")
    for instant in (at(6, 0), at(7, 0), at(19, 0)):
        run_checkins(settings, instant)
    assert len(outbox(settings, STUDENTS["Amina"], CHECKIN)) == 1  # students are still asked
    assert run_checkins(settings, at(8, 0, days=1)) == 0
    assert outbox(settings, MENTOR_PHONE, CHECKIN_SUMMARY) == []


def test_a_bare_digit_answers_a_newer_exam_question_first(client, three_mentees):
    settings = three_mentees
    run_checkins(settings, at(7, 0))
    with session_scope(settings.database_url) as session:
        session.add(
            Question(
                id=9001,
                topic="renal",
                tracks=["step1"],
                difficulty=2,
                stem="Which is true?",
                options={"A": "a", "B": "b", "C": "c", "D": "d"},
                answer="C",
                explanation="Because.",
            )
        )
        session.flush()
        student = session.scalar(select_person(STUDENTS["Amina"]))
        session.add(
            Attempt(
                person_id=student.id,
                question_id=9001,
                source="more:1",
                local_date=SUNDAY,
                asked_at=at(7, 30),
            )
        )
    phone(client, "Amina").text("3")  # the exam question was asked after the check-in
    assert [c.score for c in checkins(settings) if c.student_id == student.id] == [None]
    phone(client, "Amina").text("3 slow week")  # a note makes it a check-in answer
    assert [c.score for c in checkins(settings) if c.student_id == student.id] == [3]


def select_person(phone_number: str):
    from sqlalchemy import select

    return select(Person).where(Person.phone == phone_number)


# --- safeguarding in check-ins -------------------------------------------------------------


def test_low_score_raises_a_flag_an_alert_and_a_supportive_reply(client, three_mentees):
    settings = three_mentees
    run_checkins(settings, at(7, 0))
    (reply,) = phone(client, "Amina").text("2")
    assert reply == (
        "Thank you for telling us. You are not alone. Call the campus line on 0800 100 200. "
        "Our team has been told and will be in touch."
    )
    (flag,) = flags(settings)
    amina = person(settings, STUDENTS["Amina"])
    assert (flag.person_id, flag.reason, flag.matched, flag.excerpt) == (
        amina.id,
        "low_score",
        ["low_score:2"],
        "2",
    )
    assert flag.checkin_id == checkins(settings)[0].id and flag.pair_id is not None
    assert flag.alerted is True and flag.resolved is False
    (alert,) = queued(settings, ONCALL_PHONE, "alert")
    assert (
        alert.body
        == f"Rounds safeguarding alert: flag {flag.id} (low score). Please check the admin console now."
    )
    assert alert.idempotency_key == f"flag:{flag.id}:alert"
    for form in (STUDENTS["Amina"], STUDENTS["Amina"].lstrip("+"), STUDENTS["Amina"][-8:]):
        assert form not in alert.body
    # The conversation is attached: the check-in question and the answer.
    assert len(flag.message_ids) >= 2


def test_crisis_words_in_a_checkin_note_raise_a_flag(client, three_mentees):
    settings = three_mentees
    run_checkins(settings, at(7, 0))
    (reply,) = phone(client, "Amina").text("4 honestly I can't cope anymore")
    assert reply.startswith("Thank you for telling us.")
    (flag,) = flags(settings)
    assert flag.reason == "burnout" and flag.matched == ["burnout:can't cope"]
    assert len(queued(settings, ONCALL_PHONE, "alert")) == 1


def test_patient_data_in_a_note_is_left_out(client, three_mentees):
    settings = three_mentees
    run_checkins(settings, at(7, 0))
    assert phone(client, "Amina").text("4 saw Mr John Smith DOB 01/02/1950 on ward") == [
        "Thanks, your score is saved. Please don't send patient details by text, so we left your note out."
    ]
    record = next(c for c in checkins(settings) if c.score is not None)
    assert (record.score, record.note) == (4, None)
