"""`check_content`: every problem in a content folder, each with its file and line.

Errors (bad schema, wrong answer keys, unknown topics, non-GSM-7 English, blown
segment budgets) block `rounds content load`; warnings (an overdue review among
them: the item is listed as due, not withheld) do not.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from content.bank import (
    EXPLANATION_MAX,
    LETTERS,
    QUESTION_SEGMENTS,
    Bank,
    QuestionItem,
    ResourceItem,
    load_bank,
    render_question,
)
from content.catalog import Catalog
from content.check_catalog import check_catalog
from content.check_translations import check_translations
from content.programs import DayTexts, QuestionText, check_programs
from content.report import Problem, Report
from content.rules import check_item_rules, check_near_duplicates, check_rules
from content.segments import count, normalise

__all__ = ["Problem", "check_content", "check_bank", "check_item", "exit_code"]

RESOURCE_TITLE_MAX = 32
# Column widths in store.models: longer values would fail to load on PostgreSQL.
COLUMN_MAX = {
    "topic": 32,
    "track": 16,
    "reviewer": 80,
    "resource id": 64,
    "title": 80,
    "url": 400,
    "kind": 16,
    "note": 120,
}
ALL_TOPICS = "general"  # a resource tag meaning "for every topic"
LOCALES = ("us", "uk", "intl")
# A link checked longer ago than this is listed for checking again (a warning).
CHECK_AGAIN_DAYS = 365
CHECKED_HOW_MIN = 12  # characters: "fetched, 200" is the shortest honest account
_SEARCH_WORD = re.compile(r"[a-z0-9]+( [a-z0-9]+)*")


def exit_code(problems: Iterable[Problem]) -> int:
    """What `rounds content check` exits with: 1 if any problem is an error, else 0."""
    return 1 if any(p.is_error for p in problems) else 0


def check_content(root: Path | str | None, today: date) -> list[Problem]:
    """Every problem in the content under `root`, sorted by file and line."""
    return check_bank(load_bank(root), today)


def check_bank(bank: Bank, today: date) -> list[Problem]:
    """Every problem in an already loaded bank: its loading problems, then the rules."""
    out = Report(list(bank.problems))
    _check_taxonomy(bank, out)
    _check_questions(bank, today, out)
    check_rules(bank, out)
    _check_resources(bank, today, out)
    _check_synonyms(bank, out)
    check_catalog(bank, out)
    check_translations(bank, out)
    check_programs(
        bank.programs, {q.id for q in bank.questions}, bank.taxonomy.track_keys, out, program_day_texts(bank)
    )
    return sorted(out.problems, key=lambda p: (str(p.file), p.line, p.message))


def program_day_texts(bank: Bank) -> DayTexts | None:
    """The catalog and question texts a program day's cost is counted from (None without English)."""
    if "en" not in bank.catalogs:
        return None  # reported by check_catalog
    questions = {(q.id, "en"): QuestionText(q.stem, q.options) for q in bank.questions}
    questions.update({(t.id, t.language): QuestionText(t.stem, t.options) for t in bank.translations})
    catalog = Catalog({language: file.messages for language, file in bank.catalogs.items()})
    return DayTexts(catalog, questions)


def check_item(bank: Bank, q: QuestionItem, today: date) -> list[Problem]:
    """Every check `check_bank` makes on one item, against the published items in `bank`.

    The per-item checks (schema, key, GSM-7, segment budgets, review date) and rules (sources,
    locale against tracks, a distractor named in the explanation, near-duplicate stems). What only
    a whole bank has (key balance, the longest-option share) is left to `rounds content check`.
    """
    out = Report([])
    _check_question(bank, q, f"question {q.id}", today, out)
    others = [other for other in bank.questions if other.id != q.id]
    check_item_rules(q, {other.id for other in others} | {q.id}, out)
    check_near_duplicates(q, others, out)
    return sorted(out.problems, key=lambda p: (p.line, p.message))


def _too_long(out: Report, file: Path, line: int, what: str, value: str) -> None:
    limit = COLUMN_MAX[what]
    if len(value) > limit:
        out.error(file, line, f"{what} {value!r} is {len(value)} characters; at most {limit}")


def _check_taxonomy(bank: Bank, out: Report) -> None:
    taxonomy = bank.taxonomy
    path = bank.root / "taxonomy.yaml"
    # A broken file already has its own problem; "no topics" would only add noise.
    reported = any(p.file == path for p in bank.problems)
    if not taxonomy.topics and not reported:
        out.error(path, 1, "the taxonomy has no topics")
    if not taxonomy.tracks and not reported:
        out.error(path, 1, "the taxonomy has no tracks")
    seen: dict[str, str] = {}  # every key and synonym -> the topic it means
    for topic in taxonomy.topics:
        if topic.key in seen:
            out.error(topic.file, topic.line, f"topic key '{topic.key}' is used twice")
        seen[topic.key] = topic.key
        _too_long(out, topic.file, topic.line, "topic", topic.key)
        out.english(topic.file, topic.line, f"topic {topic.key} name", topic.name)
        for word in topic.synonyms:
            if word != word.lower() or not word.isascii():
                out.error(
                    topic.file,
                    topic.line,
                    f"synonym '{word}' must be lowercase ASCII, as students' texts are "
                    "matched after lower-casing",
                )
            other = seen.get(word)
            if other is not None and other != topic.key:
                out.error(topic.file, topic.line, f"synonym '{word}' of {topic.key} already means {other}")
            seen.setdefault(word, topic.key)
    tracks: set[str] = set()
    for track in taxonomy.tracks:
        if track.key in tracks:
            out.error(track.file, track.line, f"track key '{track.key}' is used twice")
        tracks.add(track.key)
        _too_long(out, track.file, track.line, "track", track.key)
        out.english(track.file, track.line, f"track {track.key} name", track.name)


def _known(value: str, known: Iterable[str], what: str) -> str:
    names = sorted(known)
    hint = difflib.get_close_matches(value, names, n=1)
    also = f"did you mean '{hint[0]}'? " if hint else ""
    return f"unknown {what} '{value}'; {also}known: {', '.join(names)}"


def _check_questions(bank: Bank, today: date, out: Report) -> None:
    first: dict[int, QuestionItem] = {}
    for q in bank.questions:
        label = f"question {q.id}"
        if q.id in first:
            seen = first[q.id]
            out.error(
                q.file,
                q.line_of("id"),
                f"{label}: id is already used at {seen.file}:{seen.line}; ids must be unique",
            )
        else:
            first[q.id] = q
        # The questions.id column is a 32-bit INTEGER on PostgreSQL.
        if not 0 < q.id < 2**31:
            out.error(q.file, q.line_of("id"), f"{label}: id must be between 1 and {2**31 - 1}")
        _check_question(bank, q, label, today, out)


def _check_question(bank: Bank, q: QuestionItem, label: str, today: date, out: Report) -> None:
    at = q.line_of
    topics, tracks = bank.taxonomy.topic_keys, bank.taxonomy.track_keys
    if topics and q.topic not in topics:
        out.error(q.file, at("topic"), f"{label}: {_known(q.topic, topics, 'topic')}")
    elif q.topic != q.file.stem:
        out.warn(
            q.file,
            at("topic"),
            f"{label}: topic '{q.topic}' is in {q.file.name}; keep it in questions/{q.topic}.yaml",
        )
    if not q.tracks:
        out.error(q.file, at("tracks"), f"{label}: give at least one track")
    for track in q.tracks:
        if tracks and track not in tracks:
            out.error(q.file, at("tracks"), f"{label}: {_known(track, tracks, 'track')}")
    if q.difficulty not in (1, 2, 3):
        out.error(q.file, at("difficulty"), f"{label}: difficulty must be 1, 2 or 3, not {q.difficulty}")

    letters = sorted(q.options)
    if letters != list(LETTERS):
        out.error(
            q.file,
            at("options"),
            f"{label}: options must be exactly A, B, C and D; found {', '.join(letters) or 'none'}",
        )
    if q.answer not in LETTERS:
        out.error(
            q.file,
            at("answer"),
            f"{label}: answer '{q.answer}' must be exactly one letter, A, B, C or D",
        )
    elif q.answer not in q.options:
        out.error(q.file, at("answer"), f"{label}: answer {q.answer} is not among the options")
    texts = [t.strip().lower() for t in q.options.values()]
    if len(set(texts)) != len(texts):
        out.error(q.file, at("options"), f"{label}: two options have the same text")

    fields = [("stem", q.stem, at("stem")), ("explanation", q.explanation, at("explanation"))]
    fields += [(f"option {k}", v, at(f"options.{k}")) for k, v in sorted(q.options.items())]
    for what, text, line in fields:
        if not text.strip():
            out.error(q.file, line, f"{label}: {what} is empty")
        out.english(q.file, line, f"{label}: {what}", text)

    sms = count(render_question(q))
    if sms.segments > QUESTION_SEGMENTS:
        out.error(
            q.file,
            at("stem"),
            f"{label}: the question as sent (Q{q.id} stem plus A)-D) lines) is "
            f"{sms.units} {sms.encoding} units = {sms.segments} SMS segments; it must "
            f"fit {QUESTION_SEGMENTS}: shorten the stem or options",
        )
    units = count(normalise(q.explanation)).units
    if units > EXPLANATION_MAX:
        out.error(
            q.file,
            at("explanation"),
            f"{label}: explanation is {units} characters; at most {EXPLANATION_MAX} "
            "so the feedback fits one SMS segment",
        )

    who = "reviewer" if "reviewer" in q.lines else "author"
    if not q.reviewer.strip():
        out.error(q.file, at(who), f"{label}: {who} is empty")
    _too_long(out, q.file, at(who), "reviewer", q.reviewer)
    if q.review_by < today:
        # A lapsed date must not stop a fresh install from loading its own content.
        out.warn(
            q.file,
            at("review_by"),
            f"{label}: due for review: review_by {q.review_by} is before {today}; "
            "have it reviewed clinically and set a new date",
        )


def _check_resources(bank: Bank, today: date, out: Report) -> None:
    ids: dict[str, int] = {}
    urls: dict[str, int] = {}
    topics = bank.taxonomy.topic_keys | {ALL_TOPICS}
    for r in bank.resources:
        label, at = f"resource {r.id}", r.line_of
        if r.id in ids:
            out.error(r.file, at("id"), f"{label}: id is already used at line {ids[r.id]}")
        ids.setdefault(r.id, r.line)
        if r.url in urls:
            out.warn(r.file, at("url"), f"{label}: same url as the resource at line {urls[r.url]}")
        urls.setdefault(r.url, r.line)
        for what, value, line in (
            ("resource id", r.id, at("id")),
            ("title", r.title, at("title")),
            ("url", r.url, at("url")),
            ("kind", r.kind, at("kind")),
            ("note", r.note, at("note")),
        ):
            _too_long(out, r.file, line, what, value)
        if not r.title.strip():
            out.error(r.file, at("title"), f"{label}: title is empty")
        elif len(r.title) > RESOURCE_TITLE_MAX:
            out.warn(
                r.file,
                at("title"),
                f"{label}: title is {len(r.title)} characters; "
                f"keep it within {RESOURCE_TITLE_MAX} for RES replies",
            )
        out.english(r.file, at("title"), f"{label}: title", r.title)
        out.english(r.file, at("note"), f"{label}: note", r.note)
        parts = urlsplit(r.url)
        if parts.scheme != "https" or not parts.netloc:
            out.error(r.file, at("url"), f"{label}: url must be an https:// address, not {r.url!r}")
        elif not r.url.isascii() or any(c.isspace() for c in r.url):
            out.error(r.file, at("url"), f"{label}: url has spaces or non-ASCII characters")
        if not r.topics:
            out.error(r.file, at("topics"), f"{label}: give at least one topic (or general)")
        for topic in r.topics:
            if bank.taxonomy.topics and topic not in topics:
                out.error(r.file, at("topics"), f"{label}: {_known(topic, topics, 'topic')}")
        _check_search_fields(r, today, out)


def _check_search_fields(r: ResourceItem, today: date, out: Report) -> None:
    """Languages, locale, tags and the record of how the link was checked."""
    label, at = f"resource {r.id}", r.line_of
    if not r.languages:
        out.error(
            r.file, at("languages"), f"{label}: give the language(s) it is written in, e.g. [en] or [fr, en]"
        )
    for language in r.languages:
        if not re.fullmatch(r"[a-z]{2}", language):
            out.error(
                r.file,
                at("languages"),
                f"{label}: language {language!r} is not a two-letter code like en, fr, es",
            )
    if r.locale not in LOCALES:
        out.error(r.file, at("locale"), f"{label}: locale {r.locale!r} must be one of {', '.join(LOCALES)}")
    if not r.tags:
        out.error(r.file, at("tags"), f"{label}: give at least one tag: what a student might text to find it")
    for tag in r.tags:
        if not _SEARCH_WORD.fullmatch(tag.replace("-", " ")):
            out.error(
                r.file,
                at("tags"),
                f"{label}: tag {tag!r} must be lowercase ASCII words (a-z, 0-9, spaces, hyphens); "
                "put other spellings in synonyms.yaml",
            )
    if r.checked > today:
        out.warn(r.file, at("checked"), f"{label}: checked {r.checked} is after today ({today}); a typo?")
    elif (today - r.checked).days > CHECK_AGAIN_DAYS:
        out.warn(
            r.file,
            at("checked"),
            f"{label}: link last checked {r.checked}, over {CHECK_AGAIN_DAYS} days ago; check it again",
        )
    if len(r.checked_how.strip()) < CHECKED_HOW_MIN:
        out.error(
            r.file,
            at("checked_how"),
            f"{label}: say how the link was checked (at least {CHECKED_HOW_MIN} characters), "
            'e.g. "opened in a browser, page title matches" or "recalled, not fetched"',
        )


def _check_synonyms(bank: Bank, out: Report) -> None:
    """Each group is two or more folded words, and no word belongs to two groups."""
    seen: dict[str, int] = {}
    for group in bank.synonyms:
        if len(group.words) < 2:
            out.error(group.file, group.line, f"synonym group {list(group.words)} needs at least two words")
        for word in group.words:
            if not _SEARCH_WORD.fullmatch(word):
                out.error(
                    group.file,
                    group.line,
                    f"synonym {word!r} must be lowercase ASCII words without accents or hyphens "
                    "(the search folds them away)",
                )
            elif word in seen and seen[word] != group.line:
                out.error(
                    group.file, group.line, f"synonym {word!r} is already in the group at line {seen[word]}"
                )
            seen.setdefault(word, group.line)
