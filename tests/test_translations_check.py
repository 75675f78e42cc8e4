"""`rounds content check` on French and Spanish questions: each problem a translation can have is
reported at its file and line, and nothing else is; missing ones are counted in one warning."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from content import translations
from content.bank import load_bank
from content.check import check_content, exit_code
from content.report import Problem
from content.stats import bank_stats, stats_lines
from tests.content_samples import (
    TRANSLATION_OFFSET,
    question,
    translation,
    write_content,
)

TODAY = date(2026, 11, 26)


def write_french(root: Path, *items: str) -> Path:
    """The sample content with translations/fr/sample.yaml replaced by `items`."""
    path = root / "translations" / "fr" / "sample.yaml"
    path.write_text("".join(items), encoding="utf-8")
    return path


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def only_error(problems: list[Problem], path: Path, line: int, *words: str) -> Problem:
    found = errors(problems)
    assert len(found) == 1, "\n".join(map(str, problems))
    [problem] = found
    assert (problem.file, problem.line) == (path, line), str(problem)
    for word in words:
        assert word in problem.message, str(problem)
    return problem


def line(item: int, name: str) -> int:
    return item * 5 + 1 + TRANSLATION_OFFSET[name]


def test_the_sample_with_its_translations_has_no_problems_and_accents_cost_nothing(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    assert check_content(root, TODAY) == []
    bank = load_bank(root)
    assert {(t.id, t.language) for t in bank.translations} == {
        (qid, language) for qid in (101, 201, 202) for language in ("fr", "es")
    }
    french = next(t for t in bank.translations if t.language == "fr")
    assert "diurétique" in french.stem and french.translated_by == "Équipe test"


def test_a_translation_of_a_question_that_does_not_exist(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = write_french(root, translation(101), translation(201), translation(202), translation(999))
    only_error(
        check_content(root, TODAY), path, line(3, "id"), "fr translation of question 999", "no question 999"
    )


def test_a_translation_given_twice(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = write_french(root, translation(101), translation(201), translation(202), translation(201))
    only_error(check_content(root, TODAY), path, line(3, "id"), "question 201", "already given")


def test_option_letters_must_be_the_english_items(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    item = translation(201).replace(', D: "Bicarbonate"', ', E: "Bicarbonate"')
    path = write_french(root, translation(101), item, translation(202))
    only_error(
        check_content(root, TODAY),
        path,
        line(1, "options"),
        "options A, B, C, E",
        "English item's letters A, B, C, D",
    )


@pytest.mark.parametrize("field", ["stem", "explanation", "translated_by"])
def test_every_field_must_be_there(tmp_path: Path, field: str) -> None:
    root = write_content(tmp_path)
    kept = [text for text in translation(201).splitlines(keepends=True) if not text.startswith(f"  {field}:")]
    path = write_french(root, translation(101), "".join(kept), translation(202))
    only_error(check_content(root, TODAY), path, line(1, "id"), f"'{field}' is missing")


def test_an_empty_translated_by_and_an_empty_option(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = write_french(root, translation(101), translation(201, translated_by=" "), translation(202))
    only_error(check_content(root, TODAY), path, line(1, "translated_by"), "translated_by is empty")
    path = write_french(root, translation(101), translation(201, C=""), translation(202))
    only_error(check_content(root, TODAY), path, line(1, "options"), "option C is empty")


def test_text_that_stays_outside_gsm7_after_folding(tmp_path: Path) -> None:
    # ê and á fold to e and a; a Greek beta or an emoji cannot be folded and would make it UCS-2.
    root = write_content(tmp_path)
    path = write_french(
        root, translation(101), translation(201, stem="Quel récepteur β est bloqué ?"), translation(202)
    )
    only_error(check_content(root, TODAY), path, line(1, "stem"), "not GSM-7 by SMS even folded", "U+03B2")


def test_a_question_over_two_segments_by_sms(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    long_stem = "Un patient sous furosémide se plaint de faiblesse et de crampes depuis une semaine. " * 3
    path = write_french(root, translation(101), translation(201, stem=long_stem.strip()), translation(202))
    only_error(check_content(root, TODAY), path, line(1, "stem"), "Q201", "3 segments", "must fit 2")


def test_a_stem_that_fits_only_once_folded_passes(tmp_path: Path) -> None:
    # About 270 characters with an ê: UCS-2 as written (4 segments), two GSM-7 segments by SMS.
    root = write_content(tmp_path)
    stem = ("Le patient est très fatigué et a des crampes. " * 4)[:-1] + " Quel ion est le plus bas ?"
    stem = stem.replace("est très", "êst très", 1)
    write_french(root, translation(101), translation(201, stem=stem), translation(202))
    assert errors(check_content(root, TODAY)) == []


def test_feedback_over_two_segments_by_sms(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    why = "Le diurétique de l'anse bloque NKCC2 et fait perdre beaucoup de potassium dans les urines. " * 3
    path = write_french(root, translation(101), translation(201, explanation=why.strip()), translation(202))
    only_error(
        check_content(root, TODAY), path, line(1, "explanation"), "feedback", "3 segments", "must fit 2"
    )


def test_a_translation_of_a_broken_english_item_waits_for_the_english_fix(tmp_path: Path) -> None:
    # The English item has its own error; its translation adds none.
    root = write_content(tmp_path, renal=question(201, answer="E") + question(202))
    found = errors(check_content(root, TODAY))
    assert [p.file.name for p in found] == ["renal.yaml"], "\n".join(map(str, found))


def test_a_folder_that_is_not_a_language(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    (root / "translations" / "de").mkdir()
    only_error(check_content(root, TODAY), root / "translations" / "de", 1, "one folder per language", "'de'")


def test_missing_translations_are_one_warning_per_language_with_a_count(tmp_path: Path, monkeypatch) -> None:
    root = write_content(tmp_path)
    write_french(root, translation(201))
    problems = check_content(root, TODAY)
    assert exit_code(problems) == 0
    [warning] = problems
    assert (warning.file, warning.line, warning.severity) == (root / "translations" / "fr", 1, "warning")
    assert warning.message.startswith("2 of 3 questions have no fr translation")
    assert warning.message.endswith(": 101, 202")
    # The lead's switch, once the writers' work has landed: the same finding blocks a load.
    monkeypatch.setattr(translations, "MISSING_TRANSLATION_IS_ERROR", True)
    [problem] = check_content(root, TODAY)
    assert problem.is_error and exit_code([problem]) == 1


def test_stats_count_translations_per_language(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    write_french(root, translation(201))
    bank = load_bank(root)
    stats = bank_stats(bank.questions, bank.translations)
    assert stats["translations"] == {
        "fr": {"translated": 1, "missing": 2},
        "es": {"translated": 3, "missing": 0},
    }
    languages = {
        (row["topic"], row["language"]): row["items"] for row in stats["counts"] if row["track"] == "step1"
    }
    assert languages == {
        ("cardiology", "en"): 1,
        ("cardiology", "es"): 1,
        ("renal", "en"): 2,
        ("renal", "es"): 2,
        ("renal", "fr"): 1,
    }
    assert "translations: fr 1 (2 missing), es 3 (0 missing)" in stats_lines(stats)


def test_the_fixture_translations_pass_the_check_against_the_bundled_bank() -> None:
    # The cost benchmark serves them while the bank's own are not there yet (tests/fixtures/README.md).
    from content import content_root
    from content.check_translations import check_translations
    from content.report import Report
    from content.translations import read_translations

    bank = load_bank(content_root())
    problems: list[Problem] = []
    bank.translations = read_translations(Path(__file__).parent / "fixtures", problems)
    assert problems == [] and len(bank.translations) == 12
    out = Report()
    check_translations(bank, out)
    assert [str(p) for p in out.problems if p.is_error] == []


def test_every_bundled_question_has_a_french_and_a_spanish_version() -> None:
    """Issue #14's promise for the bundled bank: a LANG fr or LANG es student never meets English."""
    bank = load_bank(None)
    ids = {q.id for q in bank.questions}
    for language in ("fr", "es"):
        translated = {t.id for t in bank.translations if t.language == language}
        assert ids - translated == set(), language
        assert all(t.translated_by.strip() for t in bank.translations)
    assert len(ids) >= 600
