"""The weekly digest and saved reminders, queued by the scheduling pass at fixed instants and
sent by a real RQ worker to the Twilio stand-in; and expiry."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from content.load import load_content
from content.segments import segment_count
from flows.opportunities import next_daily
from flows.schedule import reschedule
from store.db import session_scope
from store.models import Message, Person
from store.opportunities import APPROVED, DIGEST, EXPIRED, REMINDER, Opportunities, Opportunity
from tests.conftest import drain
from tests.opportunities_support import opportunity
from workers.schedule import run_tick

NIGERIA = "+2348031234111"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def tick_settings(send_settings):
    with session_scope(send_settings.database_url) as session:
        load_content(session, None, send_settings.clock.now().date())
    # The real links, as without PUBLIC_URL; tests/test_short_links.py sends the short ones.
    return send_settings.with_(public_url="")


SET_UP = at("2026-11-26T12:00:00Z")


def student(settings, phone: str = NIGERIA, now: datetime = SET_UP, **fields) -> int:
    values = {
        "phone": phone,
        "channel": "sms",
        "name": "Amina",
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
        reschedule(person, now)
        return person.id


def subscribe(settings, person_id: int, now: datetime) -> None:
    with session_scope(settings.database_url) as session:
        person = session.get(Person, person_id)
        Opportunities(session).subscribe(person_id, now, next_daily(person, now))


def approve(settings, title: str, deadline: date, approved_at: datetime, **fields) -> int:
    with session_scope(settings.database_url) as session:
        return opportunity(session, title, deadline, approved_at=approved_at, **fields).id


def work(settings) -> None:
    """Send what is queued with a real RQ worker bound to `settings` (posting to the stand-in)."""
    drain(settings)


def sent(settings, kind: str, person_id: int | None = None) -> list[Message]:
    with session_scope(settings.database_url) as session:
        statement = select(Message).where(Message.kind == kind).order_by(Message.id)
        if person_id is not None:
            statement = statement.where(Message.person_id == person_id)
        return list(session.scalars(statement))


def test_the_digest_comes_once_a_week_and_only_with_something_new(tick_settings, twilio):
    subscribed = at("2026-11-26T12:00:00Z")  # a Thursday, in ISO week 48
    pid = student(tick_settings)
    subscribe(tick_settings, pid, subscribed)
    approve(tick_settings, "Old News", date(2027, 1, 20), at("2026-11-20T09:00:00Z"))  # before OPP ON
    approve(
        tick_settings, "Lagos Observership", date(2027, 1, 12), at("2026-11-26T12:30:00Z"), countries=["NG"]
    )
    approve(tick_settings, "Delhi Elective", date(2027, 1, 5), at("2026-11-26T12:30:00Z"), countries=["IN"])
    approve(tick_settings, "PLAB Waiver", date(2027, 1, 6), at("2026-11-26T12:30:00Z"), tracks=["plab1"])
    approve(tick_settings, "Gone Grant", date(2026, 11, 26), at("2026-11-26T12:30:00Z"))  # closes today

    run_tick(tick_settings, at("2026-11-27T06:29:00Z"))  # 07:29 in Lagos
    assert sent(tick_settings, DIGEST) == []
    run_tick(tick_settings, at("2026-11-27T06:30:00Z"))  # 07:30: the daily time
    run_tick(tick_settings, at("2026-11-27T06:30:00Z"))  # the same instant again
    work(tick_settings)
    (digest,) = sent(tick_settings, DIGEST)
    assert digest.body == (
        "New opportunities for you:\n"
        "1) Lagos Observership, WHO, by 12 Jan, https://ex.org/lagos-observership\n"
        "OPP 1 for details. OPP OFF stops these."
    )
    assert digest.idempotency_key == f"opp-digest:{pid}:2026-W48" and digest.status == "sent"
    (delivered,) = [m for m in twilio.sent if "New opportunities" in m["Body"]]
    assert delivered["To"] == NIGERIA and delivered["Body"] == digest.body

    run_tick(tick_settings, at("2026-11-28T06:30:00Z"))  # Saturday: nothing new
    approve(tick_settings, "Step Prep Course", date(2027, 2, 3), at("2026-11-28T10:00:00Z"), tracks=["step1"])
    run_tick(tick_settings, at("2026-11-29T06:30:00Z"))  # Sunday: new, but week 48 had its digest
    assert len(sent(tick_settings, DIGEST)) == 1
    run_tick(tick_settings, at("2026-11-30T06:30:00Z"))  # Monday, week 49
    run_tick(tick_settings, at("2026-12-01T06:30:00Z"))  # Tuesday: nothing new since Monday
    work(tick_settings)
    first, second = sent(tick_settings, DIGEST)
    assert second.idempotency_key == f"opp-digest:{pid}:2026-W49"
    assert "1) Step Prep Course, WHO, by 3 Feb" in second.body and "Lagos" not in second.body
    assert second.segments <= 3 and second.encoding == "GSM-7" and second.status == "sent"
    # The digest's numbers are what OPP 1 refers to afterwards.
    with session_scope(tick_settings.database_url) as session:
        listed = session.get(Person, pid).flow_state["opp"]["ids"]
        assert [session.get(Opportunity, i).title for i in listed] == ["Step Prep Course"]


def test_a_long_digest_stays_within_three_segments(tick_settings):
    pid = student(tick_settings)
    subscribe(tick_settings, pid, at("2026-11-26T12:00:00Z"))
    for n in range(1, 7):
        approve(tick_settings, f"Scholarship number {n} for", date(2027, 1, n), at("2026-11-26T13:00:00Z"))
    run_tick(tick_settings, at("2026-11-27T06:30:00Z"))
    (digest,) = sent(tick_settings, DIGEST)
    assert digest.segments <= 3 and segment_count(digest.body) <= 3
    assert "1) Scholarship number 1" in digest.body and digest.body.endswith(
        "OPP MORE for more. OPP OFF stops these."
    )


def test_no_digest_when_off_opted_out_paused_or_in_quiet_hours(tick_settings):
    now = at("2026-11-26T12:00:00Z")
    never = student(tick_settings, "+2348031234001")  # never texted OPP ON
    stopped = student(tick_settings, "+2348031234002", status="opted_out")
    paused = student(
        tick_settings, "+2348031234003", status="paused", paused_until=at("2026-12-20T00:00:00Z")
    )
    off = student(tick_settings, "+2348031234004")
    late = student(tick_settings, "+2348031234005")
    for pid in (stopped, paused, off, late):
        subscribe(tick_settings, pid, now)
    with session_scope(tick_settings.database_url) as session:
        Opportunities(session).unsubscribe(off)
    approve(tick_settings, "Open Grant", date(2027, 1, 12), at("2026-11-26T13:00:00Z"))
    run_tick(tick_settings, at("2026-11-27T06:30:00Z"))
    got = {m.person_id for m in sent(tick_settings, DIGEST)}
    assert got == {late}
    assert never not in got and stopped not in got and paused not in got and off not in got


def test_a_pass_that_runs_late_into_quiet_hours_holds_the_digest(tick_settings):
    pid = student(tick_settings)
    subscribe(tick_settings, pid, at("2026-11-26T12:00:00Z"))
    approve(tick_settings, "Open Grant", date(2027, 1, 12), at("2026-11-26T13:00:00Z"))
    run_tick(tick_settings, at("2026-11-27T21:00:00Z"))  # the clock was down: 22:00 in Lagos
    assert sent(tick_settings, DIGEST) == []
    run_tick(tick_settings, at("2026-11-28T06:30:00Z"))  # the next daily time
    assert len(sent(tick_settings, DIGEST)) == 1


def test_a_saved_opportunity_is_reminded_once_a_week_before_the_deadline(tick_settings, twilio):
    pid = student(tick_settings)
    oid = approve(tick_settings, "Lagos Observership", date(2027, 1, 12), at("2026-11-20T09:00:00Z"))
    closed = approve(tick_settings, "Withdrawn Grant", date(2027, 1, 12), at("2026-11-20T09:00:00Z"))
    with session_scope(tick_settings.database_url) as session:
        store = Opportunities(session)
        store.save(pid, oid, at("2027-01-05T06:30:00Z"))
        store.save(pid, closed, at("2027-01-05T06:30:00Z"))
        session.get(Opportunity, closed).status = "draft"  # taken back by an admin
    run_tick(tick_settings, at("2027-01-05T06:29:00Z"))
    assert sent(tick_settings, REMINDER) == []
    run_tick(tick_settings, at("2027-01-05T06:30:00Z"))
    run_tick(tick_settings, at("2027-01-05T06:31:00Z"))
    work(tick_settings)
    (reminder,) = sent(tick_settings, REMINDER)
    assert reminder.body == (
        "Reminder: Lagos Observership, WHO, closes on 12 Jan. Apply: https://ex.org/lagos-observership"
    )
    assert reminder.idempotency_key == f"opp-remind:{pid}:{oid}" and reminder.status == "sent"
    assert [m["Body"] for m in twilio.sent if m["Body"].startswith("Reminder")] == [reminder.body]


def test_a_paused_student_gets_the_reminder_after_the_pause(tick_settings):
    pid = student(tick_settings, status="paused", paused_until=at("2027-01-06T12:00:00Z"))
    oid = approve(tick_settings, "Lagos Observership", date(2027, 1, 12), at("2026-11-20T09:00:00Z"))
    with session_scope(tick_settings.database_url) as session:
        Opportunities(session).save(pid, oid, at("2027-01-05T06:30:00Z"))
    run_tick(tick_settings, at("2027-01-05T06:30:00Z"))
    run_tick(tick_settings, at("2027-01-06T06:30:00Z"))  # still paused until noon
    assert sent(tick_settings, REMINDER) == []
    run_tick(tick_settings, at("2027-01-07T06:30:00Z"))
    assert len(sent(tick_settings, REMINDER, pid)) == 1


def test_opportunities_expire_after_their_deadline(tick_settings):
    oid = approve(tick_settings, "Closing Grant", date(2026, 11, 30), at("2026-11-20T09:00:00Z"))
    run_tick(tick_settings, at("2026-12-01T12:00:00Z"))  # the 30th is not yet over everywhere
    with session_scope(tick_settings.database_url) as session:
        row = session.get(Opportunity, oid)
        assert row.status == APPROVED and row.status_on(date(2026, 12, 1)) == EXPIRED
    run_tick(tick_settings, at("2026-12-02T00:00:00Z"))
    with session_scope(tick_settings.database_url) as session:
        assert session.get(Opportunity, oid).status == EXPIRED


def test_rounds_tick_sends_the_digest(tick_settings, twilio, runner):
    pid = student(tick_settings)
    subscribe(tick_settings, pid, at("2026-11-26T12:00:00Z"))
    approve(tick_settings, "Open Grant", date(2027, 1, 12), at("2026-11-26T13:00:00Z"))
    result = runner.invoke(args=["tick", "--at", "2026-11-27T06:30:00Z"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["tick", "--at", "2026-11-27T06:30:00Z"])
    assert again.exit_code == 0, again.output
    work(tick_settings)
    # The CLI's settings have PUBLIC_URL, so the link goes out short.
    lines = [m["Body"].splitlines()[1] for m in twilio.sent if "New opportunities" in m["Body"]]
    assert len(lines) == 1
    assert re.fullmatch(
        r"1\) Open Grant, WHO, by 12 Jan, https://rounds\.example\.org/r/[2-9a-z]{6}", lines[0]
    )
