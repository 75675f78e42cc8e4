"""The monthly budget: the projection (a pure function of time and spend, across month ends), the
figures on the costs page, the dashboard and the costs API (small countries suppressed), the
once-a-month alert through a real worker and the Twilio stand-in, and the confirmation an
over-budget broadcast needs in the console, the API and the CLI.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from store.admin import Broadcast
from store.clock import FixedClock
from store.costs import BudgetAlert
from store.db import session_scope
from store.models import Message, Person
from store.settings import Settings
from tests.admin_support import at, bearer, make_admin, make_token, person_values, post, sign_in
from tests.conftest import drain
from workers import budget, runtime

# 21 November, noon: 9.5 days left in a 30-day month.
NOW = at("2026-11-21T12:00:00")
ALERT_TO = ("+2348030000001", "+254712000001")

# The traffic below (prices.yaml: SMS NG 0.10, GH 0.09 per segment):
#   20 Nov: 10 NG SMS of 2 segments, not priced yet   -> 2.00 estimated (in the 7-day rate window)
#    5 Nov:  4 NG SMS, priced by Twilio at 0.25 each  -> 1.00 actual   (in the month, before the window)
#   today:   3 GH SMS of 1 segment, not priced        -> 0.27 estimated
#   25 Oct:  5 NG SMS of 1 segment, not priced        -> 0.50 (last 30 days only)
#   28 Nov:  7 NG SMS of 2 segments, not priced       -> 1.40 (after NOW: December's rate window)
SPEND_TO_DATE = 2.00 + 1.00 + 0.27
RATE = 2.00 / 7
PROJECTED = SPEND_TO_DATE + RATE * 9.5  # 5.984...
NG_30_DAYS = 2.00 + 1.00 + 0.50


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def app_settings(settings, redis_url):
    return settings.with_(redis_url=redis_url, monthly_budget=5.0, budget_alert_to=ALERT_TO)


def _people(settings: Settings, now: datetime) -> dict[str, list[int]]:
    """12 NG students active this month (and one who went quiet), 3 in GH, 10 in KE."""
    rows = [person_values(f"+23480500{n:05d}", now, country="NG") for n in range(12)]
    rows.append(person_values("+2348059999999", now, country="NG", last_inbound_at=now - timedelta(days=40)))
    rows += [person_values(f"+23324500{n:04d}", now, country="GH") for n in range(3)]
    rows += [person_values(f"+2547120{n:05d}", now, country="KE") for n in range(10)]
    ids: dict[str, list[int]] = {"NG": [], "GH": [], "KE": []}
    with session_scope(settings.database_url) as session:
        for row in rows:
            person = Person(**row)
            session.add(person)
            session.flush()
            ids[row["country"]].append(person.id)
    return ids


def _message(person_id: int, created: datetime, segments: int = 1, **fields) -> dict:
    values = {
        "person_id": person_id,
        "direction": "out",
        "channel": "sms",
        "phone": "+0",
        "body": "hello",
        "kind": "daily",
        "status": "delivered",
        "segments": segments,
        "created_at": created,
        "updated_at": created,
        "attempts": 0,
        "num_media": 0,
    }
    values.update(fields)
    return values


@pytest.fixture
def traffic(app_settings):
    people = _people(app_settings, NOW)
    ng, gh = people["NG"], people["GH"]
    rows = [_message(ng[n], at("2026-11-20T10:00:00"), 2) for n in range(10)]
    rows += [_message(ng[n], at("2026-11-05T10:00:00"), actual_cost=0.25, price_unit="USD") for n in range(4)]
    rows += [_message(gh[n], at("2026-11-21T09:00:00")) for n in range(3)]
    rows += [_message(ng[n], at("2026-10-25T10:00:00")) for n in range(5)]
    rows += [_message(ng[n], at("2026-11-28T10:00:00"), 2) for n in range(7)]
    # Not billed, so not spent: a queued push, a suppressed one, an inbound text; and last month's
    # message before the 30 days.
    rows += [
        _message(ng[0], at("2026-11-21T08:00:00"), 3, status="queued"),
        _message(ng[0], at("2026-11-21T08:00:00"), 3, status="suppressed"),
        _message(ng[0], at("2026-11-21T08:00:00"), 3, direction="in", status="received"),
        _message(ng[0], at("2026-10-10T08:00:00"), 3),
    ]
    with session_scope(app_settings.database_url) as session:
        session.execute(insert(Message), rows)
    return people


def status_at(settings: Settings, when: datetime) -> budget.BudgetStatus:
    with session_scope(settings.database_url) as session:
        return budget.budget_status(session, settings, when)


# --- the projection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "month", "days_left"),
    [
        (at("2026-11-21T12:00:00"), "2026-11", 9.5),
        (at("2026-11-30T23:59:00"), "2026-11", 1 / 1440),
        (at("2026-12-01T00:00:00"), "2026-12", 31.0),  # the first instant belongs to the new month
        (at("2026-12-31T12:00:00"), "2026-12", 0.5),  # the year turns
        (at("2027-02-01T00:00:00"), "2027-02", 28.0),
        (at("2028-02-01T00:00:00"), "2028-02", 29.0),  # a leap year
        (at("2026-12-01T00:30:00"), "2026-12", 31 - 0.5 / 24),
    ],
)
def test_the_projection_counts_the_days_left_in_the_utc_month(now, month, days_left):
    projection = budget.project_month(now, spend_to_date=10.0, recent_spend=14.0)
    assert projection.month == month
    assert projection.days_left == pytest.approx(days_left)
    assert projection.daily_rate == pytest.approx(2.0)
    assert projection.projected == pytest.approx(10.0 + 2.0 * days_left)


def test_a_time_in_another_zone_is_read_in_utc():
    from zoneinfo import ZoneInfo

    lagos = datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Africa/Lagos"))  # 23:30 UTC on 30 November
    projection = budget.project_month(lagos, 0.0, 7.0)
    assert projection.month == "2026-11"
    assert projection.days_left == pytest.approx(0.5 / 24)


def test_the_rate_window_is_the_seven_whole_days_before_today_even_across_a_month_end():
    assert budget.rate_window(at("2026-12-01T00:00:00")) == (
        at("2026-11-24T00:00:00"),
        at("2026-12-01T00:00:00"),
    )
    assert budget.rate_window(at("2026-12-03T18:45:00")) == (
        at("2026-11-26T00:00:00"),
        at("2026-12-03T00:00:00"),
    )


def test_spend_is_actual_where_priced_else_estimated_and_projects_from_the_last_seven_days(
    app_settings, traffic
):
    status = status_at(app_settings, NOW)
    p = status.projection
    assert p.month == "2026-11"
    assert p.spend_to_date == pytest.approx(SPEND_TO_DATE)
    assert status.actual_to_date == pytest.approx(1.00)
    assert p.daily_rate == pytest.approx(RATE)
    assert p.projected == pytest.approx(PROJECTED)
    assert status.over and status.budget == 5.0


def test_on_the_first_of_the_month_nothing_is_spent_yet_and_last_weeks_rate_carries_on(app_settings, traffic):
    status = status_at(app_settings, at("2026-12-01T00:00:00"))
    p = status.projection
    # Window 24 Nov - 30 Nov: the 1.40 of 28 November.
    assert (p.month, p.spend_to_date) == ("2026-12", 0.0)
    assert p.daily_rate == pytest.approx(0.20)
    assert p.projected == pytest.approx(0.20 * 31)
    # The last minute of November still counts all of November.
    last = status_at(app_settings, at("2026-11-30T23:59:00")).projection
    assert last.month == "2026-11" and last.spend_to_date == pytest.approx(SPEND_TO_DATE + 1.40)


def test_cost_per_active_learner_month_by_country_hides_countries_under_ten(app_settings, traffic):
    status = status_at(app_settings, NOW)
    shown = {c.country: c for c in status.countries}
    assert set(shown) == {"NG", "KE"}
    assert shown["NG"].learners == 12  # the one quiet for 40 days is not active
    assert shown["NG"].spend == pytest.approx(NG_30_DAYS)
    assert shown["NG"].per_learner_month == pytest.approx(NG_30_DAYS / 12)
    assert (shown["KE"].learners, shown["KE"].spend) == (10, 0.0)  # exactly ten is shown
    assert status.suppressed_groups == 1  # GH: 3 learners


# --- configuration -------------------------------------------------------------------------------


def test_the_budget_and_alert_numbers_are_read_once_and_bad_values_refused():
    assert Settings.from_env({}).monthly_budget is None
    assert Settings.from_env({}).budget_alert_to == ()
    assert Settings.from_env({"ROUNDS_MONTHLY_BUDGET": "1,500"}).monthly_budget == 1500.0
    assert Settings.from_env({"ROUNDS_MONTHLY_BUDGET": "USD 250.50"}).monthly_budget == 250.5
    for bad in ("abc", "-5", "0", "nan", "inf"):
        with pytest.raises(ValueError, match="ROUNDS_MONTHLY_BUDGET must be an amount in USD"):
            Settings.from_env({"ROUNDS_MONTHLY_BUDGET": bad})
    numbers = Settings.from_env(
        {"ROUNDS_BUDGET_ALERT_TO": " +234 803 000 0001, +254712000001,+2348030000001"}
    )
    assert numbers.budget_alert_to == ("+2348030000001", "+254712000001")
    for bad in ("08030000001", "+2341", "call me"):
        with pytest.raises(ValueError, match="ROUNDS_BUDGET_ALERT_TO"):
            Settings.from_env({"ROUNDS_BUDGET_ALERT_TO": bad})


# --- where it shows ------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, app_settings):
    make_admin(app_settings)
    sign_in(client)
    return client


def test_costs_page_and_dashboard_show_the_budget_projection_and_a_banner_when_over(signed_in, traffic):
    for path in ("/admin/costs", "/admin/"):
        page = signed_in.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, path
        assert "5.00</b> monthly budget" in html
        assert f"{SPEND_TO_DATE:.2f}</b> spent so far" in html
        assert f"{PROJECTED:.2f}</b> projected for the month" in html
        assert "over the monthly budget of 5.00 USD" in html  # the banner
        assert "<tr><td>NG</td><td>12</td><td>3.50</td><td>0.29</td></tr>" in html
        assert "<tr><td>KE</td><td>10</td>" in html
        assert "<td>GH</td><td>3</td>" not in html
        assert "1 country under 10 active learners not shown" in html
        assert "+23480500" not in html


def test_no_banner_under_budget_and_no_budget_set_is_said(client, app_settings, traffic):
    from gateway import create_app

    for changes, expected in (
        ({"monthly_budget": 100.0}, "100.00</b> monthly budget"),
        ({"monthly_budget": None}, "No monthly budget set"),
    ):
        app = create_app(app_settings.with_(**changes))
        web = app.test_client()
        make_admin(app_settings, email=f"x{len(expected)}@example.org")
        sign_in(web, email=f"x{len(expected)}@example.org")
        html = web.get("/admin/costs").get_data(as_text=True)
        assert expected in html
        assert "over the monthly budget" not in html
        assert f"{PROJECTED:.2f}</b> projected" in html


def test_the_costs_api_has_the_same_figures_and_the_openapi_document_describes_them(
    client, app_settings, traffic
):
    token = make_token(app_settings, "viewer")
    data = client.get("/api/v1/costs", headers=bearer(token)).get_json()["budget"]
    assert data["month"] == "2026-11" and data["currency"] == "USD"
    assert data["budget"] == 5.0 and data["over_budget"] is True
    assert data["spend_to_date"] == pytest.approx(SPEND_TO_DATE)
    assert data["actual_to_date"] == pytest.approx(1.0)
    assert data["projected"] == pytest.approx(round(PROJECTED, 2))
    assert data["days_left"] == 9.5 and data["rate_days"] == 7
    assert data["cost_per_learner_month"] == [
        {"country": "NG", "learners": 12, "spend": 3.5, "per_learner_month": round(3.5 / 12, 4)},
        {"country": "KE", "learners": 10, "spend": 0.0, "per_learner_month": 0.0},
    ]
    assert data["suppressed_groups"] == 1 and "GH" not in str(data)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["CostSheet"]["properties"]["budget"] == {
        "$ref": "#/components/schemas/Budget"
    }
    assert "projected" in spec["components"]["schemas"]["Budget"]["properties"]
    assert "409" in spec["paths"]["/broadcasts"]["post"]["responses"]
    assert "over_budget_ok" in spec["components"]["schemas"]["BroadcastInput"]["properties"]


# --- the alert ------------------------------------------------------------------------------------


def alerts(settings) -> list[tuple[str, int]]:
    with session_scope(settings.database_url) as session:
        return [
            (a.month, a.recipients) for a in session.scalars(select(BudgetAlert).order_by(BudgetAlert.month))
        ]


def test_the_clock_is_set_to_check_the_budget(redis_url):
    from redis import Redis

    from workers.clock import build_scheduler

    connection = Redis.from_url(redis_url)
    (job,) = [job for job in build_scheduler(connection).get_jobs() if job.name == "rounds.budget-check"]
    assert job.func_name == "workers.jobs.check_budget" and job.interval == 1800
    connection.close()


def test_the_alert_goes_once_a_month_through_the_worker_and_twilio_even_when_the_clock_runs_twice(
    send_settings, twilio, traffic, clock
):
    queue = runtime.queue(send_settings, runtime.DEFAULT)
    queue.enqueue("workers.jobs.check_budget")
    queue.enqueue("workers.jobs.check_budget")  # a second clock run before the first is done
    drain(send_settings)
    queue.enqueue("workers.jobs.check_budget")  # and a later one
    drain(send_settings)
    assert alerts(send_settings) == [("2026-11", 2)]
    for number in ALERT_TO:
        (body,) = twilio.bodies_to(number)
        assert body.startswith("Rounds budget alert: 2026-11 spend projects to USD 5.98")
        assert "budget of USD 5.00 (USD 3.27 so far)" in body
    # December projects over too (0.20 a day from 28 November, for 30.75 days): its own alert, once.
    clock.set(at("2026-12-01T06:00:00"))
    queue.enqueue("workers.jobs.check_budget")
    queue.enqueue("workers.jobs.check_budget")
    drain(send_settings)
    assert [month for month, _ in alerts(send_settings)] == ["2026-11", "2026-12"]
    assert [len(twilio.bodies_to(number)) for number in ALERT_TO] == [2, 2]
    with session_scope(send_settings.database_url) as session:
        alerted = session.scalar(
            select(func.count()).select_from(Message).where(Message.kind == "budget_alert")
        )
    assert alerted == 4


def test_no_alert_under_budget_or_without_a_budget(send_settings, twilio, traffic):
    for settings in (send_settings.with_(monthly_budget=100.0), send_settings.with_(monthly_budget=None)):
        result = budget.check_budget(settings)
        assert not result.get("alerted")
    drain(send_settings)
    assert alerts(send_settings) == [] and twilio.sent == []


def test_two_checks_at_once_record_one_alert(send_settings, twilio, traffic):
    """Two clock runs racing in threads: the month's row is the lock, one of them texts."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: budget.check_budget(send_settings), range(2)))
    assert sorted(bool(r.get("alerted")) for r in results) == [False, True], results
    drain(send_settings)
    assert [len(twilio.bodies_to(number)) for number in ALERT_TO] == [1, 1]


# --- broadcasts ask first ------------------------------------------------------------------------

# 13 NG students (the quiet one too) at 0.10 a segment: 1.30, on top of a projection of 5.98.
NG = {"country": "NG"}


def broadcast_count(settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(Broadcast)) or 0


def test_the_api_answers_409_with_the_figures_unless_over_budget_ok(client, app_settings, traffic):
    headers = bearer(make_token(app_settings, "editor"))
    refused = client.post("/api/v1/broadcasts", json={"text": "Hello", "segment": NG}, headers=headers)
    assert refused.status_code == 409
    data = refused.get_json()
    assert "over_budget_ok" in data["error"]
    assert data["budget"]["budget"] == 5.0
    assert data["budget"]["projected"] == pytest.approx(round(PROJECTED, 2))
    assert data["budget"]["broadcast_cost"] == pytest.approx(1.3)
    assert data["budget"]["projected_with_broadcast"] == pytest.approx(round(PROJECTED + 1.3, 2))
    assert data["preview"]["recipients"] == 13
    assert broadcast_count(app_settings) == 0
    # A draft sends nothing, so it is stored; sending it asks the same question.
    draft = client.post(
        "/api/v1/broadcasts", json={"text": "Hello", "segment": NG, "draft": True}, headers=headers
    )
    assert draft.status_code == 201
    draft_id = draft.get_json()["broadcast"]["id"]
    assert client.post(f"/api/v1/broadcasts/{draft_id}/send", headers=headers).status_code == 409
    sent = client.post(f"/api/v1/broadcasts/{draft_id}/send", json={"over_budget_ok": True}, headers=headers)
    assert sent.status_code == 202
    ok = client.post(
        "/api/v1/broadcasts", json={"text": "Hello", "segment": NG, "over_budget_ok": True}, headers=headers
    )
    assert ok.status_code == 202 and broadcast_count(app_settings) == 2


def test_the_api_asks_only_when_this_broadcast_would_push_the_month_over(client, app, traffic):
    """Budget 7.00: projected 5.98 is under; +1.30 for NG goes over, +0.27 for GH does not."""
    from gateway import create_app

    settings = app.config["ROUNDS"].with_(monthly_budget=7.0)
    web = create_app(settings).test_client()
    headers = bearer(make_token(settings, "editor"))
    pushed_over = web.post("/api/v1/broadcasts", json={"text": "Hello", "segment": NG}, headers=headers)
    assert pushed_over.status_code == 409
    assert pushed_over.get_json()["budget"]["projected_with_broadcast"] == pytest.approx(7.28, abs=0.01)
    stays_under = web.post(
        "/api/v1/broadcasts", json={"text": "Hello", "segment": {"country": "GH"}}, headers=headers
    )
    assert stays_under.status_code == 202


def _previewed(html: str) -> str:
    return re.search(r'name="previewed" value="([0-9a-f]+)"', html).group(1)


def test_the_console_shows_the_projected_cost_and_needs_the_box_ticked(signed_in, app_settings, traffic):
    form = {"text": "Hello", "country": "NG", "when": "now"}
    shown = post(signed_in, "/admin/broadcasts/preview", form)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert "Over budget" in html and f"<b>{PROJECTED + 1.3:.2f}</b>" in html
    assert 'name="over_budget_ok" value="yes"' in html
    form |= {"confirm": "send", "previewed": _previewed(html)}
    unticked = post(signed_in, "/admin/broadcasts", form)
    assert unticked.status_code == 409
    assert "tick the box" in unticked.get_data(as_text=True)
    assert broadcast_count(app_settings) == 0
    ticked = post(signed_in, "/admin/broadcasts", form | {"over_budget_ok": "yes"})
    assert ticked.status_code == 302 and broadcast_count(app_settings) == 1
    # The month is already over: even a small broadcast is asked about.
    for_gh = post(signed_in, "/admin/broadcasts/preview", {"text": "Hello", "country": "GH", "when": "now"})
    assert 'name="over_budget_ok"' in for_gh.get_data(as_text=True)  # already over: still asked


def test_the_console_draft_send_needs_the_box_ticked_too(signed_in, app_settings, traffic):
    form = {"text": "Hello", "country": "NG", "when": "now"}
    html = post(signed_in, "/admin/broadcasts/preview", form).get_data(as_text=True)
    saved = post(signed_in, "/admin/broadcasts", form | {"confirm": "draft", "previewed": _previewed(html)})
    assert saved.status_code == 302
    with session_scope(app_settings.database_url) as session:
        draft_id = session.scalar(select(Broadcast.id))
    page = signed_in.get(f"/admin/broadcasts/{draft_id}").get_data(as_text=True)
    assert "send although over budget" in page
    post(signed_in, f"/admin/broadcasts/{draft_id}/send")
    with session_scope(app_settings.database_url) as session:
        assert session.get(Broadcast, draft_id).status == "draft"
    post(signed_in, f"/admin/broadcasts/{draft_id}/send", {"over_budget_ok": "yes"})
    with session_scope(app_settings.database_url) as session:
        assert session.get(Broadcast, draft_id).status != "draft"


def test_the_cli_needs_yes_when_over_budget(runner, app_settings, traffic):
    refused = runner.invoke(args=["broadcast", "Hello", "--segment", "country=NG"])
    assert refused.exit_code != 0
    assert "budget:     2026-11 spend 3.27, projected 5.98, 7.28 with this broadcast" in refused.output
    assert "Add --yes to send it anyway" in refused.output
    assert broadcast_count(app_settings) == 0
    sent = runner.invoke(args=["broadcast", "Hello", "--segment", "country=NG", "--yes"])
    assert sent.exit_code == 0, sent.output
    assert broadcast_count(app_settings) == 1
