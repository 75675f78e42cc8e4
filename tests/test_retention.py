"""Bounded storage: old message rows become daily counts and go; flagged conversations stay."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from flows.engine import OPT_OUT_WORDS
from gateway.admin import stats
from store.db import session_scope
from store.mentoring import Flag
from store.models import Attempt, Message, Question
from store.retention import MessageDay, PruneRun, prune_messages
from store.settings import Settings
from tests.admin_support import add_person, make_admin, sign_in
from workers.jobs import run_prune

DAYS = 90


def add_message(settings, person_id: int | None, age: timedelta, **fields) -> int:
    values = {
        "direction": "in",
        "channel": "sms",
        "phone": "+2348031000001",
        "body": "A",
        "kind": "inbound",
        "status": "received",
        "segments": 1,
    }
    values.update(fields)
    created = settings.clock.now() - age
    with session_scope(settings.database_url) as session:
        message = Message(person_id=person_id, created_at=created, updated_at=created, **values)
        session.add(message)
        session.flush()
        return message.id


def remaining(settings) -> set[int]:
    with session_scope(settings.database_url) as session:
        return set(session.scalars(select(Message.id)))


def day_counts(settings) -> dict[tuple, tuple[int, int, int]]:
    with session_scope(settings.database_url) as session:
        return {
            (d.day.isoformat(), d.channel, d.direction, d.kind, d.status): (
                d.messages,
                d.segments,
                d.opt_outs,
            )
            for d in session.scalars(select(MessageDay))
        }


def prune(settings, **options):
    return prune_messages(
        settings.database_url, settings.clock.now(), DAYS, opt_out_words=OPT_OUT_WORDS, **options
    )


def test_messages_older_than_the_period_become_daily_counts_and_newer_ones_stay(settings):
    person = add_person(settings, "+2348031000001")
    old = timedelta(days=DAYS, hours=1)
    stop = add_message(settings, person, old, body=" stop ")
    push = add_message(
        settings, person, old, direction="out", kind="daily", status="delivered", body="Q", segments=2
    )
    failed = add_message(settings, person, old, direction="out", kind="daily", status="failed", segments=3)
    recent = add_message(settings, person, timedelta(days=DAYS - 1), body="B")
    report = prune(settings)
    assert report.deleted == 3 and report.complete
    assert remaining(settings) == {recent}
    day = (settings.clock.now() - old).date().isoformat()
    assert day_counts(settings) == {
        (day, "sms", "in", "inbound", "received"): (1, 1, 1),  # the STOP is still counted as an opt-out
        (day, "sms", "out", "daily", "delivered"): (1, 2, 0),
        (day, "sms", "out", "daily", "failed"): (1, 3, 0),
    }
    assert {stop, push, failed}.isdisjoint(remaining(settings))


def test_counts_add_up_over_several_passes(settings, clock):
    person = add_person(settings, "+2348031000001")
    add_message(settings, person, timedelta(days=DAYS, hours=5))
    prune(settings)
    add_message(settings, person, timedelta(days=DAYS - 1, hours=20))  # the same UTC day, a day younger
    clock.advance(days=1)
    prune(settings)
    (counts,) = day_counts(settings).values()
    assert counts == (2, 2, 0)


def test_rows_still_in_the_outbox_are_never_pruned(settings):
    person = add_person(settings, "+2348031000001")
    queued = add_message(settings, person, timedelta(days=DAYS + 5), direction="out", status="queued")
    sending = add_message(settings, person, timedelta(days=DAYS + 5), direction="out", status="sending")
    prune(settings)
    assert remaining(settings) == {queued, sending}


def test_a_kept_reply_may_point_at_a_pruned_inbound_text(settings):
    person = add_person(settings, "+2348031000001")
    inbound = add_message(settings, person, timedelta(days=DAYS, seconds=1))
    reply = add_message(
        settings,
        person,
        timedelta(days=DAYS, seconds=-1),
        direction="out",
        kind="reply",
        status="replied",
        reply_to_id=inbound,
    )
    prune(settings)
    assert remaining(settings) == {reply}


def test_a_flagged_conversation_is_kept_until_the_flag_is_resolved_plus_the_period(settings, clock):
    student = add_person(settings, "+2348031000001")
    mentor = add_person(settings, "+2348031000002", role="mentor")
    bystander = add_person(settings, "+2348031000003")
    old = timedelta(days=DAYS + 10)
    students_text = add_message(settings, student, old, body="I want to give up")
    mentors_relay = add_message(settings, mentor, old, direction="out", kind="relay", status="delivered")
    mentors_other = add_message(settings, mentor, old, body="hello")
    bystanders = add_message(settings, bystander, old)
    with session_scope(settings.database_url) as session:
        flag = Flag(
            person_id=student,
            reason="crisis",
            excerpt="I want to give up",
            message_ids=[students_text, mentors_relay],
            created_at=settings.clock.now() - old,
        )
        session.add(flag)
        session.flush()
        flag_id = flag.id
    prune(settings)
    kept = {students_text, mentors_relay}
    assert remaining(settings) == kept  # the mentor's unrelated text and the bystander's went
    assert {mentors_other, bystanders}.isdisjoint(remaining(settings))

    with session_scope(settings.database_url) as session:
        resolved = session.get(Flag, flag_id)
        resolved.resolved, resolved.resolved_at = True, settings.clock.now()
    clock.advance(days=DAYS - 1)
    prune(settings)
    assert remaining(settings) == kept  # resolved, but not yet a full period ago
    clock.advance(days=2)
    prune(settings)
    assert remaining(settings) == set()


def test_zero_days_keeps_everything(settings, runner, app_settings):
    person = add_person(settings, "+2348031000001")
    ancient = add_message(settings, person, timedelta(days=3000))
    off = settings.with_(message_retention_days=0)
    assert run_prune(off) is None
    assert remaining(settings) == {ancient}
    runner.app.config["ROUNDS"] = app_settings.with_(message_retention_days=0)
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0 and "retention is off" in result.output
    assert remaining(settings) == {ancient}


def test_the_period_is_read_from_the_environment():
    assert Settings.from_env({}).message_retention_days == 90
    assert Settings.from_env({"ROUNDS_MESSAGE_RETENTION_DAYS": "0"}).message_retention_days == 0
    assert Settings.from_env({"ROUNDS_MESSAGE_RETENTION_DAYS": "365"}).message_retention_days == 365
    with pytest.raises(ValueError, match="at least 90"):
        Settings.from_env({"ROUNDS_MESSAGE_RETENTION_DAYS": "30"})


def test_a_dry_run_counts_and_changes_nothing(settings, runner):
    person = add_person(settings, "+2348031000001")
    ids = {add_message(settings, person, timedelta(days=DAYS + n)) for n in range(1, 4)}
    ids.add(add_message(settings, person, timedelta(days=1)))
    result = runner.invoke(args=["prune", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would delete 3 messages" in result.output
    assert remaining(settings) == ids
    assert day_counts(settings) == {}
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(PruneRun)) == 0


def test_the_command_prunes_and_records_the_run(settings, runner, clock):
    person = add_person(settings, "+2348031000001")
    add_message(settings, person, timedelta(days=DAYS + 1))
    kept = add_message(settings, person, timedelta(days=1))
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0 and "deleted 1 messages" in result.output
    assert remaining(settings) == {kept}
    with session_scope(settings.database_url) as session:
        (run,) = session.scalars(select(PruneRun))
        assert (run.deleted, run.complete, run.retention_days) == (1, True, DAYS)
        assert run.started_at == clock.now() and run.cutoff == clock.now() - timedelta(days=DAYS)


def test_an_interrupted_pass_is_finished_by_the_next_without_counting_twice(settings):
    person = add_person(settings, "+2348031000001")
    old = [add_message(settings, person, timedelta(days=DAYS + 1, minutes=n)) for n in range(7)]
    young = add_message(settings, person, timedelta(days=2))
    first = prune(settings, batch_ids=2, max_batches=2)  # stopped, as a crash or the budget would
    assert not first.complete and first.deleted == 4
    assert remaining(settings) == {*old[4:], young}
    second = prune(settings, batch_ids=2)
    assert second.complete and second.deleted == 3
    assert remaining(settings) == {young}
    (counts,) = day_counts(settings).values()
    assert counts[0] == 7
    with session_scope(settings.database_url) as session:
        runs = list(session.scalars(select(PruneRun).order_by(PruneRun.id)))
    assert [(r.deleted, r.complete) for r in runs] == [(4, False), (3, True)]


def test_the_walk_crosses_gaps_and_stops_at_the_first_young_range(settings):
    person = add_person(settings, "+2348031000001")
    first = add_message(settings, person, timedelta(days=DAYS + 3))
    gone = [add_message(settings, person, timedelta(days=DAYS + 2)) for _ in range(5)]
    last = add_message(settings, person, timedelta(days=DAYS + 1))
    young = [add_message(settings, person, timedelta(days=1)) for _ in range(6)]
    with session_scope(settings.database_url) as session:  # a gap of ids, as an earlier prune leaves
        for message_id in gone:
            session.delete(session.get(Message, message_id))
    report = prune(settings, batch_ids=2)
    assert report.deleted == 2 and {first, last}.isdisjoint(remaining(settings))
    assert remaining(settings) == set(young)
    # Ranges: [first, +2) deletes 1; [last, +2) deletes 1 and holds a young row; then one young range.
    assert report.batches == 3


def test_statistics_and_exports_still_work_after_a_prune(settings, app_settings, client, runner):
    person = add_person(settings, "+2348031000001")
    with session_scope(settings.database_url) as session:
        session.add(
            Question(
                id=7,
                topic="renal",
                tracks=["step1"],
                stem="s",
                options={"A": "a"},
                answer="A",
                explanation="e",
            )
        )
        session.flush()
        asked = settings.clock.now() - timedelta(days=DAYS + 5)
        session.add(
            Attempt(
                person_id=person,
                question_id=7,
                local_date=asked.date(),
                asked_at=asked,
                answered_at=asked,
                choice="A",
                correct=True,
            )
        )
    add_message(settings, person, timedelta(days=DAYS + 5))
    add_message(settings, person, timedelta(days=3), body="STOP")
    add_message(settings, person, timedelta(days=3), direction="out", kind="daily", status="delivered")
    prune(settings)
    with session_scope(settings.database_url) as session:
        data = stats.dashboard(session, settings.clock.now(), 30)
        assert sum(data["opt_outs"].values["opt_outs"]) == 1
        assert sum(data["delivery"].values["delivered"]) == 1
        assert data["topics"] == [{"topic": "renal", "answered": 1, "correct": 1, "accuracy": 100}]
    result = runner.invoke(args=["export", "answers"])
    assert result.exit_code == 0 and len(list(csv.DictReader(io.StringIO(result.stdout)))) == 1
    result = runner.invoke(args=["export", "messages"])
    assert result.exit_code == 0 and len(list(csv.DictReader(io.StringIO(result.stdout)))) == 2
    make_admin(app_settings)
    sign_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert "messages older than 90 days deleted" in page
    assert "<b>1</b> messages older than 90 days deleted" in page


def test_the_dashboard_says_when_retention_is_off_or_no_prune_has_run(app_settings, client, app):
    make_admin(app_settings)
    sign_in(client)
    assert "No prune has run yet" in client.get("/admin/").get_data(as_text=True)
    app.config["ROUNDS"] = app_settings.with_(message_retention_days=0)
    assert "Message retention is off" in client.get("/admin/").get_data(as_text=True)


class SlowThenFast:
    """A stopwatch on which the first `slow` batches take a second and the rest a millisecond."""

    def __init__(self, slow: int):
        self.at, self.calls, self.slow = 0.0, 0, slow

    def __call__(self) -> float:
        self.calls += 1
        self.at += 1.0 if self.calls <= 2 + 2 * self.slow else 0.001
        return self.at


def test_slow_batches_shrink_the_range_and_fast_ones_grow_it_back(settings):
    person = add_person(settings, "+2348031000001")
    old = [add_message(settings, person, timedelta(days=DAYS + 1, minutes=n)) for n in range(16)]
    young = add_message(settings, person, timedelta(days=1))
    report = prune(settings, batch_ids=8, slow_batch_ms=400, elapsed=SlowThenFast(slow=2))
    assert report.deleted == len(old) and remaining(settings) == {young}
    # 8 ids (slow), 4 (slow), 2 (fast), 4 (fast): 18 ids cover the 16 old rows and the young one.
    assert report.batches == 4
    fixed = prune(settings, batch_ids=8)
    assert fixed.batches == 1
