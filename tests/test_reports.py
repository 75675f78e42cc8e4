"""REPORT transcripts: a report on the last question or a named one, kept against the version asked;
bad input answered in one segment; three students hold a question for review until a reviewer
resolves their reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from content.segments import segment_count
from store.learning import Learning
from store.models import Question
from store.reports import HOLD_AFTER, OPEN, RESOLVED, TEXT_MAX, QuestionReport, Reports
from tests.flows_support import Phone, content_folder, seed_bank

NIGERIA = "+2348031234567"


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


@pytest.fixture
def bank(db):
    seed_bank(db)


def onboarded(db, chat_settings, now, number: str = NIGERIA) -> Phone:
    phone = Phone(db, chat_settings, number, now)
    phone.onboard(name="Ada", track="1", time="08:00")
    return phone


def ask(phone: Phone) -> int:
    text = phone.say("Q")
    assert text.startswith("Q"), text
    return int(text[1:].split(" ", 1)[0])


def reports(db) -> list[QuestionReport]:
    return list(db.scalars(select(QuestionReport).order_by(QuestionReport.id)))


def test_a_report_on_the_last_question_and_on_a_named_one(db, chat_settings, now, bank):
    phone = onboarded(db, chat_settings, now)
    first = ask(phone)
    phone.say("A")
    second = ask(phone)
    assert first != second
    db.get(Question, first).version = 3  # the version asked is the attempt's, not today's
    thanks = phone.say("report the key is wrong, C is right")
    assert thanks == (
        f"Thank you: your report on Q{second} is with our reviewers. Reports like yours keep Rounds right."
    )
    assert segment_count(thanks) == 1
    named = phone.say(f"REPORT Q{first}: option B is out of date")
    assert named.startswith(f"Thank you: your report on Q{first} ")
    (on_last, on_named) = reports(db)
    assert (on_last.question_id, on_last.question_version, on_last.text) == (
        second,
        1,
        "the key is wrong, C is right",
    )
    assert (on_named.question_id, on_named.question_version, on_named.text) == (
        first,
        1,
        "option B is out of date",
    )
    assert on_last.status == OPEN and on_last.person_id == phone.person.id
    # A bare number is part of the text, not a question id.
    assert phone.say("REPORT 2 options are the same").startswith(f"Thank you: your report on Q{second} ")
    assert reports(db)[-1].text == "2 options are the same"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("REPORT", "Tell us what's wrong: REPORT and a few words"),
        ("report   ", "Tell us what's wrong: REPORT and a few words"),
        ("REPORT Q18", "Tell us what's wrong: REPORT and a few words"),
        ("REPORT \U0001f621\U0001f621", "Tell us what's wrong: REPORT and a few words"),
        ("REPORT Q99999 the key is wrong", "You haven't had a Q99999. Text REPORT"),
        ("REPORT Q12345678901234567890 wrong", "You haven't had a Q123456789012. Text REPORT"),
        ("REPORT Q51 wrong key", "You haven't had a Q51. Text REPORT"),  # in the bank, never asked
    ],
)
def test_bad_reports_get_one_helpful_segment(db, chat_settings, now, bank, text, expected):
    phone = onboarded(db, chat_settings, now)
    ask(phone)
    answer = phone.say(text)
    assert answer.startswith(expected), answer
    assert segment_count(answer) == 1
    assert reports(db) == []


def test_a_long_or_strange_report_is_kept_cleaned_and_bounded(db, chat_settings, now, bank):
    phone = onboarded(db, chat_settings, now)
    asked = ask(phone)
    assert phone.say("REPORT " + "wrong key \x00" * 500).startswith(f"Thank you: your report on Q{asked} ")
    assert phone.say("REPORT the answer \U0001f914 is odd").startswith("Thank you")
    long, emoji = reports(db)
    assert TEXT_MAX - 1 <= len(long.text) <= TEXT_MAX and "\x00" not in long.text
    assert long.text.startswith("wrong key wrong")
    assert emoji.text == "the answer \U0001f914 is odd"


def test_a_student_with_no_question_yet(db, chat_settings, now, bank):
    phone = onboarded(db, chat_settings, now)
    answer = phone.say("REPORT the key is wrong")
    assert answer == "You haven't had a question yet, so there is nothing to report. Text Q for one."
    assert reports(db) == []


def test_french_and_spanish_words(db, chat_settings, now, bank):
    phone = onboarded(db, chat_settings, now)
    phone.say("LANG fr")
    asked = ask(phone)
    answer = phone.say("SIGNALER la clé est fausse")
    assert answer.startswith(f"Merci : votre signalement sur la Q{asked} ") and segment_count(answer) == 1
    assert phone.say("signaler").startswith("Dites-nous ce qui ne va pas")
    other = onboarded(db, chat_settings, now, "+5491123456789")
    other.say("LANG es")
    asked = ask(other)
    assert other.say("REPORTAR la clave está mal").startswith(f"Gracias: tu reporte sobre la Q{asked} ")
    assert [r.text for r in reports(db)] == ["la clé est fausse", "la clave está mal"]


def test_three_students_hold_a_question_until_a_reviewer_clears_it(db, chat_settings, now, bank):
    phones = [onboarded(db, chat_settings, now, f"+23480312340{n:02d}") for n in range(HOLD_AFTER)]
    target = 18
    for phone in phones:  # each was asked Q18 (version 1) today
        Learning(db).insert_attempt(phone.person.id, target, now.date(), "more:9", now, 1)
    first, second, third = phones
    first.say(f"REPORT Q{target} wrong key")
    first.say(f"REPORT Q{target} really, the key is wrong")  # one student twice is still one voice
    second.say(f"REPORT Q{target} B and C both fit")
    db.expire_all()
    assert db.get(Question, target).status == "published"
    third.say(f"REPORT Q{target} the key is wrong")
    db.expire_all()
    assert db.get(Question, target).status == "review"
    assert target not in {q.id for q in Learning(db).active_bank().rows}  # no longer served

    store = Reports(db)
    open_rows = store.listing()
    assert len(open_rows) == 4
    # Newest first: the first student's earlier report goes, their second keeps them among three.
    store.resolve(open_rows[-1], "checked", "reviewer@example.org", now + timedelta(hours=1))
    db.expire_all()
    assert db.get(Question, target).status == "review"
    store.resolve(open_rows[1], "the key is right: B", "reviewer@example.org", now, every_open=True)
    db.expire_all()
    assert db.get(Question, target).status == "published"
    assert {r.status for r in reports(db)} == {RESOLVED}
    cleared = reports(db)[1]
    assert cleared.note == "the key is right: B" and cleared.resolved_by == "reviewer@example.org"


def test_a_report_through_the_signed_webhook(client, app_settings):
    from content.load import load_content
    from store.db import session_scope
    from tests.conftest import Phone as WebhookPhone

    with session_scope(app_settings.database_url) as session:
        load_content(session, None, app_settings.clock.now().date())
    phone = WebhookPhone(client, "+2348031234999")
    for text in ("JOIN", "Ada Obi", "1", "7pm"):
        phone.text(text)
    assert phone.text("REPORT the key is wrong") == [
        "You haven't had a question yet, so there is nothing to report. Text Q for one."
    ]
    (question,) = phone.text("Q")
    asked = int(question[1:].split(" ", 1)[0])
    (thanks,) = phone.text("report: the key is wrong " + "x" * 5000)
    assert (
        thanks
        == f"Thank you: your report on Q{asked} is with our reviewers. Reports like yours keep Rounds right."
    )
    with session_scope(app_settings.database_url) as session:
        (row,) = session.scalars(select(QuestionReport)).all()
        assert row.question_id == asked and row.question_version == 1 and len(row.text) <= TEXT_MAX
