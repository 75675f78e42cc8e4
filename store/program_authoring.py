"""Programs written in the console: every version of every program (drafts included), the reviews
given on them, and publishing, under the question bank's rules (store/authoring.py: `allow`, the
approvals that count, ROUNDS_REVIEWS_REQUIRED).

A version holds a whole program: title and summary per language, tracks, and its days (a lesson
per language and 1-3 question ids each). Publishing one rewrites the `programs` and `program_days`
rows students are served (store.programs.put_program); enrolments keep their day number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.admin import AdminUser
from store.authoring import (
    APPROVE,
    AUTHOR_MAX,
    CHANGES,
    CONSOLE,
    DRAFT,
    OPEN,
    PUBLISH,
    PUBLISHED,
    RETIRED,
    REVIEW,
    REVIEW_IT,
    SEED,
    VERDICTS,
    WRITE,
    Invalid,
    NotFound,
    Refused,
    ReviewColumns,
    VersionColumns,
    allow,
    approvers,
)
from store.authoring import _text as checked_text
from store.models import Base
from store.programs import Program, ProgramDay, put_program
from store.text import CleanString

LANGUAGES = ("en", "fr", "es")
CODE = re.compile(r"[A-Z0-9]{2,8}")
# What a program draft holds; `days` is [{"lesson": {"en": ..., "fr": ..., "es": ...}, "questions": [..]}].
PROGRAM_FIELDS = ("code", "title", "summary", "tracks", "days")
MAX_DAYS = 60
WHAT = "programs"


class ProgramVersion(VersionColumns, Base):
    """One version of one program: a draft, a submission, published or retired text."""

    __tablename__ = "program_versions"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_program_versions"),
        Index("ix_program_versions_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(CleanString(8), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tracks: Mapped[list[str]] = mapped_column(default=list)
    days: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ProgramReview(ReviewColumns, Base):
    """One reviewer's verdict on one program version; `counts` turns off when the text changes."""

    __tablename__ = "program_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("program_versions.id", ondelete="CASCADE"), index=True)


# --- reading -------------------------------------------------------------------------------------


def versions_of(session: Session, code: str) -> list[ProgramVersion]:
    """Every version of a program, oldest first."""
    return list(
        session.scalars(
            select(ProgramVersion).where(ProgramVersion.code == code.upper()).order_by(ProgramVersion.version)
        )
    )


def _one(session: Session, code: str, statuses: tuple[str, ...]) -> ProgramVersion | None:
    return session.scalar(
        select(ProgramVersion)
        .where(ProgramVersion.code == code.upper(), ProgramVersion.status.in_(statuses))
        .order_by(ProgramVersion.version.desc())
        .limit(1)
    )


def published_version(session: Session, code: str) -> ProgramVersion | None:
    return _one(session, code, (PUBLISHED,))


def open_version(session: Session, code: str) -> ProgramVersion | None:
    """The draft or submitted version (at most one at a time)."""
    return _one(session, code, OPEN)


def reviews_of(session: Session, version_ids: Iterable[int]) -> dict[int, list[ProgramReview]]:
    """version id -> its reviews, oldest first."""
    ids = list(version_ids)
    found: dict[int, list[ProgramReview]] = {i: [] for i in ids}
    if ids:
        query = select(ProgramReview).where(ProgramReview.version_id.in_(ids)).order_by(ProgramReview.id)
        for row in session.scalars(query):
            found[row.version_id].append(row)
    return found


def newest_versions(session: Session) -> list[ProgramVersion]:
    """The newest version of each program that has any, by code."""
    top = (
        select(ProgramVersion.code, func.max(ProgramVersion.version).label("top"))
        .group_by(ProgramVersion.code)
        .subquery()
    )
    query = select(ProgramVersion).join(
        top, (top.c.code == ProgramVersion.code) & (top.c.top == ProgramVersion.version)
    )
    return list(session.scalars(query.order_by(ProgramVersion.code)))


def review_queue(session: Session, actor: AdminUser) -> list[ProgramVersion]:
    """Submitted program versions `actor` did not write and has not approved yet, oldest first."""
    waiting = list(
        session.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.status == REVIEW)
            .order_by(ProgramVersion.submitted_at, ProgramVersion.id)
        )
    )
    reviews = reviews_of(session, [v.id for v in waiting])
    return [
        v
        for v in waiting
        if v.author_id != actor.id and actor.email not in {r.reviewer for r in approvers(reviews[v.id])}
    ]


def console_codes(session: Session) -> set[str]:
    """Programs an educator has written or changed in the console: a content load leaves them be."""
    return set(session.scalars(select(ProgramVersion.code).where(ProgramVersion.origin == CONSOLE)))


def published_console_versions(session: Session) -> list[ProgramVersion]:
    """The published versions written in the console (the export's input), by code."""
    return list(
        session.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.status == PUBLISHED, ProgramVersion.origin == CONSOLE)
            .order_by(ProgramVersion.code)
        )
    )


# --- checking the shape of what an educator sends ------------------------------------------------


def _texts(name: str, value: Any, limit: int) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid(
            f'{name} must give the text per language, like {{"en": "...", "fr": "...", "es": "..."}}'
        )
    unknown = sorted(set(map(str, value)) - set(LANGUAGES))
    if unknown:
        raise Invalid(f"{name}: languages are {', '.join(LANGUAGES)}, not {', '.join(unknown)[:40]}")
    return {lang: checked_text(f"{name} ({lang})", value.get(lang) or "", limit) for lang in LANGUAGES}


def clean_program(fields: Mapping[str, Any], allowed: tuple[str, ...] = PROGRAM_FIELDS) -> dict[str, Any]:
    """The fields as column values, or Invalid naming the first one that is malformed (what they
    say, segments and question ids, is the content check's, at submission)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise Invalid(f"unknown field(s) {', '.join(unknown)}; a program draft takes {', '.join(allowed)}")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "code":
            code = checked_text("code", value, 8).upper()
            if not CODE.fullmatch(code):
                raise Invalid(f"code {code!r} must be 2 to 8 capital letters or digits, like ECG")
            out[name] = code
        elif name in ("title", "summary"):
            out[name] = _texts(name, value, 200)
        elif name == "tracks":
            if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
                raise Invalid('tracks must be a list like ["plab1"], or [] for every track')
            out[name] = [t.strip()[:16] for t in value]
        elif name == "days":
            if not isinstance(value, list) or not value:
                raise Invalid('days must be a list of {"lesson": {"en": ...}, "questions": [101]}')
            if len(value) > MAX_DAYS:
                raise Invalid(f"a program has at most {MAX_DAYS} days, not {len(value)}")
            days = []
            for number, day in enumerate(value, start=1):
                if not isinstance(day, Mapping) or set(day) - {"lesson", "questions"}:
                    raise Invalid(f'day {number} must be {{"lesson": {{...}}, "questions": [...]}}')
                questions = day.get("questions")
                if not isinstance(questions, list) or not all(
                    isinstance(q, int) and not isinstance(q, bool) and 0 < q < 2**31 for q in questions
                ):
                    raise Invalid(f"day {number}: questions must be a list of question ids like [112]")
                days.append(
                    {
                        "lesson": _texts(f"day {number} lesson", day.get("lesson"), 1000),
                        "questions": questions,
                    }
                )
            out[name] = days
    return out


# --- the workflow ------------------------------------------------------------------------------


def _insert(session: Session, version: ProgramVersion) -> bool:
    """Add a new version under a savepoint; False when another request took its number first."""
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:
        return False
    return True


def live_values(session: Session, program: Program) -> dict[str, Any]:
    days = session.scalars(
        select(ProgramDay).where(ProgramDay.program_id == program.id).order_by(ProgramDay.day)
    )
    return {
        "title": dict(program.title),
        "summary": dict(program.summary),
        "tracks": list(program.tracks or []),
        "days": [{"lesson": dict(d.lesson), "questions": list(d.questions)} for d in days],
    }


def _base(session: Session, code: str, now: datetime) -> ProgramVersion | None:
    """The published version a new draft starts from; a program loaded from the files that has no
    history yet gets its served text recorded as version 1 (origin seed) first."""
    published = published_version(session, code)
    if published is not None or versions_of(session, code):
        return published
    program = session.scalar(select(Program).where(Program.code == code))
    if program is None:
        return None
    seed = ProgramVersion(
        code=code,
        version=1,
        **live_values(session, program),
        author="content files",
        reviewers=[],
        status=PUBLISHED,
        origin=SEED,
        created_at=now,
        updated_at=now,
        published_at=program.updated_at or now,
    )
    if not _insert(session, seed):
        return published_version(session, code)
    return seed


def create_draft(
    session: Session, actor: AdminUser, fields: Mapping[str, Any], now: datetime
) -> ProgramVersion:
    """A new program's first draft; its code must be free (a new version of an existing one: `edit`)."""
    allow(actor, WRITE, what=WHAT)
    values = clean_program(fields)
    code = values.pop("code", None)
    if not code:
        raise Invalid("give the new program a code: 2 to 8 capital letters or digits, like ECG")
    if versions_of(session, code) or session.scalar(select(Program.id).where(Program.code == code)):
        raise Refused(f"there is already a program {code}; write a new version of it instead")
    version = ProgramVersion(
        code=code,
        version=1,
        **{"title": {}, "summary": {}, "tracks": [], "days": [], **values},
        author=actor.email[:AUTHOR_MAX],
        author_id=actor.id,
        reviewers=[],
        status=DRAFT,
        origin=CONSOLE,
        created_at=now,
        updated_at=now,
    )
    if not _insert(session, version):
        raise Refused(f"someone else just started a program {code}; reload it")
    return version


def edit(
    session: Session, actor: AdminUser, code: str, changes: Mapping[str, Any], now: datetime
) -> ProgramVersion:
    """Change the open draft, or start a new draft version from the published one.

    A submitted version goes back to draft (it is checked again when submitted); any change sets
    the approvals it had aside.
    """
    code = code.upper()
    values = clean_program(changes, tuple(f for f in PROGRAM_FIELDS if f != "code"))
    if not values:
        raise Invalid(f"send at least one field to change: {', '.join(PROGRAM_FIELDS[1:])}")
    version = open_version(session, code)
    if version is None:
        allow(actor, WRITE, what=WHAT)
        base = _base(session, code, now)
        if base is None:
            raise NotFound(f"there is no program {code}; GET /api/v1/programs lists them")
        top = versions_of(session, code)[-1]
        version = ProgramVersion(
            code=code,
            version=top.version + 1,
            title=dict(base.title),
            summary=dict(base.summary),
            tracks=list(base.tracks or []),
            days=[dict(d) for d in base.days or []],
            author=actor.email[:AUTHOR_MAX],
            author_id=actor.id,
            reviewers=[],
            status=DRAFT,
            origin=CONSOLE,
            created_at=now,
        )
        if not _insert(session, version):
            raise Refused(f"someone else just started version {version.version} of {code}; reload it")
    else:
        allow(actor, WRITE, version, what=WHAT)
    changed = any(getattr(version, name) != value for name, value in values.items())
    for name, value in values.items():
        setattr(version, name, value)
    if changed and version.id is not None:
        for row in reviews_of(session, [version.id])[version.id]:
            row.counts = False
    version.status, version.updated_at = DRAFT, now
    session.flush()
    return version


def _open_or_missing(session: Session, code: str) -> ProgramVersion:
    version = open_version(session, code)
    if version is None:
        raise NotFound(f"program {code.upper()[:8]} has no draft or submitted version")
    return version


def submit(
    session: Session,
    actor: AdminUser,
    code: str,
    check: Callable[[ProgramVersion], list[str]],
    now: datetime,
) -> ProgramVersion:
    """Send the draft for review once `check` (the content check on one program) finds nothing."""
    version = _open_or_missing(session, code)
    allow(actor, WRITE, version, what=WHAT)
    if version.status == REVIEW:
        raise Refused(f"version {version.version} of {version.code} is already waiting for review")
    problems = check(version)
    if problems:
        raise Invalid(
            f"version {version.version} of {version.code} has {len(problems)} problem(s) "
            "to fix before review",
            problems,
        )
    version.status, version.submitted_at, version.updated_at = REVIEW, now, now
    session.flush()
    return version


def add_review(
    session: Session, actor: AdminUser, code: str, verdict: str, note: str, required: int, now: datetime
) -> tuple[ProgramReview, ProgramVersion | None]:
    """Approve the submitted version or ask for changes (a note, and it goes back to draft).

    The approval that brings it to `required` approvals publishes it: (the review, the version
    published, or None)."""
    version = _open_or_missing(session, code)
    allow(actor, REVIEW_IT, version, what=WHAT)
    if verdict not in VERDICTS:
        raise Invalid(f'verdict must be "approve" or "changes", not {str(verdict)[:20]!r}')
    note = checked_text("note", note or "", 2000)
    if verdict == CHANGES and not note:
        raise Invalid("say in the note what should change")
    if version.status != REVIEW:
        raise Refused(
            f"version {version.version} of {version.code} is a draft; it can be reviewed once submitted"
        )
    row = ProgramReview(
        version_id=version.id, reviewer_id=actor.id, reviewer=actor.email, verdict=verdict, note=note, at=now
    )
    session.add(row)
    version.updated_at = now
    if verdict == CHANGES:
        version.status = DRAFT
    session.flush()
    if verdict == APPROVE and len(approvers(reviews_of(session, [version.id])[version.id])) >= required:
        return row, publish(session, actor, code, required, now)
    return row, None


def publish(session: Session, actor: AdminUser, code: str, required: int, now: datetime) -> ProgramVersion:
    """Serve the submitted version once it has `required` approvals from accounts other than its author.

    The program's days become this version's; an enrolment keeps its day number, so its next day
    is the new version's next one (a version shorter than where a student is: see flows/programs.py).
    """
    version = _open_or_missing(session, code)
    allow(actor, PUBLISH, what=WHAT)
    if version.status != REVIEW:
        raise Refused(f"version {version.version} of {version.code} is a draft; submit it for review first")
    approved = approvers(reviews_of(session, [version.id])[version.id])
    if len(approved) < required:
        raise Refused(
            f"version {version.version} of {version.code} has {len(approved)} of the {required} approvals "
            "it needs from reviewers other than its author"
        )
    for old in session.scalars(
        select(ProgramVersion).where(
            ProgramVersion.code == version.code,
            ProgramVersion.status == PUBLISHED,
            ProgramVersion.id != version.id,
        )
    ):
        old.status, old.updated_at = RETIRED, now
    version.status = PUBLISHED
    version.reviewers = [{"name": r.reviewer, "date": r.at.date().isoformat()} for r in approved]
    version.published_at, version.updated_at = now, now
    put_program(
        session,
        version.code,
        {
            "title": dict(version.title),
            "summary": dict(version.summary),
            "tracks": list(version.tracks or []),
        },
        [(dict(d["lesson"]), list(d["questions"])) for d in version.days],
        now,
    )
    session.flush()
    return version


def history(session: Session, code: str) -> list[dict[str, Any]]:
    """A program's life as plain data, oldest first: each version with its status, dates and reviews."""
    versions = versions_of(session, code)
    reviews = reviews_of(session, [v.id for v in versions])
    return [
        {
            "version": v.version,
            "status": v.status,
            "origin": v.origin,
            "author": v.author,
            "days": len(v.days or []),
            "created_at": v.created_at,
            "updated_at": v.updated_at,
            "submitted_at": v.submitted_at,
            "published_at": v.published_at,
            "reviewers": list(v.reviewers or []),
            "approvals": len(approvers(reviews[v.id])),
            "reviews": [
                {"reviewer": r.reviewer, "verdict": r.verdict, "note": r.note, "at": r.at, "counts": r.counts}
                for r in reviews[v.id]
            ],
        }
        for v in versions
    ]
