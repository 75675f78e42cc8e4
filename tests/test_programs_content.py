"""Programs as content: `rounds content check` holds every program day to the shared format's rules,
and `rounds content load` upserts programs/*.yaml idempotently and closes removed ones."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from content import BUNDLED
from content.bank import load_bank
from content.check import check_bank
from content.load import load_content
from store.programs import Program, ProgramDay
from tests.programs_support import FIXTURE

TODAY = date(2026, 12, 5)
BAD = """
code: bad-1
title: {en: "A title that is far too long for any phone", fr: "Titre", es: "Titulo"}
summary: {en: "One line", fr: "Une ligne"}
days:
  - lesson: {en: "Fine", fr: "Bien", es: "Bien"}
    questions: [99999]
  - lesson: {en: "%s", fr: "x", es: "x"}
    questions: []
"""


# The fixture's day 2 asks two questions, for the transcript's two-question path; by SMS that is
# 5 segments, over a day's budget, so the content the checker must pass asks only the first.
WITHIN_BUDGET = FIXTURE.read_text(encoding="utf-8").replace("[1105, 1104]", "[1105]")


@pytest.fixture
def content(tmp_path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(BUNDLED, root, ignore=shutil.ignore_patterns("programs"))
    (root / "programs").mkdir()
    (root / "programs" / "tst.yaml").write_text(WITHIN_BUDGET, encoding="utf-8")
    return root


def messages(root: Path) -> list[str]:
    return [f"{p.file.name}: {p.message}" for p in check_bank(load_bank(root), TODAY) if p.is_error]


def test_the_fixture_program_is_clean(content):
    assert [m for m in messages(content) if "tst.yaml" in m] == []


def test_a_day_over_the_sms_budget_is_refused_in_every_language_it_is_over(content, runner):
    shutil.copy(FIXTURE, content / "programs" / "tst.yaml")
    assert [m for m in messages(content) if "tst.yaml" in m] == [
        "tst.yaml: program TST day 2 is over the SMS budget: 5 segments in en, 5 segments in fr, "
        "5 segments in es as a student receives it (questions, verdicts, lesson); at most 4 a day. "
        "Shorten the lesson or ask fewer or shorter questions"
    ]
    result = runner.invoke(args=["content", "check", str(content)])
    assert result.exit_code == 1 and "program TST day 2 is over the SMS budget" in result.output
    # A lesson that fits two segments under its 9-character label `TST 2/4: ` but not after the
    # 13-character verdict `No, es la A. ` it is sent with: a one-question day over, in Spanish only.
    lesson = ("Las cohortes siguen la exposición y dan un riesgo relativo. " * 5)[:295].strip()
    (content / "programs" / "tst.yaml").write_text(
        WITHIN_BUDGET.replace(
            "Los casos y controles parten del desenlace: odds ratio (a x d)/(b x c). Las cohortes siguen "
            "la exposición: riesgo relativo.",
            lesson,
        ),
        encoding="utf-8",
    )
    assert [m for m in messages(content) if "tst.yaml" in m] == [
        "tst.yaml: program TST day 2 is over the SMS budget: 5 segments in es as a student receives "
        "it (questions, verdicts, lesson); at most 4 a day. Shorten the lesson or ask fewer or shorter "
        "questions"
    ]


def test_the_bundled_programs_are_within_the_day_budget():
    assert [p.message for p in check_bank(load_bank(BUNDLED), TODAY) if "SMS budget" in p.message] == []


def test_every_rule_of_the_format_is_checked(content):
    (content / "programs" / "bad.yaml").write_text(BAD % ("Too long. " * 40), encoding="utf-8")
    found = [m for m in messages(content) if m.startswith("bad.yaml")]
    assert any("has no es text" in m for m in found)
    bank = load_bank(content)
    assert [p.code for p in bank.programs] == ["TST"]  # a program with a missing language is not loaded
    # With the language added, the rules past reading apply.
    fixed = BAD.replace('fr: "Une ligne"}', 'fr: "Une ligne", es: "Una linea"}') % ("Too long. " * 40)
    (content / "programs" / "bad.yaml").write_text(fixed, encoding="utf-8")
    found = [m for m in messages(content) if m.startswith("bad.yaml")]
    assert any("code 'bad-1' must be 2-8 capital letters or digits" in m for m in found)
    assert any("title (en) is 42 chars; at most 30" in m for m in found)
    assert any("day 1: no question 99999 in the bank" in m for m in found)
    assert any("day 2: 0 questions; 1 to 3" in m for m in found)
    assert any("day 2 lesson (en) is 3 SMS segments with its label; at most 2" in m for m in found)


def test_content_check_command_fails_on_a_bad_program(content, runner):
    assert runner.invoke(args=["content", "check", str(content)]).exit_code == 0
    (content / "programs" / "tst.yaml").write_text(
        WITHIN_BUDGET.replace("[1103]", "[424242]"), encoding="utf-8"
    )
    result = runner.invoke(args=["content", "check", str(content)])
    assert result.exit_code == 1 and "no question 424242 in the bank" in result.output


def test_loading_programs_is_idempotent_and_keeps_removed_ones(db, content, now):
    first = load_content(db, content, now.date())
    assert first.programs.inserted == 1
    program = db.scalar(select(Program).where(Program.code == "TST"))
    assert program.days == 4 and program.questions == 4 and program.title["fr"] == "Bases des études"
    days = db.scalars(
        select(ProgramDay).where(ProgramDay.program_id == program.id).order_by(ProgramDay.day)
    ).all()
    assert [d.questions for d in days] == [[1112], [1105], [1103], [1101]]
    again = load_content(db, content, now.date())
    assert again.programs.unchanged == 1 and not again.changed
    (content / "programs" / "tst.yaml").unlink()
    gone = load_content(db, content, now.date())
    assert gone.programs.deactivated == 1
    assert db.scalar(select(Program.active).where(Program.code == "TST")) is False
