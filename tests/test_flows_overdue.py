"""ROUNDS_SKIP_OVERDUE: an organisation may stop serving items whose review_by date has passed,
on a student's `Q` and in the daily push; with nothing left, the student is told so."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from content.catalog import get_catalog
from flows.engine import Context
from flows.quiz import plan_daily_questions
from store.db import session_scope
from store.models import Person, Question
from store.settings import Settings
from tests.flows_support import BANK, Phone, content_folder, seed_bank
from tests.test_tick import at, questions_to, tick_settings  # noqa: F401  (the tick's fixture)
from tests.test_tick import student as tick_student
from workers.schedule import run_tick

NIGERIA = "+2348031234567"
# The first daily push after onboarding at the `now` fixture: 08:00 in Lagos on 27 November.
PUSH_AT = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
PUSH_DAY = date(2026, 11, 27)
NO_QUESTIONS = "No questions are available right now. Please try again later."


def test_the_setting_is_off_unless_the_organisation_turns_it_on():
    assert Settings.from_env({}).skip_overdue is False
    assert Settings.from_env({"ROUNDS_SKIP_OVERDUE": "0"}).skip_overdue is False
    assert Settings.from_env({"ROUNDS_SKIP_OVERDUE": "1"}).skip_overdue is True
    with pytest.raises(ValueError, match="ROUNDS_SKIP_OVERDUE"):
        Settings.from_env({"ROUNDS_SKIP_OVERDUE": "maybe"})


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


def _student(db, chat_settings, now, skip: bool) -> Phone:
    seed_bank(db)
    phone = Phone(db, chat_settings.with_(skip_overdue=skip), NIGERIA, now)
    phone.onboard(name="Ada", track="1", time="08:00")
    return phone


def _review_by(db, day: date, keep: int | None = None) -> None:
    """Every question's review_by is `day`, except `keep`'s (no date)."""
    db.execute(update(Question).values(review_by=day))
    if keep is not None:
        db.execute(update(Question).where(Question.id == keep).values(review_by=None))
    db.flush()
    db.info.clear()  # the bank read once per session is read again, as by the next text's session


def _asked_id(text: str) -> int:
    assert text.startswith("Q"), text
    return int(text[1:].split(" ", 1)[0])


@pytest.mark.parametrize("skip", [False, True])
def test_q_serves_an_overdue_item_only_when_not_skipping(db, chat_settings, now, skip):
    student = _student(db, chat_settings, now, skip)
    _review_by(db, now.date() - timedelta(days=1), keep=31)
    asked = _asked_id(student.say("Q"))
    if skip:
        assert asked == 31
        assert student.say("D").startswith("Correct!")
        assert _asked_id(student.say("Q")) == 31  # asked again rather than an overdue one
        _review_by(db, now.date() - timedelta(days=1))
        assert student.say("Q") == NO_QUESTIONS  # nothing left to serve
    else:
        assert asked != 31  # the weakest topic's easiest: overdue or not


def test_an_item_due_for_review_today_is_still_served(db, chat_settings, now):
    student = _student(db, chat_settings, now, skip=True)
    _review_by(db, now.date())  # 10:00 in Lagos on the 26th
    assert student.say("Q").startswith("Q")


def _plan(student: Phone, at: datetime):
    ctx = Context(student.db, get_catalog(student.settings.content_path), student.settings, at)
    return plan_daily_questions(ctx, [student.person], at)


@pytest.mark.parametrize("skip", [False, True])
def test_the_daily_push_skips_overdue_items_when_asked_to(db, chat_settings, now, skip):
    student = _student(db, chat_settings, now, skip)
    _review_by(db, PUSH_DAY - timedelta(days=1), keep=32)
    (planned,) = _plan(student, PUSH_AT)
    assert planned.day == PUSH_DAY
    if skip:
        assert planned.question.id == 32 and planned.text.startswith("Q32 ")
    else:
        assert planned.question.id != 32


def test_no_daily_push_when_every_item_is_overdue(db, chat_settings, now):
    student = _student(db, chat_settings, now, skip=True)
    _review_by(db, PUSH_DAY - timedelta(days=1))
    assert _plan(student, PUSH_AT) == []
    assert len(BANK) > 1  # a full bank, all of it overdue


# --- through the scheduling pass, on the bundled bank (every item set due for review by 2027-11-30) ---


@pytest.mark.parametrize(("skip", "day", "questions"), [(False, 1, 1), (True, 1, 0), (True, 0, 1)])
def test_the_tick_sends_no_overdue_item_when_skipping(tick_settings, skip, day, questions):  # noqa: F811
    settings = tick_settings.with_(skip_overdue=skip)
    pid = tick_student(settings, "+2348031234111", "Africa/Lagos", "08:00", at("2027-11-29T12:00:00+00:00"))
    push = at(f"2027-12-0{day}T07:00:00+00:00") if day else at("2027-11-30T07:00:00+00:00")
    with session_scope(settings.database_url) as session:
        session.get(Person, pid).next_push_at = push
        # The bundled items' own dates are spread over 2027 by their sources' age: set one for all.
        session.execute(update(Question).values(review_by=date(2027, 11, 30)))
    report = run_tick(settings, push)
    assert (report.due, report.questions) == (1, questions)
    assert len(questions_to(settings, pid)) == questions
    with session_scope(settings.database_url) as session:
        assert session.get(Person, pid).next_push_at > push  # moved on either way
