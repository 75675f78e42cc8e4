"""Programs written in the console and through /api/v1/programs, on SQLite and PostgreSQL, under the
question bank's review rules: the editor's checks as sentences, submission, no self-review, the
approvals that publish, students who are enrolled going on from their day number (and finishing
when a shorter version ends before them), a content load that keeps console work, and an export
that `rounds content check` accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from content.load import load_content, sync_programs
from content.program_drafts import submit_program
from content.programs import read_program
from gateway.admin.accounts import create_admin
from store.authoring import Forbidden, Refused
from store.db import session_scope
from store.program_authoring import ProgramVersion, add_review, edit, history, publish, versions_of
from store.programs import COMPLETED, Certificate, Enrolment, Program, ProgramDay
from tests.admin_support import bearer, make_admin, make_token, post, sign_in
from tests.conftest import Phone, drain
from tests.programs_support import FIXTURE, load_with_fixture
from tests.test_authoring_console import text_of

LAGOS = "+2348031234111"  # UTC+1
LONG = "Pulse oximetry reads falsely normal in carbon monoxide poisoning. " * 5


def fixture_program():
    problems: list = []
    program = read_program(FIXTURE, problems)
    assert program is not None and not problems
    return program


def day_json(day, en: str | None = None, questions: list[int] | None = None) -> dict:
    return {
        "lesson": {**day.lesson, **({"en": en} if en else {})},
        "questions": questions or list(day.questions),
    }


def within_budget(tst) -> list[dict]:
    """The fixture's days as the API takes them, day 2 asking only its first question: its two
    questions make 5 SMS segments, over a day's budget, which the editor refuses."""
    days = [day_json(d) for d in tst.days]
    days[1] = day_json(tst.days[1], questions=list(tst.days[1].questions[:1]))
    return days


NEW_FORM = {
    "code": "NEWP",
    "tracks": "",
    "title_en": "Oxygen basics",
    "title_fr": "Bases de l'oxygène",
    "title_es": "Bases del oxígeno",
    "summary_en": "Two days on oxygen",
    "summary_fr": "Deux jours sur l'oxygène",
    "summary_es": "Dos días sobre el oxígeno",
    "day_1_en": "Sensitivity is the share of the sick who test positive.",
    "day_1_fr": "La sensibilité est la part des malades au test positif.",
    "day_1_es": "La sensibilidad es la parte de los enfermos con prueba positiva.",
    "day_1_questions": "1112",
    # Too long, no French, and a question the bank does not have: three problems.
    "day_2_en": LONG,
    "day_2_fr": "",
    "day_2_es": "Reducción absoluta del riesgo: riesgo control menos riesgo tratado.",
    "day_2_questions": "1103, 999999",
}
FIXED = {
    "day_2_en": "Absolute risk reduction is control risk minus treated risk; NNT is 1/ARR.",
    "day_2_fr": "Réduction absolue du risque : risque témoin moins risque traité ; NST = 1/RAR.",
    "day_2_questions": "1103",
}


@pytest.fixture
def people(app, app_settings):
    """Content with the fixture program TST; a writer who also reviews, two reviewers, a viewer."""
    load_with_fixture(app_settings)
    accounts = {
        "writer": ("educator", "reviewer"),
        "rev1": ("reviewer",),
        "rev2": ("reviewer",),
        "viewer": ("viewer",),
    }
    clients = {}
    for name, roles in accounts.items():
        for role in roles:
            make_admin(app_settings, f"{name}@example.org", role)
        clients[name] = app.test_client()
        assert sign_in(clients[name], f"{name}@example.org").status_code == 302
    return clients


def stored(settings, code: str) -> list[tuple[int, str, str]]:
    with session_scope(settings.database_url) as session:
        return [(v.version, v.status, v.origin) for v in versions_of(session, code)]


def served_days(settings, code: str) -> list[tuple[str, list[int]]]:
    with session_scope(settings.database_url) as session:
        program = session.scalar(select(Program).where(Program.code == code))
        assert program is not None
        query = select(ProgramDay).where(ProgramDay.program_id == program.id).order_by(ProgramDay.day)
        rows = list(session.scalars(query))
        assert program.days == len(rows)
        return [(d.lesson["en"], list(d.questions)) for d in rows]


def test_a_new_program_written_checked_reviewed_and_published_in_the_console(people, app_settings):
    writer, rev1, rev2, viewer = people["writer"], people["rev1"], people["rev2"], people["viewer"]
    assert viewer.get("/admin/programs/new").status_code == 403
    assert writer.get("/admin/programs/new").status_code == 200

    # Check shows every problem as the content checker words it, and saves nothing.
    checked = post(writer, "/admin/programs/new", {**NEW_FORM, "action": "preview"})
    page = text_of(checked)
    assert checked.status_code == 200
    assert "3 problems to fix before review" in page
    assert "program NEWP day 2 lesson (en) is 3 SMS segments with its label; at most 2" in page
    assert "program NEWP day 2: no question 999999 in the bank" in page
    assert "program NEWP day 2 lesson has no fr text" in page
    assert stored(app_settings, "NEWP") == []
    bad_ids = post(
        writer, "/admin/programs/new", {**NEW_FORM, "day_2_questions": "Q1103, ten", "action": "save"}
    )
    assert bad_ids.status_code == 400 and "day 2: questions are ids like 1112, 1105, not ten" in text_of(
        bad_ids
    )

    # Submitting with problems saves the draft but does not submit it.
    refused = post(writer, "/admin/programs/new", {**NEW_FORM, "action": "submit"})
    assert refused.status_code == 400 and "3 problems to fix before review" in text_of(refused)
    assert stored(app_settings, "NEWP") == [(1, "draft", "console")]
    submitted = post(writer, "/admin/programs/NEWP/edit", {**NEW_FORM, **FIXED, "action": "submit"})
    assert submitted.status_code == 302, text_of(submitted)
    assert stored(app_settings, "NEWP") == [(1, "review", "console")]
    assert "NEWP" in text_of(rev1.get("/admin/programs/authoring"))

    # Nobody reviews their own version; a viewer cannot review; a note is needed to ask for changes.
    own = post(writer, "/admin/programs/NEWP/review", {"verdict": "approve"})
    assert own.status_code == 403 and "you wrote this version" in text_of(own)
    assert post(viewer, "/admin/programs/NEWP/review", {"verdict": "approve"}).status_code == 403
    silent = post(rev1, "/admin/programs/NEWP/review", {"verdict": "changes", "note": ""})
    assert silent.status_code == 400 and "say in the note what should change" in text_of(silent)

    # Changes requested: back to draft with the note; fixed and submitted again.
    assert (
        post(
            rev1, "/admin/programs/NEWP/review", {"verdict": "changes", "note": "Say NNT in full."}
        ).status_code
        == 302
    )
    assert stored(app_settings, "NEWP") == [(1, "draft", "console")]
    again = {**NEW_FORM, **FIXED, "day_2_en": FIXED["day_2_en"].replace("NNT", "number needed to treat")}
    assert post(writer, "/admin/programs/NEWP/edit", {**again, "action": "submit"}).status_code == 302

    # Two approvals from others (ROUNDS_REVIEWS_REQUIRED, 2): the second publishes.
    first = post(rev1, "/admin/programs/NEWP/review", {"verdict": "approve"}, follow_redirects=True)
    assert "needs more approvals" in text_of(first)
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(Program).where(Program.code == "NEWP")) is None
    second = post(rev2, "/admin/programs/NEWP/review", {"verdict": "approve"}, follow_redirects=True)
    assert "approved and published as version 1" in text_of(second)
    assert stored(app_settings, "NEWP") == [(1, "published", "console")]
    assert [q for _, q in served_days(app_settings, "NEWP")] == [[1112], [1103]]
    history = text_of(writer.get("/admin/programs/NEWP/versions"))
    assert "rev1@example.org: asked for changes" in history and "Say NNT in full." in history
    assert "approved by rev1@example.org" in history and "rev2@example.org" in history


def test_the_api_mirrors_the_question_workflow(client, people, app_settings):
    writer = make_token(app_settings, "educator", "writer@example.org")
    rev1 = make_token(app_settings, "reviewer", "rev1@example.org")
    rev2 = make_token(app_settings, "reviewer", "rev2@example.org")
    viewer = make_token(app_settings, "viewer", "viewer@example.org")
    tst = fixture_program()
    days = [day_json(d) for d in tst.days]
    days[2] = day_json(tst.days[2], en=LONG)

    def call(method: str, path: str, token: str, json=None):
        return client.open(f"/api/v1{path}", method=method, headers=bearer(token), json=json)

    assert call("PATCH", "/programs/TST", viewer, {"days": days}).status_code == 403
    assert call("POST", "/programs", writer, {"code": "TST", "days": days}).status_code == 409
    draft = call("PATCH", "/programs/TST", writer, {"days": days})
    assert draft.status_code == 200, draft.get_json()
    # The files' program is recorded as version 1 before the first console version.
    assert draft.get_json()["version"] == 2 and stored(app_settings, "TST") == [
        (1, "published", "seed"),
        (2, "draft", "console"),
    ]
    failed = call("POST", "/programs/TST/submit", writer)
    assert failed.status_code == 400
    # The files' two-question day 2 (for the transcript) is over a day's SMS budget: refused too.
    assert failed.get_json()["problems"] == [
        "program TST day 2 is over the SMS budget: 5 segments in en, 5 segments in fr, 5 segments in es "
        "as a student receives it (questions, verdicts, lesson); at most 4 a day. Shorten the lesson or "
        "ask fewer or shorter questions",
        "program TST day 3 lesson (en) is 3 SMS segments with its label; at most 2",
    ]
    days[2] = day_json(tst.days[2])
    days[1] = day_json(tst.days[1], questions=[1104])
    assert call("PATCH", "/programs/TST", writer, {"days": days}).status_code == 200
    assert call("POST", "/programs/TST/submit", writer).status_code == 200
    assert call("POST", "/programs/TST/reviews", writer, {"verdict": "approve"}).status_code == 403
    early = call("POST", "/programs/TST/publish", rev1)
    assert early.status_code == 409 and "0 of the 2 approvals" in early.get_json()["error"]
    one = call("POST", "/programs/TST/reviews", rev1, {"verdict": "approve"})
    assert one.status_code == 201 and one.get_json()["published_version"] is None
    two = call("POST", "/programs/TST/reviews", rev2, {"verdict": "approve"})
    assert two.status_code == 201 and two.get_json()["published_version"] == 2
    listed = call("GET", "/programs/TST/versions", viewer).get_json()
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [(1, "retired"), (2, "published")]
    assert listed["versions"][1]["reviewers"][0]["name"] == "rev1@example.org"
    assert served_days(app_settings, "TST")[1][1] == [1104]
    spec = client.get("/api/v1/openapi.json", headers=bearer(viewer)).get_json()
    assert {"/programs/{code}", "/programs/{code}/submit", "/programs/{code}/reviews"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/programs"]


def publish_over_api(client, settings, days: list[dict]) -> None:
    writer = make_token(settings, "educator", "author@example.org")
    for method, path, token, json in (
        ("PATCH", "/programs/TST", writer, {"days": days}),
        ("POST", "/programs/TST/submit", writer, None),
        (
            "POST",
            "/programs/TST/reviews",
            make_token(settings, "reviewer", "r1@example.org"),
            {"verdict": "approve"},
        ),
        (
            "POST",
            "/programs/TST/reviews",
            make_token(settings, "reviewer", "r2@example.org"),
            {"verdict": "approve"},
        ),
    ):
        response = client.open(f"/api/v1{path}", method=method, headers=bearer(token), json=json)
        assert response.status_code in (200, 201), response.get_json()


def tick(runner, when: str) -> None:
    result = runner.invoke(args=["tick", "--at", when])
    assert result.exit_code == 0, result.output


@pytest.fixture
def program_settings(send_settings):
    load_with_fixture(send_settings)
    return send_settings


def test_an_enrolled_student_goes_on_from_their_day_in_the_new_version(
    program_settings, client, runner, twilio, clock
):
    phone = Phone(client, LAGOS)
    for text in ("JOIN", "Ada Obi", "1", "7pm", "JOIN TST"):
        phone.text(text)
    tick(runner, "2026-11-26T18:00:00Z")
    drain(program_settings)
    clock.set(datetime(2026, 11, 26, 18, 20, tzinfo=UTC))
    phone.text("C")  # day 1 done

    # A new version: three days, day 2 rewritten with another question.
    tst = fixture_program()
    days = [day_json(tst.days[0]), day_json(tst.days[2], questions=[1101]), day_json(tst.days[3])]
    publish_over_api(client, program_settings, days)
    with session_scope(program_settings.database_url) as session:
        assert session.scalar(select(Enrolment.day)) == 1

    seen = len(twilio.sent)
    tick(runner, "2026-11-27T18:00:00Z")
    drain(program_settings)
    (day2,) = [m["Body"] for m in twilio.sent[seen:]]
    assert day2.startswith("TST 2/3: Q1101 ")


def test_a_student_past_the_end_of_a_shorter_version_finishes_at_the_next_daily_time(
    program_settings, client, runner, twilio, clock
):
    phone = Phone(client, LAGOS)
    for text in ("JOIN", "Ada Obi", "1", "7pm", "JOIN TST"):
        phone.text(text)
    tick(runner, "2026-11-26T18:00:00Z")
    drain(program_settings)
    clock.set(datetime(2026, 11, 26, 18, 20, tzinfo=UTC))
    phone.text("C")
    tick(runner, "2026-11-27T18:00:00Z")
    drain(program_settings)
    clock.set(datetime(2026, 11, 27, 18, 20, tzinfo=UTC))
    phone.text("D")
    phone.text("B")  # day 2 of 4 done

    tst = fixture_program()
    publish_over_api(client, program_settings, [day_json(tst.days[0])])  # one day only
    seen = len(twilio.sent)
    tick(runner, "2026-11-28T18:00:00Z")
    drain(program_settings)
    (done,) = [m["Body"] for m in twilio.sent[seen:]]
    assert done.startswith("You finished Study design basics! Certificate RND-")
    with session_scope(program_settings.database_url) as session:
        assert session.scalar(select(Enrolment.status)) == COMPLETED
        assert session.scalar(select(Certificate.answered_share)) == 100  # day 1's one question, answered


def test_load_keeps_console_programs_and_export_round_trips_through_check(
    client, people, app_settings, runner, tmp_path: Path
):
    tst = fixture_program()
    days = within_budget(tst)[:3]
    publish_over_api(client, app_settings, days)
    writer = make_token(app_settings, "educator", "author@example.org")
    new = {
        "code": "NEWP",
        "title": {"en": "Oxygen basics", "fr": "Bases de l'oxygène", "es": "Bases del oxígeno"},
        "summary": {"en": "One day", "fr": "Un jour", "es": "Un día"},
        "tracks": [],
        "days": [day_json(tst.days[3])],
    }
    assert client.post("/api/v1/programs", headers=bearer(writer), json=new).status_code == 201
    # NEWP stays a draft: only published versions are served and exported.

    with session_scope(app_settings.database_url) as session:
        report = load_content(session, None, app_settings.clock.now().date(), app_settings.clock.now())
    assert report.programs.kept == 0  # the bundled files do not name TST
    with session_scope(app_settings.database_url) as session:
        program = session.scalar(select(Program).where(Program.code == "TST"))
        assert program is not None and program.active and program.days == 3
        assert session.scalar(select(Program).where(Program.code == "NEWP")) is None

    # The fixture's file says four days; the console's three-day version is kept.
    with session_scope(app_settings.database_url) as session:
        counts = sync_programs(session, [fixture_program()], app_settings.clock.now())
        assert counts.kept == 1
    assert len(served_days(app_settings, "TST")) == 3

    out = tmp_path / "export"
    exported = runner.invoke(args=["content", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "1 program(s) written in the console: TST" in exported.output
    problems: list = []
    written = read_program(out / "programs" / "tst.yaml", problems)
    assert not problems and written is not None
    assert [list(d.questions) for d in written.days] == [d["questions"] for d in days]
    assert written.title == tst.title and written.days[0].lesson == tst.days[0].lesson
    checked = runner.invoke(args=["content", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(ProgramVersion.status).where(ProgramVersion.code == "NEWP")) == "draft"


def test_the_store_sets_approvals_aside_when_the_text_changes(app_settings):
    load_with_fixture(app_settings)
    now = app_settings.clock.now()
    tst = fixture_program()
    with session_scope(app_settings.database_url) as session:
        writer = create_admin(session, "writer@example.org", "correct horse battery", "educator")
        rev1 = create_admin(session, "rev1@example.org", "correct horse battery", "reviewer")
        rev2 = create_admin(session, "rev2@example.org", "correct horse battery", "reviewer")
        days = within_budget(tst)
        edit(session, writer, "TST", {"days": days[:2]}, now)
        submit_program(session, writer, "TST", None, now)
        add_review(session, rev1, "TST", "approve", "", 2, now)
        # The author changes the text: rev1's approval no longer counts, and it is a draft again.
        edit(session, writer, "TST", {"days": days[:3]}, now)
        submit_program(session, writer, "TST", None, now)
        _, published = add_review(session, rev2, "TST", "approve", "", 2, now)
        assert published is None
        with pytest.raises(Refused, match="1 of the 2 approvals"):
            publish(session, rev2, "TST", 2, now)
        with pytest.raises(Forbidden, match="to review programs an account needs the reviewer role"):
            add_review(session, writer, "TST", "approve", "", 2, now)
        _, published = add_review(session, rev1, "TST", "approve", "", 2, now)
        assert published is not None and published.version == 2
        assert [h["status"] for h in history(session, "TST")] == ["retired", "published"]
        assert session.scalar(select(Program.days).where(Program.code == "TST")) == 3
