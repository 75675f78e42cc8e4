"""Adding and approving opportunities: `rounds opportunity`, /api/v1/opportunities with roles, and
the console page (light, no script, approve by a plain form)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from store.clock import FixedClock
from store.db import session_scope
from store.opportunities import APPROVED, DRAFT, Opportunity
from tests.admin_support import bearer, make_admin, make_token, post, sign_in
from tests.opportunities_support import opportunity

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PAGE_LIMIT = 100_000


@pytest.fixture
def fixed(app_settings):
    return app_settings.with_(clock=FixedClock(NOW))


@pytest.fixture
def fixed_app(fixed):
    from gateway import create_app

    return create_app(fixed)


@pytest.fixture
def client(fixed_app):
    return fixed_app.test_client()


@pytest.fixture
def runner(fixed_app):
    return fixed_app.test_cli_runner()


def rows(settings) -> list[Opportunity]:
    with session_scope(settings.database_url) as session:
        found = list(session.scalars(select(Opportunity).order_by(Opportunity.id)))
        session.expunge_all()
        return found


# --- the command line --------------------------------------------------------------------------


def test_cli_add_approves_at_once_and_list_shows_it(fixed, runner):
    result = runner.invoke(
        args=[
            "opportunity", "add", "--title", "Lagos Observership", "--org", "LUTH", "--kind", "observership",
            "--deadline", "2027-01-12", "--link", "https://ex.org/luth", "--country", "ng", "--country", "GH",
            "--track", "step1",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "approved: Lagos Observership, LUTH, deadline 2027-01-12" in result.output
    (row,) = rows(fixed)
    assert row.status == APPROVED and row.approved_at == NOW and row.countries == ["GH", "NG"]
    assert row.tracks == ["step1"] and row.kind == "observership"
    listed = runner.invoke(args=["opportunity", "list"])
    assert (
        listed.exit_code == 0
        and "approved\t2027-01-12\tobservership\tLagos Observership, LUTH\tGH NG; step1" in (listed.output)
    )
    assert (
        "no opportunities expired"
        in runner.invoke(args=["opportunity", "list", "--status", "expired"]).output
    )


def test_cli_refuses_bad_input_saying_what_to_fix(fixed, runner):
    result = runner.invoke(
        args=[
            "opportunity", "add", "--title", "X", "--org", "Y", "--kind", "holiday",
            "--deadline", "12/01/2027", "--link", "ex.org", "--country", "ZZ", "--track", "nursing",
        ]
    )  # fmt: skip
    assert result.exit_code != 0
    for hint in ("the kind must be one of", "the deadline must be a date", "the link must start with https://",
                 "unknown country code(s) ZZ", "unknown track(s) nursing"):  # fmt: skip
        assert hint in result.output
    assert rows(fixed) == []


def test_list_shows_a_passed_deadline_as_expired(fixed, runner):
    with session_scope(fixed.database_url) as session:
        opportunity(session, "Old Grant", date(2026, 11, 20))
    assert "\texpired\t2026-11-20\t" in runner.invoke(args=["opportunity", "list"]).output


# --- the API -------------------------------------------------------------------------------------


def api_post(client, path, token, json=None):
    return client.post(f"/api/v1{path}", headers=bearer(token), json=json)


BODY = {
    "title": "Fee Waiver",
    "org": "NBME",
    "kind": "fee waiver",
    "deadline": "2027-02-01",
    "link": "https://ex.org/waiver",
    "countries": ["NG"],
}


def test_api_editor_adds_a_draft_and_an_admin_approves_it(fixed, client):
    editor, admin, viewer = (make_token(fixed, role) for role in ("editor", "admin", "viewer"))
    created = api_post(client, "/opportunities", editor, BODY)
    assert created.status_code == 201, created.get_json()
    item = created.get_json()["opportunity"]
    assert (
        item["status"] == DRAFT and item["created_by"] == "editor@example.org" and item["countries"] == ["NG"]
    )

    assert api_post(client, "/opportunities", viewer, BODY).status_code == 403
    assert api_post(client, f"/opportunities/{item['id']}/approve", editor).status_code == 403
    approved = api_post(client, f"/opportunities/{item['id']}/approve", admin)
    assert approved.status_code == 200 and approved.get_json()["opportunity"]["status"] == APPROVED
    again = api_post(client, f"/opportunities/{item['id']}/approve", admin)
    assert again.status_code == 400 and "only a draft" in again.get_json()["error"]
    assert api_post(client, "/opportunities/999/approve", admin).status_code == 404

    listed = client.get("/api/v1/opportunities", headers=bearer(viewer))
    assert listed.status_code == 200
    assert [o["title"] for o in listed.get_json()["opportunities"]] == ["Fee Waiver"]
    drafts = client.get("/api/v1/opportunities?status=draft", headers=bearer(viewer))
    assert drafts.get_json()["opportunities"] == []
    assert client.get("/api/v1/opportunities").status_code == 401
    assert client.get("/api/v1/opportunities?status=lost", headers=bearer(viewer)).status_code == 400


def test_api_bad_input_is_400_with_what_to_change(fixed, client):
    editor = make_token(fixed, "editor")
    wrong = api_post(client, "/opportunities", editor, BODY | {"deadline": "soon", "countries": "NG"})
    assert wrong.status_code == 400 and "countries must be a list" in wrong.get_json()["error"]
    wrong = api_post(client, "/opportunities", editor, BODY | {"deadline": "soon"})
    assert wrong.status_code == 400 and "the deadline must be a date" in wrong.get_json()["error"]
    missing = api_post(client, "/opportunities", editor, {"title": "Only a title"})
    assert missing.status_code == 400
    assert rows(fixed) == []


# --- the console ---------------------------------------------------------------------------------


def test_console_lists_adds_and_approves_without_script(fixed, client):
    make_admin(fixed, "editor@example.org", role="editor")
    make_admin(fixed, "boss@example.org", role="admin")
    with session_scope(fixed.database_url) as session:
        for n in range(60):
            opportunity(session, f"Grant number {n}", date(2027, 1, 1 + n % 28), countries=["NG", "GH"])
    sign_in(client, "editor@example.org")
    added = post(
        client,
        "/admin/opportunities",
        {"title": "Dakar Course", "org": "UCAD", "kind": "course", "deadline": "2027-03-01",
         "link": "https://ex.org/dakar", "countries": "SN, CI", "tracks": ""},
    )  # fmt: skip
    assert added.status_code == 302
    (draft,) = [r for r in rows(fixed) if r.title == "Dakar Course"]
    assert (
        draft.status == DRAFT and draft.countries == ["CI", "SN"] and draft.created_by == "editor@example.org"
    )
    bad = post(client, "/admin/opportunities", {"title": "", "org": "X", "kind": "course", "deadline": "x",
                                                 "link": "https://ex.org"})  # fmt: skip
    assert bad.status_code == 400 and "the deadline must be a date" in bad.get_data(as_text=True)
    # An editor cannot approve.
    assert post(client, f"/admin/opportunities/{draft.id}/approve").status_code == 403

    sign_in(client, "boss@example.org")
    page = client.get("/admin/opportunities")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(page.data) < PAGE_LIMIT and "<script" not in html
    assert "Dakar Course" in html and f"/admin/opportunities/{draft.id}/approve" in html
    approved = post(client, f"/admin/opportunities/{draft.id}/approve")
    assert approved.status_code == 302
    (draft,) = [r for r in rows(fixed) if r.title == "Dakar Course"]
    assert draft.status == APPROVED and draft.approved_by == "boss@example.org" and draft.approved_at == NOW
    assert f"/admin/opportunities/{draft.id}/approve" not in client.get("/admin/opportunities").get_data(
        as_text=True
    )


def test_erasure_removes_the_digest_and_saved_reminders(fixed, client):
    from gateway.admin.people import erase_person
    from store.models import Person
    from store.opportunities import Opportunities, OpportunitySave, OpportunitySubscription
    from tests.admin_support import add_person

    pid = add_person(fixed, "+2348031234111")
    with session_scope(fixed.database_url) as session:
        row = opportunity(session, "Lagos Observership", date(2027, 1, 12))
        store = Opportunities(session)
        store.subscribe(pid, NOW, NOW)
        store.save(pid, row.id, NOW)
    with session_scope(fixed.database_url) as session:
        erase_person(session, session.get(Person, pid), NOW)
    with session_scope(fixed.database_url) as session:
        assert session.scalars(select(OpportunitySave)).all() == []
        assert session.get(OpportunitySubscription, pid) is None
