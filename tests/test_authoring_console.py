"""The educators' console pages, on SQLite and PostgreSQL, without JavaScript: the editor with its
server-side counter and phone preview, problems shown as sentences, the queue, reviews, side-by-side
diffs, publishing, history, sign-offs, and the role rules of store/authoring.allow as 403/409."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from content.catalog import get_catalog
from content.segments import count
from store.authoring import QuestionVersion, add_published, serve
from store.db import session_scope
from store.models import Question
from store.translations import translations_for
from tests.admin_support import make_admin, post, sign_in
from tests.test_question_workflow import DRAFT

PAGE_LIMIT = 100_000
FORM = {
    "topic": DRAFT["topic"],
    "tracks": "step1, general",
    "difficulty": "2",
    "locale": "intl",
    "stem": DRAFT["stem"],
    **{f"option_{k}": v for k, v in DRAFT["options"].items()},
    "answer": "A",
    "explanation": DRAFT["explanation"],
    "sources": "",
    "review_by": "2027-10-15",
}
FIXED = {
    "explanation": "SGLT2 inhibitors cause glycosuria, so genital thrush is common. "
    "Lactic acidosis is metformin's.",
    "sources": "ADA Standards of Care in Diabetes (2025) https://diabetesjournals.org/care",
}


@pytest.fixture
def people(app, app_settings):
    """A writer who is also a reviewer, two other reviewers and a viewer, each signed in."""
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


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def small(response) -> None:
    assert len(response.get_data()) < PAGE_LIMIT, len(response.get_data())


def newest(settings) -> SimpleNamespace | None:
    """The newest stored version's columns, read in a session of its own."""
    with session_scope(settings.database_url) as session:
        version = session.scalars(select(QuestionVersion).order_by(QuestionVersion.id.desc())).first()
        if version is None:
            return None
        names = ("question_id", "status", "version", "sources", "options", "stem")
        return SimpleNamespace(**{name: getattr(version, name) for name in names})


def test_editor_previews_counts_and_checks_without_saving(people, app_settings):
    writer = people["writer"]
    page = writer.get("/admin/items/new")
    assert page.status_code == 200 and "New question" in text_of(page)
    small(page)
    shown = post(writer, "/admin/items/new", {**FORM, "action": "preview"})
    assert shown.status_code == 200
    words = text_of(shown)
    # The question exactly as the phone gets it, with the id a first draft takes, and its cost.
    rendered = f"Q100001 {DRAFT['stem']}\nA) Genital mycotic infection"
    assert rendered in shown.get_data(as_text=True).replace("&#39;", "'")
    sms = count(
        f"Q100001 {DRAFT['stem']}\n" + "\n".join(f"{k}) {v}" for k, v in sorted(DRAFT["options"].items()))
    )
    assert f"{sms.units} characters · GSM-7 · {sms.units} units · {sms.segments} of 2 segments" in words
    feedback = get_catalog().render(
        "feedback_wrong", "en", answer="A", explanation=DRAFT["explanation"], streak=128
    )
    assert feedback in shown.get_data(as_text=True).replace("&#39;", "'")
    # The checker's problems, as sentences, before anything is saved.
    assert "problems to fix before review" in words and "no source" in words
    assert "Traceback" not in words
    assert newest(app_settings) is None


def test_writing_a_draft_with_a_problem_then_fixing_it(people, app_settings):
    writer = people["writer"]
    saved = post(writer, "/admin/items/new", {**FORM, "action": "submit"})
    assert saved.status_code == 400
    words = text_of(saved)
    assert "2 problems to fix before review" in words and "names no distractor" in words
    assert "Traceback" not in words
    # The draft is saved: the form now edits it rather than starting another item.
    assert 'action="/admin/items/100001/edit?language=en"' in saved.get_data(as_text=True)
    draft = newest(app_settings)
    assert (draft.question_id, draft.status, draft.version) == (100_001, "draft", 1)

    fixed = post(writer, "/admin/items/100001/edit", {**FORM, **FIXED, "action": "submit"})
    assert fixed.status_code == 302 and fixed.headers["Location"].endswith("/admin/items/100001?language=en")
    draft = newest(app_settings)
    assert draft.status == "review"
    assert draft.sources == [
        {
            "title": "ADA Standards of Care in Diabetes",
            "edition": "2025",
            "url": "https://diabetesjournals.org/care",
        }
    ]
    queue = people["rev1"].get("/admin/items/queue")
    assert "Q100001" in text_of(queue)
    # The writer's own submission is not in their queue: they may not review it.
    assert "Nothing waits for your review" in text_of(writer.get("/admin/items/queue"))


def _submitted(people) -> None:
    response = post(people["writer"], "/admin/items/new", {**FORM, **FIXED, "action": "submit"})
    assert response.status_code == 302, text_of(response)


def test_review_and_publish_with_the_role_rules(people, app_settings):
    _submitted(people)
    writer, rev1, rev2, viewer = (people[n] for n in ("writer", "rev1", "rev2", "viewer"))
    own = post(writer, "/admin/items/100001/review?language=en", {"verdict": "approve"})
    assert own.status_code == 403 and "you wrote this version" in text_of(own)
    seen = post(viewer, "/admin/items/100001/publish?language=en")
    assert seen.status_code == 403 and "needs the reviewer role" in text_of(seen)
    empty = post(rev1, "/admin/items/100001/review?language=en", {"verdict": "changes", "note": ""})
    assert empty.status_code == 400 and "say in the note what should change" in text_of(empty)

    assert post(rev1, "/admin/items/100001/review?language=en", {"verdict": "approve"}).status_code == 302
    early = post(rev1, "/admin/items/100001/publish?language=en")
    assert early.status_code == 409 and "1 of the 2 approvals" in text_of(early)
    assert post(rev2, "/admin/items/100001/review?language=en", {"verdict": "approve"}).status_code == 302
    done = post(rev2, "/admin/items/100001/publish?language=en")
    assert done.status_code == 302
    page = rev2.get(done.headers["Location"])
    words = text_of(page)
    assert "version 1 published" in words
    assert "signed off by rev1@example.org" in words and "rev2@example.org" in words
    assert "statistics" in words and "reports (0 open)" in words
    small(page)
    with session_scope(app_settings.database_url) as session:
        served = session.get(Question, 100_001)
        assert (served.version, served.status, served.approvals) == (1, "published", 2)


def test_a_new_version_is_diffed_side_by_side_and_changes_are_requested(people, app_settings):
    _submitted(people)
    for name in ("rev1", "rev2"):
        post(people[name], "/admin/items/100001/review?language=en", {"verdict": "approve"})
    post(people["rev1"], "/admin/items/100001/publish?language=en")
    writer = people["writer"]
    form = writer.get("/admin/items/100001/edit?language=en")
    assert "a new version after published version 1" in text_of(form)
    same = post(writer, "/admin/items/100001/edit?language=en", {**FORM, **FIXED, "action": "save"})
    assert same.status_code == 400 and "Nothing differs from the published version" in text_of(same)
    changed = {**FORM, **FIXED, "option_D": "Hyperkalaemia", "action": "submit"}
    assert post(writer, "/admin/items/100001/edit?language=en", changed).status_code == 302

    page = people["rev1"].get("/admin/items/100001?language=en")
    words = text_of(page)
    assert "Version 2: in review" in words
    assert "option D Fluid retention Hyperkalaemia" in words  # the field, version 1 beside version 2
    sent_back = post(
        people["rev1"],
        "/admin/items/100001/review?language=en",
        {"verdict": "changes", "note": "Say why D is wrong"},
    )
    assert sent_back.status_code == 302
    history = text_of(writer.get("/admin/items/100001?language=en"))
    assert "asked for changes" in history and "Say why D is wrong" in history
    assert "Version 2: draft" in history
    diff = writer.get("/admin/items/100001/diff?language=en&from=1&to=2")
    assert diff.status_code == 200 and "option D Fluid retention Hyperkalaemia" in text_of(diff)
    small(diff)
    # Served text stays version 1 until version 2 is published.
    with session_scope(app_settings.database_url) as session:
        assert session.get(Question, 100_001).options["D"] == "Fluid retention"


def test_someone_elses_draft_and_roles_without_writing(people):
    _submitted(people)
    other = people["rev1"]
    refused = other.get("/admin/items/new")
    assert refused.status_code == 403 and "needs the educator role" in text_of(refused)
    viewer = people["viewer"].get("/admin/items/100001/edit?language=en")
    assert viewer.status_code == 403
    # Everyone signed in reads the item and its history.
    assert people["viewer"].get("/admin/items/100001?language=en").status_code == 200
    assert people["viewer"].get("/admin/items/999999?language=en").status_code == 404


def test_bad_input_gets_a_sentence(people, app_settings):
    writer = people["writer"]
    # The console cleans every request first: a NUL never reaches the store.
    nul = post(writer, "/admin/items/new", {**FORM, "stem": "Which\x00 drug?", "action": "save"})
    assert nul.status_code == 302 and "\x00" not in newest(app_settings).stem
    huge = post(writer, "/admin/items/new", {**FORM, "stem": "x" * 5000, "action": "save"})
    assert huge.status_code == 400 and "at most 2000" in text_of(huge)
    date = post(writer, "/admin/items/new", {**FORM, "review_by": "soon", "action": "save"})
    assert date.status_code == 400 and "review_by must be a date" in text_of(date)
    emoji = post(writer, "/admin/items/new", {**FORM, "stem": "Which drug? \U0001f48a", "action": "preview"})
    assert emoji.status_code == 200 and "not GSM-7" in text_of(emoji)
    assert writer.get("/admin/items/1/edit?language=xx").status_code == 404


def test_translation_editor_shows_the_folded_sms(people, app_settings):
    now = app_settings.clock.now()
    with session_scope(app_settings.database_url) as session:
        values = {
            "question_id": 101,
            "topic": "cardiology",
            "tracks": ["step1"],
            "difficulty": 2,
            "locale": "intl",
            "stem": "Which drug lowers mortality in HFrEF?",
            "options": {"A": "Bisoprolol", "B": "Digoxin", "C": "Furosemide", "D": "Amlodipine"},
            "answer": "A",
            "explanation": "Beta-blockers cut mortality; digoxin does not.",
            "sources": [{"title": "ESC HF", "edition": "2021"}],
            "author": "Rounds content team",
            "reviewers": [{"name": "Dr Amina Bello", "date": "2026-10-01"}],
            "review": "external",
        }
        serve(session, add_published(session, values, "en", 1, now), 0)
    writer = people["writer"]
    form = writer.get("/admin/items/101/edit?language=fr")
    assert form.status_code == 200 and "Translate the published English item" in text_of(form)
    shown = post(
        writer,
        "/admin/items/101/edit?language=fr",
        {
            "stem": "Quel médicament réduit la mortalité dans l'insuffisance cardiaque à FE réduite ?",
            "option_A": "Bisoprolol",
            "option_B": "Digoxine",
            "option_C": "Furosémide",
            "option_D": "Amlodipine",
            "explanation": "Les bêtabloquants réduisent la mortalité ; pas la digoxine.",
            "action": "preview",
        },
    )
    html = shown.get_data(as_text=True).replace("&#39;", "'")
    # é is GSM-7 and stays; ê is not and is folded, as the send path does.
    assert "Q101 Quel médicament réduit" in html and "Les betabloquants" in html
    french = {
        "stem": "Quel médicament réduit la mortalité dans l'insuffisance cardiaque à FE réduite ?",
        "option_A": "Bisoprolol",
        "option_B": "Digoxine",
        "option_C": "Furosémide",
        "option_D": "Amlodipine",
        "explanation": "Les bêtabloquants réduisent la mortalité ; pas la digoxine.",
        "action": "submit",
    }
    submitted = post(writer, "/admin/items/101/edit?language=fr", french)
    assert submitted.status_code == 302, text_of(submitted)
    for name in ("rev1", "rev2"):
        assert (
            post(people[name], "/admin/items/101/review?language=fr", {"verdict": "approve"}).status_code
            == 302
        )
    assert post(people["rev1"], "/admin/items/101/publish?language=fr").status_code == 302
    with session_scope(app_settings.database_url) as session:
        text = translations_for(session, [101], ["fr"])[(101, "fr")]
        assert text.stem.startswith("Quel médicament")
    page = text_of(people["viewer"].get("/admin/items/101?language=fr"))
    assert "Q101 · French" in page and "version 1 signed off by rev1@example.org" in page

    signed = people["viewer"].get("/admin/items/signed?name=dr%20amina%20bello")
    assert "Q101" in text_of(signed) and "Signed off by dr amina bello" in text_of(signed)
    assert "signed off by Dr Amina Bello" in text_of(people["viewer"].get("/admin/items/101"))
