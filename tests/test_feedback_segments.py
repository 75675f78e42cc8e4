"""Answer feedback drops the streak, never the explanation, when the streak would cost a segment."""

from __future__ import annotations

import pytest

from content.catalog import get_catalog
from content.segments import SMS, count, for_channel
from content.translations import TRANSLATED_FEEDBACK_SEGMENTS
from flows.quiz import FEEDBACK_SEGMENTS, fit_feedback

STREAK = 12


def _render(language: str):
    catalog = get_catalog()
    return lambda key, why: catalog.render(key, language, answer="C", explanation=why, streak=STREAK)


def _segments(text: str) -> int:
    return count(for_channel(text, SMS)).segments


def _explanation(length: int) -> str:
    words = "Ceftriaxone covers the likely organisms and crosses the inflamed meninges well. "
    return (words * (length // len(words) + 1))[:length].rstrip() + "."


def _filling(render, key: str, segments: int) -> str:
    """The longest explanation with which `key` still fits `segments` SMS segments."""
    length = 1
    while _segments(render(key, _explanation(length + 1))) <= segments:
        length += 1
    return _explanation(length)


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("key", ["feedback_correct", "feedback_wrong"])
def test_the_streak_goes_when_it_would_spill_a_segment(language, key):
    render = _render(language)
    explanation = _filling(render, f"{key}_short", 1)
    full = render(key, explanation)
    assert _segments(full) == 2  # with the streak it would take a second segment
    sent = fit_feedback(render, key, explanation, TRANSLATED_FEEDBACK_SEGMENTS)
    assert _segments(sent) == 1
    assert explanation in sent and "C" in sent
    assert str(STREAK) not in sent
    assert sent == render(f"{key}_short", explanation)


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("key", ["feedback_correct", "feedback_wrong"])
def test_the_streak_stays_when_it_costs_nothing(language, key):
    render = _render(language)
    short_explanation = _explanation(40)
    assert fit_feedback(render, key, short_explanation, FEEDBACK_SEGMENTS) == render(key, short_explanation)
    # Two segments either way: the streak is free in the second one.
    long_explanation = _filling(render, key, 2)
    assert _segments(render(f"{key}_short", long_explanation)) == 2
    sent = fit_feedback(render, key, long_explanation, TRANSLATED_FEEDBACK_SEGMENTS)
    assert sent == render(key, long_explanation) and str(STREAK) in sent


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_within_one_segment_the_whole_explanation_beats_the_streak(language):
    render = _render(language)
    explanation = _filling(render, "feedback_wrong_short", 1)
    # With the streak, one segment would cut the explanation; without it, it is whole.
    sent = fit_feedback(render, "feedback_wrong", explanation, FEEDBACK_SEGMENTS)
    assert explanation in sent and "..." not in sent and _segments(sent) == 1


def test_every_language_has_both_short_messages_without_the_streak():
    catalog = get_catalog()
    for language in ("en", "fr", "es"):
        for key in ("feedback_correct", "feedback_wrong"):
            short = catalog.messages[language][f"{key}_short"]
            assert catalog.placeholders(short) == {"answer", "explanation"}
            assert catalog.placeholders(catalog.messages[language][key]) == {
                "answer",
                "explanation",
                "streak",
            }
