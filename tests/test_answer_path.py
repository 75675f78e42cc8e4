"""The inbound path's shortcuts keep their promises: an answer read and written in a few statements,
no savepoint around the flow step, the sender's row taken first, SQLite's write lock tried often."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

import flows.routes as routes
from content.catalog import get_catalog
from flows.engine import Context
from flows.quiz import STREAK_FIRST_READ, plan_daily_question, streak_days
from gateway.simulate import replies_from
from store.db import BUSY_TIMEOUT_MS, get_engine, session_factory
from store.learning import Learning
from store.models import INBOUND, OUTBOUND, Attempt, Card, Message, Person, Question
from tests.conftest import NOW, Phone, sign
from tests.db_support import recorded_statements
from tests.flows_support import OPTIONS, content_folder, seed_bank
from tests.flows_support import Phone as FlowPhone

NIGERIA = "+2348031234567"


def _onboarded(session, phone: str) -> Person:
    person = Person(
        phone=phone,
        phone_number=phone,  # as the webhook (or migration 0008) stores it for an SMS number
        channel="sms",
        name="Ada",
        language="en",
        timezone="Africa/Lagos",
        country="NG",
        role="student",
        status="active",
        track="step1",
        daily_time="08:00",
        flow_state={},
    )
    session.add(person)
    session.flush()
    return person


def _ask(session, person: Person, question_id: int, asked_at: datetime, source: str) -> None:
    session.add(
        Attempt(
            person_id=person.id,
            question_id=question_id,
            source=source,
            local_date=asked_at.date(),
            asked_at=asked_at,
            skipped=False,
        )
    )


def _question(session, qid: int, answer: str) -> None:
    session.add(
        Question(
            id=qid,
            topic="cardiology",
            tracks=["step1"],
            stem=f"Question {qid}?",
            options=dict(OPTIONS),
            answer=answer,
            explanation="Because.",
        )
    )


def _post(client, form: dict):
    return client.post(
        "/twilio/messages", data=form, headers={"X-Twilio-Signature": sign(form, "/twilio/messages")}
    )


# --- through the webhook -----------------------------------------------------------------------


def test_two_answers_from_one_person_at_once_go_to_two_questions(app, database_url):
    sessions = session_factory(database_url)
    with sessions() as session:
        _question(session, 17, "B")
        _question(session, 18, "C")
        person = _onboarded(session, NIGERIA)
        now = NOW
        _ask(session, person, 17, now - timedelta(minutes=2), "more:1")
        _ask(session, person, 18, now - timedelta(minutes=1), "more:2")
        person_id = person.id
        session.commit()
    barrier = threading.Barrier(2)
    answers: list[tuple[int, list[str]]] = []

    def text_back(letter: str) -> None:
        phone = Phone(app.test_client(), NIGERIA)
        form = phone.form(letter)
        barrier.wait()
        response = _post(phone.client, form)
        answers.append((response.status_code, replies_from(response.get_data(as_text=True))))

    threads = [threading.Thread(target=text_back, args=(letter,)) for letter in "BC"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(status for status, _ in answers) == [200, 200]
    feedback = sorted(replies[0] for _, replies in answers)
    # Handled one after the other: the second text found the first's question answered.
    assert all(reply.startswith(("Correct!", "Not quite")) for reply in feedback), feedback
    with sessions() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.person_id == person_id)).all()
        assert all(attempt.answered_at is not None for attempt in attempts)
        assert sorted(attempt.choice for attempt in attempts) == ["B", "C"]
        cards = session.scalars(select(Card).where(Card.person_id == person_id)).all()
        assert sorted(card.question_id for card in cards) == [17, 18]
        assert all(card.state["card_id"] == card.id and card.reviews == 1 for card in cards)
        inbound = session.scalar(select(func.count()).where(Message.direction == INBOUND))
        replies = session.scalar(select(func.count()).where(Message.direction == OUTBOUND))
        assert (inbound, replies) == (2, 2)


def test_an_answer_takes_few_statements(app, database_url):
    sessions = session_factory(database_url)
    with sessions() as session:
        _question(session, 17, "B")
        person = _onboarded(session, NIGERIA)
        _ask(session, person, 17, NOW - timedelta(minutes=1), "more:1")
        session.commit()
    with recorded_statements(get_engine(database_url)) as statements:
        assert Phone(app.test_client(), NIGERIA).text("B")[0].startswith("Correct!")
    # The sender and the inbound row, the question with its card and answer days, the answer and
    # the card, the slow-answer history (a right answer), the reply: one statement fewer twice on
    # PostgreSQL, where writable CTEs join the first two and the answer to the card.
    expected = 4 + 1 if database_url.startswith("postgresql") else 6 + 1
    assert len(statements) == expected, "\n".join(statements)


def test_two_deliveries_of_one_message_sid_from_a_known_person(app, database_url):
    phone = Phone(app.test_client(), NIGERIA)
    phone.text("HELP")  # known from now on: the sender's UPDATE and the INSERT share one statement
    form = phone.form("SCORE")
    barrier = threading.Barrier(2)
    answers: list[tuple[int, list[str]]] = []

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        response = _post(client, form)
        answers.append((response.status_code, replies_from(response.get_data(as_text=True))))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1] == answers[1][1] and answers[0][1]
    with session_factory(database_url)() as session:
        sids = session.scalars(select(Message.twilio_sid).where(Message.direction == INBOUND)).all()
        assert sorted(sids).count(form["MessageSid"]) == 1 and len(sids) == 2
        replies = session.scalar(select(func.count()).where(Message.direction == OUTBOUND))
        assert replies == 1 + len(answers[0][1])


@pytest.fixture
def boom(monkeypatch):
    """A keyword whose flow writes, then fails."""

    def fail(ctx, person, command):
        person.name = "Changed by a failing flow"
        ctx.session.flush()
        raise RuntimeError("a bug in a flow")

    monkeypatch.setitem(routes.KEYWORDS, "BOOM", fail)
    return fail


def test_a_failing_flow_costs_an_apology_and_keeps_nothing_it_wrote(app, database_url, boom, clock):
    phone = Phone(app.test_client(), NIGERIA)
    phone.text("HELP")
    sessions = session_factory(database_url)
    with sessions() as session:
        before = session.scalars(select(Person)).one()
    clock.advance(minutes=1)
    form = phone.form("BOOM")
    response = _post(phone.client, form)
    assert response.status_code == 200
    assert replies_from(response.get_data(as_text=True)) == [get_catalog().render("error")]
    # Twilio's retry replays the apology.
    assert replies_from(_post(phone.client, form).get_data(as_text=True)) == [get_catalog().render("error")]
    with sessions() as session:
        person = session.scalars(select(Person)).one()
        assert person.name == before.name
        assert person.last_inbound_at > before.last_inbound_at
        bodies = session.scalars(select(Message.body).where(Message.direction == INBOUND)).all()
        assert bodies.count("BOOM") == 1


def test_a_failing_first_contact_still_creates_the_person(app, database_url, monkeypatch):
    def fail(ctx, person, command):
        person.flow = "onboarding:name"
        raise RuntimeError("a bug in onboarding")

    monkeypatch.setattr(routes, "FIRST_CONTACT", fail)
    assert Phone(app.test_client(), NIGERIA).text("JOIN") == [get_catalog().render("error")]
    with session_factory(database_url)() as session:
        person = session.scalars(select(Person)).one()
        assert person.phone == NIGERIA and person.flow is None
        assert session.scalar(select(func.count()).where(Message.direction == INBOUND)) == 1


# --- the flow, on a session ------------------------------------------------------------------


@pytest.fixture
def student(db, settings, tmp_path_factory, now):
    seed_bank(db)
    chat = settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))
    phone = FlowPhone(db, chat, NIGERIA, now)
    phone.onboard(name="Ada", track="1", time="08:00")
    return phone


def _answered_on(db, person: Person, days: list[date]) -> None:
    for n, day in enumerate(days):
        asked = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        db.add(
            Attempt(
                person_id=person.id,
                question_id=17,
                source=f"old:{n}",
                local_date=day,
                asked_at=asked,
                answered_at=asked + timedelta(minutes=1),
                choice="B",
                correct=True,
                skipped=False,
                response_seconds=60.0,
            )
        )
    db.flush()


@pytest.mark.parametrize("gap", [None, 3, STREAK_FIRST_READ - 1, STREAK_FIRST_READ + 2])
def test_a_streak_longer_than_the_first_read(db, student, gap):
    today = student.now.date()  # 09:00 UTC is 10:00 in Lagos: the same date
    days = [today - timedelta(days=n) for n in range(1, STREAK_FIRST_READ + 10)]
    if gap is not None:
        days.remove(today - timedelta(days=gap))
    _answered_on(db, student.person, days)
    expected = gap if gap is not None else len(days) + 1
    qid = int(student.say("Q")[1:].split(" ", 1)[0])
    assert student.say("B").endswith(f"Day streak: {expected}"), qid
    assert streak_days(Learning(db), student.person, student.now) == expected


def test_an_answer_to_an_old_question_counts_its_own_day(db, student):
    today = student.now.date()
    _answered_on(db, student.person, [today - timedelta(days=n) for n in range(1, STREAK_FIRST_READ + 1)])
    # An unanswered question from the day before the answered run began, answered by its number today.
    old_day = today - timedelta(days=STREAK_FIRST_READ + 1)
    old = datetime(old_day.year, old_day.month, old_day.day, 9, tzinfo=UTC)
    db.add(
        Attempt(person_id=student.person.id, question_id=31, source="old", local_date=old_day, asked_at=old)
    )
    db.flush()
    assert student.say("Q31 D").endswith(f"Day streak: {STREAK_FIRST_READ + 1}")
    ask_today = student.say("Q")
    assert ask_today.startswith("Q")
    assert student.say("A").endswith(f"Day streak: {STREAK_FIRST_READ + 2}")


def test_an_attempt_the_session_holds_shows_its_answer(db, student):
    person = student.person
    at = person.next_push_at
    ctx = Context(db, get_catalog(student.settings.content_path), student.settings, at)
    attempt, _text = plan_daily_question(ctx, person, at)
    assert attempt.answered_at is None
    student.say("B", at=at + timedelta(minutes=3))
    assert attempt.choice == "B" and attempt.answered_at == at + timedelta(minutes=3)
    assert attempt.response_seconds == 180.0


# --- SQLite's write lock -----------------------------------------------------------------------


@pytest.mark.parametrize("hold", [0.01, 0.3])
def test_a_sqlite_writer_waits_for_the_write_lock(database_urls, hold):
    sessions = session_factory(database_urls["sqlite"])
    locked, releasing = threading.Event(), threading.Event()

    def holder() -> None:
        with sessions() as session:
            session.execute(text("UPDATE people SET name = name"))  # BEGIN IMMEDIATE: the lock is held
            locked.set()
            time.sleep(hold)
            releasing.set()
            session.commit()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(5)
    started = time.monotonic()
    with sessions() as session:
        session.execute(text("UPDATE people SET name = name"))
        waited = time.monotonic() - started
        assert releasing.is_set()  # the lock came only once the other transaction ended
        busy = session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        session.commit()
    thread.join(5)
    assert waited < hold + 1.0
    assert busy == BUSY_TIMEOUT_MS  # restored after the tries without it
