"""ROUNDS_SERVE_ONLY_REVIEWED: only items with the required approvals are served, on SQLite and
PostgreSQL; a track without any gets a clear message, never an empty or another track's question."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from content.catalog import get_catalog
from content.load import load_content
from flows.engine import Context
from flows.quiz import plan_daily_question
from store.admin import AdminUser
from store.authoring import add_review, edit, publish, submit
from store.models import Question
from store.settings import Settings
from tests.flows_support import Phone, content_folder, seed_bank

NIGERIA = "+2348031234567"
NONE_READY = "none are ready for your track yet"


@pytest.fixture
def reviewed_settings(settings, tmp_path_factory):
    folder = content_folder(tmp_path_factory.getbasetemp())
    return settings.with_(content_path=str(folder), serve_only_reviewed=True, reviews_required=2)


def student(db, settings, now, track: str = "step1") -> Phone:
    phone = Phone(db, settings, NIGERIA, now)
    phone.onboard(name="Ada", track="1", time="08:00")
    assert phone.person is not None
    phone.person.track = track
    return phone


def asked(phone: Phone) -> int | None:
    text = phone.say("Q")
    if not text.startswith("Q"):
        return None
    return int(text[1:].split(" ", 1)[0])


def test_only_items_with_the_required_approvals_are_served(db, reviewed_settings, now):
    seed_bank(db)
    db.get(Question, 18).approvals = 2
    db.get(Question, 31).approvals = 2
    db.get(Question, 19).approvals = 1  # one approval short
    phone = student(db, reviewed_settings, now)
    served = set()
    for _ in range(4):
        served.add(asked(phone))
        phone.say("A")
    assert served == {18, 31}
    # The daily push draws from the same reviewed bank.
    ctx = Context(db, get_catalog(reviewed_settings.content_path), reviewed_settings, now)
    planned = plan_daily_question(ctx, phone.person, phone.later(days=1))
    assert planned is not None and planned[0].question_id in {18, 31}


def test_a_track_without_reviewed_items_gets_a_clear_message(db, reviewed_settings, now):
    seed_bank(db)
    db.get(Question, 18).approvals = 2  # step1 only: nothing for PLAB or general
    phone = student(db, reviewed_settings, now, track="plab1")
    reply = phone.say("Q")
    assert NONE_READY in reply and not reply.startswith("Q")
    ctx = Context(db, get_catalog(reviewed_settings.content_path), reviewed_settings, now)
    assert plan_daily_question(ctx, phone.person, phone.later(days=1)) is None
    # The same student is served the PLAB items when the organisation serves every item.
    everything = reviewed_settings.with_(serve_only_reviewed=False)
    phone.settings = everything
    assert asked(phone) in {32, 42}


def test_bundled_in_house_items_are_not_served_until_peers_approve_one(db, settings, now):
    reviewed = settings.with_(serve_only_reviewed=True, reviews_required=2)
    load_content(db, None, now.date(), now)
    phone = student(db, reviewed, now)
    assert NONE_READY in phone.say("Q")
    people = [
        AdminUser(email=f"{name}@example.org", password_hash="x", role="viewer", capabilities=[cap])
        for name, cap in (("writer", "educator"), ("one", "reviewer"), ("two", "reviewer"))
    ]
    db.add_all(people)
    db.flush()
    writer, one, two = people
    qid = min(q.id for q in db.scalars(select(Question)) if "step1" in q.tracks)
    edit(db, writer, qid, {"review_by": (now + timedelta(days=300)).date().isoformat()}, now)
    submit(db, writer, qid, lambda version: [], now)
    add_review(db, one, qid, "approve", "", now)
    add_review(db, two, qid, "approve", "", now)
    publish(db, one, qid, 2, now)
    assert asked(phone) == qid


def test_the_settings_are_read_and_checked():
    settings = Settings.from_env(
        {"ROUNDS_SERVE_ONLY_REVIEWED": "1", "ROUNDS_REVIEWS_REQUIRED": "3"}, dotenv=False
    )
    assert settings.serve_only_reviewed and settings.reviews_required == 3
    assert Settings.from_env({}, dotenv=False).reviews_required == 2
    with pytest.raises(ValueError, match="ROUNDS_REVIEWS_REQUIRED must be 1 or more"):
        Settings.from_env({"ROUNDS_REVIEWS_REQUIRED": "0"}, dotenv=False)
