"""The YAML files as the bank's seed, and the database's published items written back as YAML.

The rule that keeps a load from clobbering educators' work: the seed inserts items and languages
the database does not have, and updates an item only while its newest version is a seed version.
Once an educator has a draft or a published version of an item, the files no longer change it
(the load counts it as kept), and an item written in the console is never deactivated because
the files lack it. A change of stem, options, key or explanation in the files is a new published
version (attempts stay with the version they asked); any other change updates the seed version.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from content.bank import QuestionItem
from content.report import WARNING, Problem
from content.translations import TranslationItem
from store.authoring import (
    CONTENT_FIELDS,
    ENGLISH,
    SEED,
    QuestionVersion,
    add_published,
    published_version,
    published_versions,
    serve,
    source_text,
)
from store.models import Question

TRANSLATED = ("fr", "es")
# What a seed version records besides its text (compared to tell an unchanged item).
_KEPT_FIELDS = (
    "topic",
    "tracks",
    "difficulty",
    "locale",
    *CONTENT_FIELDS,
    "sources",
    "author",
    "reviewers",
    "review",
    "review_by",
    "pair_with",
    "pair_reason",
)


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    # Items the files have but an educator has changed since: the database's version stays.
    kept: int = 0

    def __str__(self) -> str:
        text = (
            f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deactivated} deactivated"
        )
        return text + (f", {self.kept} kept (edited in the console)" if self.kept else "")


@dataclass
class SeedReport:
    questions: Counts = field(default_factory=Counts)
    translations: Counts = field(default_factory=Counts)
    problems: list[Problem] = field(default_factory=list)


def _english_values(q: QuestionItem) -> dict[str, Any]:
    return {
        "question_id": q.id,
        "base_version": None,
        "topic": q.topic,
        "tracks": list(q.tracks),
        "difficulty": q.difficulty,
        "locale": q.locale,
        "stem": q.stem,
        "options": dict(sorted(q.options.items())),
        "answer": q.answer,
        "explanation": q.explanation,
        "sources": [dict(s) for s in q.sources],
        "author": q.reviewer,
        "author_id": None,
        "reviewers": [dict(r) for r in q.reviewers],
        "review": q.review,
        "review_by": q.review_by,
        "pair_with": list(q.pair_with),
        "pair_reason": q.pair_reason,
    }


def _translation_values(t: TranslationItem, english: QuestionVersion) -> dict[str, Any]:
    values = {name: getattr(english, name) for name in _KEPT_FIELDS}
    return {
        **values,
        "question_id": t.id,
        "base_version": english.version,
        "stem": t.stem,
        "options": dict(sorted(t.options.items())),
        "explanation": t.explanation,
        "author": t.translated_by,
        "author_id": None,
        "reviewers": [],
        "review": "internal",
    }


def _seed_one(
    session: Session,
    values: dict[str, Any],
    language: str,
    now: datetime,
    counts: Counts,
    newest: dict[tuple[int, str], QuestionVersion],
) -> QuestionVersion | None:
    """Insert or update one item in one language by the seed rule; the version now published."""
    question_id = values["question_id"]
    latest = newest.get((question_id, language))
    if latest is None:
        row = session.get(Question, question_id) if language == ENGLISH else None
        # A database from before versions: its questions row already counts versions.
        number = row.version if row is not None else 1
        counts.inserted += 1
        added = newest[question_id, language] = add_published(
            session, values, language, number, now, bulk=True
        )
        return added
    if latest.origin != SEED or latest.status != "published":
        counts.kept += 1
        return None
    changed = {name: value for name, value in values.items() if getattr(latest, name) != value}
    if any(name in CONTENT_FIELDS for name in changed):
        counts.updated += 1
        added = add_published(session, values, language, latest.version + 1, now, replaces=latest, bulk=True)
        newest[question_id, language] = added
        return added
    for name, value in changed.items():
        setattr(latest, name, value)
    if changed:
        latest.updated_at = now
        counts.updated += 1
    else:
        counts.unchanged += 1
    return latest


def seed_questions(
    session: Session,
    questions: Iterable[QuestionItem],
    translations: Iterable[TranslationItem],
    now: datetime,
) -> SeedReport:
    """Bring the files' questions and translations into the database by the seed rule (no commit)."""
    report = SeedReport()
    # Read once: every version (the newest per item and language wins) and every questions row.
    newest: dict[tuple[int, str], QuestionVersion] = {}
    for version in session.scalars(select(QuestionVersion).order_by(QuestionVersion.version)):
        newest[version.question_id, version.language] = version
    rows = {row.id: row for row in session.scalars(select(Question))}
    with session.no_autoflush:  # one flush at the end: every version was read above
        _seed_all(session, questions, translations, now, report, newest, rows)
    session.flush()
    return report


def _seed_all(
    session: Session,
    questions: Iterable[QuestionItem],
    translations: Iterable[TranslationItem],
    now: datetime,
    report: SeedReport,
    newest: dict[tuple[int, str], QuestionVersion],
    rows: dict[int, Question],
) -> None:
    wanted = set()
    counts = report.questions
    for q in questions:
        wanted.add(q.id)
        question = rows.get(q.id)
        revived = question is not None and not question.active
        unchanged = counts.unchanged
        seeded = _seed_one(session, _english_values(q), ENGLISH, now, counts, newest)
        if seeded is None:
            continue
        serve(session, seeded, len(seeded.reviewers or []))
        if revived and counts.unchanged > unchanged:  # an item back in the files is served again
            counts.unchanged, counts.updated = counts.unchanged - 1, counts.updated + 1
    for question in rows.values():
        if question.id in wanted or not question.active:
            continue
        latest = newest.get((question.id, ENGLISH))
        if latest is None or latest.origin == SEED:
            question.active = False
            report.questions.deactivated += 1
    for t in translations:
        english = newest.get((t.id, ENGLISH))
        if english is not None and english.status != "published":  # an educator's draft is newest
            english = published_version(session, t.id)
        if english is None:
            report.problems.append(
                Problem(
                    Path("translations"), 0, f"{t.language} translation of {t.id}: no such question", WARNING
                )
            )
            continue
        _seed_one(session, _translation_values(t, english), t.language, now, report.translations, newest)


# --- export ------------------------------------------------------------------------------------


def quote(text: str) -> str:
    """A YAML double-quoted scalar that reads back as exactly `text`."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char.isprintable() and char not in "\u2028\u2029\x85\ufeff":
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out) + '"'


def _words(values: Iterable[Any]) -> str:
    return "[" + ", ".join(quote(str(v)) if isinstance(v, str) else str(v) for v in values) + "]"


def _options(options: Mapping[str, Any]) -> list[str]:
    return ["  options:"] + [f"    {letter}: {quote(str(text))}" for letter, text in sorted(options.items())]


def _sources_yaml(sources: list[dict[str, Any]]) -> list[str]:
    """Today's `source: "Title (year)"` for one source without a link; else a `sources:` list."""
    if len(sources) == 1 and not sources[0].get("url") and source_text(sources[0]):
        return [f"  source: {quote(source_text(sources[0]))}"]
    lines = ["  sources:"]
    for source in sources:
        lines.append(f"    - title: {quote(str(source.get('title', '')))}")
        for name in ("edition", "url"):
            if source.get(name):
                lines.append(f"      {name}: {quote(str(source[name]))}")
    return lines


def english_yaml(v: QuestionVersion) -> str:
    lines = [
        f"- id: {v.question_id}",
        f"  topic: {quote(v.topic)}",
        f"  tracks: {_words(v.tracks or [])}",
        f"  difficulty: {v.difficulty}",
        f"  stem: {quote(v.stem)}",
        *_options(v.options or {}),
        f"  answer: {quote(v.answer)}",
        f"  explanation: {quote(v.explanation)}",
        f"  author: {quote(v.author)}",
    ]
    if v.reviewers:
        lines.append("  reviewers:")
        for reviewer in v.reviewers:
            lines += [f"    - name: {quote(str(reviewer['name']))}", f"      date: {reviewer['date']}"]
    else:
        lines.append("  reviewers: []")
    lines.append(f"  review: {v.review if re.fullmatch(r'[a-z]+', v.review) else quote(v.review)}")
    if v.review_by is not None:
        lines.append(f"  review_by: {v.review_by.isoformat()}")
    if v.sources:
        lines += _sources_yaml(list(v.sources))
    if v.locale:
        lines.append(f"  locale: {v.locale}")
    if v.pair_with:
        lines.append(f"  pair_with: {_words(v.pair_with)}")
    if v.pair_reason:
        lines.append(f"  pair_reason: {quote(v.pair_reason)}")
    return "\n".join(lines) + "\n"


def translation_yaml(v: QuestionVersion) -> str:
    lines = [
        f"- id: {v.question_id}",
        f"  stem: {quote(v.stem)}",
        *_options(v.options or {}),
        f"  explanation: {quote(v.explanation)}",
        f"  translated_by: {quote(v.author)}",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class ExportReport:
    questions: int = 0
    translations: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        languages = ", ".join(f"{n} {lang}" for lang, n in sorted(self.translations.items())) or "none"
        return f"{self.questions} questions and translations ({languages}) in {len(self.files)} file(s)"


def export_content(session: Session, out: Path, source_root: Path) -> ExportReport:
    """Write the published items to `out` as a content folder that `rounds content load` reads.

    `out` gets questions/<topic>.yaml and translations/<lang>/<topic>.yaml from the database; when
    it is not the content folder itself, the rest of the folder (taxonomy, resources, catalog,
    programs) is copied from `source_root`, so the export loads on its own.
    """
    out = Path(out)
    if out.resolve() != Path(source_root).resolve():
        shutil.copytree(
            source_root, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("questions", "translations")
        )
    for old in [*(out / "questions").glob("*.yaml"), *(out / "translations").glob("*/*.yaml")]:
        old.unlink()
    topic_of: dict[int, str] = {}
    files: dict[Path, list[str]] = defaultdict(list)
    report = ExportReport()
    versions = published_versions(session)
    for v in versions:
        if v.language == ENGLISH:
            topic_of[v.question_id] = v.topic
            files[out / "questions" / f"{v.topic}.yaml"].append(english_yaml(v))
            report.questions += 1
    for v in versions:
        if v.language != ENGLISH and v.question_id in topic_of:
            path = out / "translations" / v.language / f"{topic_of[v.question_id]}.yaml"
            files[path].append(translation_yaml(v))
            report.translations[v.language] = report.translations.get(v.language, 0) + 1
    for path, items in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(items), encoding="utf-8")
        report.files.append(path)
    return report
