"""`load_content`: upsert the checked question bank and resources into the database by id.

Idempotent, and history-safe: an item removed from the files is marked inactive,
never deleted, so students' attempts and cards keep pointing at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from content.bank import QuestionItem, ResourceItem, load_bank
from content.check import check_bank
from content.programs import ProgramItem
from content.report import WARNING, Problem
from store.corrections import corrected_keys
from store.models import Question, Resource
from store.programs import Program, ProgramDay

_Content = TypeVar("_Content", Question, Resource)

# Any fixed number: the PostgreSQL advisory lock that serialises concurrent loads.
_LOAD_LOCK = 0x524F554E  # "ROUN"


class ContentError(Exception):
    """The content has errors; nothing was loaded. `problems` lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.is_error]
        super().__init__(f"content has {len(errors)} error(s); run `rounds content check`")


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0

    def __str__(self) -> str:
        return (
            f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deactivated} deactivated"
        )


@dataclass
class LoadReport:
    questions: Counts = field(default_factory=Counts)
    resources: Counts = field(default_factory=Counts)
    programs: Counts = field(default_factory=Counts)
    warnings: list[Problem] = field(default_factory=list)
    # Corrected keys a file would have undone (also among the warnings), for the command to show.
    kept_keys: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        counts = (self.questions, self.resources, self.programs)
        return any(c.inserted or c.updated or c.deactivated for c in counts)

    def __str__(self) -> str:
        return f"questions: {self.questions}\nresources: {self.resources}\nprograms: {self.programs}"


def _question_values(q: QuestionItem) -> dict[str, Any]:
    return {
        "topic": q.topic,
        "tracks": list(q.tracks),
        "difficulty": q.difficulty,
        "stem": q.stem,
        "options": dict(sorted(q.options.items())),
        "answer": q.answer,
        "explanation": q.explanation,
        "reviewer": q.reviewer,
        "review_by": q.review_by,
    }


def _resource_values(r: ResourceItem) -> dict[str, Any]:
    return {
        "title": r.title,
        "url": r.url,
        "topics": list(r.topics),
        "kind": r.kind,
        "languages": list(r.languages),
        "note": r.note or None,
    }


def _sync(session: Session, model: type[_Content], wanted: dict[Any, dict[str, Any]]) -> Counts:
    """Make the table match `wanted` (id -> column values) without deleting a row."""
    counts = Counts()
    existing = {row.id: row for row in session.scalars(select(model))}
    for ident, values in wanted.items():
        values = {**values, "active": True}
        row = existing.get(ident)
        if row is None:
            session.add(model(id=ident, **values))
            counts.inserted += 1
            continue
        # Assign only what differs, so an unchanged row is not rewritten (nor its updated_at).
        changed = {name: value for name, value in values.items() if getattr(row, name) != value}
        for name, value in changed.items():
            setattr(row, name, value)
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    for ident, row in existing.items():
        if ident not in wanted and row.active:
            row.active = False
            counts.deactivated += 1
    session.flush()
    return counts


def _keep_corrected_keys(
    session: Session, items: list[QuestionItem], wanted: dict[int, dict[str, Any]]
) -> list[Problem]:
    """A key corrected with `rounds content retract --key` stays, whatever an older file says: a
    load must not quietly teach the wrong answer again. Each such file gets a warning to update."""
    corrected = corrected_keys(session)
    problems = []
    for item in items:
        key = corrected.get(item.id)
        if key is not None and item.answer != key:
            wanted[item.id]["answer"] = key
            problems.append(
                Problem(
                    item.file,
                    item.lines.get("answer", item.line),
                    f"question {item.id}'s key was corrected to {key} (rounds content retract); the file "
                    f"still says {item.answer}: the database keeps {key}, update the file",
                    WARNING,
                )
            )
    return problems


def load_content(session: Session, root: Path | str | None, today: date) -> LoadReport:
    """Check the content under `root`, then upsert it; the caller commits the session.

    Raises ContentError, changing nothing, when the check finds any error.
    """
    bank = load_bank(root)
    problems = check_bank(bank, today)
    if any(p.is_error for p in problems):
        raise ContentError(problems)
    # Two loads at once (two deploys) would race to insert the same ids; SQLite's
    # BEGIN IMMEDIATE already serialises writers, PostgreSQL needs a lock.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOAD_LOCK})
    questions = {q.id: _question_values(q) for q in bank.questions}
    kept = _keep_corrected_keys(session, bank.questions, questions)
    return LoadReport(
        questions=_sync(session, Question, questions),
        resources=_sync(session, Resource, {r.id: _resource_values(r) for r in bank.resources}),
        programs=sync_programs(session, bank.programs),
        warnings=problems + kept,
        kept_keys=kept,
    )


def sync_programs(session: Session, programs: list[ProgramItem]) -> Counts:
    """Programs and their days by code; a program no longer in the files is closed, never deleted
    (its enrolments and certificates keep pointing at it)."""
    counts = Counts()
    existing = {p.code: p for p in session.scalars(select(Program))}
    for item in programs:
        values = {
            "title": dict(item.title),
            "summary": dict(item.summary),
            "tracks": list(item.tracks),
            "days": len(item.days),
            "questions": sum(len(d.questions) for d in item.days),
            "active": True,
        }
        program = existing.get(item.code)
        if program is None:
            program = Program(code=item.code, **values)
            session.add(program)
            session.flush()
            counts.inserted += 1
            changed = True
        else:
            changes = {k: v for k, v in values.items() if getattr(program, k) != v}
            for name, value in changes.items():
                setattr(program, name, value)
            changed = bool(changes)
        days = {
            d.day: d for d in session.scalars(select(ProgramDay).where(ProgramDay.program_id == program.id))
        }
        for number, day in enumerate(item.days, start=1):
            lesson, questions = dict(day.lesson), list(day.questions)
            row = days.pop(number, None)
            if row is None:
                session.add(ProgramDay(program_id=program.id, day=number, lesson=lesson, questions=questions))
                changed = True
            elif row.lesson != lesson or row.questions != questions:
                row.lesson, row.questions, changed = lesson, questions, True
        for row in days.values():  # days beyond the new end
            session.delete(row)
            changed = True
        if program.id in {p.id for p in existing.values()}:
            counts.updated += changed
            counts.unchanged += not changed
    wanted = {item.code for item in programs}
    for code, program in existing.items():
        if code not in wanted and program.active:
            program.active = False
            counts.deactivated += 1
    session.flush()
    return counts
