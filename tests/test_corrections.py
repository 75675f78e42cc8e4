"""Retraction end to end: `rounds content retract` (and the API) change the question, owe one
correction to each student who answered the affected version recently, and `rounds tick --at`
queues it outside their quiet hours; a real RQ worker sends it to the Twilio stand-in. None for a
student who opted out, none twice, none during quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from content.load import load_content
from content.segments import is_gsm7, segment_count
from flows.schedule import reschedule
from store.corrections import CorrectionNotice, notice_key
from store.db import session_scope
from store.learning import Learning
from store.models import Attempt, Card, Message, Person, Question
from store.reports import Reports
from tests.admin_support import bearer, make_token
from tests.conftest import drain

RETRACTED_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 13:00 in Lagos, 01:00 in Auckland
REASON = "The key said the old first-line drug; current guidelines make it the one below."


@pytest.fixture
def tick_settings(send_settings, clock):
    clock.set(RETRACTED_AT)
    with session_scope(send_settings.database_url) as session:
        load_content(session, None, RETRACTED_AT.date())
    return send_settings


def student(settings, phone: str, **fields) -> int:
    values = {
        "phone": phone,
        "channel": "sms",
        "name": "Amina",
        "language": "en",
        "timezone": "Africa/Lagos",
        "daily_time": "07:30",
        "track": "step1",
        "country": "NG",
        "status": "active",
        "flow_state": {},
    }
    values.update(fields)
    with session_scope(settings.database_url) as session:
        person = Person(**values)
        session.add(person)
        session.flush()
        reschedule(person, RETRACTED_AT - timedelta(days=100))
        return person.id


def answered(settings, person_id: int, question_id: int, days_ago: float, version: int = 1) -> None:
    """An answered asking of the question (with the card answering makes)."""
    at = RETRACTED_AT - timedelta(days=days_ago)
    with session_scope(settings.database_url) as session:
        session.add(
            Attempt(
                person_id=person_id,
                question_id=question_id,
                question_version=version,
                source=f"more:{int(days_ago * 24)}",
                local_date=at.date(),
                asked_at=at,
                answered_at=at + timedelta(minutes=2),
                choice="A",
                correct=False,
                skipped=False,
                response_seconds=120.0,
            )
        )
        if (
            session.scalar(
                select(Card.id).where(Card.person_id == person_id, Card.question_id == question_id)
            )
            is None
        ):
            session.add(
                Card(
                    person_id=person_id,
                    question_id=question_id,
                    due=at + timedelta(days=3),
                    state={},
                    reviews=1,
                    lapses=0,
                )
            )


def pick_questions(settings) -> tuple[Question, Question]:
    with session_scope(settings.database_url) as session:
        first, other = session.scalars(select(Question).order_by(Question.id).limit(2)).all()
        session.expunge_all()
        return first, other


def tick(runner, when: datetime) -> str:
    result = runner.invoke(args=["tick", "--at", when.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def corrections(settings) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Message).where(Message.kind == "correction").order_by(Message.id)))


def test_a_corrected_key_reaches_each_student_who_answered_once(tick_settings, runner, twilio):
    question, other = pick_questions(tick_settings)
    new_key = next(letter for letter in "ABCD" if letter != question.answer)
    lagos = student(tick_settings, "+2348031234001")
    french = student(tick_settings, "+2250701234002", language="fr", timezone="Africa/Abidjan", country="CI")
    stopped = student(tick_settings, "+2348031234003")
    stops_later = student(tick_settings, "+2348031234007")
    long_ago = student(tick_settings, "+2348031234004")
    elsewhere = student(tick_settings, "+2348031234005")
    night = student(
        tick_settings, "+64211234006", timezone="Pacific/Auckland", daily_time="08:00", country="NZ"
    )
    for pid in (lagos, french, stopped, stops_later, night):
        answered(tick_settings, pid, question.id, days_ago=5)
    answered(tick_settings, lagos, question.id, days_ago=2)  # twice: still one correction
    answered(tick_settings, long_ago, question.id, days_ago=61)  # outside ROUNDS_CORRECTION_DAYS (60)
    answered(tick_settings, elsewhere, other.id, days_ago=1)
    with session_scope(tick_settings.database_url) as session:
        session.get(Person, stopped).opt_out()

    result = runner.invoke(
        args=["content", "retract", str(question.id), "--reason", REASON, "--key", new_key]
    )
    assert result.exit_code == 0, result.output
    assert (
        f"Q{question.id} re-keyed to {new_key} (version 2); 4 student(s) will get a correction"
        in result.output
    )
    with session_scope(tick_settings.database_url) as session:
        row = session.get(Question, question.id)
        assert (row.answer, row.version, row.status) == (new_key, 2, "published")
        # The wrong key was learned: those cards go; the other question's card stays.
        assert session.scalars(select(Card).where(Card.question_id == question.id)).all() == []
        assert len(session.scalars(select(Card).where(Card.question_id == other.id)).all()) == 1

    with session_scope(tick_settings.database_url) as session:
        session.get(Person, stops_later).opt_out()  # STOP after the retraction, before the pass
    assert "2 correction(s) queued" in tick(runner, RETRACTED_AT)  # Auckland is asleep (01:00)
    tick(runner, RETRACTED_AT)
    drain(tick_settings)
    sent = corrections(tick_settings)
    assert {m.person_id for m in sent} == {lagos, french}  # neither opted-out student gets one
    option = question.options[new_key]
    by_person = {m.person_id: m for m in sent}
    english = by_person[lagos].body
    assert (
        english.startswith(f"Rounds correction: Q{question.id} (")
        and "which you answered, had the wrong key." in english
    )
    assert f"The right answer is {new_key}: " in english and option[:20] in english
    assert by_person[french].body.startswith(f"Correction Rounds : la Q{question.id} (")
    for message in sent:
        assert message.status == "sent" and segment_count(message.body) <= 2 and is_gsm7(message.body)
        assert message.idempotency_key == notice_key(question.id, 1, message.person_id)
    assert sorted(
        m["To"] for m in twilio.sent if m["Body"].startswith(("Rounds correction", "Correction Rounds"))
    ) == [
        "+2250701234002",
        "+2348031234001",
    ]

    # Auckland: not at 07:59 local (quiet hours end 07:00 but the notice waits for the daily time),
    # then at 08:00 (19:00 UTC).
    tick(runner, datetime(2026, 12, 1, 18, 59, tzinfo=UTC))
    assert night not in {m.person_id for m in corrections(tick_settings)}
    tick(runner, datetime(2026, 12, 1, 19, 0, tzinfo=UTC))
    drain(tick_settings)
    (late,) = [m for m in corrections(tick_settings) if m.person_id == night]
    assert late.created_at == datetime(2026, 12, 1, 19, 0, tzinfo=UTC) and late.status == "sent"
    assert late.created_at.astimezone(ZoneInfo("Pacific/Auckland")).hour == 8  # their daily time

    # Again: the command changes nothing and the pass sends nothing new.
    again = runner.invoke(args=["content", "retract", str(question.id), "--reason", REASON, "--key", new_key])
    assert again.exit_code == 0 and "already" in again.output and "nothing sent" in again.output
    tick(runner, datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    drain(tick_settings)
    assert len(corrections(tick_settings)) == 3
    assert len([m for m in twilio.sent if "correction" in m["Body"].lower()]) == 3
    with session_scope(tick_settings.database_url) as session:
        assert (
            session.scalars(select(CorrectionNotice).where(CorrectionNotice.due_at.is_not(None))).all() == []
        )


def test_retiring_over_the_api_stops_serving_it_and_resolves_its_reports(
    tick_settings, client, runner, twilio
):
    question, _ = pick_questions(tick_settings)
    pid = student(tick_settings, "+2348031234011")
    answered(tick_settings, pid, question.id, days_ago=1)
    with session_scope(tick_settings.database_url) as session:
        Reports(session).record(pid, question.id, 1, "the key is wrong", RETRACTED_AT)
    viewer = make_token(tick_settings, "viewer")
    refused = client.post(
        f"/api/v1/questions/{question.id}/retract", json={"reason": "x"}, headers=bearer(viewer)
    )
    assert refused.status_code == 403
    admin = make_token(tick_settings, "admin")
    for bad, message in (
        ({}, "give a reason"),
        ({"reason": "wrong", "key": "Z"}, "has no option Z"),
        ({"reason": "wrong", "key": "AB"}, "one option letter"),
    ):
        answer = client.post(f"/api/v1/questions/{question.id}/retract", json=bad, headers=bearer(admin))
        assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert (
        client.post(
            "/api/v1/questions/999999/retract", json={"reason": "x"}, headers=bearer(admin)
        ).status_code
        == 404
    )
    done = client.post(
        f"/api/v1/questions/{question.id}/retract",
        json={"reason": "Two options are right."},
        headers=bearer(admin),
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json() | {"message": ""} == {
        "question_id": question.id,
        "changed": True,
        "status": "retired",
        "version": 1,
        "answer": question.answer,
        "owed": 1,
        "message": "",
    }
    with session_scope(tick_settings.database_url) as session:
        assert question.id not in {q.id for q in Learning(session).active_bank().rows}
    reports = client.get("/api/v1/reports?status=all", headers=bearer(viewer)).get_json()["reports"]
    assert [(r["status"], r["note"]) for r in reports] == [("resolved", "retracted: Two options are right.")]
    tick(runner, RETRACTED_AT)
    drain(tick_settings)
    (message,) = corrections(tick_settings)
    assert (
        message.body.startswith(f"Rounds correction: we withdrew Q{question.id} (")
        and "Two options are right." in message.body
    )
    again = client.post(
        f"/api/v1/questions/{question.id}/retract",
        json={"reason": "Two options are right."},
        headers=bearer(admin),
    )
    assert again.get_json()["changed"] is False and again.get_json()["owed"] == 0


def test_a_long_reason_is_shortened_to_two_segments(tick_settings, runner):
    question, _ = pick_questions(tick_settings)
    pid = student(tick_settings, "+2348031234021", channel="whatsapp")
    answered(tick_settings, pid, question.id, days_ago=1)
    long_reason = "The explanation cited a withdrawn guideline and the key followed it; " * 5
    result = runner.invoke(args=["content", "retract", str(question.id), "--reason", long_reason])
    assert result.exit_code == 0, result.output
    tick(runner, RETRACTED_AT)
    (message,) = corrections(tick_settings)
    assert message.segments <= 2 and "..." in message.body and message.body.startswith("Rounds correction")
    assert date(2026, 12, 1) == message.created_at.date()


def test_the_correction_window_is_a_setting():
    from store.settings import Settings

    assert Settings.from_env({}, dotenv=False).correction_days == 60
    assert Settings.from_env({"ROUNDS_CORRECTION_DAYS": "30"}, dotenv=False).correction_days == 30
    for bad in ("0", "-5", "soon"):
        with pytest.raises(ValueError, match="ROUNDS_CORRECTION_DAYS"):
            Settings.from_env({"ROUNDS_CORRECTION_DAYS": bad}, dotenv=False)


def test_a_content_load_keeps_a_corrected_key(tick_settings, runner):
    question, _ = pick_questions(tick_settings)
    new_key = next(letter for letter in "ABCD" if letter != question.answer)
    result = runner.invoke(
        args=["content", "retract", str(question.id), "--reason", REASON, "--key", new_key]
    )
    assert result.exit_code == 0, result.output
    loaded = runner.invoke(args=["content", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert f"question {question.id}'s key was corrected to {new_key}" in loaded.output
    assert f"the file still says {question.answer}" in loaded.output
    with session_scope(tick_settings.database_url) as session:
        row = session.get(Question, question.id)
        assert (row.answer, row.version) == (new_key, 2)


def test_retract_refuses_what_it_cannot_do(tick_settings, runner):
    question, _ = pick_questions(tick_settings)
    unknown = runner.invoke(args=["content", "retract", "999999", "--reason", "wrong"])
    assert unknown.exit_code == 1 and "there is no question 999999" in unknown.output
    bad_key = runner.invoke(args=["content", "retract", str(question.id), "--reason", "wrong", "--key", "Q"])
    assert (
        bad_key.exit_code == 1
        and f"Q{question.id} has no option Q; its options are A, B, C, D" in bad_key.output
    )
    blank = runner.invoke(args=["content", "retract", str(question.id), "--reason", " \x00 "])
    assert blank.exit_code == 1 and "give a reason" in blank.output
    no_reason = runner.invoke(args=["content", "retract", str(question.id)])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    same = runner.invoke(
        args=["content", "retract", str(question.id), "--reason", "x", "--key", question.answer]
    )
    assert same.exit_code == 0 and f"key is already {question.answer}; nothing changed" in same.output
    with session_scope(tick_settings.database_url) as session:
        assert session.get(Question, question.id).version == 1
