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
    "reviewer",
    "review_by",
)
# Optional at load time so one missing field never hides an item; the rules require
# `source` and `locale` (content/rules.py).
QUESTION_OPTIONAL = ("source", "locale", "pair_with", "pair_reason")
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
    reviewer: str
    review_by: date
    file: Path
    line: int
    source: str = ""
    locale: str = ""
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


def _question(item: LineDict, path: Path, problems: list[Problem]) -> QuestionItem | None:
    f = Fields(item, path, _label(item, "question"), problems)
    lines = f.lines()
    question = QuestionItem(
        id=f.number("id"),
        topic=f.text("topic"),
        tracks=f.words("tracks"),
        difficulty=f.number("difficulty"),
        stem=f.text("stem"),
        options=f.options("options", lines),
        answer=f.letter("answer"),
        explanation=f.text("explanation"),
        reviewer=f.text("reviewer"),
        review_by=f.day("review_by"),
        file=path,
        line=item.line,
        source=f.text("source", required=False),
        locale=f.text("locale", required=False),
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
