"""Console pages for people: students (search, detail, data export, erasure), mentors, pairs, flags."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, render_template, request
from sqlalchemy import select

from content.catalog import Catalog, get_catalog
from gateway.admin import mentoring, people
from gateway.admin.web import (
    ADMIN,
    EDITOR,
    PAGE_SIZE,
    back,
    console,
    current_user,
    db,
    not_found,
    page_number,
    requires,
    settings,
)
from store.mentoring import Flag
from store.models import MENTOR, Person
from store.text import MAX_BIGINT, whole_number
from workers.outbox import deliver

# Messages per page of a conversation: even at Twilio's 1,600 characters each, a page stays light.
CONVERSATION_PAGE = 50


@console.get("/students")
def students() -> str:
    query = people.PersonQuery.from_args(request.args)
    page = page_number()
    rows, total = query.page(db(), page, PAGE_SIZE)
    return render_template(
        "admin/students.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=query,
        args=request.args,
        facets=_facets(),
    )


def _facets() -> dict[str, list[str]]:
    """The values each filter can take, from what is stored (a handful of distinct values each)."""
    session = db()
    return {
        key: [value for value in session.scalars(select(column).distinct().order_by(column)) if value]
        for key, column in (
            ("track", Person.track),
            ("country", Person.country),
            ("language", Person.language),
        )
    }


def _person_or_404(person_id: int) -> Person:
    person = db().get(Person, person_id)
    if person is None:
        not_found(f"There is no person #{person_id}. Search for them on the students page.")
    return person


@console.get("/students/<int:person_id>")
def student(person_id: int) -> str:
    person = _person_or_404(person_id)
    session = db()
    before = whole_number(request.args.get("before"), 1, MAX_BIGINT)
    messages = people.conversation(session, person, limit=CONVERSATION_PAGE, before=before)
    return render_template(
        "admin/student.html",
        person=person,
        stats=people.learning_stats(session, person.id),
        messages=messages,
        older=messages[0].id if len(messages) == CONVERSATION_PAGE else None,
        erased=people.is_erased(person),
        pairing=mentoring.pairing_of(session, person),
    )


@console.get("/students/<int:person_id>/data.json")
@requires(ADMIN)
def student_data(person_id: int) -> Response:
    person = _person_or_404(person_id)
    body = json.dumps(people.person_record(db(), person), indent=1, ensure_ascii=False)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="rounds-person-{person.id}.json"'
    return response


@console.post("/students/<int:person_id>/erase")
@requires(ADMIN)
def erase_student(person_id: int) -> Response:
    person = _person_or_404(person_id)
    if request.form.get("confirm", "").strip() != "ERASE":
        return back(
            "admin.student", "Type ERASE in the box to confirm the erasure.", "error", person_id=person_id
        )
    session = db()
    result = people.erase_person(session, person, settings().clock.now())
    session.commit()
    return back(
        "admin.student",
        f"Erased: name, number and {result['messages']} message text(s) removed; answer counts kept.",
        person_id=person_id,
    )


@console.get("/mentors")
def mentors() -> str:
    session = db()
    rows = list(
        session.scalars(
            select(Person).where(Person.role == MENTOR).order_by(Person.name).limit(PAGE_SIZE * 2)
        )
    )
    return render_template(
        "admin/mentors.html",
        mentors=rows,
        load=mentoring.mentee_counts(session),
        pairs=mentoring.pairs(session, limit=PAGE_SIZE * 2),
        profiles=mentoring.profiles(session),
        waiting=mentoring.waiting(session),
    )


@console.post("/mentors")
@requires(EDITOR)
def add_mentor() -> Response:
    form = request.form
    try:
        mentoring.add(
            db(),
            form.get("phone", ""),
            form.get("name", ""),
            _split(form.get("tracks")),
            _split(form.get("languages")),
            form.get("capacity", "5"),
        )
    except mentoring.MentoringError as exc:
        return back("admin.mentors", str(exc), "error")
    db().commit()
    return back("admin.mentors", "Mentor saved.")


@console.post("/pairs")
@requires(EDITOR)
def add_pair() -> Response:
    session = db()
    try:
        notices = mentoring.pair_phones(
            session,
            catalog(),
            request.form.get("mentor", ""),
            request.form.get("student", ""),
            settings().clock.now(),
        )
    except mentoring.MentoringError as exc:
        return back("admin.mentors", str(exc), "error")
    queued = deliver(settings(), session, notices)
    return back(
        "admin.mentors", "Paired; both have been told by text." if queued else "They were already paired."
    )


@console.post("/pairs/<int:student_id>/end")
@requires(EDITOR)
def end_pair(student_id: int) -> Response:
    session = db()
    try:
        notices = mentoring.unpair_student(session, catalog(), student_id, settings().clock.now())
    except mentoring.MentoringError as exc:
        return back("admin.mentors", str(exc), "error")
    deliver(settings(), session, notices)
    return back("admin.mentors", "Pairing ended; both have been told by text.")


@console.get("/flags")
def flags() -> str:
    session = db()
    show = request.args.get("show", "open")
    rows = mentoring.flags(session, open_only=show != "all", limit=PAGE_SIZE)
    return render_template("admin/flags.html", flags=rows, show=show, people=_people_of(rows))


def _people_of(rows: list[Flag]) -> dict[int, Person]:
    who = {flag.person_id for flag in rows if flag.person_id}
    return {p.id: p for p in db().scalars(select(Person).where(Person.id.in_(who)))} if who else {}


@console.get("/flags/<int:flag_id>")
def flag_detail(flag_id: int) -> str:
    session = db()
    flag = session.get(Flag, flag_id)
    if flag is None:
        not_found(f"There is no flag #{flag_id}.")
    return render_template(
        "admin/flag.html", f=flag, messages=mentoring.conversation(session, flag), people=_people_of([flag])
    )


@console.post("/flags/<int:flag_id>/resolve")
@requires(EDITOR)
def resolve_flag(flag_id: int) -> Response:
    try:
        mentoring.resolve_flag(
            db(), flag_id, current_user().email, settings().clock.now(), request.form.get("note")
        )
    except mentoring.MentoringError as exc:
        return back("admin.flags", str(exc), "error")
    db().commit()
    return back("admin.flags", f"Flag #{flag_id} marked resolved.")


def catalog() -> Catalog:
    return get_catalog(settings().content_path)


def _split(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").replace(";", ",").split(",") if part.strip()]
