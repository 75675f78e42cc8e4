"""A program from JOIN to certificate: texts through the signed webhook, program days queued by
`rounds tick --at` at the student's local time and sent by a real RQ worker to the Twilio stand-in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from content.segments import segment_count
from store.db import session_scope
from store.models import Card, Message, Person
from store.programs import COMPLETED, Certificate, Enrolment
from tests.conftest import Phone, drain
from tests.programs_support import load_with_fixture

LAGOS = "+2348031234111"  # UTC+1, no daylight saving


@pytest.fixture
def program_settings(send_settings):
    load_with_fixture(send_settings)
    return send_settings


def tick(runner, when: str) -> None:
    result = runner.invoke(args=["tick", "--at", when])
    assert result.exit_code == 0, result.output


def pushed(twilio, since: int) -> list[str]:
    return [m["Body"] for m in twilio.sent[since:]]


def test_a_program_from_join_to_certificate(program_settings, client, runner, twilio, clock):
    phone = Phone(client, LAGOS)
    for text in ("JOIN", "Ada Obi", "1", "7pm"):
        phone.text(text)
    (listing,) = phone.text("PROGRAMS")
    assert "TST: Study design basics, 4 days" in listing
    assert phone.text("JOIN TST") == [
        "You're in Study design basics: 4 days. Day 1 comes at your daily time, 19:00. "
        "LEAVE to stop, NEXT to go early."
    ]
    (again,) = phone.text("join tst")
    assert (
        again.startswith("You're already in Study design basics (day 0 of 4)") and segment_count(again) == 1
    )

    # Day 1 at 19:00 in Lagos (18:00 UTC); twice at the same instant sends once.
    tick(runner, "2026-11-26T17:59:00Z")
    tick(runner, "2026-11-26T18:00:00Z")
    tick(runner, "2026-11-26T18:00:00Z")
    drain(program_settings)
    (day1,) = pushed(twilio, 0)
    assert day1.startswith("TST 1/4: Q1112 ") and segment_count(day1) <= 2
    clock.set(datetime(2026, 11, 26, 18, 20, tzinfo=UTC))
    (feedback,) = phone.text("C")
    assert feedback.startswith("Right! C. Sensitivity: share of the sick") and segment_count(feedback) == 1

    # Day 2 has two questions: the second comes with the first one's feedback, the lesson last.
    seen = len(twilio.sent)
    tick(runner, "2026-11-27T18:00:00Z")
    drain(program_settings)
    (day2,) = pushed(twilio, seen)
    assert day2.startswith("TST 2/4: Q1105 ")
    clock.set(datetime(2026, 11, 27, 18, 30, tzinfo=UTC))
    (wrong,) = phone.text("A")
    assert wrong.startswith("No, it's D.\nQ1104 ")
    (right,) = phone.text("B")
    assert right.startswith("Right! B. Case-control studies")
    (where,) = phone.text("PROGRAM")
    assert where.startswith("Study design basics: day 2 of 4, 3 of 3 questions answered")

    # Day 3 is missed: the next daily time sends day 3 again, not day 4.
    seen = len(twilio.sent)
    tick(runner, "2026-11-28T18:00:00Z")
    tick(runner, "2026-11-29T18:00:00Z")
    drain(program_settings)
    # The 29th is a Sunday: the weekly progress message names the program day, before the day.
    first, weekly, second = pushed(twilio, seen)
    assert weekly.startswith("Your week on Rounds") and "Program: TST 3/4." in weekly
    assert first.startswith("TST 3/4: Q1103 ") and second == first
    clock.set(datetime(2026, 11, 29, 18, 10, tzinfo=UTC))
    assert phone.text("NEXT") == ["Answer today's question first (or text SKIP), then NEXT."]
    (lesson3,) = phone.text("c")
    assert lesson3.startswith("Right! C. Absolute risk reduction")
    (stray,) = phone.text("C")  # the first sending of day 3 was closed when it went again
    assert not stray.startswith("Right!")

    # NEXT: day 4 now, once a day.
    (day4,) = phone.text("NEXT")
    assert day4.startswith("TST 4/4: Q1101 ")
    assert phone.text("next") == ["One NEXT a day: your next day comes at your daily time, 19:00."]
    (last,) = phone.text("D")
    lesson4, done = last.split("\n")
    assert lesson4.startswith("Right! D. Sensitivity = true positives")
    assert done.startswith("You finished Study design basics! Certificate RND-")
    code = done.split("Certificate ")[1].split(".")[0]
    with session_scope(program_settings.database_url) as session:
        enrolment = session.scalar(select(Enrolment))
        certificate = session.scalar(select(Certificate))
        assert (
            enrolment.status == COMPLETED and certificate.code == code and certificate.answered_share == 100
        )
        assert certificate.first_name == "Ada"
        # Program answers feed the same FSRS cards as the daily question.
        carded = set(session.scalars(select(Card.question_id).where(Card.person_id == enrolment.person_id)))
        assert carded == {1112, 1105, 1104, 1103, 1101}

    # Once finished, the daily question comes back at the daily time.
    seen = len(twilio.sent)
    tick(runner, "2026-11-30T18:00:00Z")
    drain(program_settings)
    (daily,) = pushed(twilio, seen)
    assert not daily.startswith("TST") and daily.startswith("Q")

    # Anyone can check the certificate by text, even a number Rounds has never seen.
    stranger = Phone(client, "+447700900123")
    assert stranger.text(f"VERIFY {code.lower()}") == [
        f"Certificate {code}: Ada completed Study design basics on 2026-11-29."
    ]
    (nope,) = stranger.text("VERIFY garbage")
    assert nope.startswith("No such certificate: garbage.") and segment_count(nope) == 1
    with session_scope(program_settings.database_url) as session:
        assert (
            session.scalar(select(func.count()).select_from(Person).where(Person.phone == stranger.number))
            == 0
        )
        kept = session.scalars(select(Message.body).where(Message.phone == stranger.number)).all()
        assert f"VERIFY {code.lower()}" in kept


def test_program_days_respect_pause_and_opt_out(program_settings, client, runner, twilio, clock):
    phone = Phone(client, LAGOS)
    for text in ("JOIN", "Ada Obi", "1", "7pm", "JOIN TST", "PAUSE 2"):
        phone.text(text)
    tick(runner, "2026-11-26T18:00:00Z")
    drain(program_settings)
    assert not [b for b in pushed(twilio, 0) if b.startswith("TST")]
    phone.text("STOP")
    tick(runner, "2026-11-29T18:00:00Z")
    drain(program_settings)
    assert pushed(twilio, 0) == []
