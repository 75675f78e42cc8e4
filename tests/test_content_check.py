"""`check_content`: the bundled content passes; each broken sample fails at its file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content import content_root
from content.bank import load_bank, render_question
from content.check import check_content, exit_code
from content.report import Problem
from content.segments import segment_count
from store.models import Question
from tests.content_samples import FIELD_OFFSET, QUESTION_LINES, question, write_content

TODAY = date(2026, 11, 26)


def line_of(item: int, name: str) -> int:
    """The line of field `name` in the `item`-th (from 0) question of a sample file."""
    return item * QUESTION_LINES + 1 + FIELD_OFFSET[name]


def errors_at(problems: list[Problem], file_name: str, line: int) -> list[Problem]:
    return [p for p in problems if p.is_error and p.file.name == file_name and p.line == line]


def only_error(problems: list[Problem], file_name: str, line: int, *words: str) -> Problem:
    """The one error in `problems`, which must sit at file:line and mention `words`."""
    errors = [p for p in problems if p.is_error]
    assert len(errors) == 1, "\n".join(map(str, problems))
    [problem] = errors
    assert (problem.file.name, problem.line) == (file_name, line), str(problem)
    for word in words:
        assert word in problem.message, str(problem)
    return problem


def test_bundled_content_has_no_errors() -> None:
    problems = check_content(content_root(), TODAY)
    errors = [str(p) for p in problems if p.is_error]
    assert errors == []
    bank = load_bank(content_root())
    assert len(bank.questions) >= 150
    assert len({q.topic for q in bank.questions}) >= 12
    assert len(bank.resources) >= 40
    assert all(segment_count(render_question(q)) <= 2 for q in bank.questions)


def test_valid_sample_has_no_problems_at_all(tmp_path: Path) -> None:
    assert check_content(write_content(tmp_path), TODAY) == []


def test_problem_prints_as_path_line_severity_message(tmp_path: Path) -> None:
    problem = Problem(tmp_path / "questions" / "renal.yaml", 12, "answer is wrong")
    assert str(problem) == f"{tmp_path}/questions/renal.yaml:12: error: answer is wrong"
    assert exit_code([problem]) == 1
    assert exit_code([Problem(problem.file, 1, "minor", "warning")]) == 0
    assert exit_code([]) == 0


def test_duplicate_id_in_the_same_file(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201) + question(201))
    problem = only_error(
        check_content(root, TODAY), "renal.yaml", line_of(1, "id"), "question 201", "already used"
    )
    assert f"renal.yaml:{line_of(0, 'id')}" in problem.message


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    root = write_content(tmp_path, cardiology=question(201, topic="cardiology"))
    # cardiology.yaml sorts first, so the copy in renal.yaml is the one flagged.
    problem = only_error(check_content(root, TODAY), "renal.yaml", 1, "already used")
    assert "cardiology.yaml:1" in problem.message


def test_two_answers_as_a_list(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201) + question(202, answer="[A, C]"))
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(1, "answer"),
        "question 202",
        "exactly one answer",
    )


def test_answer_given_twice(tmp_path: Path) -> None:
    text = question(201).replace("  answer: B\n", "  answer: B\n  answer: C\n")
    root = write_content(tmp_path, renal=text)
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "answer") + 1,
        "'answer' is given twice",
    )


@pytest.mark.parametrize("answer", ["E", "AB", "b"])
def test_answer_not_one_of_a_to_d(tmp_path: Path, answer: str) -> None:
    root = write_content(tmp_path, renal=question(201, answer=answer))
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "answer"),
        f"answer '{answer}'",
        "A, B, C or D",
    )


def test_options_must_be_exactly_a_to_d(tmp_path: Path) -> None:
    text = question(201).replace('    D: "Bicarbonate"', '    E: "Bicarbonate"')
    root = write_content(tmp_path, renal=text)
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "options"),
        "exactly A, B, C and D",
        "found A, B, C, E",
    )


def test_unknown_topic(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201, topic="renall"))
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "topic"),
        "unknown topic 'renall'",
        "did you mean 'renal'",
    )


def test_unknown_track(tmp_path: Path) -> None:
    text = question(201).replace("[step1, plab1]", "[step1, step3]")
    only_error(
        check_content(write_content(tmp_path, renal=text), TODAY),
        "renal.yaml",
        line_of(0, "tracks"),
        "unknown track 'step3'",
    )


def test_curly_quote_in_english_stem(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201, stem="Which ion\u2019s wasted most?"))
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "stem"),
        "stem",
        "outside GSM-7",
        "U+2019",
        'write "\'"',
    )


def test_stem_too_long_for_two_segments(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201, stem="A 58-year-old man " * 15))
    only_error(
        check_content(root, TODAY),
        "renal.yaml",
        line_of(0, "stem"),
        "question 201",
        "3 SMS segments",
        "fit 2",
    )


def test_explanation_limit_is_125_characters(tmp_path: Path) -> None:
    named = "Not bicarbonate. "  # the explanation must name a distractor
    fits = write_content(tmp_path / "fits", renal=question(201, explanation=named + "x" * 108))
    assert check_content(fits, TODAY) == []
    long = write_content(tmp_path / "long", renal=question(201, explanation=named + "x" * 109))
    only_error(
        check_content(long, TODAY),
        "renal.yaml",
        line_of(0, "explanation"),
        "explanation is 126 characters",
        "at most 125",
    )


def test_an_overdue_review_is_a_warning_that_blocks_nothing(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201, review_by="2026-11-25"))
    (problem,) = check_content(root, TODAY)
    assert (problem.file.name, problem.line, problem.is_error) == (
        "renal.yaml",
        line_of(0, "review_by"),
        False,
    )
    assert "due for review" in problem.message and "2026-11-25" in problem.message
    assert exit_code([problem]) == 0
    assert check_content(root, date(2026, 11, 25)) == []


def test_difficulty_out_of_range_and_wrong_type(tmp_path: Path) -> None:
    text = question(201).replace("difficulty: 2", "difficulty: 4")
    text += question(202).replace("difficulty: 2", "difficulty: hard")
    problems = check_content(write_content(tmp_path, renal=text), TODAY)
    assert [p.line for p in problems if p.is_error] == [
        line_of(0, "difficulty"),
        line_of(1, "difficulty"),
    ]
    assert "1, 2 or 3" in problems[0].message
    assert "whole number" in problems[1].message


def test_missing_and_misspelt_fields(tmp_path: Path) -> None:
    text = question(201).replace("  explanation:", "  explaination:")
    problems = check_content(write_content(tmp_path, renal=text), TODAY)
    messages = [str(p) for p in problems if p.is_error]
    assert any("'explanation' is missing" in m and "renal.yaml:1:" in m for m in messages)
    assert any(
        f"renal.yaml:{line_of(0, 'explanation')}:" in m and "did you mean 'explanation'" in m
        for m in messages
    ), messages


def test_yaml_syntax_error_names_the_line_and_other_files_still_load(tmp_path: Path) -> None:
    text = question(201) + question(202).replace('stem: "Which', 'stem: "Which: [')
    text = text.replace('"Sodium only"', '"Sodium only', 1)
    root = write_content(tmp_path, renal=text)
    problems = check_content(root, TODAY)
    [problem] = problems
    assert problem.file.name == "renal.yaml" and problem.is_error
    assert problem.message.startswith("YAML syntax error")
    assert line_of(0, "A") <= problem.line <= line_of(0, "B"), str(problem)
    assert [q.id for q in load_bank(root).questions] == [101]


def test_a_file_that_is_not_a_list(tmp_path: Path) -> None:
    root = write_content(tmp_path, renal="id: 201\ntopic: renal\n")
    only_error(check_content(root, TODAY), "renal.yaml", 1, "expected a list of questions")


def test_http_url_and_unknown_resource_topic(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "resources.yaml"
    text = path.read_text().replace("https://example.org", "http://example.org")
    path.write_text(text.replace("topics: [renal]", "topics: [kidneys]"))
    problems = [p for p in check_content(root, TODAY) if p.is_error]
    assert [(p.file.name, p.line) for p in problems] == [
        ("resources.yaml", 14),
        ("resources.yaml", 15),
    ]
    assert "https://" in problems[0].message
    assert "unknown topic 'kidneys'" in problems[1].message


def test_duplicate_resource_id(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "resources.yaml"
    path.write_text(path.read_text().replace("id: kidney-basics", "id: statpearls"))
    only_error(check_content(root, TODAY), "resources.yaml", 12, "statpearls", "already used")


def test_catalog_key_in_french_that_english_lacks(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    with (root / "catalog" / "fr.yaml").open("a") as fr:
        fr.write('bonus: "Un message sans anglais."\n')
    only_error(check_content(root, TODAY), "fr.yaml", 4, "message 'bonus'", "not in English")


def test_catalog_placeholder_mismatch(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "fr.yaml"
    path.write_text(path.read_text().replace("{name}", "{nom}"))
    only_error(
        check_content(root, TODAY),
        "fr.yaml",
        2,
        "message 'welcome'",
        "missing {name}",
        "unknown {nom}",
    )


def test_language_missing_english_keys_is_only_a_warning(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "fr.yaml"
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    problems = check_content(root, TODAY)
    [warning] = problems
    assert warning.severity == "warning" and warning.file.name == "fr.yaml"
    assert "score" in warning.message
    assert exit_code(problems) == 0


def test_english_help_must_fit_one_segment(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "en.yaml"
    path.write_text(path.read_text().replace("STOP to end.", "STOP to end. " + "More. " * 20))
    only_error(check_content(root, TODAY), "en.yaml", 1, "'help'", "must fit one")


def test_catalog_message_over_three_segments_with_sample_values(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    with (root / "catalog" / "en.yaml").open("a") as en:
        en.write('feedback: "Right! ' + "Well done. " * 40 + '{explanation}"\n')
    only_error(check_content(root, TODAY), "en.yaml", 4, "message 'feedback'", "segments")


def test_curly_quote_in_english_catalog_but_not_in_french(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    for name in ("en.yaml", "fr.yaml"):
        path = root / "catalog" / name
        path.write_text(path.read_text().replace("Rounds,", "Rounds\u2019,"))
    only_error(check_content(root, TODAY), "en.yaml", 2, "outside GSM-7", "U+2019")


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    text = question(201, topic="renall", review_by="2001-01-01") + question(201)
    problems = check_content(write_content(tmp_path, renal=text), TODAY)
    assert {(p.line, p.is_error) for p in problems} == {
        (line_of(0, "topic"), True),
        (line_of(0, "review_by"), False),
        (line_of(1, "id"), True),
    }


def test_a_translation_counted_in_ucs2_can_blow_the_budget(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "fr.yaml"
    # "→" is outside GSM-7 and has no plain form: 220 characters of French cost four UCS-2 segments.
    long_score = "Serie {streak}, precision {accuracy} %. " + "En forme \u2192 bravo. " * 10
    path.write_text(path.read_text().replace('"Serie {streak}, precision {accuracy} %."', f'"{long_score}"'))
    only_error(check_content(root, TODAY), "fr.yaml", 3, "message 'score'", "4 SMS segments")


def test_letters_sms_folds_do_not_count_as_ucs2(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "fr.yaml"
    # "ê" is outside GSM-7, but SMS sends it as "e": 210 characters are two GSM-7 segments.
    long_score = "Serie {streak}, precision {accuracy} %. " + "Vous êtes en forme. " * 9
    path.write_text(path.read_text().replace('"Serie {streak}, precision {accuracy} %."', f'"{long_score}"'))
    assert check_content(root, TODAY) == []


def test_help_must_fit_one_sms_segment_in_every_language(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "fr.yaml"
    path.write_text(path.read_text().replace("STOP pour arreter.", "STOP pour arrêter. " + "Encore. " * 12))
    only_error(check_content(root, TODAY), "fr.yaml", 1, "'help'", "must fit one")


def test_render_question_reads_the_same_for_bank_and_stored_questions(tmp_path: Path) -> None:
    [item] = [q for q in load_bank(write_content(tmp_path)).questions if q.id == 201]
    expected = (
        "Q201 After high-dose IV diuretic, which electrolyte should be replaced first?\n"
        "A) Sodium only\nB) Potassium\nC) Phosphate\nD) Bicarbonate"
    )
    assert render_question(item) == expected
    stored = Question(id=201, stem=item.stem + " ", options=dict(reversed(item.options.items())))
    assert render_question(stored) == expected
    curly = Question(id=7, stem="It\u2019s \u201cwhich\u201d\u2026", options={"A": "x\u2013y"})
    assert render_question(curly) == 'Q7 It\'s "which"...\nA) x-y'


def test_unbalanced_brace_in_english_is_reported_not_raised(tmp_path: Path) -> None:
    root = write_content(tmp_path)
    path = root / "catalog" / "en.yaml"
    path.write_text(path.read_text().replace("{time}.", "{time."))
    only_error(check_content(root, TODAY), "en.yaml", 2, "message 'welcome'", "placeholder")


YAML_BITS = st.sampled_from(
    [
        "- ",
        "id: ",
        "answer: ",
        "options:\n",
        "  A: ",
        "[",
        "]",
        "{",
        "}",
        "\n",
        "  ",
        "'",
        '"',
        "&a ",
        "*a",
        "<<: ",
        "2027-02-30",
        "1.50",
        "no",
        "null",
        "~",
        ": ",
        "renal",
        "\u2019",
        "\t",
    ]
)


# tmp_path is shared by the examples; each one rewrites every file it uses.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    questions=st.lists(YAML_BITS, max_size=30).map("".join),
    catalog=st.lists(YAML_BITS, max_size=20).map("".join),
)
def test_any_file_text_gives_problems_never_an_exception(
    tmp_path: Path, questions: str, catalog: str
) -> None:
    root = write_content(tmp_path, renal=questions)
    (root / "catalog" / "fr.yaml").write_text(catalog)
    problems = check_content(root, TODAY)
    assert all(isinstance(p, Problem) and p.line >= 1 for p in problems)
