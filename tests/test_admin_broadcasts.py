"""Broadcasts: segments, preview and cost, fan-out in batches, quiet hours, re-runs, cancel, progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import event, func, select, update

from store.admin import CANCELLED, DONE, QUEUED, SENDING, Broadcast
from store.clock import FixedClock
from store.db import get_engine, session_scope
from store.models import Message
from tests.admin_support import add_people, add_person, at
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, drain
from tests.twilio_standin import TwilioStandIn
from workers import broadcasts, runtime
from workers.broadcasts import Audience, BroadcastError, Schedule

NOW = at("2026-11-26T12:00:00")
LONG_TEXT = "Exam week: free revision session tonight. " * 5  # 210 GSM-7 characters: 2 segments


@pytest.fixture
def app_settings(settings, redis_url):
    """The app, the CLI and the fan-out all read this fixed instant."""
    return settings.with_(redis_url=redis_url, clock=FixedClock(NOW))


@pytest.fixture
def settings_(app_settings):
    return app_settings


def preview(settings, text="Hello", segment=None, schedule=None, template=None, now=NOW):
    with session_scope(settings.database_url) as session:
        return broadcasts.preview(
            session,
            text,
            segment or Audience(),
            schedule or Schedule(),
            settings,
            broadcasts.load_prices(settings),
            now,
            template,
        )


def create(settings, text="Hello", segment=None, schedule=None, template=None, now=NOW) -> int:
    with session_scope(settings.database_url) as session:
        broadcast, _ = broadcasts.create_broadcast(
            session,
            text,
            segment or Audience(),
            schedule or Schedule(),
            settings,
            now,
            whatsapp_template=template,
        )
        return broadcast.id


def rows(settings, broadcast_id: int) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(
            session.scalars(select(Message).where(Message.broadcast_id == broadcast_id).order_by(Message.id))
        )


def broadcast_row(settings, broadcast_id: int) -> Broadcast:
    with session_scope(settings.database_url) as session:
        return session.get(Broadcast, broadcast_id)


def mixed_audience(settings) -> dict[str, int]:
    """One of each kind of person a broadcast meets."""
    recent, stale = NOW - timedelta(hours=2), NOW - timedelta(days=3)
    return {
        "ng1": add_person(settings, "+2348031000001", country="NG", last_inbound_at=recent),
        "ng2": add_person(settings, "+2348031000002", country="NG", track="plab1"),
        "gh": add_person(settings, "+233241000003", country="GH", language="fr"),
        "wa_in": add_person(settings, "+2348031000004", channel="whatsapp", last_inbound_at=recent),
        "wa_out": add_person(settings, "+2348031000005", channel="whatsapp", last_inbound_at=stale),
        "stopped": add_person(settings, "+2348031000006", status="opted_out"),
        "paused": add_person(
            settings, "+2348031000007", status="paused", paused_until=NOW + timedelta(days=3)
        ),
        "resumed": add_person(
            settings, "+2348031000008", status="paused", paused_until=NOW - timedelta(days=1)
        ),
        "unreachable": add_person(settings, "+2348031000009", unreachable=True),
        "mentor": add_person(settings, "+2348031000010", role="mentor"),
    }


# --- preview -------------------------------------------------------------------------------


def test_preview_counts_recipients_skips_segments_and_cost(settings_):
    mixed_audience(settings_)
    shown = preview(settings_, LONG_TEXT)
    assert shown.matched == 9  # the mentor is not a student
    assert shown.recipients == 5  # ng1, ng2, gh, wa_in, resumed
    assert shown.skipped == {"opted_out": 1, "paused": 1, "unreachable": 1, "outside_window": 1}
    assert shown.by_channel == {"sms": 4, "whatsapp": 1}
    assert (shown.encoding, shown.segments_per_sms) == ("GSM-7", 2)
    assert shown.total_segments == 8 and shown.whatsapp_messages == 1
    # prices.yaml: NG SMS 0.10/segment, GH 0.09, NG WhatsApp 0.05/message
    assert shown.estimated_cost == pytest.approx(3 * 2 * 0.10 + 2 * 0.09 + 0.05)
    assert any("not written in 24 hours" in w for w in shown.warnings)
    assert any("2 segments" in w for w in shown.warnings)


def test_preview_warns_when_a_character_forces_ucs2_and_maps_smart_quotes(settings_):
    add_person(settings_, "+2348031000001")
    quoted = preview(settings_, "Don\u2019t miss \u201cQ\u201d \u2014 free")
    assert quoted.encoding == "GSM-7" and quoted.text == 'Don\'t miss "Q" - free'
    # ê has a plain SMS form (e); a tick mark has none, so it still forces UCS-2.
    ticked = preview(settings_, "Révision ce soir à 19h, c'est gratuit : réponse ê ✓")
    assert ticked.encoding == "UCS-2"
    assert any("force UCS-2" in w and "✓" in w and "ê" not in w for w in ticked.warnings)


def test_segment_keys_narrow_the_audience(settings_):
    people = mixed_audience(settings_)
    add_person(
        settings_,
        "+2348031000011",
        created_at=NOW - timedelta(days=400),
        last_inbound_at=NOW - timedelta(days=60),
    )

    def recipients(**segment):
        return preview(settings_, segment=Audience.from_dict(segment)).recipients

    assert recipients(country="GH") == 1
    assert recipients(country=["NG", "GH"]) == 6
    assert recipients(track="plab1") == 1
    assert recipients(language="fr") == 1
    assert recipients(channel="whatsapp") == 1
    assert recipients(status="paused") == 1  # only the one whose pause has ended can receive it
    assert recipients(**{"joined-before": "2026-01-01"}) == 1
    assert recipients(**{"joined-after": "2026-01-01"}) == 5
    assert recipients(**{"last-active": "1d"}) == 5
    assert recipients(inactive="30d") == 1
    assert people  # the fixture's ids are not needed beyond here


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["colour=blue"], "unknown segment key 'colour'"),
        (["country"], "write KEY=VALUE"),
        (["country=Nigeria"], "two-letter ISO code"),
        (["channel=fax"], "sms or whatsapp"),
        (["last-active=soon"], "7d, 48h or 2w"),
        (["joined-after=yesterday"], "2026-01-31"),
    ],
)
def test_bad_segments_say_what_to_write(items, message):
    with pytest.raises(BroadcastError, match=message):
        Audience.parse(items)


def test_schedule_rejects_the_past_and_both_kinds_at_once():
    with pytest.raises(BroadcastError, match="in the past"):
        Schedule.parse("2020-01-01T00:00:00Z", None, NOW)
    with pytest.raises(BroadcastError, match="not both"):
        Schedule.parse("2027-01-01T00:00:00Z", "18:00", NOW)
    with pytest.raises(BroadcastError, match="HH:MM"):
        Schedule.parse(None, "25:99", NOW)


def test_mentor_segment_picks_students_of_one_mentor(settings_):
    from flows import mentors

    add_person(settings_, "+2348031000001", name="Amina")
    add_person(settings_, "+2348031000002", name="Bola")
    with session_scope(settings_.database_url) as session:
        mentor = mentors.add_mentor(session, "+2348039000001", "Dr O")
        mentors.pair(session, mentor, "+2348031000001", NOW)
    assert preview(settings_, segment=Audience.parse(["mentor=any"])).recipients == 1
    assert preview(settings_, segment=Audience.parse(["mentor=none"])).recipients == 1
    assert preview(settings_, segment=Audience.parse(["mentor=+2348039000001"])).recipients == 1


# --- fan-out -------------------------------------------------------------------------------


def count_statements(settings):
    """Counts INSERTs into messages and all statements, on the engine the fan-out uses."""
    engine = get_engine(settings.database_url)
    seen = {"insert_messages": 0, "all": 0}

    def before(conn, cursor, statement, parameters, context, executemany):
        seen["all"] += 1
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            seen["insert_messages"] += 1

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def test_fan_out_writes_each_batch_with_one_insert_and_no_query_per_recipient(settings_):
    add_people(settings_, 2500)
    broadcast_id = create(settings_, "Free revision session tonight")
    seen, stop = count_statements(settings_)
    try:
        report = broadcasts.run_fan_out(settings_, broadcast_id, now=NOW, batch_size=1000)
    finally:
        stop()
    assert (report.created, report.batches) == (2500, 3)
    assert seen["insert_messages"] == 3
    assert seen["all"] < 30  # a few per batch, never one per recipient
    messages = rows(settings_, broadcast_id)
    assert len(messages) == 2500
    first = messages[0]
    assert (first.kind, first.status, first.direction, first.send_after) == (
        "broadcast",
        "queued",
        "out",
        None,
    )
    assert first.idempotency_key == f"broadcast:{broadcast_id}:{first.person_id}"
    assert first.body == "Free revision session tonight" and first.segments == 1
    # One send job per ROUNDS_SEND_BATCH (500) messages of each fan-out batch, on the bulk queue.
    assert Queue(runtime.BULK, connection=Redis.from_url(settings_.redis_url)).count == 5
    assert broadcast_row(settings_, broadcast_id).status == SENDING


def test_fan_out_skips_opted_out_paused_unreachable_and_closed_whatsapp(settings_):
    people = mixed_audience(settings_)
    broadcast_id = create(settings_)
    broadcasts.run_fan_out(settings_, broadcast_id, now=NOW)
    got = {m.person_id for m in rows(settings_, broadcast_id)}
    assert got == {people[k] for k in ("ng1", "ng2", "gh", "wa_in", "resumed")}
    stored = broadcast_row(settings_, broadcast_id)
    assert stored.recipients == 5 and stored.matched == 9
    assert stored.skipped == {"opted_out": 1, "paused": 1, "unreachable": 1, "outside_window": 1}


def test_a_whatsapp_template_lets_people_outside_the_window_in(settings_):
    people = mixed_audience(settings_)
    broadcast_id = create(settings_, template="HX" + "0" * 32)
    broadcasts.run_fan_out(settings_, broadcast_id, now=NOW)
    assert people["wa_out"] in {m.person_id for m in rows(settings_, broadcast_id)}


def test_outside_the_window_the_broadcast_template_is_what_twilio_gets(settings_, twilio):
    settings = settings_.with_(twilio_api_base=twilio.url, quiet_start="00:00", quiet_end="00:00")
    stale = NOW - timedelta(days=3)
    add_person(settings, "+2348031000005", channel="whatsapp", last_inbound_at=stale)
    broadcast_id = create(settings, "Revision tonight", template="HX" + "1" * 32)
    broadcasts.run_fan_out(settings, broadcast_id)
    drain(settings)
    (sent,) = twilio.sent
    assert sent["ContentSid"] == "HX" + "1" * 32 and sent["To"] == "whatsapp:+2348031000005"
    assert sent["ContentVariables"] == '{"1": "Revision tonight"}'


def test_a_full_outbox_makes_the_fan_out_wait_then_finish(settings_):
    settings = settings_.with_(outbox_limit=250, quiet_start="00:00", quiet_end="00:00")
    add_people(settings, 1000)
    broadcast_id = create(settings, "Hello")
    first = broadcasts.run_fan_out(settings, broadcast_id, batch_size=100)
    assert first.waiting and first.created == 300  # three batches, then the outbox was full
    assert broadcast_row(settings, broadcast_id).fanned_out_at is None
    with session_scope(settings.database_url) as session:  # the senders drain the outbox
        session.execute(update(Message).where(Message.status == "queued").values(status="sent"))
    second = broadcasts.run_fan_out(settings, broadcast_id, batch_size=100)
    assert second.waiting and second.created == 300 and second.existing == 300
    last = broadcasts.run_fan_out(settings.with_(outbox_limit=10_000), broadcast_id, batch_size=100)
    assert not last.waiting and last.created == 400
    assert len(rows(settings, broadcast_id)) == 1000


def test_running_the_fan_out_again_adds_nothing(settings_):
    add_people(settings_, 1200)
    broadcast_id = create(settings_)
    first = broadcasts.run_fan_out(settings_, broadcast_id, now=NOW, batch_size=500)
    # As if the worker died before it could record the end: the job runs again.
    with session_scope(settings_.database_url) as session:
        session.get(Broadcast, broadcast_id).status = QUEUED
    again = broadcasts.run_fan_out(settings_, broadcast_id, now=NOW, batch_size=500)
    assert (first.created, again.created, again.existing) == (1200, 0, 1200)
    with session_scope(settings_.database_url) as session:
        total = session.scalar(
            select(func.count()).select_from(Message).where(Message.broadcast_id == broadcast_id)
        )
    assert total == 1200


def test_quiet_hours_hold_a_message_until_they_end(settings_):
    late = at("2026-11-26T21:30:00")  # Lagos 22:30 (quiet), Kolkata 03:00 (quiet), New York 16:30
    lagos = add_person(settings_, "+2348031000001", timezone="Africa/Lagos")
    kolkata = add_person(settings_, "+919812345678", timezone="Asia/Kolkata", country="IN")
    new_york = add_person(settings_, "+12125550100", timezone="America/New_York", country="US")
    broadcast_id = create(settings_, now=late)
    report = broadcasts.run_fan_out(settings_, broadcast_id, now=late)
    after = {m.person_id: m.send_after for m in rows(settings_, broadcast_id)}
    assert after[lagos] == at("2026-11-27T06:00:00")  # 07:00 WAT
    assert after[kolkata] == at("2026-11-27T01:30:00")  # 07:00 IST
    assert after[new_york] is None  # goes now
    assert report.deferred == 2
    shown = preview(settings_, now=late)
    assert shown.deferred_by_quiet_hours == 2


def test_local_time_and_absolute_time_schedules(settings_):
    lagos = add_person(settings_, "+2348031000001", timezone="Africa/Lagos")
    london = add_person(settings_, "+447700900123", timezone="Europe/London", country="GB")
    local = create(settings_, schedule=Schedule.parse(None, "18:00", NOW))
    broadcasts.run_fan_out(settings_, local, now=NOW)
    after = {m.person_id: m.send_after for m in rows(settings_, local)}
    assert after == {lagos: at("2026-11-26T17:00:00"), london: at("2026-11-26T18:00:00")}
    fixed = create(settings_, schedule=Schedule.parse("2026-11-28T10:00:00Z", None, NOW))
    broadcasts.run_fan_out(settings_, fixed, now=NOW)
    assert {m.send_after for m in rows(settings_, fixed)} == {at("2026-11-28T10:00:00")}
    # Nothing is signalled to the senders before its time; the sweeper does that.
    assert Queue(runtime.BULK, connection=Redis.from_url(settings_.redis_url)).count == 0


def test_cancel_mid_flight_stops_the_fan_out_and_the_queued_messages(settings_):
    add_people(settings_, 2500)
    broadcast_id = create(settings_)
    stopped: list[int] = []

    def cancel_after_first_batch(_size: int) -> None:
        if not stopped:
            with session_scope(settings_.database_url) as session:
                stopped.append(
                    broadcasts.cancel_broadcast(session, session.get(Broadcast, broadcast_id), NOW)
                )

    report = broadcasts.run_fan_out(
        settings_, broadcast_id, now=NOW, batch_size=1000, on_batch=cancel_after_first_batch
    )
    assert report.cancelled and report.created == 1000
    assert stopped == [1000]
    messages = rows(settings_, broadcast_id)
    assert len(messages) == 1000 and {m.status for m in messages} == {"canceled"}
    stored = broadcast_row(settings_, broadcast_id)
    assert stored.status == CANCELLED and stored.cancelled_at is not None
    with session_scope(settings_.database_url) as session:
        assert broadcasts.progress(session, broadcast_id, NOW).counts["canceled"] == 1000
        with pytest.raises(BroadcastError, match="already cancelled"):
            broadcasts.cancel_broadcast(session, session.get(Broadcast, broadcast_id), NOW)


def test_a_broadcast_goes_through_the_send_path_and_reports_progress(settings_):
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    try:
        settings = settings_.with_(twilio_api_base=twilio.url, quiet_start="00:00", quiet_end="00:00")
        for n in range(3):
            add_person(settings, f"+234803100000{n}")
        broadcast_id = create(settings, "Revision tonight at 7")
        twilio.inject(400, 21211, "Invalid 'To' Phone Number")
        broadcasts.run_fan_out(settings, broadcast_id)
        drain(settings)
    finally:
        twilio.stop()
    assert sorted(m["Body"] for m in twilio.sent) == ["Revision tonight at 7"] * 2
    with session_scope(settings.database_url) as session:
        shown = broadcasts.progress(session, broadcast_id, NOW)
        assert (shown.counts["sent"], shown.counts["failed"], shown.total) == (2, 1, 3)
        assert shown.failures == [{"error_code": 21211, "count": 1, "reason": "not a valid phone number"}]
        stored = session.get(Broadcast, broadcast_id)
        broadcasts.refresh_status(session, stored, NOW)
        assert stored.status == DONE and stored.finished_at is not None


def test_stalled_fan_outs_are_found_for_a_restart(settings_):
    add_people(settings_, 3)
    broadcast_id = create(settings_, now=NOW - timedelta(hours=1))
    with session_scope(settings_.database_url) as session:
        assert broadcasts.stalled_broadcasts(session, NOW) == [broadcast_id]
    broadcasts.run_fan_out(settings_, broadcast_id, now=NOW)
    with session_scope(settings_.database_url) as session:
        assert broadcasts.stalled_broadcasts(session, NOW) == []


# --- the command line -------------------------------------------------------------------------


def test_cli_broadcast_previews_then_sends_with_yes(runner, settings_):
    mixed_audience(settings_)
    result = runner.invoke(args=["broadcast", LONG_TEXT, "--segment", "country=NG", "--yes"])
    assert result.exit_code == 0, result.output
    assert "recipients: 4 (3 SMS, 1 WhatsApp) of 8 matched" in result.output
    assert "segments:   2 per SMS" in result.output
    assert "cost:       about 0.65 USD" in result.output
    assert "4 message(s) queued" in result.output
    with session_scope(settings_.database_url) as session:
        stored = session.scalar(select(Broadcast))
        assert stored.segment == {"country": ["NG"]} and stored.created_by == "cli"
        assert (
            session.scalar(select(func.count()).select_from(Message).where(Message.kind == "broadcast")) == 4
        )


def test_cli_broadcast_needs_yes_without_a_terminal(runner, settings_):
    mixed_audience(settings_)
    result = runner.invoke(args=["broadcast", "Hello", "--segment", "country=GH"])
    assert result.exit_code == 1
    assert "recipients: 1" in result.output and "add --yes to send" in result.output
    with session_scope(settings_.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_cli_broadcast_explains_bad_input(runner, settings_):
    add_person(settings_, "+2348031000001")
    bad_key = runner.invoke(args=["broadcast", "Hello", "--segment", "planet=mars", "--yes"])
    assert bad_key.exit_code == 1 and "unknown segment key 'planet'" in bad_key.output
    past = runner.invoke(args=["broadcast", "Hello", "--at", "2020-01-01T00:00:00Z", "--yes"])
    assert past.exit_code == 1 and "in the past" in past.output
    nobody = runner.invoke(args=["broadcast", "Hello", "--segment", "country=FR", "--yes"])
    assert nobody.exit_code == 1 and "nobody in this segment" in nobody.output


def test_cli_broadcast_status_and_cancel(runner, settings_):
    add_people(settings_, 3)
    broadcast_id = create(settings_, schedule=Schedule.parse(None, "18:00", NOW))
    broadcasts.run_fan_out(settings_, broadcast_id, now=NOW)
    listing = runner.invoke(args=["admin", "broadcasts"])
    assert f"#{broadcast_id}" in listing.output and "sending" in listing.output
    status = runner.invoke(args=["admin", "broadcasts", str(broadcast_id)])
    assert "scheduled   3" in status.output
    cancelled = runner.invoke(args=["admin", "cancel", str(broadcast_id)])
    assert cancelled.exit_code == 0 and "3 queued message(s) will not be sent" in cancelled.output
    again = runner.invoke(args=["admin", "cancel", str(broadcast_id)])
    assert again.exit_code == 1 and "already cancelled" in again.output


def test_accents_are_folded_for_sms_recipients_only(settings_):
    """é and à are GSM-7 and stay; ê and ç are not, so SMS writes them plainly (one segment, not
    UCS-2's price) while WhatsApp, which costs nothing per character, keeps the full spelling."""
    settings = settings_.with_(quiet_start="00:00", quiet_end="00:00")
    recent = NOW - timedelta(hours=2)
    sms = add_person(settings, "+2250701000001", country="CI", language="fr")
    whatsapp = add_person(
        settings, "+2250701000002", country="CI", channel="whatsapp", last_inbound_at=recent
    )
    text = "Révision à 19h : êtes-vous prêts ? Leçon de français."
    shown = preview(settings, text)
    assert (shown.encoding, shown.segments_per_sms) == ("GSM-7", 1)
    assert any("WhatsApp keeps them" in note for note in shown.warnings)
    broadcast_id = create(settings, text)
    broadcasts.run_fan_out(settings, broadcast_id, now=NOW)
    by_person = {m.person_id: m for m in rows(settings, broadcast_id)}
    assert by_person[sms].body == "Révision à 19h : etes-vous prets ? Lecon de francais."
    assert (by_person[sms].encoding, by_person[sms].segments) == ("GSM-7", 1)
    assert by_person[whatsapp].body == text
    assert by_person[whatsapp].encoding == "UCS-2"
