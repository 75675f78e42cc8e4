"""The question bank's history and review workflow: every version of every item in every language
(drafts included), the reviews given on them, and who may do what to them.

The `questions` row stays the published English text students are served; publishing an English
version rewrites it and bumps its `version`. Publishing a French or Spanish version hands its text
to `store.translations.publish_translation`. Who may act is decided here, in `allow`, for the
console, the API and the command line alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.admin import ADMIN, EDUCATOR, REVIEWER, AdminUser
from store.learning import forget_bank
from store.models import Base, Question, utcnow
from store.text import CleanString, CleanText
from store.translations import publish_translation

# QuestionVersion.status: written, submitted for review, served, and no longer served (withdrawn,
# or replaced by a newer published version).
DRAFT, REVIEW, PUBLISHED, RETIRED = "draft", "review", "published", "retired"
STATUSES = (DRAFT, REVIEW, PUBLISHED, RETIRED)
OPEN = (DRAFT, REVIEW)
# QuestionVersion.origin: loaded from the YAML seed, or written by an educator. A content load
# updates only items whose newest version came from the seed (see content/seed.py).
SEED, CONSOLE = "seed", "console"
# QuestionVersion.review: how the published text was reviewed: in-house only, through the
# workflow's approvals, or by named reviewers outside it (the YAML files may say other words).
INTERNAL, PEER, EXTERNAL = "internal", "peer", "external"
# QuestionReview.verdict
APPROVE, CHANGES = "approve", "changes"
VERDICTS = (APPROVE, CHANGES)
ENGLISH = "en"
LANGUAGES = (ENGLISH, "fr", "es")
LOCALES = ("us", "uk", "intl")
LETTERS = ("A", "B", "C", "D")
# A change to any of these is a change of what the student reads: approvals start again.
CONTENT_FIELDS = ("stem", "options", "answer", "explanation")
# What an educator may set on an English draft; a translation takes only the words.
ITEM_FIELDS = (
    "topic",
    "tracks",
    "difficulty",
    "locale",
    *CONTENT_FIELDS,
    "sources",
    "review_by",
    "pair_with",
    "pair_reason",
)
TRANSLATION_FIELDS = ("stem", "options", "explanation")
# Items written in the console get ids above every topic block of the YAML seed (1xx to 14xx),
# so a file added later never collides with them.
FIRST_CONSOLE_ID = 100_001
AUTHOR_MAX = 80
SOURCE_TITLE_MAX = 200


class VersionColumns:
    """The workflow's columns on every versioned text (a question's, a program's): who wrote it,
    who signed it off, where it stands and when it moved."""

    author: Mapped[str] = mapped_column(CleanString(AUTHOR_MAX), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    # Who signed the published text off: [{"name": ..., "date": "YYYY-MM-DD"}]; [] for in-house.
    reviewers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(CleanString(16), default=DRAFT)
    origin: Mapped[str] = mapped_column(CleanString(8), default=CONSOLE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]


class ReviewColumns:
    """One reviewer's verdict on one version (a question's or a program's)."""

    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    reviewer: Mapped[str] = mapped_column(CleanString(254))
    verdict: Mapped[str] = mapped_column(CleanString(8))
    note: Mapped[str] = mapped_column(CleanText, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[bool] = mapped_column(Boolean, default=True)


class QuestionVersion(VersionColumns, Base):
    """One version of one question in one language: a draft, a submission, or published text."""

    __tablename__ = "question_versions"
    __table_args__ = (
        UniqueConstraint("question_id", "language", "version", name="uq_question_versions"),
        Index("ix_question_versions_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: a new item's first draft has an id before it has a questions row.
    question_id: Mapped[int] = mapped_column(Integer, index=True)
    language: Mapped[str] = mapped_column(CleanString(8), default=ENGLISH)
    # English: the questions.version this becomes when published. fr/es: the language's own count.
    version: Mapped[int] = mapped_column(Integer)
    # fr/es only: the English version this text translates.
    base_version: Mapped[int | None] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(CleanString(32), default="")
    tracks: Mapped[list[str]] = mapped_column(default=list)
    difficulty: Mapped[int] = mapped_column(Integer, default=2)
    locale: Mapped[str] = mapped_column(CleanString(8), default="")
    stem: Mapped[str] = mapped_column(CleanText, default="")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answer: Mapped[str] = mapped_column(CleanString(1), default="")
    explanation: Mapped[str] = mapped_column(CleanText, default="")
    # [{"title": ..., "edition": "2023", "url": ...}], at least one before it can be submitted.
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    review: Mapped[str] = mapped_column(CleanString(16), default=INTERNAL)
    review_by: Mapped[date | None] = mapped_column(Date)
    pair_with: Mapped[list[int]] = mapped_column(JSON, default=list)
    pair_reason: Mapped[str] = mapped_column(CleanString(400), default="")


class QuestionReview(ReviewColumns, Base):
    """One reviewer's verdict on one version; `counts` turns off when the text it judged changes."""

    __tablename__ = "question_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("question_versions.id", ondelete="CASCADE"), index=True
    )


# --- refusals: what the caller shows (the API maps `status` to its HTTP answer) ----------------


class Refused(Exception):
    """An action the workflow does not allow; the message says why and what to do."""

    status = 409

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class Forbidden(Refused):
    status = 403


class NotFound(Refused):
    status = 404


class Invalid(Refused):
    status = 400


# --- who may do what: the one place ------------------------------------------------------------

WRITE, REVIEW_IT, PUBLISH = "write", "review", "publish"
_NEEDS = {WRITE: EDUCATOR, REVIEW_IT: REVIEWER, PUBLISH: REVIEWER}


class Authored(Protocol):
    """What `allow` reads of a version: a question's or a program's."""

    author_id: int | None
    author: str
    status: str


class Verdict(Protocol):
    """What `approvers` reads of a review: a question's or a program's."""

    reviewer: str
    verdict: str
    counts: bool


def allow(actor: AdminUser, action: str, version: Authored | None = None, what: str = "questions") -> None:
    """Raise Forbidden unless `actor` may `action` (write, review, publish) `version` of `what`.

    Writing needs the educator role, reviewing and publishing the reviewer role (an admin holds
    both). Nobody reviews an item they wrote, admins included; only its author (or an admin)
    edits or submits a draft.
    """
    needed = _NEEDS[action]
    if not actor.holds(needed):
        raise Forbidden(
            f"{actor.email} is a {' + '.join(actor.roles)}; to {action} {what} an account needs the "
            f"{needed} role (rounds admin grant {actor.email} --role {needed})"
        )
    if version is None:
        return
    own = version.author_id == actor.id
    if action == REVIEW_IT and own:
        raise Forbidden("you wrote this version; another reviewer must review it")
    if action == WRITE and version.status in OPEN and not own and actor.role != ADMIN:
        raise Forbidden(
            f"this draft is {version.author}'s; ask for changes in a review instead of editing it"
        )


# --- reading -------------------------------------------------------------------------------------


def versions_of(session: Session, question_id: int, language: str | None = None) -> list[QuestionVersion]:
    """Every version of a question (in one language, or all), oldest first."""
    query = select(QuestionVersion).where(QuestionVersion.question_id == question_id)
    if language is not None:
        query = query.where(QuestionVersion.language == language)
    return list(session.scalars(query.order_by(QuestionVersion.language, QuestionVersion.version)))


def latest_version(session: Session, question_id: int, language: str = ENGLISH) -> QuestionVersion | None:
    """The newest version in `language`, whatever its status."""
    return session.scalar(
        select(QuestionVersion)
        .where(QuestionVersion.question_id == question_id, QuestionVersion.language == language)
        .order_by(QuestionVersion.version.desc())
        .limit(1)
    )


def published_version(session: Session, question_id: int, language: str = ENGLISH) -> QuestionVersion | None:
    """The version in `language` students are served now, if any."""
    return session.scalar(
        select(QuestionVersion).where(
            QuestionVersion.question_id == question_id,
            QuestionVersion.language == language,
            QuestionVersion.status == PUBLISHED,
        )
    )


def open_version(session: Session, question_id: int, language: str = ENGLISH) -> QuestionVersion | None:
    """The draft or submitted version in `language` (at most one at a time)."""
    return session.scalar(
        select(QuestionVersion).where(
            QuestionVersion.question_id == question_id,
            QuestionVersion.language == language,
            QuestionVersion.status.in_(OPEN),
        )
    )


V = TypeVar("V", bound=Verdict)


def reviews_of(session: Session, version_ids: Iterable[int]) -> dict[int, list[QuestionReview]]:
    """version id -> its reviews, oldest first."""
    ids = list(version_ids)
    found: dict[int, list[QuestionReview]] = {i: [] for i in ids}
    if ids:
        query = select(QuestionReview).where(QuestionReview.version_id.in_(ids)).order_by(QuestionReview.id)
        for row in session.scalars(query):
            found[row.version_id].append(row)
    return found


def approvers(reviews: Iterable[V]) -> list[V]:
    """The approvals that count: each reviewer's latest counting verdict, when it is approve."""
    latest: dict[str, V] = {}
    for row in reviews:
        if row.counts:
            latest[row.reviewer] = row
    return [row for row in latest.values() if row.verdict == APPROVE]


def approval_count(session: Session, version: QuestionVersion) -> int:
    return len(approvers(reviews_of(session, [version.id])[version.id]))


@dataclass(frozen=True)
class Listed:
    """One row of the question list: a question in one language, at its newest version."""

    version: QuestionVersion
    published: int | None  # the published version number in that language, if any
    approvals: int


def list_items(
    session: Session,
    status: str | None = None,
    topic: str | None = None,
    track: str | None = None,
    language: str | None = None,
) -> list[Listed]:
    """The newest version of each question per language, filtered, by id then language."""
    newest = (
        select(
            QuestionVersion.question_id,
            QuestionVersion.language,
            func.max(QuestionVersion.version).label("top"),
        )
        .group_by(QuestionVersion.question_id, QuestionVersion.language)
        .subquery()
    )
    query = select(QuestionVersion).join(
        newest,
        (newest.c.question_id == QuestionVersion.question_id)
        & (newest.c.language == QuestionVersion.language)
        & (newest.c.top == QuestionVersion.version),
    )
    if status:
        query = query.where(QuestionVersion.status == status)
    if topic:
        query = query.where(QuestionVersion.topic == topic)
    if language:
        query = query.where(QuestionVersion.language == language)
    rows = [
        v
        for v in session.scalars(query.order_by(QuestionVersion.question_id, QuestionVersion.language))
        if not track or track in (v.tracks or [])
    ]
    published = {
        (qid, lang): number
        for qid, lang, number in session.execute(
            select(QuestionVersion.question_id, QuestionVersion.language, QuestionVersion.version).where(
                QuestionVersion.status == PUBLISHED
            )
        )
    }
    reviews = reviews_of(session, [v.id for v in rows if v.status in OPEN])
    return [
        Listed(v, published.get((v.question_id, v.language)), len(approvers(reviews.get(v.id, []))))
        for v in rows
    ]


def review_queue(session: Session, actor: AdminUser) -> list[QuestionVersion]:
    """Submitted versions `actor` may review and has not approved yet, oldest submission first."""
    waiting = list(
        session.scalars(
            select(QuestionVersion)
            .where(QuestionVersion.status == REVIEW)
            .order_by(QuestionVersion.submitted_at, QuestionVersion.id)
        )
    )
    reviews = reviews_of(session, [v.id for v in waiting])
    return [
        v
        for v in waiting
        if v.author_id != actor.id and actor.email not in {r.reviewer for r in approvers(reviews[v.id])}
    ]


def history(session: Session, question_id: int, language: str | None = None) -> list[dict[str, Any]]:
    """An item's life as plain data, oldest first: each version with its status, dates and reviews."""
    versions = versions_of(session, question_id, language)
    reviews = reviews_of(session, [v.id for v in versions])
    return [
        {
            "version": v.version,
            "language": v.language,
            "base_version": v.base_version,
            "status": v.status,
            "origin": v.origin,
            "author": v.author,
            "created_at": v.created_at,
            "updated_at": v.updated_at,
            "submitted_at": v.submitted_at,
            "published_at": v.published_at,
            "reviewers": list(v.reviewers or []),
            "review": v.review,
            "approvals": len(approvers(reviews[v.id])),
            "reviews": [
                {"reviewer": r.reviewer, "verdict": r.verdict, "note": r.note, "at": r.at, "counts": r.counts}
                for r in reviews[v.id]
            ],
        }
        for v in versions
    ]


def _fields(version: QuestionVersion) -> dict[str, Any]:
    """What a diff compares: each item field, with one entry per option letter."""
    values: dict[str, Any] = {name: getattr(version, name) for name in ITEM_FIELDS if name != "options"}
    for letter in sorted(set(LETTERS) | set(version.options or {})):
        values[f"options.{letter}"] = (version.options or {}).get(letter)
    values["sources"] = [dict(s) for s in version.sources or []]
    return values


def diff(
    session: Session, question_id: int, before: int, after: int, language: str = ENGLISH
) -> list[dict[str, Any]]:
    """Field by field, what changed from version `before` to `after`: [{field, before, after}].

    Options are compared letter by letter ("options.B"). Raises NotFound for a missing version.
    """
    found = {v.version: v for v in versions_of(session, question_id, language)}
    for number in (before, after):
        if number not in found:
            raise NotFound(f"question {question_id} has no {language} version {number}")
    old, new = _fields(found[before]), _fields(found[after])
    return [
        {"field": name, "before": old.get(name), "after": new.get(name)}
        for name in new
        if old.get(name) != new.get(name)
    ]


# --- checking what an educator sends ------------------------------------------------------------

_EDITION = re.compile(r"^(?P<title>.*\S)\s*\((?P<edition>[^()]*)\)\s*$")


def parse_source(text: str) -> dict[str, str]:
    """`"NICE NG136 Hypertension (2023)"` -> {"title": "NICE NG136 Hypertension", "edition": "2023"}."""
    match = _EDITION.match(text.strip())
    if match is None:
        return {"title": text.strip(), "edition": ""}
    return {"title": match["title"], "edition": match["edition"].strip()}


def source_text(source: Mapping[str, Any]) -> str:
    """The one-line form of a source, as `source:` in the YAML files: "Title (edition)"."""
    title, edition = str(source.get("title") or "").strip(), str(source.get("edition") or "").strip()
    return f"{title} ({edition})" if edition else title


def _sources(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise Invalid(
            'sources must be a list like [{"title": "NICE NG136", "edition": "2023", "url": "https://..."}]'
        )
    cleaned = []
    for item in value:
        if isinstance(item, str):
            item = parse_source(item)
        if not isinstance(item, dict) or not str(item.get("title") or "").strip():
            raise Invalid("each source needs a title (and an edition or year; a url is optional)")
        source = {"title": str(item["title"]).strip()[:SOURCE_TITLE_MAX]}
        source["edition"] = str(item.get("edition") or item.get("year") or "").strip()[:40]
        if str(item.get("url") or "").strip():
            url = str(item["url"]).strip()
            if not url.startswith("https://") or len(url) > 400 or any(c.isspace() for c in url):
                raise Invalid(f"source url {url[:60]!r} must be an https:// address without spaces")
            source["url"] = url
        cleaned.append(source)
    return cleaned


def _text(name: str, value: Any, limit: int = 2000) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text")
    if "\x00" in value:
        raise Invalid(f"{name} contains a NUL character")
    if len(value) > limit:
        raise Invalid(f"{name} is {len(value)} characters; at most {limit} (an SMS question is far shorter)")
    return value.strip()


def clean_changes(changes: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The changes as column values, or Invalid naming the first field that is wrong."""
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise Invalid(f"unknown field(s) {', '.join(unknown)}; a draft takes {', '.join(allowed)}")
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("stem", "explanation"):
            out[name] = _text(name, value)
        elif name in ("topic", "locale", "pair_reason"):
            out[name] = _text(name, value, 400 if name == "pair_reason" else 32)
        elif name == "answer":
            letter = _text(name, value, 1).upper()
            if letter not in LETTERS:
                raise Invalid("answer must be one letter, A, B, C or D")
            out[name] = letter
        elif name == "options":
            if not isinstance(value, dict) or sorted(str(k).upper() for k in value) != list(LETTERS):
                raise Invalid('options must be {"A": "...", "B": "...", "C": "...", "D": "..."}')
            out[name] = {str(k).upper(): _text(f"option {k}", v, 500) for k, v in sorted(value.items())}
        elif name == "tracks":
            if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
                raise Invalid('tracks must be a list like ["step1", "general"]')
            out[name] = [t.strip()[:16] for t in value]
        elif name == "pair_with":
            if not isinstance(value, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in value
            ):
                raise Invalid("pair_with must be a list of question ids")
            out[name] = list(value)
        elif name == "difficulty":
            if value not in (1, 2, 3) or isinstance(value, bool):
                raise Invalid("difficulty must be 1, 2 or 3")
            out[name] = value
        elif name == "review_by":
            try:
                out[name] = None if value in (None, "") else date.fromisoformat(str(value))
            except ValueError:
                raise Invalid(f"review_by must be a date like 2027-10-15, got {str(value)[:20]!r}") from None
        elif name == "sources":
            out[name] = _sources(value)
    return out


# --- the workflow ------------------------------------------------------------------------------


def _item_values(version: QuestionVersion) -> dict[str, Any]:
    return {name: getattr(version, name) for name in (*ITEM_FIELDS, "base_version")}


def _next_id(session: Session) -> int:
    highest = max(
        session.scalar(select(func.max(Question.id))) or 0,
        session.scalar(select(func.max(QuestionVersion.question_id))) or 0,
    )
    return max(highest + 1, FIRST_CONSOLE_ID)


def next_question_id(session: Session) -> int:
    """The id a new item's first draft would take now (the editor previews `Q<id>` with it)."""
    return _next_id(session)


def _insert(session: Session, version: QuestionVersion) -> bool:
    """Add a new version under a savepoint; False when another request took its number first."""
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:
        return False
    return True


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}, not {language[:8]!r}")
    return language


def create_draft(
    session: Session,
    actor: AdminUser,
    fields: Mapping[str, Any],
    now: datetime,
    language: str = ENGLISH,
    question_id: int | None = None,
) -> QuestionVersion:
    """A new item's first draft (English), or a first translation draft of a published item."""
    allow(actor, WRITE)
    language = _language(language)
    if language == ENGLISH:
        values = clean_changes(fields, ITEM_FIELDS)
        question_id, number, base = _next_id(session), 1, None
    else:
        if question_id is None:
            raise Invalid("a translation draft needs the id of a published English question")
        english = published_version(session, question_id)
        if english is None:
            raise NotFound(f"question {question_id} has no published English version to translate")
        if versions_of(session, question_id, language):
            raise Refused(f"question {question_id} already has a {language} version; edit it with PATCH")
        values = {**_item_values(english), **clean_changes(fields, TRANSLATION_FIELDS)}
        number, base = 1, english.version
    for _ in range(5):  # two new items at once draw the same id: the second draws again
        version = QuestionVersion(
            question_id=question_id,
            language=language,
            version=number,
            **{**values, "base_version": base},
            author=actor.email[:AUTHOR_MAX],
            author_id=actor.id,
            reviewers=[],
            review=PEER,
            status=DRAFT,
            origin=CONSOLE,
            created_at=now,
            updated_at=now,
        )
        if _insert(session, version):
            return version
        if language != ENGLISH:
            break
        question_id = _next_id(session)
    raise Refused("someone else saved the same question at the same moment; try again")


def edit(
    session: Session,
    actor: AdminUser,
    question_id: int,
    changes: Mapping[str, Any],
    now: datetime,
    language: str = ENGLISH,
) -> QuestionVersion:
    """Change the open draft, or start a new draft version from the published one.

    A submitted version goes back to draft (it must be submitted, and so checked, again); a
    change to the stem, options, key or explanation sets its approvals aside.
    """
    language = _language(language)
    allowed = ITEM_FIELDS if language == ENGLISH else TRANSLATION_FIELDS
    values = clean_changes(changes, allowed)
    if not values:
        raise Invalid(f"send at least one field to change: {', '.join(allowed)}")
    version = open_version(session, question_id, language)
    if version is None:
        base = published_version(session, question_id, language) or latest_version(
            session, question_id, language
        )
        if base is None and language != ENGLISH:
            return create_draft(session, actor, changes, now, language, question_id)
        if base is None:
            raise NotFound(f"there is no question {question_id}; GET /api/v1/questions lists them")
        allow(actor, WRITE)
        top = latest_version(session, question_id, language)
        version = QuestionVersion(
            question_id=question_id,
            language=language,
            version=(top.version if top else 0) + 1,
            **_item_values(base),
            author=actor.email[:AUTHOR_MAX],
            author_id=actor.id,
            reviewers=[],
            review=PEER,
            status=DRAFT,
            origin=CONSOLE,
            created_at=now,
        )
        if not _insert(session, version):
            raise Refused(
                f"someone else just started version {version.version} of question {question_id}; reload it"
            )
    else:
        allow(actor, WRITE, version)
    if language != ENGLISH:
        english = session.get(Question, question_id)
        version.base_version = english.version if english is not None else version.base_version
    content_changed = any(
        name in CONTENT_FIELDS and getattr(version, name) != value for name, value in values.items()
    )
    for name, value in values.items():
        setattr(version, name, value)
    if content_changed and version.id is not None:
        for row in reviews_of(session, [version.id])[version.id]:
            row.counts = False
    version.status, version.updated_at = DRAFT, now
    session.flush()
    return version


def _open_or_missing(session: Session, question_id: int, language: str) -> QuestionVersion:
    version = open_version(session, question_id, _language(language))
    if version is None:
        raise NotFound(f"question {question_id} has no {language} draft or submitted version")
    return version


def submit(
    session: Session,
    actor: AdminUser,
    question_id: int,
    check: Callable[[QuestionVersion], list[str]],
    now: datetime,
    language: str = ENGLISH,
) -> QuestionVersion:
    """Send the draft for review once `check` (content's every check on one item) finds nothing.

    Raises Invalid with `problems`, the plain messages the author reads, when it does not pass.
    """
    version = _open_or_missing(session, question_id, language)
    allow(actor, WRITE, version)
    if version.status == REVIEW:
        raise Refused(f"version {version.version} is already waiting for review")
    problems = check(version)
    if problems:
        raise Invalid(
            f"version {version.version} has {len(problems)} problem(s) to fix before review", problems
        )
    version.status, version.submitted_at, version.updated_at = REVIEW, now, now
    session.flush()
    return version


def add_review(
    session: Session,
    actor: AdminUser,
    question_id: int,
    verdict: str,
    note: str,
    now: datetime,
    language: str = ENGLISH,
) -> QuestionReview:
    """Approve the submitted version, or ask for changes (with a note, which sends it back to draft)."""
    version = _open_or_missing(session, question_id, language)
    allow(actor, REVIEW_IT, version)
    if verdict not in VERDICTS:
        raise Invalid(f'verdict must be "approve" or "changes", not {str(verdict)[:20]!r}')
    note = _text("note", note or "", 2000)
    if verdict == CHANGES and not note:
        raise Invalid("say in the note what should change")
    if version.status != REVIEW:
        raise Refused(
            f"version {version.version} is a draft not yet submitted; it can be reviewed once submitted"
        )
    row = QuestionReview(
        version_id=version.id, reviewer_id=actor.id, reviewer=actor.email, verdict=verdict, note=note, at=now
    )
    session.add(row)
    if verdict == CHANGES:
        version.status = DRAFT
    version.updated_at = now
    session.flush()
    return row


def publish(
    session: Session,
    actor: AdminUser,
    question_id: int,
    required: int,
    now: datetime,
    language: str = ENGLISH,
) -> QuestionVersion:
    """Serve the submitted version once it has `required` approvals from accounts other than its author."""
    version = _open_or_missing(session, question_id, language)
    allow(actor, PUBLISH)
    if version.status != REVIEW:
        raise Refused(f"version {version.version} is a draft; submit it for review first")
    approved = approvers(reviews_of(session, [version.id])[version.id])
    if len(approved) < required:
        raise Refused(
            f"version {version.version} has {len(approved)} of the {required} approvals it needs "
            "from reviewers other than its author"
        )
    signed = [{"name": r.reviewer, "date": r.at.date().isoformat()} for r in approved]
    if language != ENGLISH:
        english = session.get(Question, question_id)
        if english is None or english.version != version.base_version:
            raise Refused(
                f"the English item changed since this translation was written (now version "
                f"{english.version if english else '?'}); edit the translation to match it first"
            )
        publish_translation(
            session,
            question_id,
            language,
            version.stem,
            version.options,
            version.explanation,
            version.author,
            version.base_version,
        )
    _make_published(session, version, signed, PEER, now)
    if language == ENGLISH:
        serve(session, version, len(approved))
    session.flush()
    return version


def _make_published(
    session: Session, version: QuestionVersion, reviewers: list[dict[str, Any]], review: str, now: datetime
) -> None:
    for old in session.scalars(
        select(QuestionVersion).where(
            QuestionVersion.question_id == version.question_id,
            QuestionVersion.language == version.language,
            QuestionVersion.status == PUBLISHED,
            QuestionVersion.id != version.id,
        )
    ):
        old.status, old.updated_at = RETIRED, now
    version.status, version.reviewers, version.review = PUBLISHED, reviewers, review
    version.published_at, version.updated_at = now, now


def serve(session: Session, version: QuestionVersion, approvals: int) -> Question:
    """Make the questions row (what students are served) this English version's text."""
    values = {
        "topic": version.topic,
        "tracks": list(version.tracks or []),
        "difficulty": version.difficulty,
        "stem": version.stem,
        "options": dict(sorted((version.options or {}).items())),
        "answer": version.answer,
        "explanation": version.explanation,
        "reviewer": version.author[:80],
        "review_by": version.review_by,
        "version": version.version,
        "status": PUBLISHED,
        "active": True,
        "approvals": approvals,
    }
    question = session.get(Question, version.question_id)
    if question is None:
        question = Question(id=version.question_id, **values)
        session.add(question)
    else:
        for name, value in values.items():
            if getattr(question, name) != value:
                setattr(question, name, value)
    forget_bank(session)
    return question


def add_published(
    session: Session,
    values: Mapping[str, Any],
    language: str,
    number: int,
    now: datetime,
    replaces: QuestionVersion | None = None,
    bulk: bool = False,
) -> QuestionVersion:
    """Record seed text as a published version (a content load); the caller serves English ones.

    `replaces`: the newest version so far (retired if published), or None for the item's first
    in this language. `bulk`: the caller read every version first, so `replaces` is all there is
    to retire; no query is made and nothing is flushed (a load of the whole bank flushes once)."""
    version = QuestionVersion(
        language=language,
        version=number,
        status=PUBLISHED,
        origin=SEED,
        created_at=now,
        updated_at=now,
        published_at=now,
        **values,
    )
    session.add(version)
    reviewers, review = list(values.get("reviewers") or []), values.get("review") or INTERNAL
    if not bulk:
        _make_published(session, version, reviewers, review, now)
        session.flush()
        return version
    if replaces is not None and replaces.status == PUBLISHED:
        replaces.status, replaces.updated_at = RETIRED, now
    version.status, version.reviewers, version.review = PUBLISHED, reviewers, review
    version.published_at, version.updated_at = now, now
    return version


def published_versions(session: Session, language: str | None = None) -> list[QuestionVersion]:
    """Every published version of an active question (the export's input), by id then language."""
    query = (
        select(QuestionVersion)
        .join(Question, Question.id == QuestionVersion.question_id)
        .where(QuestionVersion.status == PUBLISHED, Question.active.is_(True), Question.status == PUBLISHED)
    )
    if language is not None:
        query = query.where(QuestionVersion.language == language)
    return list(session.scalars(query.order_by(QuestionVersion.question_id, QuestionVersion.language)))


def signed_off_by(session: Session, name: str) -> list[QuestionVersion]:
    """The published versions a named reviewer signed off (case and spaces ignored), by id."""
    wanted = " ".join(name.split()).casefold()
    if not wanted:
        return []
    return [
        v
        for v in published_versions(session)
        if any(" ".join(str(r.get("name", "")).split()).casefold() == wanted for r in v.reviewers or [])
    ]


def reviewer_names(session: Session) -> list[str]:
    """Everyone who has signed off a published version, for a console's list of clinicians."""
    names = {str(r.get("name", "")).strip() for v in published_versions(session) for r in v.reviewers or []}
    return sorted(n for n in names if n)


# Columns a corrected version copies from the one it corrects.
_COPIED = (
    "language",
    "base_version",
    "topic",
    "tracks",
    "difficulty",
    "locale",
    "stem",
    "options",
    "explanation",
    "sources",
    "author",
    "author_id",
    "reviewers",
    "review",
    "review_by",
    "pair_with",
    "pair_reason",
)


def record_retraction(session: Session, question_id: int, key: str | None, by: str, at: datetime) -> None:
    """The history's side of a retraction (store.corrections.retract, which moves the questions
    row): a corrected key is a new published English version written in the console, so a
    content load keeps it and the export writes it; a retired item's published versions retire.
    An item loaded before the history existed has no versions: nothing to record."""
    current = published_version(session, question_id, ENGLISH)
    if key is None:
        for version in versions_of(session, question_id):
            if version.status == PUBLISHED:
                version.status, version.updated_at = RETIRED, at
        session.flush()
        return
    if current is None:
        return
    corrected = QuestionVersion(
        question_id=question_id,
        version=current.version + 1,
        answer=key,
        status=PUBLISHED,
        origin=CONSOLE,
        created_at=at,
        updated_at=at,
        published_at=at,
        **{name: getattr(current, name) for name in _COPIED},
    )
    corrected.explanation = f"{current.explanation}"
    current.status, current.updated_at = RETIRED, at
    session.add(corrected)
    session.flush()
    forget_bank(session)
