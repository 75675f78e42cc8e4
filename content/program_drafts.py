"""A program draft checked as `rounds content check` checks programs/*.yaml, before it can be
submitted for review; and the console's published programs written back as that YAML.

The draft becomes a ProgramItem and goes through `content.programs.check_programs` against the
published questions in the database and the content folder's tracks, so the author reads the same
messages the checker prints for the files, without a file name or line.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from content.bank import read_taxonomy
from content.catalog import get_catalog
from content.programs import LANGUAGES, DayTexts, ProgramDay, ProgramItem, QuestionText, check_programs
from content.report import Report
from content.seed import quote
from store.admin import AdminUser
from store.authoring import PUBLISHED
from store.models import Question
from store.program_authoring import ProgramVersion, published_console_versions, submit
from store.translations import translations_for


def as_item(version: ProgramVersion) -> ProgramItem:
    """A stored version as the checker's ProgramItem, filed where the YAML would be."""
    days = tuple(
        ProgramDay(
            {lang: text for lang, text in (day.get("lesson") or {}).items() if text},
            tuple(day.get("questions") or ()),
            0,
        )
        for day in version.days or []
    )
    return ProgramItem(
        code=version.code,
        title={k: v for k, v in (version.title or {}).items() if v},
        summary={k: v for k, v in (version.summary or {}).items() if v},
        tracks=tuple(version.tracks or ()),
        review={},
        days=days,
        file=Path("programs") / f"{version.code.lower()}.yaml",
        line=0,
    )


def published_question_ids(session: Session) -> set[int]:
    """The ids a program day may use: questions students are served now."""
    return set(
        session.scalars(select(Question.id).where(Question.active.is_(True), Question.status == PUBLISHED))
    )


def day_texts(session: Session, version: ProgramVersion, root: Path | str | None) -> DayTexts:
    """The catalog and the published texts (English and translations) of the draft's questions."""
    ids = {int(q) for day in version.days or [] for q in day.get("questions") or ()}
    rows = session.execute(select(Question.id, Question.stem, Question.options).where(Question.id.in_(ids)))
    questions = {(qid, "en"): QuestionText(stem, options or {}) for qid, stem, options in rows}
    for (qid, language), translated in translations_for(session, ids, LANGUAGES).items():
        questions[qid, language] = QuestionText(translated.stem, translated.options)
    return DayTexts(get_catalog(str(root) if root else ""), questions)


def _missing(version: ProgramVersion) -> list[str]:
    """Languages the files require that the draft lacks (the YAML reader's rule)."""
    problems = []
    for name in ("title", "summary"):
        for language in LANGUAGES:
            if not str((getattr(version, name) or {}).get(language) or "").strip():
                problems.append(
                    f"program {version.code} {name} has no {language} text; every program needs en, fr and es"
                )
    if not version.days:
        problems.append(f"program {version.code} has no days; give it at least one")
    for number, day in enumerate(version.days or [], start=1):
        for language in LANGUAGES:
            if not str((day.get("lesson") or {}).get(language) or "").strip():
                problems.append(
                    f"program {version.code} day {number} lesson has no {language} text; "
                    "every day needs en, fr and es"
                )
    return problems


def program_problems(session: Session, version: ProgramVersion, root: Path | str | None) -> list[str]:
    """Every problem the checker finds in the draft, as plain sentences for its author."""
    report = Report([])
    taxonomy = read_taxonomy(root)
    check_programs(
        [as_item(version)],
        published_question_ids(session),
        taxonomy.track_keys,
        report,
        day_texts(session, version, root),
    )
    return _missing(version) + [p.message for p in report.problems if p.is_error]


def submit_program(
    session: Session, actor: AdminUser, code: str, root: Path | str | None, now: datetime
) -> ProgramVersion:
    """Submit a program draft for review once it passes every check (Invalid lists them)."""
    return submit(session, actor, code, lambda version: program_problems(session, version, root), now)


# --- export ------------------------------------------------------------------------------------


def program_yaml(version: ProgramVersion) -> str:
    """One published version as programs/<code>.yaml, in the format content/programs.py reads."""

    def languages(texts: dict[str, str], indent: str) -> list[str]:
        return [f"{indent}{lang}: {quote(str(texts.get(lang, '')))}" for lang in LANGUAGES]

    lines = [
        f"# {version.code}: written in the console, version {version.version}.",
        f"code: {version.code}",
        "title:",
        *languages(version.title, "  "),
        "summary:",
        *languages(version.summary, "  "),
        "tracks: [" + ", ".join(quote(t) for t in version.tracks or []) + "]",
        "review:",
        f"  by: {quote(', '.join(str(r['name']) for r in version.reviewers or []) or version.author)}",
    ]
    if version.published_at is not None:
        lines.append(f"  date: {version.published_at.date().isoformat()}")
    lines.append("days:")
    for day in version.days or []:
        lines += ["  - lesson:", *languages(day.get("lesson") or {}, "      ")]
        lines.append("    questions: [" + ", ".join(str(int(q)) for q in day.get("questions") or []) + "]")
    return "\n".join(lines) + "\n"


def export_programs(session: Session, out: Path) -> list[Path]:
    """Write each program published from the console to out/programs/<code>.yaml (replacing the
    file of the same code, which the database had taken over); files of other programs stay."""
    written = []
    for version in published_console_versions(session):
        path = Path(out) / "programs" / f"{version.code.lower()}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(program_yaml(version), encoding="utf-8")
        written.append(path)
    return written
