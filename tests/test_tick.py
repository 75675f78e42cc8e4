"""`rounds tick`: the daily question at each student's local time, exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from content.load import load_content
from flows.schedule import reschedule
from store.db import get_engine, session_scope
from store.models import Attempt, Message, Person
from tests.conftest import NOW
from tests.db_support import recorded_statements
from workers.schedule import run_tick


@pytest.fixture
def tick_settings(app_settings):
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date())
    return app_settings


def student(settings, phone: str, zone: str, daily_time: str, now: datetime, **fields) -> int:
    with session_scope(settings.database_url) as session:
        person = Person(
            phone=phone,
            channel="sms",
            name="Amina",
            timezone=zone,
            daily_time=daily_time,
            track="step1",
            status="active",
            flow_state={},
            **fields,
        )
        session.add(person)
        session.flush()
        reschedule(person, now)
        return person.id


def questions_to(settings, person_id: int) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(
            session.execute(
                select(Message)
                .where(Message.person_id == person_id, Message.kind == "question")
                .order_by(Message.id)
            ).scalars()
        )


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


def test_question_arrives_at_local_time_once(tick_settings):
    pid = student(tick_settings, "+2348031234111", "Africa/Lagos", "07:30", at("2026-11-25T12:00:00+00:00"))
    assert run_tick(tick_settings, at("2026-11-26T06:29:00+00:00")).questions == 0  # 07:29 Lagos
    assert run_tick(tick_settings, at("2026-11-26T06:30:00+00:00")).questions == 1  # 07:30 Lagos
    assert run_tick(tick_settings, at("2026-11-26T06:30:00+00:00")).questions == 0  # same instant again
    assert run_tick(tick_settings, at("2026-11-26T06:31:00+00:00")).questions == 0  # a minute later
    (message,) = questions_to(tick_settings, pid)
    assert message.body.startswith("Q") and message.idempotency_key == f"daily:{pid}:2026-11-26"
    assert message.status == "queued" and message.segments <= 2 and message.encoding == "GSM-7"
    assert run_tick(tick_settings, at("2026-11-27T06:30:00+00:00")).questions == 1  # the next day
    assert len(questions_to(tick_settings, pid)) == 2


def test_each_student_in_their_own_zone(tick_settings):
    lagos = student(tick_settings, "+2348031234111", "Africa/Lagos", "08:00", at("2026-11-25T12:00:00+00:00"))
    delhi = student(tick_settings, "+919812345678", "Asia/Kolkata", "08:00", at("2026-11-25T12:00:00+00:00"))
    run_tick(tick_settings, at("2026-11-26T02:30:00+00:00"))  # 08:00 in Kolkata, 03:30 in Lagos
    assert len(questions_to(tick_settings, delhi)) == 1
    assert questions_to(tick_settings, lagos) == []
    run_tick(tick_settings, at("2026-11-26T07:00:00+00:00"))
    assert len(questions_to(tick_settings, lagos)) == 1


@pytest.mark.parametrize(
    ("zone", "before", "due_utc"),
    [
        # New York springs forward on 2026-03-08: 08:00 EDT is 12:00 UTC, not 13:00.
        ("America/New_York", "2026-03-07T20:00:00+00:00", "2026-03-08T12:00:00+00:00"),
        # ... and falls back on 2026-11-01: 08:00 EST is 13:00 UTC.
        ("America/New_York", "2026-10-31T20:00:00+00:00", "2026-11-01T13:00:00+00:00"),
        # London moves to BST on 2026-03-29: 08:00 BST is 07:00 UTC.
        ("Europe/London", "2026-03-28T20:00:00+00:00", "2026-03-29T07:00:00+00:00"),
    ],
)
def test_daylight_saving_changes(tick_settings, zone, before, due_utc):
    pid = student(tick_settings, "+12125551234", zone, "08:00", at(before))
    due = at(due_utc)
    assert run_tick(tick_settings, due - timedelta(minutes=1)).questions == 0
    assert run_tick(tick_settings, due).questions == 1
    assert len(questions_to(tick_settings, pid)) == 1


def test_quiet_hours_hold_a_late_push_but_not_a_chosen_time(tick_settings):
    early = student(tick_settings, "+2348031234111", "Africa/Lagos", "07:00", at("2026-11-25T12:00:00+00:00"))
    night_owl = student(
        tick_settings, "+2348031234222", "Africa/Lagos", "22:30", at("2026-11-25T12:00:00+00:00")
    )
    # The clock was down all morning: 07:00's push is found at 22:00 local, inside quiet hours.
    run_tick(tick_settings, at("2026-11-26T21:00:00+00:00"))
    assert questions_to(tick_settings, early) == []
    # The night owl chose 22:30 themselves, so quiet hours do not apply to them.
    run_tick(tick_settings, at("2026-11-26T21:30:00+00:00"))
    assert len(questions_to(tick_settings, night_owl)) == 1
    # The early student's schedule moved on: tomorrow 07:00 they get one.
    run_tick(tick_settings, at("2026-11-27T06:00:00+00:00"))
    assert len(questions_to(tick_settings, early)) == 1


def test_opted_out_and_paused_students_get_nothing(tick_settings):
    now = at("2026-11-25T12:00:00+00:00")
    stopped = student(tick_settings, "+2348031234111", "Africa/Lagos", "08:00", now)
    paused = student(tick_settings, "+2348031234222", "Africa/Lagos", "08:00", now)
    with session_scope(tick_settings.database_url) as session:
        session.get(Person, stopped).status = "opted_out"
        person = session.get(Person, paused)
        person.status, person.next_push_at = "paused", None
    run_tick(tick_settings, at("2026-11-26T07:00:00+00:00"))
    assert questions_to(tick_settings, stopped) == [] and questions_to(tick_settings, paused) == []


def test_two_passes_at_once_send_one_question(tick_settings):
    pids = [
        student(
            tick_settings, f"+23480312340{n:02d}", "Africa/Lagos", "08:00", at("2026-11-25T12:00:00+00:00")
        )
        for n in range(20)
    ]
    instant = at("2026-11-26T07:00:00+00:00")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_pass() -> None:
        barrier.wait()
        try:
            run_tick(tick_settings, instant)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for pid in pids:
        assert len(questions_to(tick_settings, pid)) == 1
    with session_scope(tick_settings.database_url) as session:
        assert session.execute(select(func.count()).select_from(Attempt)).scalar_one() == 20


def test_due_students_are_found_with_the_index(tick_settings):
    engine = get_engine(tick_settings.database_url)
    query = "SELECT id FROM people WHERE next_push_at <= :at ORDER BY next_push_at, id LIMIT 500"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table would favour a scan
            plan = " ".join(row[0] for row in conn.execute(text("EXPLAIN " + query), {"at": NOW}))
        else:
            plan = " ".join(
                str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + query), {"at": NOW})
            )
    assert "ix_people_next_push_at" in plan


def test_rounds_tick_command(tick_settings, runner):
    student(tick_settings, "+2348031234111", "Africa/Lagos", "08:00", at("2026-11-25T12:00:00+00:00"))
    result = runner.invoke(args=["tick", "--at", "2026-11-26T07:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "1 question(s)" in result.output
    again = runner.invoke(args=["tick", "--at", "2026-11-26T07:00:00Z"])
    assert "0 question(s)" in again.output
    bad = runner.invoke(args=["tick", "--at", "tomorrow"])
    assert bad.exit_code != 0 and "ISO-8601" in bad.output


def test_whatsapp_student_with_an_open_question_is_nudged_once_before_the_window_closes(tick_settings):
    now = at("2026-11-26T12:00:00+00:00")
    pid = student(
        tick_settings,
        "+447700900123",
        "Europe/London",
        "08:00",
        now,
        last_inbound_at=now - timedelta(hours=23, minutes=30),
    )
    with session_scope(tick_settings.database_url) as session:
        person = session.get(Person, pid)
        person.channel = "whatsapp"
        session.add(
            Attempt(
                person_id=pid,
                question_id=101,
                source="daily",
                local_date=now.date(),
                asked_at=now - timedelta(hours=4),
                skipped=False,
            )
        )
    assert run_tick(tick_settings, now).nudges == 1
    assert run_tick(tick_settings, now + timedelta(minutes=1)).nudges == 0
    with session_scope(tick_settings.database_url) as session:
        (nudge,) = session.execute(select(Message).where(Message.kind == "nudge")).scalars()
        assert "A-D" in nudge.body and nudge.channel == "whatsapp"
    # An SMS student, or one who already answered, is never nudged.
    later = now + timedelta(days=1)
    with session_scope(tick_settings.database_url) as session:
        session.execute(text("UPDATE attempts SET answered_at = :t"), {"t": later.replace(tzinfo=None)})
        session.get(Person, pid).last_inbound_at = later - timedelta(hours=23, minutes=30)
    assert run_tick(tick_settings, later).nudges == 0


def test_a_pass_plans_a_batch_in_a_few_statements_not_a_few_per_student(tick_settings):
    start = at("2026-11-25T12:00:00+00:00")
    pids = [student(tick_settings, f"+23480312350{n:02d}", "Africa/Lagos", "08:00", start) for n in range(40)]
    # Half of them have a history: answered questions, so cards and topic stats exist.
    run_tick(tick_settings, at("2026-11-26T07:00:00+00:00"))
    with session_scope(tick_settings.database_url) as session:
        for attempt in session.scalars(select(Attempt).where(Attempt.person_id.in_(pids[:20]))):
            attempt.answered_at, attempt.choice, attempt.correct = attempt.asked_at, "A", True
    with recorded_statements(get_engine(tick_settings.database_url)) as statements:
        report = run_tick(tick_settings, at("2026-11-27T07:00:00+00:00"))
    assert report.questions == 40
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO ATTEMPTS")]
    assert len(inserts) == 1  # one for the batch, not one per student
    assert len(statements) < 25, statements  # 40 students; the old per-student plan ran 6 each
    for pid in pids:
        assert len(questions_to(tick_settings, pid)) == 2


def test_a_row_that_breaks_the_batch_holds_back_only_its_own_student(tick_settings):
    import flows
    from content.catalog import get_catalog
    from workers.schedule import TickReport, _queue_batch

    start = at("2026-11-25T12:00:00+00:00")
    pids = [student(tick_settings, f"+23480312360{n:02d}", "Africa/Lagos", "08:00", start) for n in range(3)]
    instant = at("2026-11-26T07:00:00+00:00")
    report = TickReport(instant.isoformat())
    with session_scope(tick_settings.database_url) as session:
        people = [session.get(Person, pid) for pid in pids]
        # Erased after the pass read them: their attempt breaks the batch's INSERT (foreign key).
        gone = Person(id=10**9, phone="+2348031239999", channel="sms", timezone="Africa/Lagos")
        gone.daily_time, gone.track, gone.status, gone.flow_state = "08:00", "step1", "active", {}
        ctx = flows.Context(session, get_catalog(tick_settings.content_path), tick_settings, instant)
        queued, planned = _queue_batch(ctx, [people[0], gone, *people[1:]], instant, report)
    assert len(queued) == 3 and [p.id for p in planned] == pids
    assert report.conflicts == 1
    for pid in pids:
        assert len(questions_to(tick_settings, pid)) == 1


def test_the_whatsapp_nudge_query_uses_its_partial_index(tick_settings):
    from workers.schedule import nudge_query

    engine = get_engine(tick_settings.database_url)
    statement = nudge_query(NOW)
    # SQLite matches a partial index only when the query spells out the index's own condition,
    # not a bound parameter in its place.
    assert "people.channel = 'whatsapp'" in str(statement.compile(engine))
    query = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table would favour a scan
            plan = " ".join(row[0] for row in conn.execute(text(f"EXPLAIN {query}")))
        else:
            plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
    assert "ix_people_whatsapp_last_inbound" in plan
