"""`bank_stats`: what the question bank holds, for `rounds content stats [--json]`.

Counts by track x topic x locale x language, the key letters' shares and how often the
key is the single longest option, bank-wide and per topic and track.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from content.bank import LETTERS, QuestionItem
from content.rules import key_is_single_longest
from content.translations import TRANSLATED_LANGUAGES, TranslationItem


def item_languages(q: QuestionItem, translated: frozenset[tuple[int, str]] = frozenset()) -> tuple[str, ...]:
    """The languages an item is written in: English, and each language it has a translation in."""
    return ("en", *(language for language in TRANSLATED_LANGUAGES if (q.id, language) in translated))


def _keys(group: Sequence[QuestionItem]) -> dict[str, Any]:
    counts = Counter(q.answer for q in group)
    n = len(group) or 1
    return {
        letter: {"items": counts.get(letter, 0), "share": round(counts.get(letter, 0) / n, 3)}
        for letter in LETTERS
    }


def _longest(group: Sequence[QuestionItem]) -> dict[str, Any]:
    longest = sum(1 for q in group if key_is_single_longest(q))
    return {"items": longest, "share": round(longest / (len(group) or 1), 3)}


def bank_stats(
    questions: Sequence[QuestionItem], translations: Iterable[TranslationItem] = ()
) -> dict[str, Any]:
    """Everything `rounds content stats` prints, as plain data (the --json output)."""
    ids = {q.id for q in questions}
    translated = frozenset((t.id, t.language) for t in translations if t.id in ids)
    cells: Counter[tuple[str, str, str, str]] = Counter()
    for q in questions:
        for track in q.tracks:
            for language in item_languages(q, translated):
                cells[(track, q.topic, q.locale or "-", language)] += 1
    by_topic: dict[str, list[QuestionItem]] = defaultdict(list)
    by_track: dict[str, list[QuestionItem]] = defaultdict(list)
    for q in questions:
        by_topic[q.topic].append(q)
        for track in q.tracks:
            by_track[track].append(q)
    return {
        "items": len(questions),
        "counts": [
            {"track": track, "topic": topic, "locale": locale, "language": language, "items": n}
            for (track, topic, locale, language), n in sorted(cells.items())
        ],
        "tracks": {t: len(g) for t, g in sorted(by_track.items())},
        # Items with a translation, and without one, per language.
        "translations": {
            language: {
                "translated": sum(1 for q in questions if (q.id, language) in translated),
                "missing": sum(1 for q in questions if (q.id, language) not in translated),
            }
            for language in TRANSLATED_LANGUAGES
        },
        "locales": dict(sorted(Counter(q.locale or "-" for q in questions).items())),
        "keys": {
            "bank": _keys(questions),
            "topics": {t: _keys(g) for t, g in sorted(by_topic.items())},
            "tracks": {t: _keys(g) for t, g in sorted(by_track.items())},
        },
        "longest_option": {
            "bank": _longest(questions),
            "topics": {t: _longest(g) for t, g in sorted(by_topic.items())},
            "tracks": {t: _longest(g) for t, g in sorted(by_track.items())},
        },
    }


def _key_line(name: str, keys: dict[str, Any], longest: dict[str, Any], size: int) -> str:
    letters = "  ".join(
        f"{letter} {keys[letter]['items']:>3} {keys[letter]['share']:>4.0%}" for letter in LETTERS
    )
    return f"{name:<16} {size:>4}  {letters}   longest key {longest['items']:>3} {longest['share']:>4.0%}"


def stats_lines(stats: dict[str, Any]) -> list[str]:
    """The text report: counts per track x topic x locale x language, then key balance."""
    lines = [f"{stats['items']} items", "", f"{'track':<8} {'topic':<14} {'locale':<6} {'lang':<4} items"]
    for row in stats["counts"]:
        lines.append(
            f"{row['track']:<8} {row['topic']:<14} {row['locale']:<6} {row['language']:<4} {row['items']:>5}"
        )
    lines += ["", "tracks: " + ", ".join(f"{t} {n}" for t, n in stats["tracks"].items())]
    lines += ["locales: " + ", ".join(f"{loc} {n}" for loc, n in stats["locales"].items())]
    lines.append(
        "translations: "
        + ", ".join(
            f"{language} {counts['translated']} ({counts['missing']} missing)"
            for language, counts in stats["translations"].items()
        )
    )
    lines.append("")
    lines.append("key letters and the key as the single longest option:")
    keys, longest = stats["keys"], stats["longest_option"]
    lines.append(_key_line("bank", keys["bank"], longest["bank"], stats["items"]))
    for group in ("topics", "tracks"):
        for name, letters in keys[group].items():
            size = sum(v["items"] for v in letters.values())
            lines.append(_key_line(name, letters, longest[group][name], size))
    return lines
