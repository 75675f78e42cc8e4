"""The content folder as typed records: taxonomy, questions, resources and catalog files.

`load_bank` never raises on bad data: a file or item of the wrong shape becomes a
`Problem` and is left out, so one broken question never hides the others.
`render_question` is the one place that decides how a question reads by SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from content import content_root
from content.programs import ProgramItem, read_programs
from content.report import Problem
from content.segments import normalise
from content.source import Fields, LineDict, LineList, items_of, read_yaml
from content.translations import TranslationItem, read_translations
from store.authoring import EXTERNAL, INTERNAL, parse_source, source_text

LETTERS = ("A", "B", "C", "D")
# Budgets (content/README.md): a question goes out in two SMS segments, feedback
# (verdict, letter, explanation, streak) in one, any other message in at most three.
QUESTION_SEGMENTS = 2
EXPLANATION_MAX = 125
MESSAGE_SEGMENTS = 3
QUESTION_FIELDS = (
    "id",
    "topic",
    "tracks",
    "difficulty",
    "stem",
    "options",
    "answer",
    "explanation",
    "review_by",
)
# Optional at load time so one missing field never hides an item; the rules require
# `source` and `locale` (content/rules.py). Provenance is either today's `reviewer:` (the
# author; reviewed in-house only) or `author:`, `reviewers:` (name and date each) and `review:`.
# Sources are `source: "Title (year)"` or `sources:` [{title, edition, url}].
QUESTION_OPTIONAL = (
    "source",
    "sources",
    "locale",
    "pair_with",
    "pair_reason",
    "reviewer",
    "author",
    "reviewers",
    "review",
)
LOCALES = ("us", "uk", "intl")
RESOURCE_FIELDS = (
    "id",
    "title",
    "url",
    "topics",
    "kind",
    "languages",
    "locale",
    "tags",
    "checked",
    "checked_how",
)
RESOURCE_OPTIONAL = ("note",)


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    synonyms: tuple[str, ...]
    file: Path
    line: int


@dataclass(frozen=True)
class Track:
    key: str
    name: str
    file: Path
    line: int


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...] = ()
    tracks: tuple[Track, ...] = ()

    @property
    def topic_keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.topics)

    @property
    def track_keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.tracks)


@dataclass(frozen=True, eq=False)
class QuestionItem:
    """One question as written in questions/<topic>.yaml."""

    id: int
    topic: str
    tracks: tuple[str, ...]
    difficulty: int
    stem: str
    options: dict[str, str]
    answer: str
    explanation: str
    # The author (today's `reviewer:` field names the author of an in-house item).
    reviewer: str
    review_by: date
    file: Path
    line: int
    # The sources in one line, "; " between them, for the rules and messages.
    source: str = ""
    locale: str = ""
    # Provenance: who signed the item off ({"name", "date"} each; none for an in-house item)
    # and how it was reviewed ("internal", "peer", ...); the sources as {"title", "edition", "url"}.
    reviewers: tuple[dict[str, str], ...] = ()
    review: str = "internal"
    sources: tuple[dict[str, str], ...] = ()
    # Items deliberately alike (a stem above the similarity threshold), and why.
    pair_with: tuple[int, ...] = ()
    pair_reason: str = ""
    # Line of each field, and of each option as "options.A".
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, name: str) -> int:
        return self.lines.get(name, self.line)


@dataclass(frozen=True, eq=False)
class ResourceItem:
    """One study resource as written in resources.yaml."""

    id: str
    title: str
    url: str
    topics: tuple[str, ...]
    kind: str
    languages: tuple[str, ...]
    note: str
    file: Path
    line: int
    lines: dict[str, int] = field(default_factory=dict)
    locale: str = ""  # us, uk or intl: whose practice it describes
    tags: tuple[str, ...] = ()  # what RES searches besides the title
    checked: date = date.min  # when the URL was last checked
    checked_how: str = ""  # and how, said as it was

    def line_of(self, name: str) -> int:
        return self.lines.get(name, self.line)


@dataclass(frozen=True, eq=False)
class SynonymGroup:
    """One line of synonyms.yaml: words RES searches for as one."""

    words: tuple[str, ...]
    file: Path
    line: int


@dataclass(frozen=True, eq=False)
class CatalogFile:
    """One language's messages, with the line of each key."""

    language: str
    file: Path
    messages: dict[str, str]
    lines: dict[str, int]


@dataclass
class Bank:
    root: Path
    taxonomy: Taxonomy = field(default_factory=Taxonomy)
    questions: list[QuestionItem] = field(default_factory=list)
    resources: list[ResourceItem] = field(default_factory=list)
    synonyms: list[SynonymGroup] = field(default_factory=list)
    catalogs: dict[str, CatalogFile] = field(default_factory=dict)
    programs: list[ProgramItem] = field(default_factory=list)
    translations: list[TranslationItem] = field(default_factory=list)
    # Every id a question file gives, its item loaded or not (one with errors is left out of
    # `questions`): a translation of such an item waits for the English fix, adding no error.
    written_ids: set[int] = field(default_factory=set)
    # A question file that could not be read at all: its ids are unknown.
    unread_question_files: bool = False
    problems: list[Problem] = field(default_factory=list)


class QuestionLike(Protocol):
    """A bank QuestionItem or a stored store.models.Question: both render the same."""

    @property
    def id(self) -> int: ...

    @property
    def stem(self) -> str: ...

    @property
    def options(self) -> Mapping[str, Any]: ...


def render_question(question: QuestionLike) -> str:
    """The question as sent: `Q{id} {stem}` then one `A) ...` line per option, GSM-7 normalised."""
    lines = [f"Q{question.id} {question.stem.strip()}"]
    lines += [f"{letter}) {str(text).strip()}" for letter, text in sorted(question.options.items())]
    return normalise("\n".join(lines))


def _label(item: LineDict, what: str) -> str:
    ident = item.get("id")
    return f"{what} {ident}" if isinstance(ident, int | str) else what


def _sources(f: Fields) -> tuple[dict[str, str], ...]:
    """`source: "Title (2023)"` or `sources: [{title, edition, url}]` as source records."""
    one, many = f.item.get("source"), f.item.get("sources")
    if one is not None and many is not None:
        f.fail("sources", "give `source:` or `sources:`, not both")
        return ()
    if many is None:
        text = f.text("source", required=False)
        return (parse_source(text),) if text.strip() else ()
    if not isinstance(many, list) or not all(isinstance(s, dict) for s in many):
        f.fail("sources", 'sources must be a list of {title: "...", edition: "2023", url: "https://..."}')
        return ()
    found = []
    for source in many:
        bad = sorted(set(map(str, source)) - {"title", "edition", "url"})
        if bad or not all(isinstance(v, str) for v in source.values()):
            f.fail("sources", f"a source takes text fields title, edition and url; got {dict(source)!r}")
            return ()
        found.append({k: source[k].strip() for k in ("title", "edition", "url") if source.get(k, "").strip()})
    return tuple(found)


def _provenance(f: Fields) -> tuple[str, tuple[dict[str, str], ...], str]:
    """(author, reviewers, review): today's `reviewer: X` means author X, reviewers [], review internal."""
    if "reviewer" in f.item:
        if any(name in f.item for name in ("author", "reviewers", "review")):
            f.fail(
                "reviewer", "give `reviewer:` (the old form) or `author:`/`reviewers:`/`review:`, not both"
            )
        return f.text("reviewer"), (), INTERNAL
    author = f.text("author")
    raw = f.item.get("reviewers")
    reviewers: list[dict[str, str]] = []
    if raw is not None:
        if not isinstance(raw, list):
            f.fail("reviewers", 'reviewers must be a list of {name: "...", date: 2027-01-31}, or []')
            raw = []
        for entry in raw:
            when = entry.get("date") if isinstance(entry, dict) else None
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("name"), str)
                or not isinstance(when, date)
            ):
                f.fail("reviewers", f"each reviewer needs a name and a date like 2027-01-31, not {entry!r}")
                continue
            reviewers.append({"name": entry["name"].strip(), "date": when.isoformat()})
    # Named reviewers without a word on how: they are not the in-house team's.
    review = f.text("review", required=False) or (EXTERNAL if reviewers else INTERNAL)
    return author, tuple(reviewers), review


def _question(item: LineDict, path: Path, problems: list[Problem]) -> QuestionItem | None:
    f = Fields(item, path, _label(item, "question"), problems)
    lines = f.lines()
    author, reviewers, review = _provenance(f)
    sources = _sources(f)
    question = QuestionItem(
        id=f.number("id"),
        topic=f.text("topic"),
        tracks=f.words("tracks"),
        difficulty=f.number("difficulty"),
        stem=f.text("stem"),
        options=f.options("options", lines),
        answer=f.letter("answer"),
        explanation=f.text("explanation"),
        reviewer=author,
        review_by=f.day("review_by"),
        file=path,
        line=item.line,
        source="; ".join(source_text(s) for s in sources),
        locale=f.text("locale", required=False),
        reviewers=reviewers,
        review=review,
        sources=sources,
        pair_with=f.numbers("pair_with"),
        pair_reason=f.text("pair_reason", required=False),
        lines=lines,
    )
    f.unknown(QUESTION_FIELDS + QUESTION_OPTIONAL)
    return question if f.ok else None


def _resource(item: LineDict, path: Path, problems: list[Problem]) -> ResourceItem | None:
    f = Fields(item, path, _label(item, "resource"), problems)
    resource = ResourceItem(
        id=f.text("id"),
        title=f.text("title"),
        url=f.text("url"),
        topics=f.words("topics"),
        kind=f.text("kind"),
        languages=f.words("languages"),
        note=f.text("note", required=False),
        file=path,
        line=item.line,
        lines=f.lines(),
        locale=f.text("locale"),
        tags=f.words("tags"),
        checked=f.day("checked"),
        checked_how=f.text("checked_how"),
    )
    f.unknown(RESOURCE_FIELDS + RESOURCE_OPTIONAL)
    return resource if f.ok else None


def _synonyms(path: Path, problems: list[Problem]) -> list[SynonymGroup]:
    """The groups of synonyms.yaml; a missing file is no groups (the search then uses tags alone)."""
    if not path.exists():
        return []
    data, trouble = read_yaml(path)
    problems += trouble
    if trouble or data is None:
        return []
    if not isinstance(data, LineList):
        problems.append(
            Problem(path, getattr(data, "line", 1), "expected a list of groups, one a line: - [a, b, c]")
        )
        return []
    groups = []
    for index, group in enumerate(data):
        line = data.line_of(index)
        if not isinstance(group, list) or not all(isinstance(w, str) for w in group):
            problems.append(
                Problem(path, line, f"a group must be a list of words like [mi, heart attack], not {group!r}")
            )
        else:
            groups.append(SynonymGroup(tuple(group), path, line))
    return groups


def _taxonomy(path: Path, problems: list[Problem]) -> Taxonomy:
    data, trouble = read_yaml(path)
    problems += trouble
    if trouble:
        return Taxonomy()
    if not isinstance(data, LineDict):
        problems.append(Problem(path, 1, "expected `topics:` and `tracks:` lists"))
        return Taxonomy()
    topics, tracks = [], []
    for key, what in (("topics", "topic"), ("tracks", "track")):
        if key not in data:
            problems.append(Problem(path, 1, f"'{key}' is missing"))
            continue
        for item in items_of(data[key], path, what, problems):
            f = Fields(item, path, f"{what} {item.get('key', '')}".strip(), problems)
            ident, name = f.text("key"), f.text("name")
            if what == "topic":
                synonyms = f.words("synonyms", required=False)
                f.unknown(("key", "name", "synonyms"))
                if f.ok:
                    topics.append(Topic(ident, name, synonyms, path, item.line))
            else:
                f.unknown(("key", "name"))
                if f.ok:
                    tracks.append(Track(ident, name, path, item.line))
    return Taxonomy(tuple(topics), tuple(tracks))


def _catalog(path: Path, problems: list[Problem]) -> CatalogFile | None:
    data, trouble = read_yaml(path)
    problems += trouble
    if trouble:
        return None
    if data is None:
        data = LineDict()
    if not isinstance(data, LineDict):
        problems.append(Problem(path, 1, 'expected `key: "message"` lines'))
        return None
    messages = {}
    for key, text in data.items():
        line = data.line_of(str(key))
        if not isinstance(text, str):
            problems.append(Problem(path, line, f"message '{key}' must be text, not {text!r}"))
            continue
        messages[str(key)] = text
    for key, line in data.duplicate_keys:
        problems.append(Problem(path, line, f"message '{key}' is given twice; keep one"))
    return CatalogFile(path.stem, path, messages, dict(data.key_lines))


def read_taxonomy(root: Path | str | None = None) -> Taxonomy:
    """The topics and tracks of a content folder alone (a draft is checked against them)."""
    return _taxonomy(content_root(str(root) if root else "") / "taxonomy.yaml", [])


def load_bank(root: Path | str | None = None) -> Bank:
    """Read every content file under `root` (default: the configured or bundled folder)."""
    root = content_root(str(root) if root else "")
    bank = Bank(root=root)
    problems = bank.problems
    bank.taxonomy = _taxonomy(root / "taxonomy.yaml", problems)

    question_files = sorted((root / "questions").glob("*.yaml"))
    if not question_files:
        problems.append(Problem(root / "questions", 1, "no questions/*.yaml files"))
    for path in question_files:
        data, trouble = read_yaml(path)
        problems += trouble
        bank.unread_question_files |= bool(trouble)
        for item in [] if trouble else items_of(data, path, "question", problems):
            if isinstance(item.get("id"), int):
                bank.written_ids.add(item["id"])
            if (question := _question(item, path, problems)) is not None:
                bank.questions.append(question)

    path = root / "resources.yaml"
    data, trouble = read_yaml(path)
    problems += trouble
    for item in [] if trouble else items_of(data, path, "resource", problems):
        if (resource := _resource(item, path, problems)) is not None:
            bank.resources.append(resource)

    bank.synonyms = _synonyms(root / "synonyms.yaml", problems)

    for path in sorted((root / "catalog").glob("*.yaml")):
        if (catalog := _catalog(path, problems)) is not None:
            bank.catalogs[catalog.language] = catalog
    bank.programs = read_programs(root, problems)
    bank.translations = read_translations(root, problems)
    return bank
