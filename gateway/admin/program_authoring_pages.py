"""Console pages for writing programs under the question bank's review rules: the list of programs
with their newest versions and the review queue, the editor (title and summary per language, days
with a lesson per language and question ids, checked as `rounds content check` checks the files),
and a program's versions with reviews, publishing and history.

Who may act is store/authoring.allow's decision, as for questions; a refusal shows its reason.
Every page works without JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Response, render_template, request

from content import content_root
from content.program_drafts import program_problems, submit_program
from content.programs import day_label, sms_length
from gateway.admin.web import back, console, current_user, db, not_found, settings
from store import program_authoring as programs
from store.admin import EDUCATOR, REVIEWER, AdminUser
from store.authoring import OPEN, PUBLISHED, WRITE, Invalid, Refused, allow
from store.program_authoring import LANGUAGES, ProgramVersion
from store.programs import Program

PREVIEW, SAVE, SUBMIT, MORE = "preview", "save", "submit", "more"
# Empty day rows the editor shows after the last written day ("Add a day" adds one to those shown).
SPARE_DAYS = 1


def _actor() -> AdminUser:
    user = current_user()
    assert user is not None  # the console's guard signs everyone in first
    return user


def _root() -> Any:
    return content_root(settings().content_path)


def _code(code: str) -> str:
    code = code.upper()
    if not programs.CODE.fullmatch(code):
        not_found(f"There is no program {code[:8]}.")
    return code


# --- the list --------------------------------------------------------------------------------------


@console.get("/programs/authoring")
def program_authoring() -> str:
    session = db()
    newest = {v.code: v for v in programs.newest_versions(session)}
    live = {p.code: p for p in session.query(Program).order_by(Program.code)}
    reviews = programs.reviews_of(session, [v.id for v in newest.values() if v.status in OPEN])
    rows = [
        (
            code,
            live.get(code),
            newest.get(code),
            len(programs.approvers(reviews.get(newest[code].id, []))) if code in newest else 0,
        )
        for code in sorted(set(newest) | set(live))
    ]
    actor = _actor()
    return render_template(
        "admin/program_authoring.html",
        rows=rows,
        queue=programs.review_queue(session, actor),
        required=settings().reviews_required,
        educator=actor.holds(EDUCATOR),
        reviewer=actor.holds(REVIEWER),
    )


# --- one program -----------------------------------------------------------------------------------


def _versions_page(code: str, error: Refused | None = None) -> Response:
    session = db()
    versions = programs.versions_of(session, code)
    live = session.query(Program).filter(Program.code == code).one_or_none()
    if not versions and live is None:
        not_found(f"There is no program {code}. The programs list shows them all.")
    reviews = programs.reviews_of(session, [v.id for v in versions])
    current = next((v for v in versions if v.status in OPEN), None)
    published = next((v for v in versions if v.status == PUBLISHED), None)
    shown = current or published or (versions[-1] if versions else None)
    actor = _actor()
    body = render_template(
        "admin/program_versions.html",
        code=code,
        live=live,
        current=current,
        published=published,
        shown=shown,
        segments=_segments(shown) if shown else [],
        approvals=len(programs.approvers(reviews[current.id])) if current else 0,
        required=settings().reviews_required,
        history=programs.history(session, code),
        educator=actor.holds(EDUCATOR),
        reviewer=actor.holds(REVIEWER),
        error=error,
    )
    return Response(body, error.status if error else 200)


def _segments(version: ProgramVersion | Mapping[str, Any]) -> list[dict[str, int]]:
    """Per day, the SMS segments of each language's lesson with its `ECG 5/14: ` label."""
    code = version["code"] if isinstance(version, Mapping) else version.code
    days = version["days"] if isinstance(version, Mapping) else version.days
    total = len(days or [])
    return [
        {
            lang: sms_length(day_label(code or "XX", number, total) + text) if text else 0
            for lang, text in (day.get("lesson") or {}).items()
        }
        for number, day in enumerate(days or [], start=1)
    ]


@console.get("/programs/<code>/versions")
def program_versions(code: str) -> Response:
    return _versions_page(_code(code))


@console.post("/programs/<code>/review")
def review_program(code: str) -> Response:
    code = _code(code)
    verdict = request.form.get("verdict", "")
    try:
        _, published = programs.add_review(
            db(),
            _actor(),
            code,
            verdict,
            request.form.get("note", ""),
            settings().reviews_required,
            settings().clock.now(),
        )
    except Refused as exc:
        db().rollback()
        return _versions_page(code, exc)
    db().commit()
    if published is not None:
        said = f"approved and published as version {published.version}: students get it from their next day"
    elif verdict == programs.APPROVE:
        said = "approved; it needs more approvals before it is published"
    else:
        said = "sent back to its author with your note"
    return back("admin.program_versions", f"{code} {said}.", code=code)


@console.post("/programs/<code>/publish")
def publish_program(code: str) -> Response:
    code = _code(code)
    try:
        version = programs.publish(db(), _actor(), code, settings().reviews_required, settings().clock.now())
    except Refused as exc:
        db().rollback()
        return _versions_page(code, exc)
    db().commit()
    return back(
        "admin.program_versions",
        f"{code} version {version.version} published: students get it from their next day.",
        code=code,
    )


# --- the editor ----------------------------------------------------------------------------------


def _form_of(version: ProgramVersion | None) -> dict[str, str]:
    """A stored version as the editor's form values."""
    if version is None:
        return {}
    values = {"code": version.code, "tracks": ", ".join(version.tracks or [])}
    for lang in LANGUAGES:
        values[f"title_{lang}"] = str((version.title or {}).get(lang) or "")
        values[f"summary_{lang}"] = str((version.summary or {}).get(lang) or "")
    for number, day in enumerate(version.days or [], start=1):
        for lang in LANGUAGES:
            values[f"day_{number}_{lang}"] = str((day.get("lesson") or {}).get(lang) or "")
        values[f"day_{number}_questions"] = ", ".join(str(q) for q in day.get("questions") or [])
    return values


def _day_count(form: Mapping[str, str]) -> int:
    numbers = [int(m[1]) for name in form if (m := re.fullmatch(r"day_(\d{1,3})_\w+", name))]
    return max(numbers, default=0)


def _day_values(form: Mapping[str, str], number: int) -> list[str]:
    return [form.get(f"day_{number}_{name}", "").strip() for name in (*LANGUAGES, "questions")]


def _form_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """The editor's form as the fields store/program_authoring takes; a day row left empty is no day."""
    days = []
    for number in range(1, _day_count(form) + 1):
        lesson = {lang: form.get(f"day_{number}_{lang}", "").strip() for lang in LANGUAGES}
        raw = form.get(f"day_{number}_questions", "").strip()
        if not raw and not any(lesson.values()):
            continue
        words = [w for w in re.split(r"[,\s]+", raw) if w]
        bad = [w for w in words if not w.lstrip("Qq").isdigit() or len(w) > 10]
        if bad:
            raise Invalid(f"day {number}: questions are ids like 1112, 1105, not {bad[0][:12]}")
        days.append({"lesson": lesson, "questions": [int(w.lstrip("Qq")) for w in words]})
    return {
        "title": {lang: form.get(f"title_{lang}", "").strip() for lang in LANGUAGES},
        "summary": {lang: form.get(f"summary_{lang}", "").strip() for lang in LANGUAGES},
        "tracks": [t for t in re.split(r"[,\s]+", form.get("tracks", "")) if t],
        "days": days,
    }


def _editor(
    code: str | None,
    form: Mapping[str, str],
    status: int = 200,
    problems: list[str] | None = None,
    error: str | None = None,
    checked: bool = False,
    extra: bool = False,
) -> Response:
    session = db()
    current = programs.open_version(session, code) if code else None
    base = current or (programs.published_version(session, code) if code else None)
    values = dict(form)
    filled = [n for n in range(1, _day_count(values) + 1) if any(_day_values(values, n))]
    rows = _day_count(values) + 1 if extra else max(filled, default=0) + SPARE_DAYS
    try:
        shaped = _form_fields(values)
        segments = _segments({"code": code or values.get("code", ""), "days": shaped["days"]})
    except Refused:
        segments = []
    body = render_template(
        "admin/program_edit.html",
        code=code,
        form=values,
        rows=rows,
        current=current,
        base=base,
        languages=LANGUAGES,
        segments=segments,
        problems=problems or [],
        error=error,
        checked=checked,
    )
    return Response(body, status)


@console.route("/programs/new", methods=["GET", "POST"])
def new_program() -> Response:
    try:
        allow(_actor(), WRITE, what=programs.WHAT)
    except Refused as exc:
        return Response(
            render_template("admin/error.html", title="Not done", message=exc.message), exc.status
        )
    if request.method == "GET":
        return _editor(None, {})
    return _save(None)


@console.route("/programs/<code>/edit", methods=["GET", "POST"])
def edit_program(code: str) -> Response:
    code = _code(code)
    session = db()
    current = programs.open_version(session, code)
    live = session.query(Program).filter(Program.code == code).one_or_none()
    if current is None and live is None and not programs.versions_of(session, code):
        not_found(f"There is no program {code} to edit.")
    try:
        allow(_actor(), WRITE, current, what=programs.WHAT)
    except Refused as exc:
        return Response(
            render_template("admin/error.html", title="Not done", message=exc.message), exc.status
        )
    if request.method == "GET":
        base = current or programs.published_version(session, code)
        if base is None and live is not None:  # loaded from the files, no history yet: show what is served
            return _editor(code, _live_form(live))
        return _editor(code, _form_of(base))
    return _save(code)


def _live_form(live: Program) -> dict[str, str]:
    return _form_of(ProgramVersion(code=live.code, **programs.live_values(db(), live)))


def _save(code: str | None) -> Response:
    """Preview, add a day row, save, or save and submit the editor's form."""
    form = request.form
    action = form.get("action", PREVIEW)
    session, actor, now = db(), _actor(), settings().clock.now()
    if action == MORE:
        return _editor(code, form, extra=True)
    try:
        fields = _form_fields(form)
        if code is None:
            fields["code"] = form.get("code", "")
        cleaned = programs.clean_program(fields)
    except Refused as exc:
        return _editor(code, form, 200 if action == PREVIEW else exc.status, error=exc.message)
    if action == PREVIEW:
        unsaved = ProgramVersion(
            code=code or cleaned.get("code", ""),
            version=0,
            **{name: cleaned.get(name) for name in ("title", "summary", "tracks", "days")},
        )
        return _editor(code, form, problems=program_problems(session, unsaved, _root()), checked=True)
    try:
        if code is None:
            code = programs.create_draft(session, actor, cleaned, now).code
        else:
            cleaned.pop("code", None)
            base = programs.open_version(session, code) or programs.published_version(session, code)
            changes = {k: v for k, v in cleaned.items() if base is None or getattr(base, k) != v}
            if base is not None and base.status == PUBLISHED and not changes:
                return _editor(
                    code,
                    form,
                    400,
                    error="Nothing differs from the published version: change something first.",
                )
            if changes or base is None:  # as for questions: saving nothing new changes nothing
                programs.edit(session, actor, code, changes or cleaned, now)
        session.commit()
    except Refused as exc:
        session.rollback()
        return _editor(
            code if code and programs.versions_of(session, code) else None,
            form,
            exc.status,
            error=exc.message,
        )
    if action != SUBMIT:
        return back(
            "admin.edit_program", f"Draft of {code} saved. Submit it for review when it is ready.", code=code
        )
    try:
        submit_program(session, actor, code, _root(), now)
    except Refused as exc:
        session.rollback()
        return _editor(
            code, form, exc.status, problems=exc.problems, error=None if exc.problems else exc.message
        )
    session.commit()
    return back("admin.program_versions", f"{code} submitted: it waits in the review queue.", code=code)
