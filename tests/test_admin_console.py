"""The console: every page light and working without JavaScript, broadcasts from compose to
progress, content edits, mentors and flags, erasure, downloads and the phone simulator."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from content.load import load_content
from store.admin import Broadcast
from store.db import session_scope
from store.mentoring import Flag
from store.models import Attempt, Message, Person, Question, Resource
from tests.admin_support import add_people, add_person, make_admin, post, sign_in
from tests.conftest import drain

PAGE_LIMIT = 100_000


@pytest.fixture
def editor(client, app_settings):
    make_admin(app_settings, role="editor")
    sign_in(client)
    return client


@pytest.fixture
def admin(client, app_settings):
    make_admin(app_settings, role="admin")
    sign_in(client)
    return client


@pytest.fixture
def viewer(client, app_settings):
    make_admin(app_settings, role="viewer")
    sign_in(client)
    return client


def text_of(response) -> str:
    return response.get_data(as_text=True)


def busy_programme(settings) -> int:
    """Content, 300 students, a long conversation, answers, a mentor, a flag and a broadcast."""
    with session_scope(settings.database_url) as session:
        load_content(session, None, settings.clock.now().date())
    add_people(settings, 300)
    person_id = add_person(settings, "+2348031999999", name="Amina")
    now = settings.clock.now()
    with session_scope(settings.database_url) as session:
        question_ids = session.scalars(select(Question.id).limit(20)).all()
        for n in range(250):
            session.add(
                Message(
                    person_id=person_id,
                    direction="in" if n % 2 else "out",
                    channel="sms",
                    phone="+2348031999999",
                    body=f"message {n} " + "x" * 120,
                    kind="reply",
                    status="delivered",
                    created_at=now - timedelta(minutes=250 - n),
                )
            )
        for n, question_id in enumerate(question_ids):
            session.add(
                Attempt(
                    person_id=person_id,
                    question_id=question_id,
                    source=f"more:{n}",
                    local_date=now.date(),
                    answered_at=now - timedelta(days=n % 20),
                    choice="A",
                    correct=n % 3 == 0,
                )
            )
        session.add(
            Flag(
                person_id=person_id,
                reason="crisis",
                matched=["crisis:cannot cope"],
                excerpt="I cannot cope",
                message_ids=[],
                created_at=now,
            )
        )
    from flows import mentors

    with session_scope(settings.database_url) as session:
        mentors.add_mentor(session, "+2348039000001", "Dr O", tracks=("step1",))
        mentors.pair(session, "+2348039000001", "+2348031999999", now)
    return person_id


def test_every_page_is_under_100_kb_and_needs_no_script(admin, app_settings):
    person_id = busy_programme(app_settings)
    with session_scope(app_settings.database_url) as session:
        question_id = session.scalar(select(Question.id))
        resource_id = session.scalar(select(Resource.id))
        flag_id = session.scalar(select(Flag.id))
    from workers.broadcasts import Audience, Schedule, create_broadcast

    with session_scope(app_settings.database_url) as session:
        broadcast_id = create_broadcast(
            session, "Hello", Audience(), Schedule(), app_settings, app_settings.clock.now()
        )[0].id
    pages = [
        "/admin/",
        "/admin/?days=90",
        "/admin/students",
        f"/admin/students/{person_id}",
        "/admin/mentors",
        "/admin/content",
        f"/admin/content/questions/{question_id}",
        "/admin/content/resources",
        f"/admin/content/resources/{resource_id}",
        "/admin/broadcasts",
        "/admin/broadcasts/new",
        f"/admin/broadcasts/{broadcast_id}",
        "/admin/flags",
        f"/admin/flags/{flag_id}",
        "/admin/simulator",
        "/admin/exports",
        "/admin/account",
        "/admin/accounts",
    ]
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
        assert len(response.data) < PAGE_LIMIT, (page, len(response.data))
        body = text_of(response)
        assert "<script>" not in body  # no inline script: everything works as plain HTML forms
    student_page = text_of(admin.get(f"/admin/students/{person_id}"))
    assert "message 249 " in student_page and "older messages" in student_page and "Dr O" in student_page


def test_dashboard_draws_charts_on_the_server(admin, app_settings):
    busy_programme(app_settings)
    body = text_of(admin.get("/admin/"))
    assert body.count('<svg class="chart"') == 6
    assert "Accuracy by topic" in body and "% of" in body  # bars carry their values as titles


def test_dashboard_shows_the_outbox_and_its_drain_time(admin, app_settings):
    from workers.outbox import queue_message

    person_id = add_person(app_settings, "+2348031000001")
    with session_scope(app_settings.database_url) as session:
        person = session.get(Person, person_id)
        for n in range(3):
            queue_message(
                session, person, f"{n} " + "x" * 200, "broadcast", now=app_settings.clock.now()
            )  # two segments each
    body = text_of(admin.get("/admin/"))
    # Six segments at the test's lifted rate take no time; the figures are what matter here.
    assert "<b>3</b> queued now (6 segments, about 0.0 min to send" in body


def test_broadcast_from_compose_through_preview_to_progress(editor, app_settings):
    for n in range(3):
        add_person(app_settings, f"+234803100000{n}", country="NG", timezone="UTC")
    form = {"text": "Free revision session at 7pm", "country": "NG", "when": "now"}
    shown = editor.post("/admin/broadcasts/preview", data={**form, "csrf_token": _csrf(editor)})
    body = text_of(shown)
    assert (
        shown.status_code == 200 and "<b>3</b> recipients" in body and "Send to 3 for about 0.30 USD" in body
    )
    previewed = re.search(r'name="previewed" value="([0-9a-f]+)"', body)[1]
    created = post(editor, "/admin/broadcasts", {**form, "confirm": "send", "previewed": previewed})
    assert created.status_code == 302 and "/admin/broadcasts/" in created.location
    drain(app_settings)
    progress = text_of(editor.get(created.location))
    assert "Broadcast" in progress and "<td>total</td>" not in progress
    with session_scope(app_settings.database_url) as session:
        assert (
            session.scalar(select(func.count()).select_from(Message).where(Message.kind == "broadcast")) == 3
        )


def test_confirming_after_changing_the_text_shows_a_new_preview(editor, app_settings):
    add_person(app_settings, "+2348031000001")
    form = {"text": "Hello", "when": "now"}
    body = text_of(editor.post("/admin/broadcasts/preview", data={**form, "csrf_token": _csrf(editor)}))
    previewed = re.search(r'name="previewed" value="([0-9a-f]+)"', body)[1]
    changed = post(
        editor,
        "/admin/broadcasts",
        {**form, "text": "Hello everyone", "confirm": "send", "previewed": previewed},
    )
    assert changed.status_code == 409 and "changed after the preview" in text_of(changed)
    assert "Hello everyone" in text_of(changed)
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_live_preview_returns_only_the_fragment(editor, app_settings):
    add_person(app_settings, "+2348031000001")
    response = editor.post(
        "/admin/broadcasts/preview",
        data={"text": "Hi", "when": "now", "csrf_token": _csrf(editor)},
        headers={"X-Requested-With": "fetch"},
    )
    assert (
        response.status_code == 200 and "<html" not in text_of(response) and "recipients" in text_of(response)
    )
    bad = editor.post(
        "/admin/broadcasts/preview", data={"text": "", "when": "now", "csrf_token": _csrf(editor)}
    )
    assert bad.status_code == 400 and "the message is empty" in text_of(bad)


def test_a_viewer_can_preview_but_not_send(viewer, app_settings):
    add_person(app_settings, "+2348031000001")
    body = text_of(
        viewer.post(
            "/admin/broadcasts/preview", data={"text": "Hi", "when": "now", "csrf_token": _csrf(viewer)}
        )
    )
    assert "recipients" in body and "Send to" not in body


def test_cancel_from_the_console(editor, app_settings):
    from workers.broadcasts import Audience, Schedule, create_broadcast, run_fan_out

    add_people(app_settings, 5)
    with session_scope(app_settings.database_url) as session:
        broadcast_id = create_broadcast(
            session,
            "Hi",
            Audience(),
            Schedule.parse(None, "18:00", app_settings.clock.now()),
            app_settings,
            app_settings.clock.now(),
        )[0].id
    run_fan_out(app_settings, broadcast_id)
    page = text_of(editor.get(f"/admin/broadcasts/{broadcast_id}"))
    assert 'http-equiv="refresh"' in page and "scheduled" in page
    response = post(editor, f"/admin/broadcasts/{broadcast_id}/cancel")
    assert response.status_code == 302
    page = text_of(editor.get(f"/admin/broadcasts/{broadcast_id}"))
    assert "5 message(s) not yet sent were stopped" in page and 'http-equiv="refresh"' not in page


def test_students_search_and_filters(viewer, app_settings):
    add_person(app_settings, "+2348031000001", name="Amina", track="plab1")
    add_person(app_settings, "+233241000002", name="Kofi", country="GH")
    assert "Kofi" in text_of(viewer.get("/admin/students?country=GH"))
    assert "Amina" not in text_of(viewer.get("/admin/students?country=GH"))
    assert "Amina" in text_of(viewer.get("/admin/students?q=amin"))
    assert "1 found" in text_of(viewer.get("/admin/students?track=plab1"))
    missing = viewer.get("/admin/students/999999")
    assert missing.status_code == 404 and "There is no person #999999" in text_of(missing)


def test_erasure_from_the_console_keeps_answer_counts(admin, app_settings):
    person_id = busy_programme(app_settings)
    data = admin.get(f"/admin/students/{person_id}/data.json")
    assert data.status_code == 200 and data.get_json()["person"]["name"] == "Amina"
    refused = post(admin, f"/admin/students/{person_id}/erase", {"confirm": "yes"})
    assert "Type ERASE" in text_of(admin.get(refused.location))
    done = post(admin, f"/admin/students/{person_id}/erase", {"confirm": "ERASE"})
    assert "answer counts kept" in text_of(admin.get(done.location))
    with session_scope(app_settings.database_url) as session:
        person = session.get(Person, person_id)
        assert person.name is None and person.phone.startswith("erased:") and person.status == "opted_out"
        bodies = session.scalars(select(Message.body).where(Message.person_id == person_id)).all()
        assert len(bodies) == 250 and set(bodies) == {""}
        assert (
            session.scalar(select(func.count()).select_from(Attempt).where(Attempt.person_id == person_id))
            == 20
        )
        assert session.scalar(select(Flag.excerpt)) == ""
        assert not session.scalars(select(Message).where(Message.phone == "+2348031999999")).all()


def test_erasure_is_for_admins_only(editor, app_settings):
    person_id = add_person(app_settings, "+2348031000001", name="Amina")
    assert post(editor, f"/admin/students/{person_id}/erase", {"confirm": "ERASE"}).status_code == 403
    assert editor.get(f"/admin/students/{person_id}/data.json").status_code == 403


def test_editors_take_a_question_out_of_service_but_change_its_text_only_through_review(editor, app_settings):
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date())
        question = session.scalar(select(Question).order_by(Question.id))
    page = editor.get(f"/admin/content/questions/{question.id}")
    assert f"/admin/items/{question.id}/edit" in text_of(page) and 'name="stem"' not in text_of(page)
    # A text sent to this form anyway changes nothing: served text skips no reviewer.
    form = {"stem": "A shorter stem?", "answer": "A", "explanation": "Because.", "review_by": "2030-01-01"}
    assert post(editor, f"/admin/content/questions/{question.id}", form).status_code == 302
    with session_scope(app_settings.database_url) as session:
        stored = session.get(Question, question.id)
        assert (stored.stem, stored.answer, stored.review_by) == (
            question.stem,
            question.answer,
            question.review_by,
        )
        assert stored.active is False
    assert post(editor, f"/admin/content/questions/{question.id}", {"active": "on"}).status_code == 302
    with session_scope(app_settings.database_url) as session:
        assert session.get(Question, question.id).active is True


def test_viewers_cannot_edit_content(viewer, app_settings):
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date())
        question_id = session.scalar(select(Question.id))
        resource_id = session.scalar(select(Resource.id))
    assert post(viewer, f"/admin/content/questions/{question_id}", {"stem": "x"}).status_code == 403
    assert post(viewer, f"/admin/content/resources/{resource_id}", {"title": "x"}).status_code == 403


def test_resource_edit_checks_the_link(editor, app_settings):
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date())
        resource = session.scalar(select(Resource))
    bad = post(
        editor, f"/admin/content/resources/{resource.id}", {"title": "T", "url": "ftp://x", "note": ""}
    )
    assert bad.status_code == 400 and "https://" in text_of(bad)
    ok = post(
        editor,
        f"/admin/content/resources/{resource.id}",
        {"title": "New title", "url": resource.url, "active": "on"},
    )
    assert ok.status_code == 302


def test_mentors_and_flags_from_the_console(editor, app_settings):
    student_id = add_person(app_settings, "+2348031000001", name="Amina")
    added = post(
        editor,
        "/admin/mentors",
        {"phone": "+2348039000001", "name": "Dr O", "tracks": "step1", "capacity": "4"},
    )
    assert "Mentor saved" in text_of(editor.get(added.location))
    bad = post(editor, "/admin/mentors", {"phone": "nope", "name": "Dr X"})
    assert "+E164" in text_of(editor.get(bad.location))
    paired = post(editor, "/admin/pairs", {"mentor": "+2348039000001", "student": "+2348031000001"})
    page = text_of(editor.get(paired.location))
    assert "Paired; both have been told by text." in page and "Amina" in page and "1 / 4" in page
    ended = post(editor, f"/admin/pairs/{student_id}/end")
    assert "Pairing ended" in text_of(editor.get(ended.location))
    with session_scope(app_settings.database_url) as session:
        flag = Flag(
            person_id=student_id,
            reason="abuse",
            matched=["abuse:hits me"],
            excerpt="he hits me",
            message_ids=[],
            created_at=app_settings.clock.now(),
        )
        session.add(flag)
        session.flush()
        flag_id = flag.id
    assert "he hits me" in text_of(editor.get("/admin/flags"))
    resolved = post(editor, f"/admin/flags/{flag_id}/resolve", {"note": "referred"})
    assert "marked resolved" in text_of(editor.get(resolved.location))
    assert "he hits me" not in text_of(editor.get("/admin/flags"))
    assert "he hits me" in text_of(editor.get("/admin/flags?show=all"))
    assert "referred" in text_of(editor.get(f"/admin/flags/{flag_id}"))
    assert editor.get("/admin/flags/999999").status_code == 404


def test_downloads_stream_csv(editor, app_settings):
    add_person(app_settings, "+2348031000001", name="=cmd|' /C calc'!A0")
    response = editor.get("/admin/exports/learners.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    lines = text_of(response).splitlines()
    assert lines[0].startswith("id,phone,name") and "+2348031000001" in lines[1]
    assert ",'=cmd" in lines[1]  # a formula typed as a name is defused for spreadsheets
    assert editor.get("/admin/exports/secrets.csv").status_code == 302


def test_downloads_need_the_editor_role(viewer):
    assert viewer.get("/admin/exports/messages.csv").status_code == 403


def test_simulator_round_trip(editor, app_settings):
    response = post(editor, "/admin/simulator", {"phone": "+12025550123", "channel": "sms", "text": "HELP"})
    assert response.status_code == 302
    page = text_of(editor.get(response.location))
    assert "HELP" in page and "A-D answer, Q question" in page
    assert "simulated by ada@example.org" in page
    whatsapp = post(
        editor, "/admin/simulator", {"phone": "+447700900123", "channel": "whatsapp", "text": "HELP"}
    )
    assert "channel=whatsapp" in whatsapp.location
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(Person.channel).where(Person.phone == "+447700900123")) == "whatsapp"


def test_every_simulated_text_and_reply_is_stored_with_its_account(editor, app_settings):
    post(editor, "/admin/simulator", {"phone": "+447700900123", "channel": "sms", "text": "HELP"})
    with session_scope(app_settings.database_url) as session:
        rows = session.execute(select(Message.direction, Message.kind, Message.simulated_by)).all()
    assert sorted(rows) == [("in", "inbound", "ada@example.org"), ("out", "reply", "ada@example.org")]
    api = editor.get("/admin/simulator?phone=%2B447700900123")
    assert "simulated by ada@example.org" in text_of(api)


def real_mentor_and_student(settings) -> int:
    from flows import mentors

    student_id = add_person(settings, "+2348031999999", name="Amina")
    with session_scope(settings.database_url) as session:
        mentors.add_mentor(session, "+2348039000001", "Dr O", tracks=("step1",))
        mentors.pair(session, "+2348039000001", "+2348031999999", settings.clock.now())
    return student_id


def test_simulator_cannot_relay_as_a_real_mentor(editor, app_settings):
    student_id = real_mentor_and_student(app_settings)
    response = post(
        editor,
        "/admin/simulator",
        {"phone": "+2348039000001", "channel": "sms", "text": "11 Please send me your exam fee"},
    )
    page = text_of(editor.get(response.location))
    assert "only texts as numbers reserved for fiction" in page and "+44 7700 900000" in page
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0  # nothing relayed to Amina
        assert session.get(Person, student_id).status == "active"


def test_simulator_cannot_opt_out_a_real_student(editor, app_settings):
    student_id = real_mentor_and_student(app_settings)
    for phone in ("+2348031999999", "whatsapp:+2348031999999", "2348031999999"):
        post(editor, "/admin/simulator", {"phone": phone, "channel": "sms", "text": "STOP"})
    with session_scope(app_settings.database_url) as session:
        assert session.get(Person, student_id).status == "active"
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_simulator_page_shows_only_fictional_numbers(editor, app_settings):
    real_mentor_and_student(app_settings)
    with session_scope(app_settings.database_url) as session:
        session.add(
            Message(
                direction="in",
                phone="+2348031999999",
                body="private words",
                kind="inbound",
                status="received",
            )
        )
    page = text_of(editor.get("/admin/simulator?phone=%2B2348031999999"))
    assert "private words" not in page and 'value="+447700900001"' in page


def test_simulator_refuses_a_bad_number(editor):
    response = post(editor, "/admin/simulator", {"phone": "12", "text": "HELP"})
    assert "use a number such as" in text_of(editor.get(response.location))


def _csrf(client) -> str:
    with client.session_transaction() as session:
        return session["csrf"]
