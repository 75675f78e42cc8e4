"""Published French and Spanish text of the bank's questions: one row per question and language,
with the version of the English item it translates and who translated it.

The English `questions` row stays the item (key, topic, tracks, version); a translation carries
only the words. Content loads write rows from `content/data/translations/`; the review workflow
writes them through `publish_translation` when a reviewer publishes a language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, Question, utcnow
from store.text import CleanString, CleanText

# The languages a question may be translated into (English is the questions row itself).
TRANSLATED_LANGUAGES = ("fr", "es")
# QuestionTranslation.source: where the published text came from. A content load replaces or
# removes only rows it wrote itself; a reviewer's publication is never overwritten by the files.
FROM_CONTENT, FROM_REVIEW = "content", "review"
TRANSLATED_BY_MAX = 80


class QuestionTranslation(Base):
    """The published text of one question in one language."""

    __tablename__ = "question_translations"

    question_id: Mapped[int] = mapped_column(Integer, ForeignKey("questions.id"), primary_key=True)
    language: Mapped[str] = mapped_column(CleanString(8), primary_key=True)
    # The English item's version this text translates; served only while that is the one published.
    version: Mapped[int] = mapped_column(Integer)
    stem: Mapped[str] = mapped_column(CleanText)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explanation: Mapped[str] = mapped_column(CleanText)
    translated_by: Mapped[str] = mapped_column(CleanString(TRANSLATED_BY_MAX))
    source: Mapped[str] = mapped_column(CleanString(16), default=FROM_CONTENT)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Translated:
    """What serving needs of a translation (a plain value, safe to hold for a whole pass)."""

    question_id: int
    language: str
    version: int
    stem: str
    options: dict[str, str]
    explanation: str


class TranslationError(ValueError):
    """A translation that cannot be published as given; the message says what to fix."""


def _validated(
    session: Session, question_id: int, language: str, options: Mapping[str, Any], version: int
) -> None:
    if language not in TRANSLATED_LANGUAGES:
        raise TranslationError(f"language {language!r} is not one of {', '.join(TRANSLATED_LANGUAGES)}")
    question = session.get(Question, question_id)
    if question is None:
        raise TranslationError(f"question {question_id} does not exist")
    if sorted(options) != sorted(question.options or {}):
        raise TranslationError(
            f"question {question_id}: options {', '.join(sorted(options)) or 'none'} must be the English "
            f"item's letters {', '.join(sorted(question.options or {}))}"
        )
    if not 1 <= version <= question.version:
        raise TranslationError(
            f"question {question_id}: version {version} is not one of the English item's "
            f"(1 to {question.version})"
        )


def publish_translation(
    session: Session,
    question_id: int,
    language: str,
    stem: str,
    options: Mapping[str, Any],
    explanation: str,
    translated_by: str,
    version: int,
    *,
    at: datetime | None = None,
) -> QuestionTranslation:
    """Make this the text students with `language` get for the question (the caller commits).

    Called by the review workflow when a reviewer publishes a language's version. The budget and
    GSM-7 checks are content's (`content.translations.translation_problems`): run them first.
    Raises TranslationError, changing nothing, for an unknown question or language, other option
    letters than the English item's, a version it never had, or an empty field.
    """
    for name, value in (("stem", stem), ("explanation", explanation), ("translated_by", translated_by)):
        if not value or not value.strip():
            raise TranslationError(f"question {question_id}: {name} is empty")
    if len(translated_by) > TRANSLATED_BY_MAX:
        raise TranslationError(f"translated_by is over {TRANSLATED_BY_MAX} characters")
    _validated(session, question_id, language, options, version)
    values: dict[str, Any] = {
        "version": version,
        "stem": stem.strip(),
        "options": {letter: str(text).strip() for letter, text in sorted(options.items())},
        "explanation": explanation.strip(),
        "translated_by": translated_by.strip(),
        "source": FROM_REVIEW,
        "updated_at": at or utcnow(),
    }
    row = session.get(QuestionTranslation, (question_id, language))
    if row is None:
        row = QuestionTranslation(question_id=question_id, language=language, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    return row


def translations_for(
    session: Session, question_ids: Iterable[int], languages: Iterable[str]
) -> dict[tuple[int, str], Translated]:
    """(question id, language) -> its translation, for many questions and languages in one query.

    A translation of an older version than the question's published one is left out: the English
    item changed since, so the student gets the English until the translation is brought up to date.
    """
    ids = sorted(set(question_ids))
    wanted = sorted(set(languages) & set(TRANSLATED_LANGUAGES))
    if not ids or not wanted:
        return {}
    rows = session.execute(
        select(
            QuestionTranslation.question_id,
            QuestionTranslation.language,
            QuestionTranslation.version,
            QuestionTranslation.stem,
            QuestionTranslation.options,
            QuestionTranslation.explanation,
        )
        .join(Question, Question.id == QuestionTranslation.question_id)
        .where(
            QuestionTranslation.question_id.in_(ids),
            QuestionTranslation.language.in_(wanted),
            QuestionTranslation.version == Question.version,
        )
    )
    return {(row[0], row[1]): Translated(*row) for row in rows}


def stored_translations(session: Session) -> dict[tuple[int, str], QuestionTranslation]:
    """Every stored translation by (question id, language), for a content load to compare against."""
    return {(row.question_id, row.language): row for row in session.scalars(select(QuestionTranslation))}


def delete_translations(session: Session, keys: Iterable[tuple[int, str]]) -> int:
    """Remove these (question id, language) rows; how many there were."""
    keys = list(keys)
    if not keys:
        return 0
    rows = session.scalars(
        select(QuestionTranslation).where(
            tuple_(QuestionTranslation.question_id, QuestionTranslation.language).in_(keys)
        )
    ).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def translation_counts(session: Session) -> dict[str, int]:
    """Stored translations per language (those of any version)."""
    counts = {language: 0 for language in TRANSLATED_LANGUAGES}
    for (language,) in session.execute(select(QuestionTranslation.language)):
        counts[language] = counts.get(language, 0) + 1
    return counts
