"""A WhatsApp student's daily push goes up to an hour early when that keeps it inside their free
24 h window: the decision (pure, across DST and quiet hours) and the scheduling pass (one a day)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from flows.schedule import early_push_due, reschedule, window_push_at
from store.db import get_engine, session_scope
from store.models import Message, Person
from store.settings import Settings
from tests.test_tick import questions_to, student, tick_settings  # noqa: F401 (a fixture)
from workers.schedule import run_tick, window_query

SETTINGS = Settings()  # quiet hours 21:00-07:00


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


def learner(
    zone: str, daily_time: str, last_inbound: str | None, channel: str = "whatsapp", **fields
) -> Person:
    return Person(
        phone="+2348030000001",
        channel=channel,
        timezone=zone,
        daily_time=daily_time,
        status="active",
        last_inbound_at=utc(last_inbound) if last_inbound else None,
        **fields,
    )


# --- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "daily_time", "last_inbound", "chosen", "expected"),
    [
        # Lagos 08:00 is 07:00 UTC; the window closes at 06:30: ten minutes before that.
        ("Africa/Lagos", "08:00", "2026-11-25T06:30Z", "2026-11-26T07:00Z", "2026-11-26T06:20Z"),
        # Still open at the chosen time: nothing to gain.
        ("Africa/Lagos", "08:00", "2026-11-25T07:05Z", "2026-11-26T07:00Z", None),
        # Closes more than an hour before: too early to follow.
        ("Africa/Lagos", "08:00", "2026-11-25T05:55Z", "2026-11-26T07:00Z", None),
        # Closes 54 minutes before: an hour early at most, still six minutes inside the window.
        ("Africa/Lagos", "08:00", "2026-11-25T06:06Z", "2026-11-26T07:00Z", "2026-11-26T06:00Z"),
        # Closes 58 minutes before: an hour early would leave two minutes, under the margin.
        ("Africa/Lagos", "08:00", "2026-11-25T06:02Z", "2026-11-26T07:00Z", None),
        # London falls back on 25 October 2026: 08:00 BST was 07:00 UTC, 08:00 GMT is 08:00 UTC, so
        # an answer ten minutes after Saturday's push leaves a window closing 50 minutes before
        # Sunday's. Early to 07:00 GMT, the end of the quiet hours.
        ("Europe/London", "08:00", "2026-10-24T07:10Z", "2026-10-25T08:00Z", "2026-10-25T07:00Z"),
        # Springing forward (29 March) the day is 23 h long: the window is open at 07:00 UTC.
        ("Europe/London", "08:00", "2026-03-28T08:10Z", "2026-03-29T07:00Z", None),
        # 07:30 London in November, window closing at 07:05: 06:55 is in the quiet hours.
        ("Europe/London", "07:30", "2026-11-25T07:05Z", "2026-11-26T07:30Z", None),
    ],
)
def test_window_push_at(zone, daily_time, last_inbound, chosen, expected):
    person = learner(zone, daily_time, last_inbound)
    assert window_push_at(person, utc(chosen), SETTINGS) == (utc(expected) if expected else None)


def test_only_an_active_whatsapp_student_with_a_window_goes_early():
    chosen = utc("2026-11-26T07:00Z")
    assert (
        window_push_at(learner("Africa/Lagos", "08:00", "2026-11-25T06:30Z", "sms"), chosen, SETTINGS) is None
    )
    assert window_push_at(learner("Africa/Lagos", "08:00", None), chosen, SETTINGS) is None
    paused = learner("Africa/Lagos", "08:00", "2026-11-25T06:30Z")
    paused.status = "paused"
    assert window_push_at(paused, chosen, SETTINGS) is None


def test_never_on_the_day_before():
    # Without quiet hours, 00:20 Lagos with a window closing at 00:05 would go at 23:55 the day before.
    no_quiet = Settings(quiet_start="00:00", quiet_end="00:00")
    person = learner("Africa/Lagos", "00:20", "2026-11-24T23:05Z")
    assert window_push_at(person, utc("2026-11-25T23:20Z"), no_quiet) is None
    person = learner("Africa/Lagos", "01:00", "2026-11-24T23:50Z")
    assert window_push_at(person, utc("2026-11-26T00:00Z"), no_quiet) == utc("2026-11-25T23:40Z")


def test_early_push_due_from_the_early_instant_until_just_before_the_window_closes():
    person = learner("Africa/Lagos", "08:00", "2026-11-25T06:30Z")
    person.next_push_at = utc("2026-11-26T07:00Z")
    assert not early_push_due(person, utc("2026-11-26T06:19Z"), SETTINGS)
    assert early_push_due(person, utc("2026-11-26T06:20Z"), SETTINGS)
    assert early_push_due(person, utc("2026-11-26T06:24Z"), SETTINGS)
    assert not early_push_due(person, utc("2026-11-26T06:26Z"), SETTINGS)  # under 5 min left
    assert not early_push_due(person, utc("2026-11-26T07:00Z"), SETTINGS)  # due anyway
    # The quiet hours start at 21:00 Lagos: a pass that comes late into them holds the push.
    evening = learner("Africa/Lagos", "21:30", "2026-11-25T19:45Z")
    evening.next_push_at = utc("2026-11-26T20:30Z")
    assert window_push_at(evening, evening.next_push_at, SETTINGS) == utc("2026-11-26T19:35Z")
    assert early_push_due(evening, utc("2026-11-26T19:35Z"), SETTINGS)
    quiet = learner("Africa/Lagos", "21:05", "2026-11-25T19:58Z")
    quiet.next_push_at = utc("2026-11-26T20:05Z")
    assert window_push_at(quiet, quiet.next_push_at, SETTINGS) == utc("2026-11-26T19:48Z")
    assert early_push_due(quiet, utc("2026-11-26T19:48Z"), SETTINGS)
    assert not early_push_due(quiet, utc("2026-11-26T20:00Z"), SETTINGS)  # 21:00 Lagos: quiet


# --- the scheduling pass ----------------------------------------------------------------------


def whatsapp_student(
    settings, phone: str, zone: str, daily_time: str, now: datetime, last_inbound: str
) -> int:
    pid = student(settings, phone, zone, daily_time, now)
    with session_scope(settings.database_url) as session:
        person = session.get(Person, pid)
        person.channel, person.last_inbound_at = "whatsapp", utc(last_inbound)
    return pid


def next_push(settings, pid: int) -> datetime | None:
    with session_scope(settings.database_url) as session:
        return session.get(Person, pid).next_push_at


def test_the_pass_sends_early_inside_the_window_and_once_a_day(tick_settings):  # noqa: F811
    start = utc("2026-11-25T12:00Z")
    pid = whatsapp_student(
        tick_settings, "+2348031234111", "Africa/Lagos", "08:00", start, "2026-11-25T06:30Z"
    )
    sms = student(
        tick_settings,
        "+2348031234112",
        "Africa/Lagos",
        "08:00",
        start,
        last_inbound_at=utc("2026-11-25T06:30Z"),
    )
    assert run_tick(tick_settings, utc("2026-11-26T06:19Z")).questions == 0
    report = run_tick(tick_settings, utc("2026-11-26T06:20Z"))
    assert (report.questions, report.early) == (1, 1)
    assert run_tick(tick_settings, utc("2026-11-26T06:20Z")).questions == 0  # the same instant again
    (early,) = questions_to(tick_settings, pid)
    assert early.channel == "whatsapp" and early.idempotency_key == f"daily:{pid}:2026-11-26"
    assert next_push(tick_settings, pid) == utc("2026-11-27T07:00Z")  # past today's own time
    # At the chosen time the SMS student gets theirs; the WhatsApp student nothing more today.
    report = run_tick(tick_settings, utc("2026-11-26T07:00Z"))
    assert (report.questions, report.early) == (1, 0)
    assert len(questions_to(tick_settings, pid)) == 1 and len(questions_to(tick_settings, sms)) == 1
    # Answered at 07:05: tomorrow's window is open at 07:00, so tomorrow's goes on time.
    with session_scope(tick_settings.database_url) as session:
        session.get(Person, pid).last_inbound_at = utc("2026-11-26T07:05Z")
    assert run_tick(tick_settings, utc("2026-11-27T06:30Z")).questions == 0
    assert run_tick(tick_settings, utc("2026-11-27T07:00Z")).questions == 2
    assert [m.idempotency_key for m in questions_to(tick_settings, pid)] == [
        f"daily:{pid}:2026-11-26",
        f"daily:{pid}:2026-11-27",
    ]


def test_the_pass_goes_early_across_the_autumn_change_in_london(tick_settings):  # noqa: F811
    pid = whatsapp_student(
        tick_settings,
        "+447700900123",
        "Europe/London",
        "08:00",
        utc("2026-10-24T07:05Z"),
        "2026-10-24T07:10Z",
    )
    assert next_push(tick_settings, pid) == utc("2026-10-25T08:00Z")  # 08:00 GMT
    assert run_tick(tick_settings, utc("2026-10-25T06:59Z")).questions == 0  # 06:59 GMT: quiet
    assert run_tick(tick_settings, utc("2026-10-25T07:00Z")).early == 1
    assert run_tick(tick_settings, utc("2026-10-25T08:00Z")).questions == 0
    assert [m.idempotency_key for m in questions_to(tick_settings, pid)] == [f"daily:{pid}:2026-10-25"]


def test_the_pass_keeps_the_quiet_hours(tick_settings):  # noqa: F811
    pid = whatsapp_student(
        tick_settings,
        "+447700900124",
        "Europe/London",
        "07:30",
        utc("2026-11-25T12:00Z"),
        "2026-11-25T07:05Z",
    )
    for minute in ("06:55", "07:00", "07:04"):
        assert run_tick(tick_settings, utc(f"2026-11-26T{minute}Z")).questions == 0
    assert run_tick(tick_settings, utc("2026-11-26T07:30Z")).questions == 1  # its own time, as before
    assert len(questions_to(tick_settings, pid)) == 1


def test_the_window_query_finds_the_few_to_ask_with_the_partial_index(tick_settings):  # noqa: F811
    now = utc("2026-11-26T06:20Z")
    due = whatsapp_student(
        tick_settings,
        "+2348031234113",
        "Africa/Lagos",
        "08:00",
        utc("2026-11-25T12:00Z"),
        "2026-11-25T06:30Z",
    )
    whatsapp_student(
        tick_settings,
        "+2348031234114",
        "Africa/Lagos",
        "08:00",
        utc("2026-11-25T12:00Z"),
        "2026-11-25T09:00Z",
    )
    with session_scope(tick_settings.database_url) as session:
        assert [p.id for p in session.scalars(window_query(now))] == [due]
    engine = get_engine(tick_settings.database_url)
    query = window_query(now).compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table would favour a scan
            plan = " ".join(row[0] for row in conn.execute(text(f"EXPLAIN {query}")))
        else:
            plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
    assert "ix_people_whatsapp_last_inbound" in plan or "ix_people_next_push_at" in plan


def test_reschedule_after_an_early_push_is_past_the_chosen_time():
    person = learner("Africa/Lagos", "08:00", "2026-11-25T06:30Z", flow=None)
    reschedule(person, utc("2026-11-26T06:20Z"))
    assert person.next_push_at == utc("2026-11-26T07:00Z")  # what the pass must not keep after an early push
    reschedule(person, utc("2026-11-26T07:00Z"))
    assert person.next_push_at == utc("2026-11-27T07:00Z")


def test_a_program_day_goes_early_inside_the_window_through_the_webhook_and_the_pass(
    send_settings, client, clock
):
    """A WhatsApp student on a program writes at 18:35 Lagos and does not write again: the next day's
    program message goes at 18:25 Lagos, inside the window, not at 19:00 after it closed."""
    from tests.conftest import Phone
    from tests.programs_support import load_with_fixture

    load_with_fixture(send_settings)
    clock.set(utc("2026-11-25T17:35Z"))
    phone = Phone(client, "+2348031234115", whatsapp=True)
    for words in ("JOIN", "Ada Obi", "1", "7pm", "JOIN TST"):
        phone.text(words)
    with session_scope(send_settings.database_url) as session:
        person = session.query(Person).filter_by(phone="+2348031234115").one()
        pid, chosen = person.id, person.next_push_at
        assert person.channel == "whatsapp" and person.last_inbound_at == utc("2026-11-25T17:35Z")
    assert chosen == utc("2026-11-25T18:00Z")
    assert run_tick(send_settings, chosen).questions == 1  # day 1, inside the window
    assert run_tick(send_settings, utc("2026-11-26T17:24Z")).questions == 0
    report = run_tick(send_settings, utc("2026-11-26T17:25Z"))
    assert (report.questions, report.early) == (1, 1)
    assert run_tick(send_settings, utc("2026-11-26T18:00Z")).questions == 0
    with session_scope(send_settings.database_url) as session:
        pushed = session.query(Message).filter_by(person_id=pid, kind="program").order_by(Message.id).all()
        assert [m.body.startswith("TST ") for m in pushed] == [True, True]
        assert [m.idempotency_key for m in pushed] == [f"daily:{pid}:2026-11-25", f"daily:{pid}:2026-11-26"]
        assert all(m.channel == "whatsapp" for m in pushed)
