"""A draft checked as `rounds content check` checks the bank, before it can be submitted for review.

The draft becomes a QuestionItem and goes through `content.check.check_item` against the
published English items in the database, so the author reads the same messages the checker
prints for the YAML files, without a file name or line.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from content.bank import Bank, QuestionItem, read_taxonomy
from content.catalog import get_catalog
from content.check import check_item
from content.check_translations import publishing_problems
from store.admin import AdminUser
from store.authoring import (
    ENGLISH,
    QuestionVersion,
    published_versions,
    source_text,
    submit,
)
from store.models import Question

# What a translated explanation may cost by SMS, accents GSM-7 lacks folded (feedback fits two).
TRANSLATED_FEEDBACK_SEGMENTS = 2


def as_item(version: QuestionVersion, where: Path | None = None) -> QuestionItem:
    """A stored version as the checker's QuestionItem (review_by absent reads as never due)."""
    return QuestionItem(
        id=version.question_id,
        topic=version.topic,
        tracks=tuple(version.tracks or ()),
        difficulty=version.difficulty,
        stem=version.stem,
        options={str(k): str(v) for k, v in (version.options or {}).items()},
        answer=version.answer,
        explanation=version.explanation,
        reviewer=version.author,
        review_by=version.review_by or date.max,
        file=where or Path("questions") / f"{version.topic}.yaml",
        line=0,
        source="; ".join(source_text(s) for s in version.sources or []),
        locale=version.locale,
        pair_with=tuple(version.pair_with or ()),
        pair_reason=version.pair_reason,
        reviewers=tuple(version.reviewers or ()),
        review=version.review,
        sources=tuple(version.sources or ()),
    )


def published_bank(session: Session, root: Path | str | None) -> Bank:
    """The published English items of the database with the content folder's taxonomy."""
    bank = Bank(root=Path(str(root or ".")), taxonomy=read_taxonomy(root))
    bank.questions = [as_item(v) for v in published_versions(session, ENGLISH)]
    return bank


def draft_problems(
    session: Session, version: QuestionVersion, root: Path | str | None, today: date
) -> list[str]:
    """Every problem the checker finds in the draft, as plain sentences for its author."""
    if version.language != ENGLISH:
        return translation_problems(session, version)
    if version.review_by is None:
        missing = ["review_by is missing: give the date the item should be reviewed again by"]
    elif version.review_by <= today:
        missing = [f"review_by {version.review_by} has passed; give a date after {today}"]
    else:
        missing = []
    problems = check_item(published_bank(session, root), as_item(version), today)
    return missing + [p.message for p in problems]


def translation_problems(session: Session, version: QuestionVersion) -> list[str]:
    """A French or Spanish draft: the content check's translation rules (the English letters,
    GSM-7 once folded, the question and the feedback within their SMS budgets)."""
    english = session.get(Question, version.question_id)
    if english is None:
        return [
            f"{version.language} version of question {version.question_id}: the English item is not published"
        ]
    return publishing_problems(
        get_catalog(),
        english,
        version.language,
        version.stem or "",
        dict(version.options or {}),
        version.explanation or "",
        version.author or "Rounds content team",
    )


def submit_draft(
    session: Session,
    actor: AdminUser,
    question_id: int,
    root: Path | str | None,
    now: datetime,
    language: str = ENGLISH,
) -> QuestionVersion:
    """Submit a draft for review once it passes every check (store.authoring.Invalid lists them)."""
    return submit(
        session,
        actor,
        question_id,
        lambda version: draft_problems(session, version, root, now.date()),
        now,
        language,
    )
