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


@pytest.fixture
def content(tmp_path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(BUNDLED, root, ignore=shutil.ignore_patterns("programs"))
    (root / "programs").mkdir()
    shutil.copy(FIXTURE, root / "programs" / "tst.yaml")
    return root


def messages(root: Path) -> list[str]:
    return [f"{p.file.name}: {p.message}" for p in check_bank(load_bank(root), TODAY) if p.is_error]


def test_the_fixture_program_is_clean(content):
    assert [m for m in messages(content) if "tst.yaml" in m] == []


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
        FIXTURE.read_text().replace("[1103]", "[424242]"), encoding="utf-8"
    )
    result = runner.invoke(args=["content", "check", str(content)])
    assert result.exit_code == 1 and "no question 424242 in the bank" in result.output


def test_loading_programs_is_idempotent_and_keeps_removed_ones(db, content, now):
    first = load_content(db, content, now.date())
    assert first.programs.inserted == 1
    program = db.scalar(select(Program).where(Program.code == "TST"))
    assert program.days == 4 and program.questions == 5 and program.title["fr"] == "Bases des études"
    days = db.scalars(
        select(ProgramDay).where(ProgramDay.program_id == program.id).order_by(ProgramDay.day)
    ).all()
    assert [d.questions for d in days] == [[1112], [1105, 1104], [1103], [1101]]
    again = load_content(db, content, now.date())
    assert again.programs.unchanged == 1 and not again.changed
    (content / "programs" / "tst.yaml").unlink()
    gone = load_content(db, content, now.date())
    assert gone.programs.deactivated == 1
    assert db.scalar(select(Program.active).where(Program.code == "TST")) is False
