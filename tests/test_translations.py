"""Questions in French and Spanish, on SQLite and PostgreSQL: loading translations (idempotent),
publishing one from review, and a LANG fr / LANG es student getting the question, its feedback and
its explanation in their language, on Q, Q17 B and the daily push; English where none exists."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from content.catalog import get_catalog
from content.load import load_content
from content.segments import count, segment_count
from flows.engine import Context
from flows.quiz import plan_daily_questions, render_question
from store.models import OUTBOUND, Message, Question
from store.translations import (
    FROM_CONTENT,
    FROM_REVIEW,
    QuestionTranslation,
    TranslationError,
    publish_translation,
    translations_for,
)
from tests.conftest import Phone as WebPhone
from tests.content_samples import translation, write_content
from tests.db_support import recorded_statements
from tests.flows_support import (
    BANK,
    Phone,
    content_folder,
    french,
    seed_bank,
    seed_library,
    seed_translations,
    spanish,
)

TODAY = date(2026, 11, 26)
NIGERIA = "+2348031234567"
CAMEROON = "+237671234567"
COLOMBIA = "+573001234567"
ANSWERS = {qid: answer for qid, _topic, _tracks, answer in BANK}
TOPICS = {qid: topic for qid, topic, _tracks, _answer in BANK}


def rows(db: Session) -> dict[tuple[int, str], QuestionTranslation]:
    db.expire_all()
    return {(r.question_id, r.language): r for r in db.scalars(select(QuestionTranslation))}


# --- loading --------------------------------------------------------------------------------


def test_load_writes_translations_and_loading_again_changes_nothing(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    first = load_content(db, root, TODAY)
    db.commit()
    assert str(first.translations) == (
        "fr 3 inserted, 0 updated, 0 unchanged, 0 removed; es 3 inserted, 0 updated, 0 unchanged, 0 removed"
    )
    assert "translations: fr 3 inserted" in str(first)
    stored = rows(db)
    assert set(stored) == {(qid, lang) for qid in (101, 201, 202) for lang in ("fr", "es")}
    row = stored[201, "fr"]
    assert (row.version, row.source, row.translated_by) == (1, FROM_CONTENT, "Équipe test")
    assert row.options == {"A": "Sodium seul", "B": "Potassium", "C": "Phosphate", "D": "Bicarbonate"}
    before = {key: r.updated_at for key, r in stored.items()}

    second = load_content(db, root, TODAY)
    db.commit()
    assert not second.changed
    assert dict(second.translations.unchanged) == {"fr": 3, "es": 3}
    assert {key: r.updated_at for key, r in rows(db).items()} == before


def test_a_load_updates_a_changed_translation_and_removes_a_withdrawn_one(
    db: Session, tmp_path: Path
) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY)
    db.commit()
    (root / "translations" / "fr" / "sample.yaml").write_text(
        translation(101) + translation(201, stem="Quel ion un diurétique de l'anse fait-il perdre ?"),
        encoding="utf-8",
    )
    report = load_content(db, root, TODAY)
    db.commit()
    counts = report.translations
    assert (counts.inserted["fr"], counts.updated["fr"], counts.unchanged["fr"], counts.removed["fr"]) == (
        0,
        1,
        1,
        1,
    )
    assert counts.unchanged["es"] == 3 and report.changed
    stored = rows(db)
    assert (202, "fr") not in stored and (202, "es") in stored
    assert stored[201, "fr"].stem == "Quel ion un diurétique de l'anse fait-il perdre ?"


def test_a_load_never_overwrites_or_removes_what_a_reviewer_published(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY)
    db.commit()
    options = {"A": "Sodium", "B": "Potassium", "C": "Phosphate", "D": "Bicarbonate"}
    publish_translation(db, 201, "fr", "Texte relu ?", options, "Relu et publié.", "Relecteur A", 1)
    db.commit()
    (root / "translations" / "fr" / "sample.yaml").write_text(translation(101), encoding="utf-8")
    report = load_content(db, root, TODAY)
    db.commit()
    assert report.translations.kept["fr"] == 1 and report.translations.removed["fr"] == 1
    assert "1 kept as published in review" in str(report.translations)
    stored = rows(db)
    assert (stored[201, "fr"].stem, stored[201, "fr"].source) == ("Texte relu ?", FROM_REVIEW)
    assert (202, "fr") not in stored


# --- publishing from review ------------------------------------------------------------------


def test_publish_translation_inserts_then_replaces(db: Session, now: datetime) -> None:
    seed_bank(db)
    stem, options, explanation = french(17, "cardiology", "B")
    publish_translation(db, 17, "fr", stem, options, explanation, "Relecteur A", 1, at=now)
    publish_translation(db, 17, "fr", "Nouvelle version ?", options, explanation, "Relecteur B", 1, at=now)
    db.commit()
    [row] = rows(db).values()
    assert (row.stem, row.translated_by, row.source, row.updated_at) == (
        "Nouvelle version ?",
        "Relecteur B",
        FROM_REVIEW,
        now,
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"question_id": 999}, "question 999 does not exist"),
        ({"language": "de"}, "language 'de' is not one of fr, es"),
        (
            {"options": {"A": "un", "B": "deux", "C": "trois"}},
            "must be the English item's letters A, B, C, D",
        ),
        ({"version": 2}, "version 2 is not one of the English item's (1 to 1)"),
        ({"stem": "  "}, "stem is empty"),
        ({"translated_by": ""}, "translated_by is empty"),
    ],
)
def test_publish_translation_refuses_what_cannot_be_served(db: Session, change: dict, said: str) -> None:
    seed_bank(db)
    stem, options, explanation = french(17, "cardiology", "B")
    values = dict(
        question_id=17,
        language="fr",
        stem=stem,
        options=options,
        explanation=explanation,
        translated_by="R",
        version=1,
    )
    values.update(change)
    with pytest.raises(TranslationError, match=said.replace("(", r"\(").replace(")", r"\)")):
        publish_translation(db, **values)
    assert rows(db) == {}


def test_a_translation_of_an_older_version_is_not_served(db: Session) -> None:
    seed_bank(db)
    seed_translations(db)
    assert set(translations_for(db, [17, 18], ["fr", "es"])) == {
        (17, "fr"),
        (18, "fr"),
        (17, "es"),
        (18, "es"),
    }
    db.get(Question, 17).version = 2  # the English item was edited and published again
    db.flush()
    assert set(translations_for(db, [17, 18], ["fr", "es"])) == {(18, "fr"), (18, "es")}


# --- students --------------------------------------------------------------------------------


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


def asked(text: str) -> int:
    assert text.startswith("Q"), text
    return int(text[1:].split(" ", 1)[0])


def wrong(qid: int) -> str:
    return "D" if ANSWERS[qid] != "D" else "A"


LANGUAGES = {
    # language, onboarding confirmation start, verdicts, the RES page's topic line
    "fr": (french, "C'est prêt !", "Exact : {}.", "Non, c'est {}.", "Jours de suite : {}", "Cardiology :\n"),
    "es": (spanish, "¡Listo!", "¡Correcto! {}.", "Incorrecto, es la {}.", "Racha: {}", "Cardiology:\n"),
}


@pytest.mark.parametrize("language", ["fr", "es"])
def test_a_student_from_onboarding_through_questions_feedback_and_res(db, chat_settings, now, language):
    seed_bank(db)
    seed_translations(db)
    seed_library(db)
    text_of, done, right, not_right, streak, res_topic = LANGUAGES[language]
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hello")
    phone.send(f"LANG {language}")
    phone.say("Awa")
    phone.say("1")
    assert phone.say("08:00").startswith(done)

    question = phone.say("Q")
    qid = asked(question)
    stem, options, explanation = text_of(qid, TOPICS[qid], ANSWERS[qid])
    lines = "\n".join(f"{letter}) {text}" for letter, text in options.items())
    assert question == f"Q{qid} {stem}\n{lines}"
    feedback = phone.say(ANSWERS[qid])
    assert feedback == f"{right.format(ANSWERS[qid])} {explanation} {streak.format(1)}"

    # A second question, answered wrong by its id after a third was asked.
    second = asked(phone.say("MORE"))
    third = asked(phone.say("Q"))
    stem, _options, explanation = text_of(second, TOPICS[second], ANSWERS[second])
    assert phone.say(f"Q{second} {wrong(second)}") == (
        f"{not_right.format(ANSWERS[second])} {explanation} {streak.format(1)}"
    )
    assert phone.say(wrong(third)).startswith(not_right.format(ANSWERS[third]))

    assert phone.say("RES cardio").startswith(res_topic)


def test_english_where_a_question_has_no_translation(db, chat_settings, now):
    seed_bank(db)
    seed_translations(db, languages=("es",))  # no French at all
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hello")
    phone.send("LANG fr")
    for text in ("Awa", "1", "08:00"):
        phone.say(text)
    qid = asked(phone.say("Q"))
    assert phone.say(ANSWERS[qid]) == (
        f"Exact : {ANSWERS[qid]}. {ANSWERS[qid]} is right for {qid}. The reason in one short line. "
        "Jours de suite : 1"
    )


def test_the_daily_pass_reads_translations_in_one_query(db, chat_settings, now):
    seed_bank(db)
    seed_translations(db)
    people = []
    for number, language in enumerate(["fr", "es", "en", "fr", "es", "en"]):
        phone = Phone(db, chat_settings, f"+23480312345{number:02d}", now)
        phone.send("hello")
        phone.send(f"LANG {language}")
        for text in ("Ada", "1", "08:00"):
            phone.send(text)
        people.append(phone.person)
    at = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 08:00 in Lagos
    with recorded_statements(db.get_bind()) as statements:
        planned = plan_daily_questions(
            Context(db, get_catalog(chat_settings.content_path), chat_settings, at), people, at
        )
    assert len(planned) == 6
    assert sum("question_translations" in s for s in statements) == 1
    for one in planned:
        qid, language = one.question.id, one.person.language
        if language == "en":
            assert one.text.startswith(f"Q{qid} Question {qid} about")
        else:
            stem = (french if language == "fr" else spanish)(qid, TOPICS[qid], ANSWERS[qid])[0]
            assert one.text.startswith(f"Q{qid} {stem}\n"), one.text
            assert segment_count(one.text) <= 3


def test_a_stale_translation_gives_the_english_question(db, chat_settings, now):
    seed_bank(db)
    seed_translations(db)
    db.get(Question, 17).version = 2  # edited in English since it was translated
    db.flush()
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hello")
    phone.send("LANG es")
    ctx = Context(db, get_catalog(chat_settings.content_path), chat_settings, now)
    assert render_question(ctx, phone.person, db.get(Question, 17)).startswith("Q17 Question 17 about")
    assert render_question(ctx, phone.person, db.get(Question, 18)).startswith("Q18 ¿Pregunta 18")


# --- SMS folding and WhatsApp spelling, through the webhook -------------------------------------


def outbound(db) -> list[Message]:
    db.expire_all()
    found = list(db.scalars(select(Message).where(Message.direction == OUTBOUND).order_by(Message.id)))
    db.commit()
    return found


@pytest.mark.parametrize("whatsapp", [False, True], ids=["sms", "whatsapp"])
@pytest.mark.parametrize("language", ["fr", "es"])
def test_sms_folds_only_what_gsm7_lacks_and_whatsapp_spells_in_full(client, db, language, whatsapp):
    seed_bank(db)
    seed_translations(db)
    db.commit()
    phone = WebPhone(client, CAMEROON if language == "fr" else COLOMBIA, whatsapp=whatsapp)
    for text in ("hello", f"LANG {language}", "Awa", "1"):
        phone.text(text)
    [done] = phone.text("08:00")
    assert done.startswith(("C'est prêt", "C'est pret", "¡Listo!")), done
    [question] = phone.text("Q")
    qid = asked(question)
    stem, options, explanation = (french if language == "fr" else spanish)(qid, TOPICS[qid], ANSWERS[qid])
    full = f"Q{qid} {stem}\n" + "\n".join(f"{letter}) {text}" for letter, text in options.items())
    if language == "fr":
        # ê and û fold; é, è and à stay, since GSM-7 has them.
        folded = full.replace("Prêt", "Pret")
        assert "réponse est la bonne, à votre avis" in folded and "Première" in folded
    else:
        # ó, í and ú fold; é, ñ and ¿ stay.
        folded = full.replace("ción", "cion").replace("según", "segun").replace("guía", "guia")
        assert "¿Pregunta" in folded and "Señale" in folded and "qué" in folded
    assert question == (full if whatsapp else folded)

    [feedback] = phone.text(ANSWERS[qid])
    verdict = {"fr": "Exact : {}.", "es": "¡Correcto! {}."}[language].format(ANSWERS[qid])
    tail = {"fr": "Jours de suite : 1", "es": "Racha: 1"}[language]
    full_feedback = f"{verdict} {explanation} {tail}"
    folded_feedback = (
        full_feedback.replace("sûr", "sur")
        .replace("razón", "razon")
        .replace("línea", "linea")
        .replace("más", "mas")
    )
    assert feedback == (full_feedback if whatsapp else folded_feedback)

    sent_question, sent_feedback = outbound(db)[-2:]
    assert (sent_question.body, sent_feedback.body) == (question, feedback)
    if not whatsapp:
        assert (sent_question.encoding, sent_feedback.encoding) == ("GSM-7", "GSM-7")
        assert sent_question.segments <= 2 and sent_feedback.segments <= 2
    else:
        assert sent_question.encoding == count(full).encoding == "UCS-2"


def test_a_program_question_comes_in_the_students_language(db, settings, chat_settings, now):
    from tests.programs_support import load_with_fixture

    load_with_fixture(settings)  # the bundled bank and the fixture program TST (day 1 asks Q1112)
    db.expire_all()
    options = {"A": "La spécificité", "B": "La VPP", "C": "La sensibilité", "D": "La prévalence"}
    stem = "Part des malades dont le test est positif : de quoi s'agit-il, au juste ?"
    publish_translation(db, 1112, "fr", stem, options, "La sensibilité, bien sûr.", "Équipe test", 1)
    db.commit()
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hello")
    phone.send("LANG fr")
    for text in ("Awa", "1", "08:00"):
        phone.say(text)
    phone.say("JOIN TST")
    day1 = phone.say("NEXT")
    lines = "\n".join(f"{letter}) {text}" for letter, text in options.items())
    assert day1.endswith(f"Q1112 {stem}\n{lines}"), day1


# --- what the review workflow checks before it publishes --------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({}, None),
        ({"stem": "Quelle réponse ? " * 300}, "segments; it must fit 2"),  # about 5,000 characters
        ({"stem": "Quelle réponse ? 🩺"}, "not GSM-7 by SMS even folded"),
        ({"stem": "مرحبا"}, "not GSM-7 by SMS even folded"),
        ({"explanation": ""}, "explanation is empty"),
        ({"explanation": "Exact\x00 ici."}, "U+0000"),
        (
            {"explanation": "La raison est longue et détaillée. " * 10},
            "the feedback (feedback_correct) as sent by SMS",
        ),
        ({"options": {"A": "un", "B": "deux"}}, "options A, B must be the English item's letters A, B, C, D"),
        ({"translated_by": ""}, "translated_by is empty"),
        ({"language": "de"}, "language 'de' is not one of fr, es"),
    ],
)
def test_publishing_problems_for_a_stored_question(db: Session, change: dict, said: str | None) -> None:
    from content.check_translations import publishing_problems

    seed_bank(db)
    stem, options, explanation = french(17, "cardiology", "B")
    values = {
        "language": "fr",
        "stem": stem,
        "options": options,
        "explanation": explanation,
        "translated_by": "R",
    }
    values.update(change)
    found = publishing_problems(get_catalog(), db.get(Question, 17), **values)
    if said is None:
        assert found == []
    else:
        assert any(said in message for message in found), found


def test_cli_load_and_stats_report_translations(runner, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    (root / "translations" / "es" / "sample.yaml").write_text(translation(201, "es"), encoding="utf-8")
    loaded = runner.invoke(args=["content", "load", str(root)])
    assert loaded.exit_code == 0, loaded.output
    assert "translations: fr 3 inserted, 0 updated, 0 unchanged, 0 removed; es 1 inserted" in loaded.output
    again = runner.invoke(args=["content", "load", str(root)])
    assert "translations: fr 0 inserted, 0 updated, 3 unchanged, 0 removed; es 0 inserted" in again.output
    stats = runner.invoke(args=["content", "stats", str(root)])
    assert "translations: fr 3 (0 missing), es 1 (2 missing)" in stats.output
    checked = runner.invoke(args=["content", "check", str(root)])
    assert checked.exit_code == 0
    assert "warning: 2 of 3 questions have no es translation" in checked.output
