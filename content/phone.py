"""A question as a phone shows it by SMS: the rendered question and feedback after the look-alike
mapping and accent folding the send path applies, with what each costs in characters, encoding
and segments. The console's editor shows this while an educator writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from content.bank import QUESTION_SEGMENTS, render_question
from content.catalog import Catalog
from content.check_catalog import SAMPLE_VALUES
from content.segments import SMS, SegmentCount, count, for_channel
from content.translations import TRANSLATED_FEEDBACK_SEGMENTS, TRANSLATED_QUESTION_SEGMENTS

ENGLISH = "en"
# English feedback is sent in one segment (flows/quiz.py FEEDBACK_SEGMENTS); a translation runs
# longer and gets two.
ENGLISH_FEEDBACK_SEGMENTS = 1
FEEDBACK_KEYS = ("feedback_correct", "feedback_wrong")


@dataclass(frozen=True)
class _Text:
    id: int
    stem: str
    options: Mapping[str, str]


@dataclass(frozen=True)
class Rendered:
    """One text as sent by SMS, its cost, and the segment budget it must fit."""

    label: str
    text: str
    cost: SegmentCount
    budget: int

    @property
    def characters(self) -> int:
        return len(self.text)

    @property
    def over(self) -> bool:
        return self.cost.segments > self.budget or self.cost.encoding != "GSM-7"


def shorter_feedback_key(render: Callable[[str], str], key: str) -> str:
    """`key`, or `<key>_short` (the same message without the streak) when that one takes fewer SMS
    segments: the streak is dropped before a segment is paid for it or the explanation is cut."""
    short = f"{key}_short"
    try:
        shorter = (
            count(for_channel(render(short), SMS)).segments < count(for_channel(render(key), SMS)).segments
        )
    except KeyError:  # a content folder whose catalog predates the short messages
        return key
    return short if shorter else key


def question_budget(language: str) -> int:
    return QUESTION_SEGMENTS if language == ENGLISH else TRANSLATED_QUESTION_SEGMENTS


def feedback_budget(language: str) -> int:
    return ENGLISH_FEEDBACK_SEGMENTS if language == ENGLISH else TRANSLATED_FEEDBACK_SEGMENTS


def on_phone(
    catalog: Catalog,
    question_id: int,
    language: str,
    stem: str,
    options: Mapping[str, str],
    answer: str,
    explanation: str,
) -> list[Rendered]:
    """The question, then each feedback message, exactly as an SMS delivers them (untruncated:
    a feedback over budget is flagged here, where the send path would cut its explanation)."""
    question = for_channel(render_question(_Text(question_id, stem, dict(options))), SMS)
    shown = [Rendered("question", question, count(question), question_budget(language))]
    for key in FEEDBACK_KEYS:

        def fill(message: str) -> str:
            return catalog.render(
                message,
                language,
                answer=answer or "?",
                explanation=explanation.strip(),
                streak=SAMPLE_VALUES["streak"],
            )

        filled = fill(shorter_feedback_key(fill, key))
        text = for_channel(filled, SMS)
        label = "feedback, right answer" if key == "feedback_correct" else "feedback, wrong answer"
        shown.append(Rendered(label, text, count(text), feedback_budget(language)))
    return shown
