"""Reports, item statistics and retraction in the JSON API and in the console (a real browser):
who may do what, what bad input gets, and that the pages show the figures and the chart."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.db import session_scope
from store.models import Person, Question
from store.reports import Reports
from tests.admin_support import bearer, make_admin, make_token
from tests.test_admin_browser import browser, live_settings, page, server, shot, sign_in, twilio  # noqa: F401
from tests.test_item_stats import T0, seed


def seeded(settings) -> list[int]:
    """The hand-worked fixture of tests/test_item_stats.py ten times over (the same figures, in groups
    big enough to show), and two reports on Q3 v1."""
    with session_scope(settings.database_url) as session:
        seed(session, copies=10)
        people = list(session.scalars(select(Person.id).order_by(Person.id)))
        store = Reports(session)
        store.record(people[0], 3, 1, "C cannot be right", T0)
        store.record(people[1], 3, 1, "the key should be D", T0)
    return people


@pytest.fixture
def tokens(app_settings, app) -> dict[str, str]:
    return {role: make_token(app_settings, role) for role in ("viewer", "editor", "admin")}


def test_stats_over_the_api(client, app_settings, tokens):
    seeded(app_settings)
    answer = client.get("/api/v1/questions/3/stats", headers=bearer(tokens["viewer"]))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["question_id"] == 3 and body["min_answered_for_flags"] == 30
    (version,) = body["versions"]
    assert version["answered"] == 30 and version["difficulty"] == round(1 / 3, 4)
    assert version["discrimination"] == -1.0 and version["median_seconds"] == 12.0
    assert version["options"] == {"A": 0.0, "B": 0.0, "C": 0.3333, "D": 0.6667}
    assert version["top_quartile"] == {"answered": 10, "options": {"A": 0.0, "B": 0.0, "C": 0.0, "D": 1.0}}
    assert version["flags"] == ["negative_discrimination", "distractor_beats_key"]
    missing = client.get("/api/v1/questions/424242/stats", headers=bearer(tokens["viewer"]))
    assert missing.status_code == 404 and "no question 424242" in missing.get_json()["error"]
    assert client.get("/api/v1/questions/3/stats").status_code == 401


def test_reports_over_the_api(client, app_settings, tokens):
    seeded(app_settings)
    listed = client.get("/api/v1/reports", headers=bearer(tokens["viewer"])).get_json()["reports"]
    assert [(r["question_id"], r["question_version"], r["text"]) for r in listed] == [
        (3, 1, "the key should be D"),
        (3, 1, "C cannot be right"),
    ]
    assert all("phone" not in r and "person_id" not in r for r in listed)
    first = listed[0]["id"]
    for role in ("viewer", "editor"):  # a reviewer's job; until accounts carry it, an admin's
        refused = client.post(
            f"/api/v1/reports/{first}/resolve", json={"note": "ok"}, headers=bearer(tokens[role])
        )
        assert refused.status_code == 403 and "needs a reviewer" in refused.get_json()["error"]
    admin = bearer(tokens["admin"])
    for bad, message in (
        ({}, "give a note"),
        ({"note": "  "}, "give a note"),
        ({"note": "ok", "all": "yes"}, "all must be true or false"),
    ):
        answer = client.post(f"/api/v1/reports/{first}/resolve", json=bad, headers=admin)
        assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert client.post("/api/v1/reports/999/resolve", json={"note": "ok"}, headers=admin).status_code == 404
    assert client.get("/api/v1/reports?status=nope", headers=admin).status_code == 400
    done = client.post(
        f"/api/v1/reports/{first}/resolve",
        json={"note": "D is wrong: C is right", "all": True},
        headers=admin,
    ).get_json()
    assert len(done["resolved"]) == 2 and done["question_status"] == "published"
    assert done["resolved"][0]["resolved_by"] == "admin@example.org"
    assert client.get("/api/v1/reports", headers=admin).get_json()["reports"] == []
    assert len(client.get("/api/v1/reports?status=resolved", headers=admin).get_json()["reports"]) == 2


def test_reports_stats_and_retraction_in_a_browser(page, server, live_settings, request):  # noqa: F811
    make_admin(live_settings)
    seeded(live_settings)
    sign_in(page, server)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.click("nav >> text=Reports")
    page.wait_for_selector("h1:has-text('Reports')")
    assert "the key should be D" in page.inner_text("main") and "C cannot be right" in page.inner_text("main")
    shot(page, "reports", request)
    form = page.locator("form", has_text="every open report").first
    form.locator("input[name=note]").fill("Checked against the guideline: C stands")
    form.locator("button").click()
    page.wait_for_selector("text=1 report(s) on Q3 resolved; it is published.")

    page.click("main table a:has-text('Q3')")
    page.wait_for_selector("h1:has-text('Q3 statistics')")
    main = page.inner_text("main")
    assert "Version 1" in main and "33%" in main and "-1.00" in main and "12 s" in main
    assert "negative discrimination, distractor beats key" in main
    assert page.locator("svg.chart").count() == 1
    assert "D: 67% of 30" in page.locator("svg.chart title", has_text="D:").first.text_content()
    size = len(page.content().encode())
    assert size < 100_000, size
    shot(page, "item-stats", request)

    page.fill("input[name=reason]", "Two options were right.")
    page.select_option("select[name=key]", "D")
    page.click("button:has-text('Retract')")
    page.wait_for_selector("text=Q3 re-keyed to D (version 2)")
    assert "key C → D" in page.inner_text("main")
    with session_scope(live_settings.database_url) as session:
        question = session.get(Question, 3)
        assert (question.answer, question.version) == ("D", 2)


def test_the_console_refuses_a_viewer_the_reviewers_work(client, app_settings):
    from tests.admin_support import post
    from tests.admin_support import sign_in as console_sign_in

    seeded(app_settings)
    make_admin(app_settings, "viewer@example.org", role="viewer")
    console_sign_in(client, "viewer@example.org")
    stats_page = client.get("/admin/questions/3/stats")
    assert (
        stats_page.status_code == 200 and b"Retract" not in stats_page.data and len(stats_page.data) < 100_000
    )
    assert post(client, "/admin/questions/3/retract", {"reason": "wrong", "key": "D"}).status_code == 403
    assert post(client, "/admin/reports/1/resolve", {"note": "fine"}).status_code == 403
    assert client.get("/admin/questions/424242/stats").status_code == 404
    with session_scope(app_settings.database_url) as session:
        assert session.get(Question, 3).answer == "C"
