"""The bundled programs (content/data/programs/*.yaml) against the shared program format.

Reads the files with plain PyYAML and content.segments: format, languages, each lesson's SMS
budget with its `ECG 5/14: ` label, questions in the bank; and the cost of each program day as a
student receives it by SMS, counted by `content.programs.day_segments` (what `rounds content
check` holds to 4 a day). `python -m tests.test_program_content` prints the cost per program.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from content import content_root
from content.bank import Bank, load_bank
from content.check import program_day_texts
from content.programs import DAY_SEGMENTS, day_segments
from content.segments import count, for_channel

PROGRAMS = content_root() / "programs"
LANGUAGES = tuple(sorted(p.stem for p in (content_root() / "catalog").glob("*.yaml")))
CODE = re.compile(r"[A-Z0-9]{2,8}")
KEYS = {"code", "title", "summary", "tracks", "review", "days"}
REVIEW_KEYS = {"by", "date", "review_by"}
TITLE_MAX, SUMMARY_MAX = 30, 60
PREFIX_MAX = 12  # "PLAB 21/21: ": the label the program-day push puts before a lesson
LESSON_SEGMENTS = 2
WEEK_AVERAGE = 3.2  # segments per student-day over any 7 program days (issue 15)


def program_files() -> list[Path]:
    return sorted(PROGRAMS.glob("*.yaml"))


def read_program(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict), f"{path.name}: a program is a mapping"
    return data


def prefix(code: str, day: int, days: int) -> str:
    """The push label, padded to the longest one allowed so budgets hold for any code."""
    return f"{code} {day}/{days}: ".ljust(PREFIX_MAX)


def sms(text: str) -> str:
    return for_channel(text, "sms")


def format_problems(path: Path, program: dict[str, Any], bank: Bank) -> list[str]:
    """What is wrong with one program file's shape, languages, review and questions."""
    out: list[str] = []
    code = program.get("code")
    if set(program) != KEYS:
        out.append(f"keys {sorted(program)}; expected {sorted(KEYS)}")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        out.append(f"code {code!r} is not 2-8 uppercase letters or digits")
    elif path.stem != code.lower():
        out.append(f"file {path.name} should be named {code.lower()}.yaml")
    for field, limit in (("title", TITLE_MAX), ("summary", SUMMARY_MAX)):
        texts = program.get(field)
        if not isinstance(texts, dict) or set(texts) != set(LANGUAGES):
            out.append(f"{field} must give exactly {', '.join(LANGUAGES)}")
            continue
        for language, text in texts.items():
            if not isinstance(text, str) or not text.strip() or len(text) > limit:
                out.append(f"{field}.{language} must be 1-{limit} characters: {text!r}")
    tracks = program.get("tracks")
    if not isinstance(tracks, list) or not set(tracks) <= bank.taxonomy.track_keys:
        out.append(f"tracks {tracks!r} must be a list of track keys")
        tracks = []
    review = program.get("review")
    if not isinstance(review, dict) or set(review) != REVIEW_KEYS:
        out.append(f"review must have exactly {sorted(REVIEW_KEYS)}")
    else:
        if "clinician" in review["by"] and "not yet" not in review["by"]:
            out.append("review.by claims a clinician's review")
        if not (isinstance(review["date"], date) and isinstance(review["review_by"], date)):
            out.append("review.date and review.review_by must be YYYY-MM-DD")
        elif review["review_by"] <= review["date"]:
            out.append("review.review_by must come after review.date")
    days = program.get("days")
    if not isinstance(days, list) or not days:
        return out + ["days must be a non-empty list"]
    questions = {q.id: q for q in bank.questions}
    seen: set[int] = set()
    for number, day in enumerate(days, start=1):
        if not isinstance(day, dict) or set(day) != {"lesson", "questions"}:
            out.append(f"day {number}: needs exactly lesson and questions")
            continue
        lesson = day["lesson"]
        if not isinstance(lesson, dict) or set(lesson) != set(LANGUAGES):
            out.append(f"day {number}: lesson must give exactly {', '.join(LANGUAGES)}")
        elif not all(isinstance(t, str) and t.strip() for t in lesson.values()):
            out.append(f"day {number}: a lesson text is empty")
        ids = day["questions"]
        if not isinstance(ids, list) or not 1 <= len(ids) <= 3:
            out.append(f"day {number}: 1-3 questions, not {ids!r}")
            continue
        for ident in ids:
            question = questions.get(ident)
            if question is None:
                out.append(f"day {number}: question {ident} is not in the bank")
            elif tracks and not set(question.tracks) & set(tracks):
                out.append(f"day {number}: question {ident} is for {question.tracks}, not {tracks}")
            if ident in seen:
                out.append(f"day {number}: question {ident} is used twice in the program")
            seen.add(ident)
    return out


def lesson_problems(program: dict[str, Any]) -> list[str]:
    """Each lesson, with its label and the accents GSM-7 lacks folded, in 2 GSM-7 segments."""
    out = []
    days = program["days"]
    for number, day in enumerate(days, start=1):
        for language, text in day["lesson"].items():
            sent = sms(prefix(program["code"], number, len(days)) + text.strip())
            counted = count(sent)
            if counted.encoding != "GSM-7" or counted.segments > LESSON_SEGMENTS:
                out.append(
                    f"day {number} {language}: {counted.units} {counted.encoding} units = "
                    f"{counted.segments} segments with the label; at most {LESSON_SEGMENTS} GSM-7"
                )
    return out


def day_costs(bank: Bank, code: str, language: str) -> list[int]:
    """Each day of the bundled program `code` in SMS segments as a `language` student receives it."""
    (program,) = [p for p in bank.programs if p.code == code]
    texts = program_day_texts(bank)
    assert texts is not None
    return [day_segments(program, n, language, texts) for n in range(1, len(program.days) + 1)]


def week_averages(costs: list[int]) -> list[float]:
    """The average over every run of 7 consecutive program days (or all of them if fewer)."""
    width = min(7, len(costs))
    return [sum(costs[i : i + width]) / width for i in range(len(costs) - width + 1)]


def cost_report(bank: Bank) -> list[str]:
    lines = []
    for path in program_files():
        program = read_program(path)
        for language in LANGUAGES:
            costs = day_costs(bank, program["code"], language)
            lines.append(
                f"{program['code']:<5} {language}: {len(costs)} days, segments a day "
                f"{' '.join(map(str, costs))}; max {max(costs)}/day, average {sum(costs) / len(costs):.2f}, "
                f"worst week {max(week_averages(costs)):.2f}/day"
            )
    return lines


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank(content_root())


def test_three_programs_are_bundled() -> None:
    codes = {read_program(p)["code"] for p in program_files()}
    assert {"ECG", "AMS", "PLAB"} <= codes
    assert LANGUAGES == ("en", "es", "fr")


@pytest.mark.parametrize("path", program_files(), ids=lambda p: p.stem)
def test_program_follows_the_format(path: Path, bank: Bank) -> None:
    assert format_problems(path, read_program(path), bank) == []


@pytest.mark.parametrize("path", program_files(), ids=lambda p: p.stem)
def test_every_lesson_fits_two_segments_with_its_label(path: Path) -> None:
    assert lesson_problems(read_program(path)) == []


@pytest.mark.parametrize("path", program_files(), ids=lambda p: p.stem)
def test_program_days_stay_within_the_sms_cost(path: Path, bank: Bank) -> None:
    """Each day as received (questions, verdicts, lesson) within 4 segments and 3.2 a day over any
    week, in every language."""
    code = read_program(path)["code"]
    for language in LANGUAGES:
        costs = day_costs(bank, code, language)
        assert max(costs) <= DAY_SEGMENTS, (language, costs)
        assert max(week_averages(costs)) <= WEEK_AVERAGE, (language, costs)


def test_checks_catch_a_long_lesson_a_missing_language_and_an_unknown_question(
    tmp_path: Path, bank: Bank
) -> None:
    program = read_program(PROGRAMS / "ecg.yaml")
    program["days"][0]["lesson"]["fr"] = "é" * 20 + "x" * 290  # folds to GSM-7, but 3 segments
    del program["days"][1]["lesson"]["es"]
    program["days"][2]["questions"] = [99999]
    assert lesson_problems({**program, "days": program["days"][:1]}) == [
        "day 1 fr: 322 GSM-7 units = 3 segments with the label; at most 2 GSM-7"
    ]
    problems = format_problems(tmp_path / "ecg.yaml", program, bank)
    assert problems == [
        "day 2: lesson must give exactly en, es, fr",
        "day 3: question 99999 is not in the bank",
    ]
    assert format_problems(tmp_path / "heart.yaml", {**program, "tracks": ["step1"]}, bank)[0] == (
        "file heart.yaml should be named ecg.yaml"
    )


def test_week_averages_slide_over_seven_days() -> None:
    assert week_averages([3] * 6 + [5]) == [pytest.approx(3 + 2 / 7)]
    assert week_averages([2, 4]) == [3.0]
    assert week_averages([3] * 7 + [6]) == [3.0, pytest.approx(3 + 3 / 7)]


if __name__ == "__main__":
    print("\n".join(cost_report(load_bank(content_root()))))
