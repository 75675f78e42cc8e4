"""The bundled programs (content/data/programs/*.yaml) against the shared program format.

Reads the files with plain PyYAML and content.segments, so it runs before any program
loader exists: format, languages, each lesson's SMS budget with its `ECG 5/14: ` label,
questions in the bank, and the cost of a program day. `python -m tests.test_program_content`
prints the cost projection per program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from content import content_root
from content.bank import Bank, load_bank, render_question
from content.segments import count, for_channel

PROGRAMS = content_root() / "programs"
LANGUAGES = tuple(sorted(p.stem for p in (content_root() / "catalog").glob("*.yaml")))
CODE = re.compile(r"[A-Z0-9]{2,8}")
KEYS = {"code", "title", "summary", "tracks", "review", "days"}
REVIEW_KEYS = {"by", "date", "review_by"}
TITLE_MAX, SUMMARY_MAX = 30, 60
PREFIX_MAX = 12  # "PLAB 21/21: ": the label the program-day push puts before a lesson
LESSON_SEGMENTS = 2
DAY_SEGMENTS = 4  # a program day on SMS, lesson and questions packed (issue 15)
WEEK_AVERAGE = 3.2  # segments per student-day over any 7 program days (issue 15)
FEEDBACK_SEGMENTS = 1  # each answer's feedback fits one segment (content/README.md)


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


@dataclass(frozen=True)
class DayCost:
    lesson: int  # the labelled lesson alone
    push: int  # the lesson and questions as sent, packed into as few texts as the budget allows
    feedback: int  # one feedback per answered question

    @property
    def total(self) -> int:
        return self.push + self.feedback


def day_cost(program: dict[str, Any], number: int, language: str, bank: Bank) -> DayCost:
    """A program day on SMS: label, lesson and first question in one text; further questions alone."""
    questions = {q.id: q for q in bank.questions}
    day = program["days"][number - 1]
    lesson = prefix(program["code"], number, len(program["days"])) + day["lesson"][language].strip()
    rendered = [render_question(questions[i]) for i in day["questions"]]
    push = count(sms(lesson + "\n" + rendered[0])).segments
    push += sum(count(sms(text)).segments for text in rendered[1:])
    return DayCost(count(sms(lesson)).segments, push, FEEDBACK_SEGMENTS * len(rendered))


def week_averages(costs: list[int]) -> list[float]:
    """The average over every run of 7 consecutive program days (or all of them if fewer)."""
    width = min(7, len(costs))
    return [sum(costs[i : i + width]) / width for i in range(len(costs) - width + 1)]


def cost_report(bank: Bank) -> list[str]:
    lines = []
    for path in program_files():
        program = read_program(path)
        days = range(1, len(program["days"]) + 1)
        for language in LANGUAGES:
            costs = [day_cost(program, n, language, bank) for n in days]
            push = week_averages([c.push for c in costs])
            total = week_averages([c.total for c in costs])
            one = sum(c.lesson == 1 for c in costs)
            lines.append(
                f"{program['code']:<5} {language}: {len(costs)} days, lessons in 1 segment "
                f"{one}/{len(costs)}; push max {max(c.push for c in costs)}/day, worst week "
                f"{max(push):.2f}/day; with feedback max {max(c.total for c in costs)}/day, "
                f"worst week {max(total):.2f}/day"
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
    """The push (lesson and questions) within 4 segments a day and 3.2 over any week, in every language."""
    program = read_program(path)
    for language in LANGUAGES:
        costs = [day_cost(program, n, language, bank).push for n in range(1, len(program["days"]) + 1)]
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
