"""Search over the study resources for `RES <any words>`: titles, tags, synonyms and questions.

`load_vocabulary` reads what the search knows besides the resources themselves (synonym
groups, taxonomy topics, each resource's tags and locale, the words of the question bank)
once per content folder; `ResourceIndex` is a small inverted index over one library, built
once and asked many times. No I/O after loading and no database: flows pass the library in.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from content import content_root

# How much each kind of match is worth to one query term.
TAG = 3.0  # a whole tag (or a synonym of it), less 0.25 a place down the list, to 2.0
TAG_AGAIN = 0.2  # each further tag with the same meaning
TITLE = 2.5  # a word or phrase of the title
TAG_WORD = 1.5  # one word of a longer tag ("diabetes" in "type 2 diabetes")
TOPIC = 1.0  # the term names one of the resource's topics
QUESTION = 1.0  # questions that mention the term are mostly on one of the resource's topics
KIND = 1.0  # "textbook", "guideline", "video"
NEAR_SPELLING = 85  # rapidfuzz ratio: "myastenia" is 95 from "myasthenia", "astrology" 82 from "serology"
GUESSED = 0.8  # a term found by prefix or near spelling counts a little less than an exact one
# Hits scoring at least this share of the best one are "relevant": ordered language first.
RELEVANT = 0.4
# A question word counts towards a topic only when at least this share of its questions are on it.
QUESTION_SHARE = 0.25
LONGEST_PHRASE = 4
GENERAL = "general"

# Words that carry no subject in the three languages students write.
STOPWORDS = frozenset(
    "a an and the of in on for to with about me my i please pls any some is are on at by "
    "le la les de des du d l un une et ou en sur pour au aux avec "
    "el los las del y o una por para con al sobre".split()
)
# Question fields that are not its text.
_NOT_TEXT = frozenset({"id", "topic", "tracks", "answer", "reviewer", "review_by", "difficulty", "locale"})

try:  # the C loader reads a whole question bank in a fraction of the pure-Python time
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


def fold(text: str) -> str:
    """Lowercase ASCII words separated by single spaces: accents, hyphens and punctuation go."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


@dataclass(frozen=True)
class Entry:
    """What the index needs of one resource."""

    id: str
    title: str
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    tags: tuple[str, ...] = ()
    kind: str = ""
    locale: str = ""


@dataclass(frozen=True)
class Extras:
    """What resources.yaml says of a resource beyond the stored row."""

    tags: tuple[str, ...] = ()
    locale: str = ""


@dataclass
class Vocabulary:
    """Everything the search knows besides the library: loaded once per content folder."""

    groups: list[tuple[str, ...]] = field(default_factory=list)
    # topic key -> the words that name it (key, name, taxonomy synonyms), folded
    topic_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # folded word or synonym phrase of the question bank -> topic -> questions that use it
    question_words: dict[str, Counter[str]] = field(default_factory=dict)
    extras: dict[str, Extras] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float


def _read(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key not in _NOT_TEXT:
                yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _phrases(words: list[str], known: set[str] | dict[str, Any]) -> Iterator[str]:
    """Every word, and every run of up to LONGEST_PHRASE words that `known` holds."""
    for start in range(len(words)):
        yield words[start]
        for size in range(2, LONGEST_PHRASE + 1):
            if start + size <= len(words):
                phrase = " ".join(words[start : start + size])
                if phrase in known:
                    yield phrase


@lru_cache(maxsize=8)
def load_vocabulary(content_path: str = "") -> Vocabulary:
    """Synonyms, taxonomy, resource tags and question words of a content folder; missing parts are empty."""
    root = content_root(content_path)
    vocabulary = Vocabulary()
    for group in _read(root / "synonyms.yaml") or []:
        if isinstance(group, list):
            words = tuple(dict.fromkeys(w for w in (fold(str(x)) for x in group) if w))
            if words:
                vocabulary.groups.append(words)
    taxonomy = _read(root / "taxonomy.yaml")
    for topic in (taxonomy.get("topics") if isinstance(taxonomy, dict) else None) or []:
        if isinstance(topic, dict) and topic.get("key"):
            names = [topic["key"], topic.get("name") or "", *(topic.get("synonyms") or [])]
            vocabulary.topic_words[str(topic["key"])] = tuple(w for w in (fold(str(n)) for n in names) if w)
    for item in _read(root / "resources.yaml") or []:
        if isinstance(item, dict) and item.get("id"):
            tags = tuple(str(t) for t in item.get("tags") or [] if t)
            vocabulary.extras[str(item["id"])] = Extras(tags, str(item.get("locale") or ""))
    known = {word for group in vocabulary.groups for word in group}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted((root / "questions").glob("*.yaml")):
        for question in _read(path) or []:
            if not isinstance(question, dict) or not question.get("topic"):
                continue
            text = fold(" ".join(_strings(question))).split()
            for phrase in set(_phrases(text, known)):
                if phrase not in STOPWORDS:
                    counts[phrase][str(question["topic"])] += 1
    vocabulary.question_words = dict(counts)
    return vocabulary


class ResourceIndex:
    """An inverted index from terms to resources, with the synonym groups folded into terms."""

    def __init__(self, entries: Iterable[Entry], vocabulary: Vocabulary):
        self.entries = list(entries)
        self._position = {entry.id: n for n, entry in enumerate(self.entries)}
        # phrase -> term number; a synonym group is one term
        self._terms: dict[str, int] = {}
        for group in vocabulary.groups:
            number = len(self._terms)
            for word in group:
                self._terms.setdefault(word, number)
        by_topic: dict[str, list[int]] = defaultdict(list)
        postings: dict[tuple[int, int, str], float] = {}

        def post(phrase: str, resource: int, kind: str, weight: float) -> None:
            if not phrase or (phrase in STOPWORDS and kind != "tag"):
                return
            key = (self._term(phrase), resource, kind)
            if kind == "tag" and key in postings:  # tags come first-is-main: keep the best, add a little
                weight = max(postings[key], weight) + TAG_AGAIN
            postings[key] = max(postings.get(key, 0.0), weight)

        for entry in self.entries:  # every tag is a phrase a title may hold too
            for tag in entry.tags:
                self._term(fold(tag))
        for n, entry in enumerate(self.entries):
            for word in _phrases(fold(entry.title).split(), self._terms):
                post(word, n, "title", TITLE)
            for place, tag in enumerate(entry.tags):
                folded = fold(tag)
                post(folded, n, "tag", TAG - 0.25 * min(place, 4))
                for word in _phrases(folded.split(), self._terms):
                    if word != folded:
                        post(word, n, "tag word", TAG_WORD)
            post(fold(entry.kind), n, "kind", KIND)
            for topic in entry.topics:
                by_topic[topic].append(n)
                for word in vocabulary.topic_words.get(topic, (fold(topic),)):
                    post(word, n, "topic", TOPIC)
        self._postings: dict[int, dict[int, float]] = defaultdict(dict)
        for (term, resource, _), weight in postings.items():
            self._postings[term][resource] = self._postings[term].get(resource, 0.0) + weight
        # term -> [(resources of a topic, share of the term's questions on it)]
        self._question_topics: dict[int, list[tuple[list[int], float]]] = defaultdict(list)
        for phrase, topics in vocabulary.question_words.items():
            total = sum(topics.values())
            shares = [
                (by_topic[t], c / total)
                for t, c in topics.items()
                if t in by_topic and c / total >= QUESTION_SHARE
            ]
            if shares:
                self._question_topics[self._term(phrase)].extend(shares)
        # Typos are mended towards words of the library and the synonym groups, not of every question.
        named = {word for group in vocabulary.groups for word in group}
        self._words = sorted(
            p
            for p, t in self._terms.items()
            if " " not in p and len(p) >= 3 and (t in self._postings or p in named)
        )

    def _term(self, phrase: str) -> int:
        return self._terms.setdefault(phrase, len(self._terms))

    def _guess(self, word: str) -> str | None:
        """A known word that `word` starts, or is a near spelling of (a typo)."""
        if len(word) < 4:
            return None
        starts = [known for known in self._words if known.startswith(word)]
        if starts:
            return min(starts, key=len)
        found = process.extractOne(word, self._words, scorer=fuzz.ratio, score_cutoff=NEAR_SPELLING)
        return found[0] if found else None

    def query_terms(self, query: str) -> list[tuple[int, float]]:
        """The terms a query names, longest phrases first, each with how sure the match is."""
        words = fold(query).split()[:12]
        terms: list[tuple[int, float]] = []
        start = 0
        while start < len(words):
            for size in range(min(LONGEST_PHRASE, len(words) - start), 0, -1):
                phrase = " ".join(words[start : start + size])
                if phrase in self._terms and (size > 1 or phrase not in STOPWORDS):
                    terms.append((self._terms[phrase], 1.0))
                    start += size
                    break
            else:
                word = words[start]
                guess = None if word in STOPWORDS else self._guess(word)
                if guess is not None:
                    terms.append((self._terms[guess], GUESSED))
                start += 1
        return list(dict.fromkeys(terms))

    def scores(self, query: str) -> dict[str, float]:
        """Resource id -> score for every resource the query matches at all."""
        totals: dict[int, float] = defaultdict(float)
        for term, certainty in self.query_terms(query):
            for resource, weight in self._postings.get(term, {}).items():
                totals[resource] += weight * certainty
            for resources, share in self._question_topics.get(term, []):
                for resource in resources:
                    totals[resource] += QUESTION * share * certainty
        return {self.entries[n].id: score for n, score in totals.items()}

    def order(self, scores: dict[str, float], ids: Iterable[str], language: str) -> list[str]:
        """`ids` best first: relevant ones in the student's language, then English, then others."""
        best = max((scores.get(i, 0.0) for i in ids), default=0.0)

        def key(ident: str) -> tuple[bool, int, float, int]:
            score = scores.get(ident, 0.0)
            languages = self.entries[self._position[ident]].languages
            rank = 0 if language in languages else 1 if "en" in languages else 2
            return (score < RELEVANT * best or best == 0, rank, -score, self._position[ident])

        return sorted(ids, key=key)

    def search(self, query: str, language: str = "en", limit: int | None = None) -> list[Hit]:
        """Matching resources, best first for a student reading `language`."""
        scores = self.scores(query)
        ranked = self.order(scores, list(scores), language)
        return [Hit(ident, scores[ident]) for ident in ranked[:limit]]


def entries_from_content(content_path: str = "") -> list[Entry]:
    """The library as resources.yaml writes it (the bench and tests search it without a database)."""
    entries = []
    for item in _read(content_root(content_path) / "resources.yaml") or []:
        if isinstance(item, dict) and item.get("id"):
            entries.append(
                Entry(
                    id=str(item["id"]),
                    title=str(item.get("title") or ""),
                    topics=tuple(item.get("topics") or ()),
                    languages=tuple(item.get("languages") or ()),
                    tags=tuple(str(t) for t in item.get("tags") or ()),
                    kind=str(item.get("kind") or ""),
                    locale=str(item.get("locale") or ""),
                )
            )
    return entries
