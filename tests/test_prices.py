"""Real prices and actual cost: `rounds prices sync` against the stand-in's Pricing API (its real
response shape, paging, errors, a country it has no prices for), prices.yaml as the fallback, the
actual-cost fetch (a price not filled in yet, 429 and 500, at most once, nothing before a final
status), and the estimates next to the actuals on the CLI, the console, the API and the export.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from store.costs import SyncedPrice, record_cost
from store.db import session_scope
from store.models import Message, Person
from tests.admin_support import bearer, make_admin, make_token, person_values, sign_in
from tests.conftest import drain
from workers import pricing, runtime
from workers.broadcasts import Audience, Schedule, load_prices, preview
from workers.costs import cost_sheet
from workers.pricing import MAX_AGE, MAX_CHECKS, fetch_message_costs, sync_prices

NG_CARRIERS = [
    ("MTN Nigeria", "621", "30", [("local", "0.1050", "0.0950"), ("mobile", "0.2000", "0.2000")]),
    ("Airtel Nigeria", "621", "20", [("local", "0.1100", "0.1120")]),
]
GH_CARRIERS = [("MTN Ghana", "620", "01", [("mobile", "0.0700", "0.0650")])]


@pytest.fixture
def prices_app(send_settings):
    from gateway import create_app

    return create_app(send_settings)


@pytest.fixture
def runner(prices_app):
    return prices_app.test_cli_runner()


@pytest.fixture
def client(prices_app):
    return prices_app.test_client()


def synced_rows(settings) -> dict[str, SyncedPrice]:
    with session_scope(settings.database_url) as session:
        rows = {row.country: row for row in session.scalars(select(SyncedPrice))}
        session.expunge_all()
        return rows


# --- the price sync ------------------------------------------------------------------------------


def test_sync_stores_each_countrys_highest_price_for_our_number_type_with_the_date(send_settings, twilio):
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    twilio.add_country("GH", "Ghana", GH_CARRIERS)
    report = sync_prices(send_settings, ["ng", "GH", "TD", "N1"])
    rows = synced_rows(send_settings)
    # NG: local numbers (a long code sends) across both carriers; the mobile price is not ours.
    assert rows["NG"].price == pytest.approx(0.112)
    assert (rows["NG"].number_type, rows["NG"].carriers, rows["NG"].price_unit) == ("local", 2, "USD")
    # GH lists only a mobile price: that is taken, and said so.
    assert (rows["GH"].price, rows["GH"].number_type) == (pytest.approx(0.065), "any")
    assert rows["NG"].synced_at == send_settings.clock.now()
    # TD: the Pricing API has no prices for it (404): nothing stored, prices.yaml stays.
    assert report.missing == ["TD"] and "TD" not in rows
    assert "N1" in report.failed and set(rows) == {"NG", "GH"}
    assert twilio.pricing_requests == [
        "/v1/Messaging/Countries/NG",
        "/v1/Messaging/Countries/GH",
        "/v1/Messaging/Countries/TD",
    ]


def test_a_later_sync_replaces_the_price_and_its_date(send_settings, twilio, clock):
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    sync_prices(send_settings, ["NG"])
    twilio.add_country("NG", "Nigeria", [("MTN Nigeria", "621", "30", [("local", "0.1", "0.0800")])])
    clock.advance(days=7)
    sync_prices(send_settings, ["NG"])
    row = synced_rows(send_settings)["NG"]
    assert (row.price, row.carriers, row.synced_at) == (pytest.approx(0.08), 1, clock.now())


def test_a_short_code_sender_takes_the_shortcode_price(send_settings, twilio):
    twilio.add_country(
        "NG", "Nigeria", [("MTN", "621", "30", [("local", "0.1", "0.10"), ("shortcode", "0.3", "0.30")])]
    )
    sync_prices(send_settings.with_(sms_from="12345"), ["NG"])
    assert synced_rows(send_settings)["NG"].price == pytest.approx(0.30)


def test_sync_all_pages_through_the_country_list(send_settings, twilio):
    isos = [f"{a}{b}" for a in "ABC" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"][:60]
    for iso in isos:
        twilio.add_country(iso, f"Country {iso}", [("Carrier", "001", "01", [("local", "0.05", "0.05")])])
    report = sync_prices(send_settings, every_country=True)
    assert sorted(report.synced) == isos
    listing = [path for path in twilio.pricing_requests if path.startswith("/v1/Messaging/Countries?")]
    # 60 countries at 50 a page: the client follows meta.next_page_url to the second page.
    assert listing == ["/v1/Messaging/Countries?PageSize=50", "/v1/Messaging/Countries?PageSize=50&Page=1"]
    assert len(synced_rows(send_settings)) == 60
    twilio.inject_read(401, 20003, "Authenticate")
    report = sync_prices(send_settings, every_country=True)
    assert list(report.failed) == ["*"] and "HTTP 401" in report.failed["*"] and not report.synced


def test_sync_retries_429_and_500_and_reports_a_country_that_keeps_failing(send_settings, twilio):
    twilio.retry_after = "0"
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    twilio.add_country("GH", "Ghana", GH_CARRIERS)
    twilio.inject_read(429, 20429, "Too Many Requests")
    twilio.inject_read(500, 20500, "Internal Server Error")
    report = sync_prices(send_settings, ["NG", "GH"])
    assert sorted(report.synced) == ["GH", "NG"] and not report.failed
    for _ in range(pricing.SYNC_TRIES):
        twilio.inject_read(503, 20503, "Service Unavailable")
    report = sync_prices(send_settings, ["NG", "GH"])
    assert "503" in report.failed["NG"] and sorted(report.synced) == ["GH"]


def test_sync_by_default_asks_for_the_countries_people_are_in_and_those_prices_yaml_names(
    send_settings, twilio
):
    with session_scope(send_settings.database_url) as session:
        session.execute(
            insert(Person), [person_values("+23560000001", send_settings.clock.now(), country="TD")]
        )
    sync_prices(send_settings)
    asked = {path.rsplit("/", 1)[1] for path in twilio.pricing_requests}
    assert {"TD", "NG", "GH", "MX"} <= asked  # TD from a person; NG, GH, MX from prices.yaml


def test_cli_sync_lists_what_it_stored_and_exits_non_zero_on_a_failure(runner, twilio):
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    result = runner.invoke(args=["prices", "sync", "--country", "NG", "--country", "TD"])
    assert result.exit_code == 0, result.output
    assert "NG\t0.1120 USD per SMS segment" in result.output
    assert "no SMS price from Twilio for TD: prices.yaml stays in use there" in result.output
    for _ in range(pricing.SYNC_TRIES):
        twilio.inject_read(500, 20500)
    twilio.retry_after = "0"
    result = runner.invoke(args=["prices", "sync", "--country", "NG"])
    assert result.exit_code == 1 and "NG\tfailed: Twilio answered 500" in result.output


# --- estimates: synced first, then prices.yaml ----------------------------------------------------


def test_estimates_use_synced_prices_first_then_prices_yaml_and_say_which(send_settings, twilio, db):
    before = load_prices(send_settings)
    assert before.quote("sms", "NG") == (0.10, "prices.yaml")
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    sync_prices(send_settings, ["NG"])
    table = load_prices(send_settings)
    day = send_settings.clock.now().date().isoformat()
    assert table.quote("sms", "NG") == (pytest.approx(0.112), f"Twilio {day}")
    assert table.quote("sms", "GH") == (0.09, "prices.yaml")
    # The Pricing API has no WhatsApp prices: prices.yaml always.
    assert table.quote("whatsapp", "NG") == (0.05, "prices.yaml")

    now = send_settings.clock.now()
    people = [person_values(f"+23480300{n:05d}", now) for n in range(3)]
    people += [person_values(f"+23320300{n:05d}", now, country="GH") for n in range(2)]
    db.execute(insert(Person), people)
    db.commit()
    shown = preview(db, "Exam week: revision tonight", Audience(), Schedule(), send_settings, table, now)
    lines = {line.country: line for line in shown.countries}
    assert lines["NG"].cost == pytest.approx(3 * 0.112)
    assert lines["NG"].price_source == f"sms Twilio {day}"
    assert lines["GH"].cost == pytest.approx(2 * 0.09) and lines["GH"].price_source == "sms prices.yaml"
    assert sorted(shown.price_sources) == [f"Twilio {day}", "prices.yaml"]


def test_a_synced_price_in_another_currency_is_not_mixed_in(send_settings, twilio):
    twilio.add_country("FR", "France", [("Orange", "208", "01", [("local", "0.07", "0.07")])], unit="EUR")
    sync_prices(send_settings, ["FR"])
    assert synced_rows(send_settings)["FR"].price_unit == "EUR"
    assert load_prices(send_settings).quote("sms", "FR") == (0.08, "prices.yaml")


# --- the actual cost of each message -------------------------------------------------------------


def add_messages(settings, twilio, rows: list[dict]) -> list[int]:
    """Outbound rows; each with `sid=True` gets a sid the stand-in knows (as if sent)."""
    now = settings.clock.now()
    ids = []
    with session_scope(settings.database_url) as session:
        for n, fields in enumerate(rows):
            phone = fields.pop("phone", f"+2348040{n:06d}")
            person = session.scalar(select(Person).where(Person.phone == phone))
            if person is None:
                person = Person(**person_values(phone, now, country=fields.pop("country", "NG")))
                session.add(person)
                session.flush()
            fields.pop("country", None)
            sid = twilio.add_sent(phone, "hello") if fields.pop("sid", True) else None
            message = Message(
                person_id=person.id,
                direction=fields.pop("direction", "out"),
                channel=fields.pop("channel", "sms"),
                phone=phone,
                body="hello",
                kind="daily",
                status=fields.pop("status", "delivered"),
                twilio_sid=sid,
                segments=fields.pop("segments", 1),
                created_at=fields.pop("created_at", now - timedelta(minutes=30)),
                sent_at=fields.pop("sent_at", now - timedelta(minutes=30)),
                **fields,
            )
            session.add(message)
            session.flush()
            ids.append(message.id)
    return ids


def message_rows(settings, ids: list[int]) -> list[Message]:
    with session_scope(settings.database_url) as session:
        found = [session.get(Message, i) for i in ids]
        session.expunge_all()
        return found


def test_a_price_not_filled_in_yet_is_asked_again_later_then_kept(send_settings, twilio, clock):
    (message_id,) = add_messages(send_settings, twilio, [{}])
    sid = twilio.sent[0]["sid"]
    report = fetch_message_costs(send_settings)
    assert (report.asked, report.priced, report.not_yet) == (1, 0, 1)
    (row,) = message_rows(send_settings, [message_id])
    assert row.actual_cost is None and row.cost_checks == 1
    assert row.cost_due_at == clock.now() + pricing.FIRST_WAIT
    # Not due yet: nothing is asked.
    clock.advance(minutes=4)
    assert fetch_message_costs(send_settings).asked == 0 and twilio.fetched == [sid]
    twilio.fill_price(sid, "-0.07500")
    clock.advance(minutes=1)
    report = fetch_message_costs(send_settings)
    assert (report.asked, report.priced) == (1, 1)
    (row,) = message_rows(send_settings, [message_id])
    assert (row.actual_cost, row.price_unit, row.cost_due_at) == (pytest.approx(0.075), "USD", None)
    # Priced: never asked again.
    clock.advance(days=1)
    assert fetch_message_costs(send_settings).asked == 0
    assert twilio.fetched == [sid, sid]


def test_nothing_is_fetched_before_a_final_status(send_settings, twilio, clock):
    now = clock.now()
    ids = add_messages(
        send_settings,
        twilio,
        [
            {"status": "queued", "sid": False, "sent_at": None},
            {"status": "sending", "sid": False, "sent_at": None},
            {"status": "sent", "sent_at": now - timedelta(minutes=20)},  # a delivery report may come
            {"status": "sent", "sent_at": now - timedelta(hours=2)},  # none came: final
            {"status": "undelivered"},
            {"status": "failed"},
            {"status": "read", "channel": "whatsapp"},
            {"direction": "in", "status": "received"},
        ],
    )
    for sid in [m["sid"] for m in twilio.sent]:
        twilio.fill_price(sid, "-0.0100")
    report = fetch_message_costs(send_settings)
    assert report.priced == 4
    priced = [row.actual_cost is not None for row in message_rows(send_settings, ids)]
    assert priced == [False, False, False, True, True, True, True, False]


def test_429_costs_no_check_and_stops_the_run_500_costs_one_and_nothing_is_counted_twice(
    send_settings, twilio, clock
):
    ids = add_messages(send_settings, twilio, [{}, {}, {}])
    for record in twilio.sent:
        twilio.fill_price(record["sid"], "-0.0500")
    twilio.retry_after = "120"
    twilio.inject_read(500, 20500, "Internal Server Error")
    twilio.inject_read(429, 20429, "Too Many Requests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pricing, "CONCURRENCY", 1)  # one at a time, so the faults meet rows in order
        report = fetch_message_costs(send_settings)
    assert report.throttled and report.errors == 1 and report.priced == 1
    first, second, third = message_rows(send_settings, ids)
    assert (first.actual_cost, first.cost_checks) == (None, 1)  # the 500: a check spent
    assert (second.actual_cost, second.cost_checks) == (None, 0)  # the 429: none spent
    assert second.cost_due_at == clock.now() + timedelta(seconds=120)
    assert third.actual_cost == pytest.approx(0.05)
    clock.advance(minutes=10)
    assert fetch_message_costs(send_settings).priced == 2
    clock.advance(minutes=10)
    assert fetch_message_costs(send_settings).asked == 0
    rows = message_rows(send_settings, ids)
    assert sum(row.actual_cost for row in rows) == pytest.approx(0.15)
    # Each message was priced once; the one that met the 500 was asked twice, the 429 twice.
    assert len(twilio.fetched) == 5


def test_a_message_is_priced_at_most_once(send_settings, twilio, db):
    (message_id,) = add_messages(send_settings, twilio, [{}])
    assert record_cost(db, message_id, 0.05, "USD") is True
    assert record_cost(db, message_id, 0.05, "USD") is False
    db.commit()
    assert fetch_message_costs(send_settings).asked == 0


def test_a_price_that_never_comes_is_given_up_after_the_checks_or_the_age(send_settings, twilio, clock):
    (recent,) = add_messages(send_settings, twilio, [{}])
    (old,) = add_messages(send_settings, twilio, [{"sent_at": clock.now() - MAX_AGE - timedelta(minutes=1)}])
    for _ in range(MAX_CHECKS + 3):
        fetch_message_costs(send_settings)
        clock.advance(hours=7)  # past the longest wait
    recent_row, old_row = message_rows(send_settings, [recent, old])
    assert recent_row.cost_checks == MAX_CHECKS and recent_row.actual_cost is None
    assert old_row.cost_checks == 0
    assert twilio.fetched.count(twilio.sent[0]["sid"]) == MAX_CHECKS
    assert twilio.sent[1]["sid"] not in twilio.fetched


def test_a_second_fetch_while_one_runs_asks_nothing(send_settings, twilio):
    add_messages(send_settings, twilio, [{}])
    lock = runtime.redis_for(send_settings).lock(pricing.LOCK_KEY, timeout=60)
    assert lock.acquire(blocking=False)
    try:
        report = fetch_message_costs(send_settings)
    finally:
        lock.release()
    assert report.skipped == "another fetch is running" and twilio.fetched == []


def test_the_clock_job_fetches_costs_through_a_real_worker(send_settings, twilio):
    (message_id,) = add_messages(send_settings, twilio, [{}])
    twilio.fill_price(twilio.sent[0]["sid"], "-0.0300")
    runtime.queue(send_settings, runtime.DEFAULT).enqueue("workers.jobs.fetch_costs")
    drain(send_settings)
    (row,) = message_rows(send_settings, [message_id])
    assert row.actual_cost == pytest.approx(0.03)


# --- estimates and actuals side by side ----------------------------------------------------------


@pytest.fixture
def sent_traffic(send_settings, twilio, clock):
    """12 NG SMS learners, two 2-segment messages each, half priced at 0.10; 3 GH learners (too few)."""
    twilio.add_country("NG", "Nigeria", NG_CARRIERS)
    sync_prices(send_settings, ["NG"])
    rows = []
    for n in range(12):
        for _ in range(2):
            rows.append({"phone": f"+23480500{n:05d}", "segments": 2})
    rows += [{"phone": f"+23320500{n:05d}", "country": "GH"} for n in range(3)]
    ids = add_messages(send_settings, twilio, rows)
    with session_scope(send_settings.database_url) as session:
        for message_id in ids[:24:2]:
            record_cost(session, message_id, 0.10, "USD")
    return ids


def test_the_cost_sheet_puts_estimate_and_actual_side_by_side_and_hides_small_groups(
    send_settings, sent_traffic, db
):
    today = send_settings.clock.now().date()
    sheet = cost_sheet(db, send_settings, today - timedelta(days=29), today)
    (line,) = sheet.lines
    assert (line.country, line.channel, line.learners, line.messages, line.segments) == (
        "NG",
        "sms",
        12,
        24,
        48,
    )
    assert line.estimated_cost == pytest.approx(48 * 0.112)
    assert line.price_source == f"Twilio {today.isoformat()}"
    assert (line.actual_cost, line.priced, line.actual_unit) == (pytest.approx(1.2), 12, "USD")
    assert sheet.suppressed_groups == 1  # GH: 3 learners
    # Outside the dates: nothing.
    assert cost_sheet(db, send_settings, today - timedelta(days=60), today - timedelta(days=31)).lines == []


def test_costs_api_console_cli_and_export(send_settings, sent_traffic, client, runner):
    token = make_token(send_settings, "viewer")
    data = client.get("/api/v1/costs", headers=bearer(token)).get_json()
    (group,) = data["groups"]
    assert group["country"] == "NG" and group["learners"] == 12 and group["priced"] == 12
    assert group["estimated_cost"] == pytest.approx(5.376) and group["actual_cost"] == pytest.approx(1.2)
    assert data["suppressed_groups"] == 1 and data["min_group"] == 10
    assert "GH" not in str(data)
    bad = client.get("/api/v1/costs?from=yesterday", headers=bearer(token))
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_json()["error"]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/costs" in spec["paths"] and "CostSheet" in spec["components"]["schemas"]

    make_admin(send_settings, role="viewer")
    sign_in(client)
    page = client.get("/admin/costs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<script" not in html and len(html) < 100_000
    assert "<td>NG</td><td>sms</td><td>12</td><td>24</td><td>48</td>" in html
    assert "5.38" in html and "1.20 USD" in html and "12 of 24" in html
    assert "<td>GH</td>" not in html and "1 group(s) under 10 learners not shown" in html
    assert client.get("/admin/costs?from=2026-12-01&to=2026-11-01").status_code == 400

    shown = runner.invoke(args=["prices", "show"])
    assert shown.exit_code == 0, shown.output
    assert "NG\t0.1120 USD\tlocal, 2 carrier(s)" in shown.output
    assert "NG\tsms\t12\t24\t48\t5.38\tTwilio" in shown.output and "1.20 USD\t12/24" in shown.output
    assert "GH\t" not in shown.output and "1 group(s) under 10 learners not shown" in shown.output

    exported = runner.invoke(args=["export", "messages"])
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["actual_cost"], r["price_unit"]) for r in rows[:2]] == [("0.1", "USD"), ("", "")]


def test_cli_fetch_runs_the_actual_cost_fetch_once(send_settings, twilio, runner):
    add_messages(send_settings, twilio, [{}, {}])
    twilio.fill_price(twilio.sent[0]["sid"], "-0.0400")
    result = runner.invoke(args=["prices", "fetch"])
    assert result.exit_code == 0
    assert "asked 2: 1 priced, 1 not priced yet, 0 error(s)" in result.output


def test_from_the_send_to_the_price_through_the_real_send_path_and_status_callback(
    send_settings, twilio, client, clock
):
    from tests.test_send_path import add_person, queue
    from tests.test_status_callbacks import callback
    from workers.outbox import enqueue_send

    message_id = queue(send_settings, add_person(send_settings), "Q101 A 60yo man with chest pain")
    enqueue_send(send_settings, [message_id])
    drain(send_settings)
    (row,) = message_rows(send_settings, [message_id])
    assert row.status == "sent" and row.twilio_sid
    # Sent, with a delivery report still to come: not final, not asked.
    assert fetch_message_costs(send_settings).asked == 0
    assert callback(client, "status_delivered", MessageSid=row.twilio_sid).status_code == 204
    report = fetch_message_costs(send_settings)
    assert (report.asked, report.not_yet) == (1, 1)  # delivered, but Twilio has not priced it yet
    twilio.fill_price(row.twilio_sid, "-0.1120")
    clock.advance(minutes=5)
    runtime.queue(send_settings, runtime.DEFAULT).enqueue("workers.jobs.fetch_costs")
    drain(send_settings)
    (row,) = message_rows(send_settings, [message_id])
    assert (row.status, row.actual_cost, row.price_unit) == ("delivered", pytest.approx(0.112), "USD")


def test_the_pricing_api_base_follows_a_stand_in_else_twilios_own_host():
    from store.settings import Settings

    assert Settings.from_env({}).pricing_base == "https://pricing.twilio.com"
    standin = Settings.from_env({"TWILIO_API_BASE": "http://127.0.0.1:8111"})
    assert standin.pricing_base == "http://127.0.0.1:8111"
    chosen = Settings.from_env({"TWILIO_PRICING_BASE": "https://pricing.example.org/"})
    assert chosen.pricing_base == "https://pricing.example.org"
