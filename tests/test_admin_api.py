"""The JSON API: every endpoint, its auth failures (401/403), bad input (400) and unknown ids (404)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway import create_app
from store.admin import Broadcast
from store.db import session_scope
from store.mentoring import Flag
from store.models import Attempt, Message, Question
from tests.admin_support import add_person, bearer, make_token
from tests.conftest import drain


@pytest.fixture
def admin_token(app_settings, app) -> str:
    return make_token(app_settings, "admin")


@pytest.fixture
def viewer_token(app_settings, app) -> str:
    return make_token(app_settings, "viewer")


@pytest.fixture
def editor_token(app_settings, app) -> str:
    return make_token(app_settings, "editor")


def get(client, path, token, **kwargs):
    return client.get(f"/api/v1{path}", headers=bearer(token), **kwargs)


def post(client, path, token, json=None, **kwargs):
    return client.post(f"/api/v1{path}", headers=bearer(token), json=json, **kwargs)


def error_of(response) -> str:
    data = response.get_json()
    assert set(data) == {"error"}, data
    return data["error"]


# --- authentication and the description ---------------------------------------------------------


def test_without_a_token_every_endpoint_answers_401_with_a_hint(client, app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint == "api.openapi":
            continue
        path = rule.rule.replace("<int:", "<").replace("<person_id>", "1").replace("<broadcast_id>", "1")
        path = path.replace("<student_id>", "1").replace("<flag_id>", "1").replace("<opportunity_id>", "1")
        path = path.replace("<report_id>", "1").replace("<question_id>", "1")
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        response = client.open(path, method=method)
        assert response.status_code == 401, (method, path)
        assert "rounds admin token" in error_of(response)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_revoked_token_is_refused(client, app_settings, admin_token):
    assert get(client, "/students", "rnd_not-a-real-token").status_code == 401
    assert (
        client.get("/api/v1/students", headers={"Authorization": f"Basic {admin_token}"}).status_code == 401
    )
    assert get(client, "/students", admin_token).status_code == 200
    from store.admin import ApiToken

    with session_scope(app_settings.database_url) as session:
        session.scalar(select(ApiToken)).revoked_at = app_settings.clock.now()
    response = get(client, "/students", admin_token)
    assert response.status_code == 401 and "revoked" in error_of(response)


def test_token_use_is_recorded(client, app_settings, viewer_token):
    from store.admin import ApiToken

    get(client, "/stats", viewer_token)
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(ApiToken.last_used_at)) is not None


def test_openapi_describes_every_endpoint(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule[len("/api/v1") :]
            for name in (
                "person_id",
                "broadcast_id",
                "flag_id",
                "opportunity_id",
                "report_id",
                "question_id",
            ):
                path = path.replace(f"<int:{name}>", "{id}")
            path = path.replace("<int:student_id>", "{student_id}").replace("<code>", "{code}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in described, (path, method)


def test_unknown_paths_and_methods_answer_json(client, viewer_token):
    missing = get(client, "/nothing-here", viewer_token)
    assert missing.status_code == 404 and "openapi.json" in error_of(missing)
    wrong = client.put("/api/v1/students", headers=bearer(viewer_token))
    assert wrong.status_code == 405 and "PUT is not allowed" in error_of(wrong)


# --- students ------------------------------------------------------------------------------


def test_students_list_filters_and_pages(client, app_settings, viewer_token):
    add_person(app_settings, "+2348031000001", name="Amina", country="NG")
    add_person(app_settings, "+233241000002", name="Kofi", country="GH", status="paused")
    add_person(app_settings, "+2348031000003", name="Dr O", role="mentor")
    everyone = get(client, "/students", viewer_token).get_json()
    assert everyone["total"] == 2 and {s["name"] for s in everyone["students"]} == {"Amina", "Kofi"}
    assert get(client, "/students?country=gh", viewer_token).get_json()["students"][0]["name"] == "Kofi"
    assert get(client, "/students?q=amin", viewer_token).get_json()["total"] == 1
    assert get(client, "/students?status=paused&per_page=1", viewer_token).get_json()["total"] == 1
    assert "status must be" in error_of(get(client, "/students?status=sleeping", viewer_token))
    assert "page must be a whole number" in error_of(get(client, "/students?page=two", viewer_token))
    assert "between 1 and 200" in error_of(get(client, "/students?per_page=5000", viewer_token))


def test_student_detail_and_messages(client, app_settings, viewer_token):
    person_id = add_person(app_settings, "+2348031000001", name="Amina")
    with session_scope(app_settings.database_url) as session:
        session.add(
            Question(
                id=1,
                topic="cardiology",
                tracks=["step1"],
                stem="s",
                options={"A": "a"},
                answer="A",
                explanation="e",
            )
        )
        session.flush()
        now = app_settings.clock.now()
        session.add(
            Attempt(
                person_id=person_id,
                question_id=1,
                local_date=now.date(),
                answered_at=now,
                choice="A",
                correct=True,
            )
        )
        for n in range(3):
            session.add(
                Message(
                    person_id=person_id,
                    direction="in",
                    channel="sms",
                    phone="+2348031000001",
                    body=f"text {n}",
                    kind="inbound",
                    status="received",
                )
            )
    detail = get(client, f"/students/{person_id}", viewer_token).get_json()["student"]
    assert (
        detail["name"] == "Amina"
        and detail["learning"]["answered"] == 1
        and detail["learning"]["accuracy"] == 100
    )
    assert detail["mentor"] is None
    messages = get(client, f"/students/{person_id}/messages?limit=2", viewer_token).get_json()["messages"]
    assert [m["body"] for m in messages] == ["text 1", "text 2"]
    older = get(client, f"/students/{person_id}/messages?before={messages[0]['id']}", viewer_token).get_json()
    assert [m["body"] for m in older["messages"]] == ["text 0"]
    missing = get(client, "/students/999999", viewer_token)
    assert missing.status_code == 404 and "GET /api/v1/students" in error_of(missing)


def test_export_and_erasure_are_for_admins(client, app_settings, viewer_token, admin_token):
    person_id = add_person(app_settings, "+2348031000001", name="Amina")
    with session_scope(app_settings.database_url) as session:
        session.add(
            Message(
                person_id=person_id,
                direction="in",
                channel="sms",
                phone="+2348031000001",
                body="my secret",
                kind="inbound",
                status="received",
            )
        )
    assert get(client, f"/students/{person_id}/export", viewer_token).status_code == 403
    record = get(client, f"/students/{person_id}/export", admin_token).get_json()
    assert record["person"]["phone"] == "+2348031000001" and record["messages"][0]["body"] == "my secret"

    forbidden = post(client, f"/students/{person_id}/erase", viewer_token, {"confirm": True})
    assert forbidden.status_code == 403 and "needs the admin role" in error_of(forbidden)
    unconfirmed = post(client, f"/students/{person_id}/erase", admin_token, {})
    assert unconfirmed.status_code == 400 and '"confirm": true' in error_of(unconfirmed)
    not_json = client.post(f"/api/v1/students/{person_id}/erase", headers=bearer(admin_token), data="confirm")
    assert not_json.status_code == 400 and "JSON object" in error_of(not_json)
    erased = post(client, f"/students/{person_id}/erase", admin_token, {"confirm": True})
    assert erased.status_code == 200 and erased.get_json()["messages_blanked"] == 1
    after = get(client, f"/students/{person_id}", admin_token).get_json()["student"]
    assert after["erased"] and after["name"] is None and after["phone"].startswith("erased:")


# --- mentors and pairs -------------------------------------------------------------------------


def test_mentors_and_pairs(client, app_settings, viewer_token, editor_token):
    student_id = add_person(app_settings, "+2348031000001", name="Amina")
    assert (
        post(client, "/mentors", viewer_token, {"phone": "+2348039000001", "name": "Dr O"}).status_code == 403
    )
    no_name = post(client, "/mentors", editor_token, {"phone": "+2348039000001"})
    assert no_name.status_code == 400 and "name" in error_of(no_name)
    bad_phone = post(client, "/mentors", editor_token, {"phone": "12", "name": "Dr O"})
    assert bad_phone.status_code == 400 and "+E164" in error_of(bad_phone)
    bad_track = post(
        client, "/mentors", editor_token, {"phone": "+2348039000001", "name": "Dr O", "tracks": "x"}
    )
    assert bad_track.status_code == 400 and "must be lists" in error_of(bad_track)
    created = post(
        client,
        "/mentors",
        editor_token,
        {"phone": "+2348039000001", "name": "Dr O", "tracks": ["step1"], "capacity": 3},
    )
    assert created.status_code == 201
    mentor = created.get_json()["mentor"]
    assert mentor["role"] == "mentor" and mentor["capacity"] == 3 and mentor["tracks"] == ["step1"]
    listed = get(client, "/mentors", viewer_token).get_json()["mentors"]
    assert [(m["name"], m["mentees"]) for m in listed] == [("Dr O", 0)]

    unknown = post(client, "/pairs", editor_token, {"mentor": "+2348039000001", "student": "+2348031999999"})
    assert unknown.status_code == 400 and "has texted Rounds yet" in error_of(unknown)
    assert post(client, "/pairs", editor_token, {"mentor": "+2348039000001"}).status_code == 400
    paired = post(client, "/pairs", editor_token, {"mentor": "+2348039000001", "student": "+2348031000001"})
    assert paired.status_code == 201, paired.get_json()
    assert (
        paired.get_json()["pair"]["student"]["id"] == student_id and paired.get_json()["notices_queued"] == 2
    )
    pairs = get(client, "/pairs", viewer_token).get_json()["pairs"]
    assert [(p["mentor"]["name"], p["student"]["name"]) for p in pairs] == [("Dr O", "Amina")]
    assert "phone" not in str(pairs)  # pairs never carry numbers
    assert (
        get(client, f"/students/{student_id}", viewer_token).get_json()["student"]["mentor"]["name"] == "Dr O"
    )

    assert client.delete(f"/api/v1/pairs/{student_id}", headers=bearer(viewer_token)).status_code == 403
    ended = client.delete(f"/api/v1/pairs/{student_id}", headers=bearer(editor_token))
    assert ended.status_code == 200 and ended.get_json()["notices_queued"] == 2
    again = client.delete(f"/api/v1/pairs/{student_id}", headers=bearer(editor_token))
    assert again.status_code == 400 and "has no mentor" in error_of(again)
    assert client.delete("/api/v1/pairs/999999", headers=bearer(editor_token)).status_code == 404
    with session_scope(app_settings.database_url) as session:
        kinds = session.scalars(select(Message.kind).where(Message.direction == "out")).all()
        assert kinds == ["mentor_notice"] * 4


# --- broadcasts -----------------------------------------------------------------------------------


def test_broadcast_preview(client, app_settings, viewer_token):
    add_person(app_settings, "+2348031000001")
    add_person(app_settings, "+233241000002", country="GH")
    shown = post(
        client,
        "/broadcasts/preview",
        viewer_token,
        {"text": "Revision tonight", "segment": {"country": ["NG", "GH"]}},
    ).get_json()["preview"]
    assert shown["recipients"] == 2 and shown["encoding"] == "GSM-7"
    assert shown["segments_per_message"] == {"sms": 1, "whatsapp": 1}
    assert shown["estimated_cost"] == pytest.approx(0.19)
    for body, message in (
        ({"segment": {}}, '"text"'),
        ({"text": ""}, "empty"),
        ({"text": "x" * 1700}, "at most 1600"),
        ({"text": "hi", "segment": {"planet": "mars"}}, "unknown segment key"),
        ({"text": "hi", "segment": ["country"]}, "must be an object"),
        ({"text": "hi", "at": "tomorrow"}, "ISO-8601"),
        ({"text": "hi", "local": "7pm-ish"}, "HH:MM"),
    ):
        response = post(client, "/broadcasts/preview", viewer_token, body)
        assert response.status_code == 400 and message in error_of(response), body


def test_broadcast_create_status_and_cancel(client, app_settings, viewer_token, editor_token):
    for n in range(3):
        add_person(app_settings, f"+234803100000{n}")
    body = {"text": "Revision tonight", "local": "18:00"}
    assert post(client, "/broadcasts", viewer_token, body).status_code == 403
    created = post(client, "/broadcasts", editor_token, body)
    assert created.status_code == 202
    broadcast = created.get_json()["broadcast"]
    assert (
        broadcast["status"] == "queued"
        and broadcast["recipients"] == 3
        and broadcast["local_time"] == "18:00"
    )
    drain(app_settings)  # the fan-out job
    status = get(client, f"/broadcasts/{broadcast['id']}", viewer_token).get_json()["broadcast"]
    assert status["status"] == "sending" and status["progress"]["scheduled"] == 3
    assert get(client, "/broadcasts", viewer_token).get_json()["total"] == 1
    assert post(client, f"/broadcasts/{broadcast['id']}/cancel", viewer_token).status_code == 403
    cancelled = post(client, f"/broadcasts/{broadcast['id']}/cancel", editor_token)
    assert cancelled.status_code == 200 and cancelled.get_json()["stopped"] == 3
    assert cancelled.get_json()["broadcast"]["progress"]["canceled"] == 3
    again = post(client, f"/broadcasts/{broadcast['id']}/cancel", editor_token)
    assert again.status_code == 400 and "already cancelled" in error_of(again)
    assert get(client, "/broadcasts/424242", viewer_token).status_code == 404
    assert post(client, "/broadcasts/424242/cancel", editor_token).status_code == 404


def test_broadcast_drafts_are_sent_later(client, app_settings, editor_token):
    add_person(app_settings, "+2348031000001")
    draft = post(client, "/broadcasts", editor_token, {"text": "Hello", "draft": True})
    assert draft.status_code == 201 and draft.get_json()["broadcast"]["status"] == "draft"
    draft_id = draft.get_json()["broadcast"]["id"]
    sent = post(client, f"/broadcasts/{draft_id}/send", editor_token)
    assert sent.status_code == 202 and sent.get_json()["broadcast"]["status"] == "queued"
    again = post(client, f"/broadcasts/{draft_id}/send", editor_token)
    assert again.status_code == 400 and "not a draft" in error_of(again)


def test_broadcast_with_redis_down_is_kept_as_a_draft(client, app_settings, editor_token):
    add_person(app_settings, "+2348031000001")
    client = create_app(app_settings.with_(redis_url="redis://127.0.0.1:1/0")).test_client()
    response = post(client, "/broadcasts", editor_token, {"text": "Hello"})
    assert response.status_code == 503 and "kept as a draft" in error_of(response)
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(Broadcast.status)) == "draft"
        assert session.scalar(select(func.count()).select_from(Message)) == 0


# --- stats and flags ----------------------------------------------------------------------------


def test_stats(client, app_settings, viewer_token):
    person_id = add_person(app_settings, "+2348031000001")
    with session_scope(app_settings.database_url) as session:
        session.add(
            Message(
                person_id=person_id,
                direction="in",
                channel="sms",
                phone="+2348031000001",
                body=" stop ",
                kind="inbound",
                status="received",
                created_at=app_settings.clock.now(),
            )
        )
    data = get(client, "/stats?days=7", viewer_token).get_json()
    assert len(data["active"]["days"]) == 7 and data["active"]["active"][-1] == 1
    assert data["opt_outs"]["opt_outs"][-1] == 1
    assert data["totals"]["students"] == 1 and data["open_flags"] == 0
    assert "between 1 and 365" in error_of(get(client, "/stats?days=0", viewer_token))


def test_flags_list_and_resolve(client, app_settings, viewer_token, editor_token):
    person_id = add_person(app_settings, "+2348031000001")
    with session_scope(app_settings.database_url) as session:
        flag = Flag(
            person_id=person_id,
            reason="burnout",
            matched=["burnout:exhausted"],
            excerpt="so exhausted",
            message_ids=[],
            created_at=app_settings.clock.now() - timedelta(minutes=5),
        )
        session.add(flag)
        session.flush()
        flag_id = flag.id
    listed = get(client, "/flags", viewer_token).get_json()["flags"]
    assert [(f["id"], f["reason"], f["resolved"]) for f in listed] == [(flag_id, "burnout", False)]
    assert "open or all" in error_of(get(client, "/flags?status=closed", viewer_token))
    assert post(client, f"/flags/{flag_id}/resolve", viewer_token).status_code == 403
    resolved = post(client, f"/flags/{flag_id}/resolve", editor_token, {"note": "called her"})
    assert resolved.status_code == 200
    assert resolved.get_json()["flag"]["resolved_by"] == "editor@example.org"
    assert get(client, "/flags", viewer_token).get_json()["flags"] == []
    assert len(get(client, "/flags?status=all", viewer_token).get_json()["flags"]) == 1
    assert post(client, "/flags/999999/resolve", editor_token).status_code == 404
    assert post(client, f"/flags/{flag_id}/resolve", editor_token, {"note": 5}).status_code == 400
