"""Item-writing rules over the whole question bank: the cues a test-wise student exploits.

Key balance, the key as the longest option, near-duplicate items, sources, locales and
explanations that say why the main distractor is wrong. Every rule is computed over
whatever the bank holds, so items appended later are judged with the rest.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from content.bank import LETTERS, LOCALES, Bank, QuestionItem
from content.report import Report

# Key letters: each between 20 % and 30 % of the bank and of every topic.
KEY_SHARE_MIN, KEY_SHARE_MAX = 0.20, 0.30
# The key may be the single longest option in at most 30 % of items.
LONGEST_SHARE_MAX = 0.30
# Below this many items a topic is a draft: shares of 1-7 items mean nothing yet.
BALANCE_MIN_ITEMS = 8
# rapidfuzz token_sort_ratio of two stems at or above this marks a near-duplicate.
# Calibrated on the bundled bank: the four pairs an editor named scored 64-73, the
# closest unrelated stems 63 (two different biostatistics formulas).
SIMILARITY_THRESHOLD = 64
# Tracks and the locales they serve: USMLE reads US units and drug names, PLAB UK ones.
TRACK_LOCALES = {
    "step1": ("us", "intl"),
    "step2ck": ("us", "intl"),
    "plab1": ("uk", "intl"),
}
# Names and units that differ across the Atlantic: (UK and international, US). A UK word
# on a USMLE track (or a `us` item), or a US word on PLAB (or a `uk` item), is an error
# unless the item gives the other word too ("paracetamol (acetaminophen)").
LOCALE_WORDS = (
    ("gtn", "nitroglycerin"),
    ("glyceryl", "nitroglycerin"),
    ("paracetamol", "acetaminophen"),
    ("adrenaline", "epinephrine"),
    ("noradrenaline", "norepinephrine"),
    ("salbutamol", "albuterol"),
    ("hydroxycarbamide", "hydroxyurea"),
    ("synacthen", "cosyntropin"),
    ("co-amoxiclav", "amoxicillin-clavulanate"),
    ("bendroflumethiazide", "hydrochlorothiazide"),
    ("pethidine", "meperidine"),
    ("umol/l", "mg/dl"),
    ("g/l", "g/dl"),
    ("kpa", "mmhg"),
    ("mmol/mol", "% (HbA1c)"),
)
# The US words read worldwide (units, and the generic co-amoxiclav is sold under) are fine on PLAB.
_READ_WORLDWIDE = frozenset({"mg/dl", "g/dl", "mmhg", "% (HbA1c)", "amoxicillin-clavulanate"})
# Words too common in options to show that an explanation deals with a distractor.
_COMMON = frozenset(
    """
    the and for with from into only then than not but all any its one two per via
    first next best start stop give take use used given dose daily oral acute chronic
    test tests check repeat urgent drug drugs therapy treatment treat alone plus high
    low raised normal level levels week weeks day days hour hours month months year years
    more less most least other same both each this that what which who why when
    """.split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[-/][a-z0-9]+)*")
_ROMAN = frozenset({"i", "ii", "iii", "iv"})  # Type I error, class IV
_STEM = 5  # words that share their first 5 letters count as one (nitrate, nitrates)


@dataclass(frozen=True)
class Band:
    """The allowed count of items for one letter (or share) in a group of `size` items."""

    low: int
    high: int
    widened: bool

    def holds(self, count: int) -> bool:
        return self.low <= count <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def key_band(size: int) -> Band:
    """20-30 % of `size`, or, when no split of `size` items into four letters fits that,
    one item either side of it (11 items: 2 to 4 each, since 3/3/3/2 is the best split)."""
    low, high = math.ceil(KEY_SHARE_MIN * size), math.floor(KEY_SHARE_MAX * size)
    if 4 * low <= size <= 4 * high:
        return Band(low, high, False)
    return Band(math.floor(KEY_SHARE_MIN * size), math.ceil(KEY_SHARE_MAX * size), True)


def longest_limit(size: int) -> int:
    """Most items of `size` whose key may be the single longest option (30 %, rounded down)."""
    return math.floor(LONGEST_SHARE_MAX * size)


def key_is_single_longest(q: QuestionItem) -> bool:
    key = q.options.get(q.answer, "").strip()
    others = [text.strip() for letter, text in q.options.items() if letter != q.answer]
    return bool(others) and all(len(key) > len(text) for text in others)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _same_word(a: str, b: str) -> bool:
    return a == b or (len(a) >= _STEM and len(b) >= _STEM and a[:_STEM] == b[:_STEM])


def distractor_named(q: QuestionItem) -> str | None:
    """The letter of a distractor the explanation names, or None.

    A distractor is named when the explanation uses one of its own words: a word of the
    option (3+ letters, a number or a roman numeral) that the key does not share and that is not a
    common word such as "oral" or "dose" (plural and singular count as one word).
    """
    key_words = _words(q.options.get(q.answer, ""))
    said = _words(q.explanation)
    for letter in sorted(q.options):
        if letter == q.answer:
            continue
        own = {
            w
            for w in _words(q.options[letter])
            if (len(w) >= 3 or w.isdigit() or w in _ROMAN)
            and w not in _COMMON
            and not any(_same_word(w, k) for k in key_words)
        }
        if any(_same_word(w, s) for w in own for s in said):
            return letter
    return None


def check_rules(bank: Bank, out: Report) -> None:
    """Every item-writing rule over `bank.questions`, each failure with its reason."""
    questions = bank.questions
    _check_items(bank, out)
    _check_key_balance(questions, out)
    _check_longest(questions, out)
    _check_similar(questions, out)


def _check_items(bank: Bank, out: Report) -> None:
    ids = {q.id for q in bank.questions}
    for q in bank.questions:
        check_item_rules(q, ids, out)


def check_item_rules(q: QuestionItem, ids: set[int], out: Report) -> None:
    """The rules one item must meet on its own: sources, locale, a named distractor, its pairs."""
    label, at = f"question {q.id}", q.line_of
    if not q.source.strip():
        out.error(
            q.file,
            q.line,
            f"{label}: no source; add `source:` naming a current guideline or open "
            'textbook with its year or edition, e.g. "NICE NG185 (2020)"',
        )
    elif not re.search(r"\b(19|20)\d\d\b|\b\d+(st|nd|rd|th) ed", q.source):
        out.error(
            q.file,
            at("source"),
            f"{label}: source {q.source!r} gives no year or edition; a reader must "
            "know which version the item follows",
        )
    if not q.locale:
        out.error(q.file, q.line, f"{label}: no locale; add `locale: us`, `uk` or `intl`")
    elif q.locale not in LOCALES:
        out.error(q.file, at("locale"), f"{label}: locale '{q.locale}' must be one of {', '.join(LOCALES)}")
    else:
        _check_locale(q, label, out)
    if distractor_named(q) is None:
        out.error(
            q.file,
            at("explanation"),
            f"{label}: the explanation names no distractor; say why the most tempting "
            "wrong option is wrong, using its words (e.g. 'Sclerosis has a normal pulse')",
        )
    for other in q.pair_with:
        if other not in ids:
            out.error(
                q.file,
                at("pair_with"),
                f"{label}: pair_with names question {other}, which does not exist",
            )
        elif other == q.id:
            out.error(q.file, at("pair_with"), f"{label}: pair_with names the item itself")
    if q.pair_with and not q.pair_reason.strip():
        out.error(
            q.file,
            at("pair_with"),
            f"{label}: pair_with needs a `pair_reason` saying how the two items differ on purpose",
        )


def _check_locale(q: QuestionItem, label: str, out: Report) -> None:
    for track in q.tracks:
        serves = TRACK_LOCALES.get(track)
        if serves is not None and q.locale not in serves:
            out.error(
                q.file,
                q.line_of("locale"),
                f"{label}: a '{q.locale}' item cannot be on track {track}, which serves "
                f"{' and '.join(serves)} items; write the variant that track needs",
            )
    text = " ".join([q.stem, q.explanation, *q.options.values()]).lower()
    words = set(_WORD.findall(text))
    us_tracks = sorted(t for t in q.tracks if "us" in TRACK_LOCALES.get(t, ()))
    uk_tracks = sorted(t for t in q.tracks if "uk" in TRACK_LOCALES.get(t, ()))
    for uk, us in LOCALE_WORDS:
        if uk in words and us not in words and (q.locale == "us" or us_tracks):
            where = f"track {', '.join(us_tracks)}" if us_tracks else f"a '{q.locale}' item"
            out.error(
                q.file, q.line, f"{label}: '{uk}' is a UK name or unit on {where}; write {us} (or both)"
            )
        if us in words and us not in _READ_WORLDWIDE and uk not in words and (q.locale == "uk" or uk_tracks):
            where = f"track {', '.join(uk_tracks)}" if uk_tracks else f"a '{q.locale}' item"
            out.error(q.file, q.line, f"{label}: '{us}' is a US name on {where}; write {uk} (or both)")


def _topics(questions: Sequence[QuestionItem]) -> dict[str, list[QuestionItem]]:
    groups: dict[str, list[QuestionItem]] = defaultdict(list)
    for q in questions:
        groups[q.topic].append(q)
    return dict(sorted(groups.items()))


def _tracks(questions: Sequence[QuestionItem]) -> dict[str, list[QuestionItem]]:
    groups: dict[str, list[QuestionItem]] = defaultdict(list)
    for q in questions:
        for track in q.tracks:
            groups[track].append(q)
    return dict(sorted(groups.items()))


def _check_key_balance(questions: Sequence[QuestionItem], out: Report) -> None:
    # The bank and each topic must balance; a track (what one student sees) should, so a
    # skewed track is a warning.
    groups = [("the bank", list(questions), True)]
    groups += [(f"topic {t}", g, True) for t, g in _topics(questions).items()]
    groups += [(f"track {t}", g, False) for t, g in _tracks(questions).items()]
    for name, group, blocking in groups:
        if len(group) < BALANCE_MIN_ITEMS:
            continue
        band = key_band(len(group))
        keys = Counter(q.answer for q in group)
        for letter in LETTERS:
            count = keys.get(letter, 0)
            if band.holds(count):
                continue
            # Point at the last item with that key (or the last item): the likeliest to change.
            keyed = [q for q in group if q.answer == letter] or group
            last = keyed[-1]
            why = (
                "one item either side of 20-30 %, as no split fits it exactly" if band.widened else "20-30 %"
            )
            (out.error if blocking else out.warn)(
                last.file,
                last.line_of("answer"),
                f"question {last.id}: {name} keys {letter} in {count} of {len(group)} items "
                f"({count / len(group):.0%}); allowed {band} ({why}). "
                f"Rebalance by reordering options in {name}'s items",
            )


def _check_longest(questions: Sequence[QuestionItem], out: Report) -> None:
    groups = [("the bank", list(questions), True)]
    groups += [(f"topic {t}", g, False) for t, g in _topics(questions).items()]
    for name, group, blocking in groups:
        if len(group) < BALANCE_MIN_ITEMS:
            continue
        longest = [q for q in group if key_is_single_longest(q)]
        limit = longest_limit(len(group))
        if len(longest) <= limit:
            continue
        ids = ", ".join(str(q.id) for q in longest)
        message = (
            f"in {name} the key is the single longest option in {len(longest)} of {len(group)} "
            f"items ({len(longest) / len(group):.0%}); at most {limit} (30 %). Lengthen a "
            f"distractor or shorten the key in some of: {ids}"
        )
        last = longest[-1]
        # Bank-wide it is an error; per topic a warning that shows where to work.
        (out.error if blocking else out.warn)(
            last.file, last.line_of("options"), f"question {last.id}: {message}"
        )


def similar_pairs(
    questions: Sequence[QuestionItem], threshold: float = SIMILARITY_THRESHOLD
) -> list[tuple[QuestionItem, QuestionItem, float]]:
    """Every pair of items whose stems score `threshold` or more (token_sort_ratio)."""
    # token_sort_ratio is ratio() of the sorted words: sort each stem once, not once a pair.
    stems = [" ".join(sorted(utils.default_process(q.stem).split())) for q in questions]
    pairs = []
    for i, a in enumerate(questions):
        # One call per item: rapidfuzz scores the rest of the bank in its C loop.
        later = process.extract(
            stems[i], stems[i + 1 :], scorer=fuzz.ratio, score_cutoff=threshold, limit=None
        )
        pairs += [(a, questions[i + 1 + j], score) for _, score, j in sorted(later, key=lambda m: m[2])]
    return pairs


def _paired(a: QuestionItem, b: QuestionItem) -> bool:
    return (b.id in a.pair_with and bool(a.pair_reason.strip())) or (
        a.id in b.pair_with and bool(b.pair_reason.strip())
    )


def _similar(out: Report, a: QuestionItem, b: QuestionItem, score: float) -> None:
    """Report `b` as a near-duplicate of `a`, unless the two are a deliberate pair."""
    if _paired(a, b) or a.id == b.id:
        return
    out.error(
        b.file,
        b.line_of("stem"),
        f"question {b.id}: stem is {score:.0f}% similar to question {a.id} "
        f"({a.file.name}:{a.line_of('stem')}; threshold {SIMILARITY_THRESHOLD}); merge them, "
        f"make them test different points, or mark a deliberate pair with "
        f"`pair_with: [{a.id}]` and a `pair_reason`",
    )


def _check_similar(questions: Sequence[QuestionItem], out: Report) -> None:
    for a, b, score in similar_pairs(questions):
        _similar(out, a, b, score)


def check_near_duplicates(q: QuestionItem, others: Sequence[QuestionItem], out: Report) -> None:
    """`q` against every item of `others` (a draft against the published bank)."""
    stem = utils.default_process(q.stem)
    for other in others:
        score = fuzz.token_sort_ratio(
            utils.default_process(other.stem), stem, score_cutoff=SIMILARITY_THRESHOLD
        )
        if score:
            _similar(out, other, q, score)
