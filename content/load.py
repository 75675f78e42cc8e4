"""`load_content`: upsert the checked question bank and resources into the database by id.

Idempotent, and history-safe: an item removed from the files is marked inactive,
never deleted, so students' attempts and cards keep pointing at it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from content.bank import QuestionItem, ResourceItem, load_bank
from content.check import check_bank
from content.programs import ProgramItem
from content.report import WARNING, Problem
from content.seed import Counts, seed_questions
from content.translations import TRANSLATED_LANGUAGES, TranslationItem
from store.corrections import corrected_keys
from store.models import Question, Resource, utcnow
from store.program_authoring import console_codes
from store.programs import Program, put_program
from store.translations import FROM_CONTENT, QuestionTranslation, delete_translations, stored_translations

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
class TranslationCounts:
    """What a load did to question_translations, per language."""

    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    # Published through the review workflow: the files never overwrite or remove those.
    kept: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(+self.inserted or +self.updated or +self.removed)

    def __str__(self) -> str:
        parts = []
        for language in TRANSLATED_LANGUAGES:
            part = (
                f"{language} {self.inserted[language]} inserted, {self.updated[language]} updated, "
                f"{self.unchanged[language]} unchanged, {self.removed[language]} removed"
            )
            if self.kept[language]:
                part += f", {self.kept[language]} kept as published in review"
            parts.append(part)
        return "; ".join(parts)


@dataclass
class LoadReport:
    questions: Counts = field(default_factory=Counts)
    resources: Counts = field(default_factory=Counts)
    programs: Counts = field(default_factory=Counts)
    # The served text per language (question_translations), and the versions the history holds.
    translations: TranslationCounts = field(default_factory=TranslationCounts)
    translation_versions: Counts = field(default_factory=Counts)
    warnings: list[Problem] = field(default_factory=list)
    # Corrected keys a file would have undone (also among the warnings), for the command to show.
    kept_keys: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        counts = (self.questions, self.resources, self.programs, self.translation_versions)
        changed = any(c.inserted or c.updated or c.deactivated for c in counts)
        return changed or self.translations.changed

    def __str__(self) -> str:
        return (
            f"questions: {self.questions}\ntranslations: {self.translations}\n"
            f"translation versions: {self.translation_versions}\n"
            f"resources: {self.resources}\nprograms: {self.programs}"
        )


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


def _stale_keys(session: Session, items: list[QuestionItem]) -> list[Problem]:
    """A key corrected with `rounds content retract --key` stays, whatever an older file says (the
    correction is a version written in the console, which the seed rule keeps): a load must not
    quietly teach the wrong answer again. Each such file gets a warning to update."""
    corrected = corrected_keys(session)
    problems = []
    for item in items:
        key = corrected.get(item.id)
        if key is not None and item.answer != key:
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


def load_content(
    session: Session, root: Path | str | None, today: date, now: datetime | None = None
) -> LoadReport:
    """Check the content under `root`, then upsert it; the caller commits the session.

    Questions and their translations follow the seed rule of content/seed.py: the files never
    overwrite an item an educator has changed in the database. `now` stamps new versions
    (default: the start of `today`, UTC). Raises ContentError, changing nothing, when the check
    finds any error.
    """
    bank = load_bank(root)
    problems = check_bank(bank, today)
    if any(p.is_error for p in problems):
        raise ContentError(problems)
    # Two loads at once (two deploys) would race to insert the same ids; SQLite's
    # BEGIN IMMEDIATE already serialises writers, PostgreSQL needs a lock.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOAD_LOCK})
    seeded = seed_questions(
        session, bank.questions, bank.translations, now or datetime.combine(today, time(), tzinfo=UTC)
    )
    kept = _stale_keys(session, bank.questions)
    if session.get_bind().dialect.name == "postgresql":
        # Statistics now, not whenever autovacuum comes by (never, where it is off): planned against
        # an unanalyzed bank, the daily pass's cards query walked a whole index per question.
        session.execute(text("ANALYZE questions"))
    return LoadReport(
        questions=seeded.questions,
        resources=_sync(session, Resource, {r.id: _resource_values(r) for r in bank.resources}),
        programs=sync_programs(session, bank.programs, now),
        translations=sync_translations(session, bank.translations),
        translation_versions=seeded.translations,
        warnings=problems + seeded.problems + kept,
        kept_keys=kept,
    )


def sync_translations(session: Session, items: list[TranslationItem]) -> TranslationCounts:
    """question_translations as the files give them, each marked as translating the English item's
    version now published (the files are checked together, so they translate the text beside them).

    A row the review workflow published is left as it is; a row a load wrote whose file item is gone
    is removed, so its students get the English again rather than a withdrawn text.
    """
    counts = TranslationCounts()
    stored = stored_translations(session)
    versions = {qid: version for qid, version in session.execute(select(Question.id, Question.version))}
    for item in items:
        key, language = (item.id, item.language), item.language
        values = {
            "version": versions[item.id],
            "stem": item.stem.strip(),
            "options": {letter: text.strip() for letter, text in sorted(item.options.items())},
            "explanation": item.explanation.strip(),
            "translated_by": item.translated_by.strip(),
            "source": FROM_CONTENT,
        }
        row = stored.pop(key, None)
        if row is None:
            session.add(QuestionTranslation(question_id=item.id, language=language, **values))
            counts.inserted[language] += 1
        elif row.source != FROM_CONTENT:
            counts.kept[language] += 1
        else:
            changed = {name: value for name, value in values.items() if getattr(row, name) != value}
            for name, value in changed.items():
                setattr(row, name, value)
            if changed:
                row.updated_at = utcnow()
                counts.updated[language] += 1
            else:
                counts.unchanged[language] += 1
    gone = [key for key, row in stored.items() if row.source == FROM_CONTENT]
    for _, language in gone:
        counts.removed[language] += 1
    for key, row in stored.items():
        if row.source != FROM_CONTENT:
            counts.kept[key[1]] += 1
    delete_translations(session, gone)
    session.flush()
    return counts


def sync_programs(session: Session, programs: list[ProgramItem], now: datetime | None = None) -> Counts:
    """Programs and their days by code; a program no longer in the files is closed, never deleted
    (its enrolments and certificates keep pointing at it). A program an educator wrote or changed
    in the console (store/program_authoring.py) is the database's: the files neither change nor
    close it (counted as kept)."""
    counts = Counts()
    now = now or utcnow()
    existing = {p.code: p for p in session.scalars(select(Program))}
    edited = console_codes(session)
    for item in programs:
        if item.code in edited:
            counts.kept += 1
            continue
        values = {"title": dict(item.title), "summary": dict(item.summary), "tracks": list(item.tracks)}
        days = [(dict(d.lesson), list(d.questions)) for d in item.days]
        _, changed = put_program(session, item.code, values, days, now)
        if changed is None:
            counts.inserted += 1
        else:
            counts.updated += changed
            counts.unchanged += not changed
    wanted = {item.code for item in programs}
    for code, program in existing.items():
        if code not in wanted and code not in edited and program.active:
            program.active = False
            counts.deactivated += 1
    session.flush()
    return counts
