"""A draft checked as `rounds content check` checks the bank, before it can be submitted for review.

The draft becomes a QuestionItem and goes through `content.check.check_item` against the
published English items in the database, so the author reads the same messages the checker
prints for the YAML files, without a file name or line.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from content.bank import QUESTION_SEGMENTS, Bank, QuestionItem, read_taxonomy, render_question
from content.check import check_item
from content.segments import count, fold_for_sms, is_gsm7, normalise
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
    """A French or Spanish draft: complete, the English letters, GSM-7 and within budget by SMS."""
    label = f"{version.language} version of question {version.question_id}"
    english = session.get(Question, version.question_id)
    found = []
    if english is None:
        return [f"{label}: the English item is not published"]
    if sorted(version.options or {}) != sorted(english.options or {}):
        found.append(
            f"{label}: options must be the English item's letters {', '.join(sorted(english.options))}"
        )
    texts = [("stem", version.stem), ("explanation", version.explanation)]
    texts += [(f"option {k}", v) for k, v in sorted((version.options or {}).items())]
    for name, text in texts:
        if not str(text).strip():
            found.append(f"{label}: {name} is empty")
        elif not is_gsm7(fold_for_sms(normalise(str(text)))):
            bad = sorted({c for c in fold_for_sms(normalise(str(text))) if not is_gsm7(c)})
            found.append(f"{label}: {name} has characters SMS cannot send even folded: {' '.join(bad)}")
    if found:
        return found
    sms = count(fold_for_sms(render_question(version)))
    if sms.segments > QUESTION_SEGMENTS:
        found.append(
            f"{label}: the question as sent by SMS is {sms.units} {sms.encoding} units = {sms.segments} "
            f"segments; it must fit {QUESTION_SEGMENTS}: shorten the stem or options"
        )
    feedback = count(fold_for_sms(normalise(version.explanation)))
    if feedback.segments > TRANSLATED_FEEDBACK_SEGMENTS:
        found.append(
            f"{label}: the explanation is {feedback.segments} SMS segments; keep it within "
            f"{TRANSLATED_FEEDBACK_SEGMENTS}"
        )
    return found


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
