"""Published French and Spanish text of the bank's questions (the translations piece owns this module).

Minimal stand-in so the review workflow can be written against the agreed interface: it checks
what it is given and changes nothing. The translations piece's module replaces it at merge,
storing the text in `question_translations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from store.models import Question

TRANSLATED_LANGUAGES = ("fr", "es")


class TranslationError(ValueError):
    """A translation that cannot be published as given; the message says what to fix."""


def publish_translation(
    session: Session,
    question_id: int,
    language: str,
    stem: str,
    options: Mapping[str, Any],
    explanation: str,
    translated_by: str,
    version: int,
) -> None:
    """Make this the text students with `language` get for the question (the caller commits)."""
    if language not in TRANSLATED_LANGUAGES:
        raise TranslationError(f"language {language!r} is not one of {', '.join(TRANSLATED_LANGUAGES)}")
    question = session.get(Question, question_id)
    if question is None:
        raise TranslationError(f"question {question_id} does not exist")
    if sorted(options) != sorted(question.options or {}):
        raise TranslationError(f"question {question_id}: options must be the English item's letters")
    if not 1 <= version <= question.version:
        raise TranslationError(f"question {question_id}: version {version} is not one of the English item's")
    for name, value in (("stem", stem), ("explanation", explanation), ("translated_by", translated_by)):
        if not value or not value.strip():
            raise TranslationError(f"question {question_id}: {name} is empty")
