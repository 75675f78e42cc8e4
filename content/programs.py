"""Programs as content: `programs/<code>.yaml`, an ordered list of days, each a micro-lesson in
en/fr/es and one to three questions from the bank, read into typed records and checked.

The format is the shared one (README, "Programs"); `check_programs` holds its rules: the code, the
languages, each lesson within two SMS segments with its `ECG 5/14: ` label, questions that exist,
and each day as a student receives it by SMS (questions, verdicts, lesson) within four segments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from content.catalog import Catalog
from content.report import Problem, Report
from content.segments import SMS, count, for_channel, is_gsm7, normalise
from content.source import Fields, LineDict, read_yaml

LANGUAGES = ("en", "fr", "es")
CODE = re.compile(r"[A-Z0-9]{2,8}")
TITLE_MAX, SUMMARY_MAX = 30, 60
LESSON_SEGMENTS = 2
# A program day by SMS, all its texts together (issue 15's cost line), in every language.
DAY_SEGMENTS = 4
# A question goes out fitted to two segments (flows/quiz.py cuts a longer stem); three when even
# folded it is not GSM-7.
QUESTION_SEGMENTS, QUESTION_SEGMENTS_UCS2 = 2, 3
# What the completion text's certificate code looks like (store/programs.py draws them).
SAMPLE_CERTIFICATE = "RND-7K3P9Q"
QUESTIONS_PER_DAY = (1, 3)
PROGRAM_FIELDS = ("code", "title", "summary", "tracks", "review", "days")
DAY_FIELDS = ("lesson", "questions")


@dataclass(frozen=True)
class ProgramDay:
    lesson: dict[str, str]
    questions: tuple[int, ...]
    line: int


@dataclass(frozen=True, eq=False)
class ProgramItem:
    """One program as written in programs/<code>.yaml."""

    code: str
    title: dict[str, str]
    summary: dict[str, str]
    tracks: tuple[str, ...]
    review: dict[str, str]
    days: tuple[ProgramDay, ...]
    file: Path
    line: int = 1
    lines: dict[str, int] = field(default_factory=dict)


def day_label(code: str, day: int, days: int) -> str:
    """The prefix a program day's push starts with: `ECG 5/14: `."""
    return f"{code} {day}/{days}: "


def _languages(f: Fields, name: str, value: object) -> dict[str, str]:
    if not isinstance(value, LineDict):
        f.fail(name, f"'{name}' must give the text in each language ({{en: ..., fr: ..., es: ...}})")
        return {}
    texts = {str(k): v for k, v in value.items()}
    for language in LANGUAGES:
        if not isinstance(texts.get(language), str) or not texts[language].strip():
            f.fail(name, f"'{name}' has no {language} text; every program needs en, fr and es")
    return {k: str(v).strip() for k, v in texts.items() if isinstance(v, str)}


def read_program(path: Path, problems: list[Problem]) -> ProgramItem | None:
    """One program file, or None (with its problems) when it cannot be read."""
    data, trouble = read_yaml(path)
    problems += trouble
    if trouble:
        return None
    if not isinstance(data, LineDict):
        problems.append(Problem(path, 1, "expected a program (code:, title:, days: ...)"))
        return None
    f = Fields(data, path, f"program {data.get('code', path.stem)}", problems)
    code = f.text("code")
    title = _languages(f, "title", data.get("title"))
    summary = _languages(f, "summary", data.get("summary"))
    tracks = f.words("tracks", required=False)
    review_value = data.get("review")
    review = {str(k): str(v) for k, v in review_value.items()} if isinstance(review_value, LineDict) else {}
    days = []
    raw_days = data.get("days")
    if not isinstance(raw_days, list) or not raw_days:
        f.fail("days", "'days' must be a list of days (- lesson: ... questions: [...])")
        raw_days = []
    for index, item in enumerate(raw_days, start=1):
        if not isinstance(item, LineDict):
            f.fail("days", f"day {index} must be a mapping with lesson and questions")
            continue
        d = Fields(item, path, f"program {code} day {index}", problems)
        lesson = _languages(d, "lesson", item.get("lesson"))
        questions = item.get("questions")
        if not isinstance(questions, list) or not all(
            isinstance(q, int) and not isinstance(q, bool) for q in questions
        ):
            d.fail("questions", "'questions' must be a list of question ids like [112]")
            questions = []
        d.unknown(DAY_FIELDS)
        f.ok = f.ok and d.ok
        days.append(ProgramDay(lesson, tuple(questions), item.line))
    f.unknown(PROGRAM_FIELDS)
    if not f.ok:
        return None
    return ProgramItem(code, title, summary, tracks, review, tuple(days), path, data.line, f.lines())


def read_programs(root: Path, problems: list[Problem]) -> list[ProgramItem]:
    """Every `programs/*.yaml` under the content root (none is fine)."""
    found = []
    for path in sorted((root / "programs").glob("*.yaml")):
        program = read_program(path, problems)
        if program is not None:
            found.append(program)
    return found


def sms_length(text: str) -> int:
    """SMS segments of a text as it would go out by SMS."""
    return count(for_channel(normalise(text), "sms")).segments


@dataclass(frozen=True)
class QuestionText:
    """A bank question's words in one language, as a program day sends them."""

    stem: str
    options: Mapping[str, str]


@dataclass(frozen=True)
class DayTexts:
    """What a program day's cost is computed from: the message catalog and each question's text
    by (id, language), the English under "en" (a student without a translation gets the English)."""

    catalog: Catalog
    questions: Mapping[tuple[int, str], QuestionText]


def _question_cost(texts: DayTexts, prefix: str, question_id: int, language: str) -> int:
    question = texts.questions.get((question_id, language)) or texts.questions.get((question_id, "en"))
    if question is None:
        return 0  # an unknown question is reported on its own
    options = "\n".join(f"{letter}) {str(text).strip()}" for letter, text in sorted(question.options.items()))
    sent = for_channel(
        prefix
        + texts.catalog.render(
            "question", language, id=question_id, stem=question.stem.strip(), options=options
        ),
        SMS,
    )
    # The send path fits a question to its budget (cutting the stem), so it never costs more.
    return min(count(sent).segments, QUESTION_SEGMENTS if is_gsm7(sent) else QUESTION_SEGMENTS_UCS2)


def day_segments(program: ProgramItem, number: int, language: str, texts: DayTexts) -> int:
    """SMS segments of day `number` as a student in `language` receives it (flows/programs.py): the
    first question under the day's label; each further question with the previous one's verdict; the
    lesson with the last verdict (the longer of right and wrong), and after the last day the
    completion text. bench/cost.py counts the same texts as they are sent."""
    day, total = program.days[number - 1], len(program.days)
    catalog = texts.catalog
    verdict = max(
        (catalog.render(key, language, answer="A") for key in ("program_right", "program_wrong")), key=len
    )
    cost = 0
    for index, question_id in enumerate(day.questions):
        prefix = day_label(program.code, number, total) if index == 0 else f"{verdict}\n"
        cost += _question_cost(texts, prefix, question_id, language)
    lesson = day.lesson.get(language) or day.lesson.get("en", "")
    closing = catalog.render("program_lesson", language, verdict=verdict, lesson=lesson)
    if number == total:
        title = program.title.get(language) or program.title.get("en", "")
        closing += "\n" + catalog.render("program_done", language, title=title, code=SAMPLE_CERTIFICATE)
    return cost + sms_length(closing)


def check_programs(
    programs: list[ProgramItem],
    question_ids: set[int],
    track_keys: frozenset[str],
    out: Report,
    costs: DayTexts | None = None,
) -> None:
    """The shared format's rules, every problem with its file and line; with `costs` (the texts a
    day's cost is counted from), each day's SMS segments too."""
    seen: dict[str, Path] = {}
    for program in programs:
        file, code = program.file, program.code
        line = program.lines.get("code", program.line)
        if not CODE.fullmatch(code):
            out.error(file, line, f"program code {code!r} must be 2-8 capital letters or digits")
        elif code in seen:
            out.error(file, line, f"program code {code} is also used by {seen[code]}")
        seen.setdefault(code, file)
        if file.stem != code.lower():
            out.error(file, line, f"program {code} belongs in programs/{code.lower()}.yaml")
        for name, texts, limit in (
            ("title", program.title, TITLE_MAX),
            ("summary", program.summary, SUMMARY_MAX),
        ):
            for language, text in texts.items():
                if len(normalise(text)) > limit:
                    where = program.lines.get(name, program.line)
                    out.error(
                        file,
                        where,
                        f"program {code} {name} ({language}) is {len(text)} chars; at most {limit}",
                    )
        for track in program.tracks:
            if track not in track_keys:
                out.error(
                    file,
                    program.lines.get("tracks", program.line),
                    f"program {code}: unknown track {track!r}",
                )
        total = len(program.days)
        for number, day in enumerate(program.days, start=1):
            low, high = QUESTIONS_PER_DAY
            if not low <= len(day.questions) <= high:
                out.error(
                    file, day.line, f"program {code} day {number}: {len(day.questions)} questions; 1 to 3"
                )
            for question_id in day.questions:
                if question_id not in question_ids:
                    out.error(
                        file, day.line, f"program {code} day {number}: no question {question_id} in the bank"
                    )
            lessons_fit = True
            for language, lesson in day.lesson.items():
                segments = sms_length(day_label(code, number, total) + lesson)
                if segments > LESSON_SEGMENTS:
                    lessons_fit = False
                    out.error(
                        file,
                        day.line,
                        f"program {code} day {number} lesson ({language}) is {segments} SMS segments "
                        f"with its label; at most {LESSON_SEGMENTS}",
                    )
                if language == "en":
                    out.english(file, day.line, f"program {code} day {number} lesson", lesson)
            if costs is not None and lessons_fit:  # an over-long lesson is reported as that, once
                _check_day_cost(program, number, costs, out)


def _check_day_cost(program: ProgramItem, number: int, costs: DayTexts, out: Report) -> None:
    """Day `number` within DAY_SEGMENTS by SMS in each of its languages, one problem for the day."""
    spent = {
        language: day_segments(program, number, language, costs)
        for language in program.days[number - 1].lesson
    }
    over = {language: n for language, n in spent.items() if n > DAY_SEGMENTS}
    if over:
        each = ", ".join(f"{n} segments in {language}" for language, n in over.items())
        out.error(
            program.file,
            program.days[number - 1].line,
            f"program {program.code} day {number} is over the SMS budget: {each} as a student receives "
            f"it (questions, verdicts, lesson); at most {DAY_SEGMENTS} a day. Shorten the lesson or ask "
            "fewer or shorter questions",
        )
