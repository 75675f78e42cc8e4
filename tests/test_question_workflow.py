"""The educators' workflow through /api/v1/questions, on SQLite and PostgreSQL: draft, checks,
two reviews, publish, a new version, and every role rule enforced wherever the call comes from."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from content.load import load_content
from content.seed import export_content
from gateway.admin.accounts import find_user, grant_role
from store.authoring import diff, history
from store.db import session_scope
from store.learning import Learning
from store.models import Attempt, Person, Question
from tests.admin_support import bearer, make_token

DRAFT = {
    "topic": "endocrine",
    "tracks": ["step1", "general"],
    "difficulty": 2,
    "locale": "intl",
    "stem": "A 58yo with type 2 diabetes starts a drug that blocks glucose reabsorption in the "
    "proximal tubule. Which adverse effect is most linked to it?",
    "options": {
        "A": "Genital mycotic infection",
        "B": "Lactic acidosis",
        "C": "Weight gain",
        "D": "Fluid retention",
    },
    "answer": "A",
    # Names no distractor, and no sources yet: two problems to fix before review.
    "explanation": "SGLT2 inhibitors cause glycosuria, so genital thrush is common.",
    "review_by": "2027-10-15",
}
FIXED = {
    "explanation": "SGLT2 inhibitors cause glycosuria, so genital thrush is common. "
    "Lactic acidosis is metformin's.",
    "sources": [{"title": "ADA Standards of Care in Diabetes", "edition": "2025"}],
}


@pytest.fixture
def tokens(app_settings, app):
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date(), app_settings.clock.now())
    return {
        name: make_token(app_settings, role, f"{name}@example.org")
        for name, role in (
            ("writer", "educator"),
            ("rev1", "reviewer"),
            ("rev2", "reviewer"),
            ("viewer", "viewer"),
            ("editor", "editor"),
            ("admin", "admin"),
        )
    }


def call(client, method, path, token, json=None):
    return client.open(f"/api/v1{path}", method=method, headers=bearer(token), json=json)


def refused(response, status: int, words: str) -> None:
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["error"], response.get_json()


def approve(client, qid, *tokens, language="en"):
    for token in tokens:
        response = call(
            client, "POST", f"/questions/{qid}/reviews?language={language}", token, {"verdict": "approve"}
        )
        assert response.status_code == 201, response.get_json()


def test_the_whole_workflow_through_the_api(client, app_settings, tokens, tmp_path: Path):
    writer, rev1, rev2 = tokens["writer"], tokens["rev1"], tokens["rev2"]
    created = call(client, "POST", "/questions", writer, DRAFT)
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    qid = item["id"]
    assert qid >= 100_001 and item["status"] == "draft" and item["version"] == 1
    assert item["author"] == "writer@example.org"

    # Submitting runs every check the content checker makes, and lists what to fix.
    failed = call(client, "POST", f"/questions/{qid}/submit", writer)
    assert failed.status_code == 400
    problems = failed.get_json()["problems"]
    assert any("no source" in p for p in problems) and any("names no distractor" in p for p in problems)
    assert all("Traceback" not in p and not p.startswith("/") for p in problems)

    edited = call(client, "PATCH", f"/questions/{qid}", writer, FIXED)
    assert edited.status_code == 200 and edited.get_json()["version"] == 1
    submitted = call(client, "POST", f"/questions/{qid}/submit", writer)
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "review"

    # One approval is not enough to publish; two from other accounts are.
    approve(client, qid, rev1)
    refused(call(client, "POST", f"/questions/{qid}/publish", rev1), 409, "1 of the 2 approvals")
    approve(client, qid, rev2)
    published = call(client, "POST", f"/questions/{qid}/publish", rev1)
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["status"] == "published"
    assert {r["name"] for r in published.get_json()["reviewers"]} == {"rev1@example.org", "rev2@example.org"}

    now = app_settings.clock.now()
    with session_scope(app_settings.database_url) as session:
        row = session.get(Question, qid)
        assert (row.status, row.version, row.active, row.approvals) == ("published", 1, True, 2)
        person = Person(phone="+2348030000111", name="Ada", track="step1")
        session.add(person)
        session.flush()
        person_id = person.id
        Learning(session).insert_attempt(person_id, qid, now.date(), "more:1", now, row.version)

    # Editing the published item makes version 2, a draft; students still get version 1.
    second = call(
        client, "PATCH", f"/questions/{qid}", writer, {"options": {**DRAFT["options"], "D": "Hyperkalaemia"}}
    )
    assert second.status_code == 200 and second.get_json()["version"] == 2
    assert second.get_json()["status"] == "draft"
    assert call(client, "POST", f"/questions/{qid}/submit", writer).status_code == 200
    approve(client, qid, rev1)
    # A change to the options after an approval sets it aside, and the version goes back to draft.
    changed = call(
        client, "PATCH", f"/questions/{qid}", writer, {"options": {**DRAFT["options"], "D": "Hyperkalemia"}}
    )
    assert changed.get_json()["approvals"] == 0 and changed.get_json()["status"] == "draft"
    assert changed.get_json()["reviews"][0]["counts"] is False
    # A change of date alone keeps the approvals.
    assert call(client, "POST", f"/questions/{qid}/submit", writer).status_code == 200
    approve(client, qid, rev1)
    dated = call(client, "PATCH", f"/questions/{qid}", writer, {"review_by": "2027-11-20"})
    assert dated.get_json()["approvals"] == 1
    assert call(client, "POST", f"/questions/{qid}/submit", writer).status_code == 200
    approve(client, qid, rev2)
    assert call(client, "POST", f"/questions/{qid}/publish", rev2).status_code == 200

    with session_scope(app_settings.database_url) as session:
        row = session.get(Question, qid)
        assert (row.version, row.options["D"]) == (2, "Hyperkalemia")
        Learning(session).insert_attempt(person_id, qid, now.date(), "more:2", now, row.version)
        attempts = session.scalars(select(Attempt).where(Attempt.question_id == qid).order_by(Attempt.id))
        assert [a.question_version for a in attempts] == [1, 2]
        # The history and the diff the console shows.
        lived = history(session, qid, "en")
        assert [(h["version"], h["status"]) for h in lived] == [(1, "retired"), (2, "published")]
        assert diff(session, qid, 1, 2) == [
            {"field": "review_by", "before": date(2027, 10, 15), "after": date(2027, 11, 20)},
            {"field": "options.D", "before": "Fluid retention", "after": "Hyperkalemia"},
        ]

    shown = call(client, "GET", f"/questions/{qid}", tokens["viewer"]).get_json()
    assert shown["published_version"] == 2 and [v["version"] for v in shown["versions"]] == [1, 2]
    assert len(shown["versions"][1]["reviews"]) == 3  # one set aside by the change
    listed = call(client, "GET", "/questions?status=published&topic=endocrine&track=step1", rev1).get_json()
    assert qid in {q["id"] for q in listed["questions"]}
    api_diff = call(client, "GET", f"/questions/{qid}/diff?from=1&to=2", rev1).get_json()
    assert [c["field"] for c in api_diff["changes"]] == ["review_by", "options.D"]

    # The published item is in the export, and loading the export changes nothing.
    with session_scope(app_settings.database_url) as session:
        export_content(session, tmp_path / "out", Path("content/data"))
        exported = yaml.safe_load((tmp_path / "out" / "questions" / "endocrine.yaml").read_text())
        mine = next(q for q in exported if q["id"] == qid)
        assert mine["options"]["D"] == "Hyperkalemia" and mine["review"] == "peer"
        assert mine["author"] == "writer@example.org" and len(mine["reviewers"]) == 2


def test_a_translation_is_reviewed_and_published_on_its_own(client, app_settings, tokens, tmp_path):
    writer, rev1, rev2 = tokens["writer"], tokens["rev1"], tokens["rev2"]
    french = {
        "stem": "Une femme de 30 ans a une TSH basse et une T4 libre élevée. Quelle cause ?",
        "options": {"A": "Maladie de Basedow", "B": "Hypothyroïdie", "C": "Goitre simple", "D": "Thyroïdite"},
        "explanation": "La maladie de Basedow donne une hyperthyroïdie ; l'hypothyroïdie non.",
    }
    qid = 501
    created = call(client, "PATCH", f"/questions/{qid}?language=fr", writer, french)
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["language"] == "fr" and created.get_json()["base_version"] == 1
    assert call(client, "POST", f"/questions/{qid}/submit?language=fr", writer).status_code == 200
    # The English item is untouched and has no open version.
    refused(call(client, "POST", f"/questions/{qid}/publish", rev1), 404, "no en draft")
    approve(client, qid, rev1, rev2, language="fr")
    published = call(client, "POST", f"/questions/{qid}/publish?language=fr", rev1)
    assert published.status_code == 200, published.get_json()
    with session_scope(app_settings.database_url) as session:
        export_content(session, tmp_path / "out", Path("content/data"))
    written = yaml.safe_load((tmp_path / "out" / "translations" / "fr" / "endocrine.yaml").read_text())
    assert next(t for t in written if t["id"] == qid)["stem"] == french["stem"]


def test_roles_are_enforced_with_clear_403s(client, app_settings, tokens):
    writer, rev1, rev2 = tokens["writer"], tokens["rev1"], tokens["rev2"]
    # A token without the educator role cannot write, whatever its rank.
    for name in ("viewer", "editor", "rev1"):
        refused(call(client, "POST", "/questions", tokens[name], DRAFT), 403, "needs the educator role")
    qid = call(client, "POST", "/questions", writer, {**DRAFT, **FIXED}).get_json()["id"]
    # Only the author edits their draft; others ask for changes in a review.
    refused(
        call(client, "PATCH", f"/questions/{qid}", rev1, {"stem": "x"}),
        403,
        "educator",
    )
    assert call(client, "POST", f"/questions/{qid}/submit", writer).status_code == 200
    # An educator is no reviewer; a viewer cannot publish.
    refused(
        call(client, "POST", f"/questions/{qid}/reviews", writer, {"verdict": "approve"}),
        403,
        "reviewer role",
    )
    refused(call(client, "POST", f"/questions/{qid}/publish", tokens["viewer"]), 403, "reviewer role")
    # Asking for changes needs a note, and sends the draft back to its author.
    response = call(client, "POST", f"/questions/{qid}/reviews", rev1, {"verdict": "changes", "note": ""})
    refused(response, 400, "note")
    refused(call(client, "POST", f"/questions/{qid}/reviews", rev1, {"verdict": "maybe"}), 400, "verdict")
    changes = call(
        client,
        "POST",
        f"/questions/{qid}/reviews",
        rev1,
        {"verdict": "changes", "note": "Use a US drug name."},
    )
    assert changes.status_code == 201
    assert call(client, "GET", f"/questions/{qid}", rev2).get_json()["versions"][0]["status"] == "draft"


def test_nobody_approves_their_own_item_not_even_an_admin(client, app_settings, tokens):
    admin, rev1 = tokens["admin"], tokens["rev1"]
    qid = call(client, "POST", "/questions", admin, {**DRAFT, **FIXED}).get_json()["id"]
    assert call(client, "POST", f"/questions/{qid}/submit", admin).status_code == 200
    refused(
        call(client, "POST", f"/questions/{qid}/reviews", admin, {"verdict": "approve"}), 403, "you wrote"
    )
    # An account holding both roles writes and reviews, but never its own item.
    both = make_token(app_settings, "educator", "both@example.org")
    with session_scope(app_settings.database_url) as session:
        grant_role(find_user(session, "both@example.org"), "reviewer")
    mine = call(
        client, "POST", "/questions", both, {**DRAFT, **FIXED, "stem": DRAFT["stem"].replace("58yo", "61yo")}
    )
    own_id = mine.get_json()["id"]
    assert call(client, "POST", f"/questions/{own_id}/submit", both).status_code == 200
    refused(
        call(client, "POST", f"/questions/{own_id}/reviews", both, {"verdict": "approve"}), 403, "you wrote"
    )
    approve(client, qid, both, rev1)
    assert call(client, "POST", f"/questions/{qid}/publish", admin).status_code == 200


def test_bad_input_gets_a_clear_answer(client, tokens):
    writer = tokens["writer"]
    for body, words in (
        ({"stem": "x" * 5000}, "at most"),
        ({"answer": "E"}, "A, B, C or D"),
        ({"options": {"A": "only one"}}, "options must be"),
        ({"review_by": "soon"}, "review_by"),
        ({"sources": [{"url": "https://x.org"}]}, "title"),
        ({"colour": "red"}, "unknown field"),
        ({"difficulty": True}, "difficulty"),
    ):
        refused(call(client, "POST", "/questions", writer, body), 400, words)
    # The API cleans every string it is sent: a NUL byte is dropped, as everywhere in the console.
    cleaned = call(client, "POST", "/questions", writer, {"stem": "nul\x00byte"})
    assert cleaned.status_code == 201 and cleaned.get_json()["stem"] == "nulbyte"
    refused(call(client, "GET", "/questions/99999999999", writer), 404, "no question")
    refused(call(client, "GET", "/questions?language=de", writer), 400, "language")
    refused(call(client, "PATCH", "/questions/101", writer, {}), 400, "at least one field")
    refused(call(client, "POST", "/questions/1999999/submit", writer), 404, "no en draft")
    # Arabic and emoji are kept as written; the checker then says they cannot go by SMS.
    qid = call(
        client, "POST", "/questions", writer, {**DRAFT, **FIXED, "stem": "ما هو التشخيص؟ 🩺"}
    ).get_json()["id"]
    problems = call(client, "POST", f"/questions/{qid}/submit", writer).get_json()["problems"]
    assert any("GSM-7" in p or "segment" in p for p in problems)


def test_a_draft_meets_the_banks_rules_near_duplicates_and_locale(client, tokens):
    writer = tokens["writer"]
    copied = {
        **DRAFT,
        **FIXED,
        "locale": "uk",  # a UK item cannot be on a USMLE track
        "stem": "A 62yo man has 1 h of crushing chest pain. BP 86/54, HR 58, raised JVP, clear lungs. "
        "ECG: ST elevation in II, III, aVF and V4R. Which drug should be avoided?",
    }
    qid = call(client, "POST", "/questions", writer, copied).get_json()["id"]
    problems = call(client, "POST", f"/questions/{qid}/submit", writer).get_json()["problems"]
    assert any("similar to question 101" in p for p in problems), problems
    assert any("cannot be on track step1" in p for p in problems), problems
