"""Console pages for the educators' workflow: the item list, an editor with the SMS rendering and
its cost, the review queue, an item's versions with side-by-side diffs, reviews and publishing,
its history, and who signed what off.

Who may act is decided by store/authoring.py (`allow`), as for the API: a refusal is shown with
its reason and its status (403 or 409). Every page works without JavaScript; admin.js only
refreshes the editor's counter and preview as the educator types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Response, render_template, request

from content import content_root
from content.catalog import get_catalog
from content.drafts import draft_problems, submit_draft
from content.phone import Rendered, on_phone
from content.segments import normalise
from gateway.admin.web import PAGE_SIZE, back, console, current_user, db, not_found, page_number, settings
from store import authoring
from store.admin import EDUCATOR, REVIEWER, AdminUser
from store.authoring import (
    ENGLISH,
    INTERNAL,
    ITEM_FIELDS,
    LANGUAGES,
    LETTERS,
    LOCALES,
    OPEN,
    STATUSES,
    TRANSLATION_FIELDS,
    QuestionVersion,
    Refused,
    source_text,
)
from store.models import Question
from store.reports import Reports

LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish"}
STATUS_WORDS = {"draft": "draft", "review": "in review", "published": "published", "retired": "retired"}
# What the editor's buttons ask for.
PREVIEW, SAVE, SUBMIT = "preview", "save", "submit"


@console.app_context_processor
def _words() -> dict[str, Any]:
    return {"LANGUAGE_NAMES": LANGUAGE_NAMES, "STATUS_WORDS": STATUS_WORDS}


def _actor() -> AdminUser:
    user = current_user()
    assert user is not None  # the console's guard signs everyone in first
    return user


def _language() -> str:
    language = (request.args.get("language") or ENGLISH).strip().lower()
    if language not in LANGUAGES:
        not_found(f"Questions are written in {', '.join(LANGUAGES)}, not {language[:8]!r}.")
    return language


def _refusal(exc: Refused) -> Response:
    return Response(render_template("admin/error.html", title="Not done", message=exc.message), exc.status)


def _paged(rows: list[Any]) -> tuple[list[Any], int, int]:
    page = page_number()
    return rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, max(1, -(-len(rows) // PAGE_SIZE))


# --- lists ---------------------------------------------------------------------------------------


@console.get("/items")
def items() -> str:
    status = request.args.get("status", "").strip()
    language = request.args.get("language", "").strip()
    topic = request.args.get("topic", "").strip()
    listed = authoring.list_items(
        db(),
        status=status if status in STATUSES else None,
        topic=topic or None,
        language=language if language in LANGUAGES else None,
    )
    rows, page, pages = _paged(listed)
    return render_template(
        "admin/items.html",
        rows=rows,
        total=len(listed),
        page=page,
        pages=pages,
        status=status,
        language=language,
        topic=topic,
        statuses=STATUSES,
        required=settings().reviews_required,
        queue=len(authoring.review_queue(db(), _actor())),
    )


@console.get("/items/queue")
def review_queue() -> str:
    waiting = authoring.review_queue(db(), _actor())
    reviews = authoring.reviews_of(db(), [v.id for v in waiting])
    rows = [(v, len(authoring.approvers(reviews[v.id]))) for v in waiting]
    return render_template(
        "admin/review_queue.html",
        rows=rows,
        required=settings().reviews_required,
        reviewer=_actor().holds(REVIEWER),
    )


@console.get("/items/signed")
def signed_off() -> str:
    """Which published items a named clinician signed off, and which were reviewed in-house only."""
    name = request.args.get("name", "").strip()[:120]
    names = authoring.reviewer_names(db())
    signed = authoring.signed_off_by(db(), name) if name else []
    internal = [v for v in authoring.published_versions(db()) if v.review == INTERNAL or not v.reviewers]
    rows, page, pages = _paged(internal)
    return render_template(
        "admin/signed_off.html",
        name=name,
        names=names,
        signed=signed,
        internal=rows,
        internal_total=len(internal),
        page=page,
        pages=pages,
    )


# --- one item ------------------------------------------------------------------------------------


def _versions_or_404(question_id: int, language: str) -> list[QuestionVersion]:
    versions = authoring.versions_of(db(), question_id, language)
    if not versions and not authoring.versions_of(db(), question_id):
        not_found(f"There is no question {question_id} in the workflow. The item list shows them all.")
    return versions


def phone_view(
    version: QuestionVersion | Mapping[str, Any], question_id: int, language: str
) -> list[Rendered]:
    """The SMS rendering of a stored version or of the editor's form values."""
    get = version.get if isinstance(version, Mapping) else lambda name, default=None: getattr(version, name)
    options = get("options", {}) or {}
    return on_phone(
        get_catalog(settings().content_path),
        question_id,
        language,
        str(get("stem", "") or ""),
        {letter: str(options.get(letter, "") or "") for letter in LETTERS},
        str(get("answer", "") or ""),
        str(get("explanation", "") or ""),
    )


def _item_page(question_id: int, language: str, error: Refused | None = None) -> Response:
    session = db()
    versions = _versions_or_404(question_id, language)
    reviews = authoring.reviews_of(session, [v.id for v in versions])
    published = next((v for v in versions if v.status == authoring.PUBLISHED), None)
    current = next((v for v in versions if v.status in OPEN), None)
    shown = current or published or (versions[-1] if versions else None)
    changes = (
        authoring.diff(session, question_id, published.version, current.version, language)
        if published and current
        else []
    )
    actor = _actor()
    body = render_template(
        "admin/item.html",
        qid=question_id,
        language=language,
        languages=[lang for lang in LANGUAGES if authoring.versions_of(session, question_id, lang)],
        versions=versions,
        reviews=reviews,
        published=published,
        current=current,
        shown=shown,
        phone=phone_view(shown, question_id, language) if shown else [],
        changes=changes,
        approvals=len(authoring.approvers(reviews[current.id])) if current else 0,
        required=settings().reviews_required,
        history=authoring.history(session, question_id, language),
        served=session.get(Question, question_id),
        open_reports=len(Reports(session).listing("open", question_id=question_id)),
        educator=actor.holds(EDUCATOR),
        reviewer=actor.holds(REVIEWER),
        error=error,
        source_text=source_text,
    )
    return Response(body, error.status if error else 200)


@console.get("/items/<int:question_id>")
def item(question_id: int) -> Response:
    return _item_page(question_id, _language())


@console.get("/items/<int:question_id>/diff")
def item_diff(question_id: int) -> str:
    language = _language()
    versions = _versions_or_404(question_id, language)
    numbers = [v.version for v in versions]
    if len(numbers) < 2:
        not_found(f"Question {question_id} has one {LANGUAGE_NAMES[language]} version: nothing to compare.")
    before = _number(request.args.get("from"), numbers[-2])
    after = _number(request.args.get("to"), numbers[-1])
    try:
        changes = authoring.diff(db(), question_id, before, after, language)
    except Refused as exc:
        not_found(exc.message)
    return render_template(
        "admin/item_diff.html",
        qid=question_id,
        language=language,
        numbers=numbers,
        before=before,
        after=after,
        changes=changes,
        source_text=source_text,
    )


def _number(raw: str | None, default: int) -> int:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else default


@console.post("/items/<int:question_id>/review")
def review_item(question_id: int) -> Response:
    language = _language()
    verdict = request.form.get("verdict", "")
    note = request.form.get("note", "")
    try:
        authoring.add_review(db(), _actor(), question_id, verdict, note, settings().clock.now(), language)
    except Refused as exc:
        db().rollback()
        return _item_page(question_id, language, exc)
    db().commit()
    said = "approved" if verdict == authoring.APPROVE else "sent back to its author with your note"
    return back(
        "admin.item", f"Q{question_id} ({language}) {said}.", question_id=question_id, language=language
    )


@console.post("/items/<int:question_id>/publish")
def publish_item(question_id: int) -> Response:
    language = _language()
    try:
        version = authoring.publish(
            db(), _actor(), question_id, settings().reviews_required, settings().clock.now(), language
        )
    except Refused as exc:
        db().rollback()
        return _item_page(question_id, language, exc)
    db().commit()
    return back(
        "admin.item",
        f"Q{question_id} ({language}) version {version.version} published: students get it from now on.",
        question_id=question_id,
        language=language,
    )


# --- the editor ----------------------------------------------------------------------------------


def _sources_from(text: str) -> list[dict[str, str]]:
    """One source a line: `Title (edition) https://address`, the address optional."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        words = line.rsplit(None, 1)
        url = words[1] if len(words) == 2 and words[1].lower().startswith(("https://", "http://")) else ""
        source = authoring.parse_source(words[0] if url else line)
        if url:
            source["url"] = url
        found.append(source)
    return found


def sources_text(sources: list[dict[str, Any]] | None) -> str:
    return "\n".join(
        f"{source_text(s)} {s['url']}" if s.get("url") else source_text(s) for s in sources or []
    )


def _form_fields(form: Mapping[str, str], language: str) -> dict[str, Any]:
    """The editor's form as the fields store/authoring takes (which checks them)."""
    fields: dict[str, Any] = {
        "stem": normalise(form.get("stem", "")),
        "options": {letter: normalise(form.get(f"option_{letter}", "")) for letter in LETTERS},
        "explanation": normalise(form.get("explanation", "")),
    }
    if language != ENGLISH:
        return fields
    difficulty = form.get("difficulty", "").strip()
    fields.update(
        topic=form.get("topic", "").strip(),
        tracks=[t for t in re.split(r"[,\s]+", form.get("tracks", "")) if t],
        difficulty=int(difficulty) if difficulty in ("1", "2", "3") else difficulty,
        locale=form.get("locale", "").strip(),
        answer=form.get("answer", "").strip().upper(),
        sources=_sources_from(form.get("sources", "")),
        review_by=form.get("review_by", "").strip(),
    )
    return fields


def _form_of(version: QuestionVersion | None) -> dict[str, str]:
    """A stored version as the editor's form values."""
    if version is None:
        return {}
    values = {
        "topic": version.topic,
        "tracks": ", ".join(version.tracks or []),
        "difficulty": str(version.difficulty),
        "locale": version.locale,
        "stem": version.stem,
        "answer": version.answer,
        "explanation": version.explanation,
        "sources": sources_text(version.sources),
        "review_by": version.review_by.isoformat() if version.review_by else "",
    }
    values.update({f"option_{k}": str(v) for k, v in (version.options or {}).items()})
    return values


def _editing(question_id: int | None, language: str) -> tuple[QuestionVersion | None, QuestionVersion | None]:
    """(the version the form starts from, the open draft if there is one)."""
    if question_id is None:
        return None, None
    session = db()
    current = authoring.open_version(session, question_id, language)
    base = current or authoring.published_version(session, question_id, language)
    return base or authoring.latest_version(session, question_id, language), current


def _editor(
    question_id: int | None,
    language: str,
    form: Mapping[str, str],
    status: int = 200,
    problems: list[str] | None = None,
    error: str | None = None,
    checked: bool = False,
) -> Response:
    session = db()
    base, current = _editing(question_id, language)
    english = (
        authoring.published_version(session, question_id) if question_id and language != ENGLISH else None
    )
    shown_id = question_id or authoring.next_question_id(session)
    values = dict(form)
    if language != ENGLISH and english is not None:
        values["answer"] = english.answer
    fields = {
        "stem": values.get("stem", ""),
        "options": {letter: values.get(f"option_{letter}", "") for letter in LETTERS},
        "answer": values.get("answer", ""),
        "explanation": values.get("explanation", ""),
    }
    fragment = request.headers.get("X-Requested-With") == "fetch"
    page = "admin/_phone.html" if fragment else "admin/item_edit.html"
    body = render_template(
        page,
        qid=question_id,
        shown_id=shown_id,
        language=language,
        form=values,
        base=base,
        current=current,
        english=english,
        phone=phone_view({**fields}, shown_id, language),
        problems=problems or [],
        error=error,
        checked=checked,
        locales=LOCALES,
        fields=ITEM_FIELDS if language == ENGLISH else TRANSLATION_FIELDS,
    )
    return Response(body, status)


@console.route("/items/new", methods=["GET", "POST"])
def new_item() -> Response:
    try:
        authoring.allow(_actor(), authoring.WRITE)
    except Refused as exc:
        return _refusal(exc)
    if request.method == "GET":
        return _editor(None, ENGLISH, {"difficulty": "2", "locale": "intl"})
    return _save(None, ENGLISH)


@console.route("/items/<int:question_id>/edit", methods=["GET", "POST"])
def edit_item(question_id: int) -> Response:
    language = _language()
    base, current = _editing(question_id, language)
    if base is None and (language == ENGLISH or authoring.published_version(db(), question_id) is None):
        not_found(f"There is no question {question_id} to edit in {LANGUAGE_NAMES[language]}.")
    try:
        authoring.allow(_actor(), authoring.WRITE, current)
    except Refused as exc:
        return _refusal(exc)
    if request.method == "GET":
        return _editor(question_id, language, _form_of(base))
    return _save(question_id, language)


def _changes(base: QuestionVersion | None, cleaned: dict[str, Any]) -> dict[str, Any]:
    if base is None:
        return cleaned
    return {name: value for name, value in cleaned.items() if getattr(base, name) != value}


def _save(question_id: int | None, language: str) -> Response:
    """Preview, save, or save and submit the editor's form; problems come back as sentences."""
    form = request.form
    action = form.get("action", PREVIEW)
    fields = _form_fields(form, language)
    allowed = ITEM_FIELDS if language == ENGLISH else TRANSLATION_FIELDS
    session, actor, now = db(), _actor(), settings().clock.now()
    try:
        cleaned = authoring.clean_changes(fields, allowed)
    except Refused as exc:
        return _editor(
            question_id, language, form, 200 if action == PREVIEW else exc.status, error=exc.message
        )
    base, current = _editing(question_id, language)
    if action == PREVIEW or request.headers.get("X-Requested-With") == "fetch":
        if request.headers.get("X-Requested-With") == "fetch":
            return _editor(question_id, language, form)
        problems = draft_problems(
            session, _unsaved(base, cleaned, question_id, language), _root(), now.date()
        )
        return _editor(question_id, language, form, problems=problems, checked=True)
    try:
        if question_id is None:
            version = authoring.create_draft(session, actor, cleaned, now)
            question_id = version.question_id
        else:
            changes = _changes(base, cleaned)
            if not changes and current is None and base is not None:
                return _editor(
                    question_id,
                    language,
                    form,
                    400,
                    error="Nothing differs from the published version: change something before saving "
                    "a new version.",
                )
            if changes:
                authoring.edit(session, actor, question_id, changes, now, language)
        session.commit()
    except Refused as exc:
        session.rollback()
        return _editor(question_id, language, form, exc.status, error=exc.message)
    if action != SUBMIT:
        return back(
            "admin.edit_item",
            f"Draft of Q{question_id} ({language}) saved. Submit it for review when it is ready.",
            question_id=question_id,
            language=language,
        )
    try:
        submit_draft(session, actor, question_id, _root(), now, language)
    except Refused as exc:
        session.rollback()
        # The problems say it all; the summary sentence is for the API.
        error = None if exc.problems else exc.message
        return _editor(question_id, language, form, exc.status, problems=exc.problems, error=error)
    session.commit()
    return back(
        "admin.item",
        f"Q{question_id} ({language}) submitted: it waits in the review queue.",
        question_id=question_id,
        language=language,
    )


def _root() -> Any:
    return content_root(settings().content_path)


def _unsaved(
    base: QuestionVersion | None, cleaned: dict[str, Any], question_id: int | None, language: str
) -> QuestionVersion:
    """The form as a version that is never saved, for the checker's Preview."""
    values: dict[str, Any] = {name: getattr(base, name) for name in ITEM_FIELDS} if base else {}
    if language != ENGLISH and base is None and question_id is not None:
        english = authoring.published_version(db(), question_id)
        values = {name: getattr(english, name) for name in ITEM_FIELDS} if english else {}
    values.update(cleaned)
    values.setdefault("review_by", None)
    version = QuestionVersion(
        question_id=question_id or authoring.next_question_id(db()),
        language=language,
        version=0,
        author=_actor().email,
        reviewers=[],
        review=authoring.PEER,
        **values,
    )
    return version
