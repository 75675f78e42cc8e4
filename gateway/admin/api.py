"""The JSON API under /api/v1, for programs and admins' scripts (`Authorization: Bearer <token>`).

Every error is `{"error": "..."}` saying what to change: 401 without a valid token, 403 when
the token's role is too weak, 400 for bad input, 404 for an unknown id or path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from content.catalog import get_catalog
from gateway.admin import accounts, mentoring, people, stats
from gateway.admin.cleaning import json_body
from gateway.admin.openapi import spec
from store.admin import ADMIN, DRAFT, EDITOR, AdminUser, Broadcast
from store.db import session_factory
from store.models import MENTOR, Person
from store.settings import Settings
from workers import broadcasts
from workers.budget import budget_status
from workers.outbox import deliver

api = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 200


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rounds"'
    return response


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


def db() -> Session:
    if "api_db" not in g:
        g.api_db = session_factory(_settings().database_url)()
    return g.api_db


@api.teardown_app_request
def _close(_error: BaseException | None) -> None:
    session = g.pop("api_db", None)
    if session is not None:
        session.close()


@api.before_request
def _authenticate() -> Response | None:
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(
            401,
            "send an API token as 'Authorization: Bearer <token>'; create one with rounds admin token EMAIL",
        )
    user = accounts.user_for_token(db(), token.strip(), _settings().clock.now())
    if user is None:
        return error(
            401, "this API token is unknown or revoked; create a new one with rounds admin token EMAIL"
        )
    db().commit()  # the token's last use
    g.api_user = user
    return None


@api.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error(exc.status, exc.message)


def user() -> AdminUser:
    return g.api_user


def needs(role: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not user().can(role):
                return error(
                    403, f"this token belongs to a {user().role}; this needs the {role} role or higher"
                )
            return view(*args, **kwargs)

        return checked

    return decorate


def body() -> dict[str, Any]:
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "send a JSON object as the body, with Content-Type: application/json")
    return data


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- students -------------------------------------------------------------------------------


def person_json(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "phone": person.phone,
        "bsuid": person.bsuid,
        "phone_number": person.phone_number,
        "username": person.username,
        "name": person.name,
        "role": person.role,
        "channel": person.channel,
        "language": person.language,
        "country": person.country,
        "timezone": person.timezone,
        "track": person.track,
        "status": person.status,
        "paused_until": _iso(person.paused_until),
        "daily_time": person.daily_time,
        "unreachable": person.unreachable,
        "joined_at": _iso(person.created_at),
        "last_active_at": _iso(person.last_inbound_at),
        "erased": people.is_erased(person),
    }


def _student(person_id: int) -> Person:
    person = db().get(Person, person_id)
    if person is None:
        raise ApiError(404, f"there is no person {person_id}; list them with GET /api/v1/students")
    return person


@api.get("/students")
def list_students() -> Response:
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    status = request.args.get("status")
    if status and status not in ("active", "paused", "opted_out"):
        raise ApiError(400, "status must be active, paused or opted_out")
    rows, total = people.PersonQuery.from_args(request.args).page(db(), page, per_page)
    return jsonify(students=[person_json(p) for p in rows], page=page, per_page=per_page, total=total)


@api.get("/students/<int:person_id>")
def get_student(person_id: int) -> Response:
    person = _student(person_id)
    pairing = mentoring.pairing_of(db(), person)
    mentor = pairing.get("mentor")
    return jsonify(
        student=person_json(person)
        | {
            "learning": people.learning_stats(db(), person.id),
            "mentor": {"id": mentor.id, "name": mentor.name} if mentor else None,
        }
    )


@api.get("/students/<int:person_id>/messages")
def student_messages(person_id: int) -> Response:
    person = _student(person_id)
    limit = _int_arg("limit", 50, 1, MAX_PER_PAGE)
    before = _int_arg("before", 0, 0, 2**62) or None
    rows = people.conversation(db(), person, limit=limit, before=before)
    return jsonify(
        messages=[
            {
                "id": m.id,
                "at": _iso(m.created_at),
                "direction": m.direction,
                "channel": m.channel,
                "kind": m.kind,
                "status": m.status,
                "body": m.body,
                "segments": m.segments,
                "error_code": m.error_code,
                "simulated_by": m.simulated_by,
            }
            for m in rows
        ]
    )


@api.get("/students/<int:person_id>/export")
@needs(ADMIN)
def export_student(person_id: int) -> Response:
    return jsonify(people.person_record(db(), _student(person_id)))


@api.post("/students/<int:person_id>/erase")
@needs(ADMIN)
def erase_student(person_id: int) -> Response:
    person = _student(person_id)
    if body().get("confirm") is not True:
        raise ApiError(400, 'erasure cannot be undone; send {"confirm": true} to go ahead')
    result = people.erase_person(db(), person, _settings().clock.now())
    db().commit()
    return jsonify(erased=person.id, messages_blanked=result["messages"])


# --- mentors and pairs ---------------------------------------------------------------------------


@api.get("/mentors")
def list_mentors() -> Response:
    session = db()
    load = mentoring.mentee_counts(session)
    details = mentoring.profiles(session)
    rows = session.scalars(select(Person).where(Person.role == MENTOR).order_by(Person.id))
    return jsonify(
        mentors=[
            person_json(person) | {"mentees": load.get(person.id, 0), **details.get(person.id, {})}
            for person in rows
        ]
    )


def _mentoring(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except mentoring.MentoringError as exc:
        status = 404 if str(exc).startswith("there is no") else 400
        raise ApiError(status, str(exc)) from exc


def _catalog() -> Any:
    return get_catalog(_settings().content_path)


@api.post("/mentors")
@needs(EDITOR)
def create_mentor() -> tuple[Response, int]:
    data = body()
    tracks, languages = data.get("tracks") or [], data.get("languages") or []
    if not isinstance(tracks, list) or not isinstance(languages, list):
        raise ApiError(400, 'tracks and languages must be lists, e.g. ["step1"]')
    person = _mentoring(
        lambda: mentoring.add(
            db(),
            str(data.get("phone") or ""),
            str(data.get("name") or ""),
            tracks,
            languages,
            data.get("capacity", 5),
        )
    )
    db().commit()
    return jsonify(mentor=person_json(person) | mentoring.profiles(db()).get(person.id, {})), 201


def pair_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "mentor": {"id": row["mentor_id"], "name": row["mentor_name"]},
        "student": {"id": row["student_id"], "name": row["student_name"], "number": row["number"]},
        "since": _iso(row["created_at"]),
    }


@api.get("/pairs")
def list_pairs() -> Response:
    return jsonify(pairs=[pair_json(row) for row in mentoring.pairs(db(), limit=1000)])


@api.post("/pairs")
@needs(EDITOR)
def create_pair() -> tuple[Response, int]:
    data = body()
    if not data.get("mentor") or not data.get("student"):
        raise ApiError(400, 'give both phone numbers: {"mentor": "+E164", "student": "+E164"}')
    notices = _mentoring(
        lambda: mentoring.pair_phones(
            db(), _catalog(), str(data["mentor"]), str(data["student"]), _settings().clock.now()
        )
    )
    queued = deliver(_settings(), db(), notices)
    student = people.find_person(db(), str(data["student"]))
    row = next((p for p in mentoring.pairs(db(), limit=1000) if p["student_id"] == student.id), None)
    return jsonify(pair=pair_json(row) if row else None, notices_queued=len(queued)), 201


@api.delete("/pairs/<int:student_id>")
@needs(EDITOR)
def end_pair(student_id: int) -> Response:
    _student(student_id)
    notices = _mentoring(
        lambda: mentoring.unpair_student(db(), _catalog(), student_id, _settings().clock.now())
    )
    queued = deliver(_settings(), db(), notices)
    return jsonify(unpaired=student_id, notices_queued=len(queued))


# --- broadcasts ------------------------------------------------------------------------------


def broadcast_json(b: Broadcast, with_progress: bool = False) -> dict[str, Any]:
    data = {
        "id": b.id,
        "status": b.status,
        "text": b.text,
        "segment": b.segment,
        "schedule": b.schedule,
        "send_at": _iso(b.send_at),
        "local_time": b.local_time,
        "whatsapp_template": b.whatsapp_template,
        "created_by": b.created_by,
        "created_at": _iso(b.created_at),
        "started_at": _iso(b.started_at),
        "fanned_out_at": _iso(b.fanned_out_at),
        "finished_at": _iso(b.finished_at),
        "cancelled_at": _iso(b.cancelled_at),
        "matched": b.matched,
        "recipients": b.recipients,
        "skipped": b.skipped,
        "encoding": b.encoding,
        "segments_per_sms": b.segments_per_sms,
        "total_segments": b.total_segments,
        "estimated_cost": b.estimated_cost,
        "currency": b.currency,
    }
    if with_progress:
        data["progress"] = broadcasts.progress(db(), b.id, _settings().clock.now()).as_dict()
    return data


def _broadcast_input(
    data: dict[str, Any],
) -> tuple[str, broadcasts.Audience, broadcasts.Schedule, str | None]:
    text = data.get("text")
    if not isinstance(text, str):
        raise ApiError(400, 'give the message as "text": "..."')
    template = data.get("whatsapp_template")
    if template is not None and not isinstance(template, str):
        raise ApiError(400, "whatsapp_template must be a template's ContentSid (HX...)")
    try:
        segment = broadcasts.Audience.from_dict(data.get("segment") or {})
        schedule = broadcasts.Schedule.parse(data.get("at"), data.get("local"), _settings().clock.now())
    except broadcasts.BroadcastError as exc:
        raise ApiError(400, str(exc)) from exc
    return text, segment, schedule, template


@api.post("/broadcasts/preview")
def preview_broadcast() -> Response:
    text, segment, schedule, template = _broadcast_input(body())
    settings = _settings()
    try:
        shown = broadcasts.preview(
            db(),
            text,
            segment,
            schedule,
            settings,
            broadcasts.load_prices(settings),
            _settings().clock.now(),
            template,
        )
    except broadcasts.BroadcastError as exc:
        raise ApiError(400, str(exc)) from exc
    return jsonify(preview=shown.as_dict())


@api.post("/broadcasts")
@needs(EDITOR)
def create_broadcast() -> tuple[Response, int]:
    data = body()
    text, segment, schedule, template = _broadcast_input(data)
    session = db()
    try:
        broadcast, shown = broadcasts.create_broadcast(
            session,
            text,
            segment,
            schedule,
            _settings(),
            _settings().clock.now(),
            (user().id, user().email),
            template,
            draft=bool(data.get("draft")),
        )
    except broadcasts.BroadcastError as exc:
        raise ApiError(400, str(exc)) from exc
    if broadcast.status != DRAFT and (refused := _over_budget(data, shown.estimated_cost, shown.as_dict())):
        session.rollback()
        return refused
    session.commit()
    return _started(broadcast, shown.as_dict())


def _over_budget(
    data: dict[str, Any], cost: float, preview: dict[str, Any] | None = None
) -> tuple[Response, int] | None:
    """409 with the figures when sending `cost` now leaves the month projected over the budget,
    unless the caller said `"over_budget_ok": true`."""
    if data.get("over_budget_ok") is True:
        return None
    status = budget_status(db(), _settings(), _settings().clock.now())
    if not status.needs_confirmation(cost):
        return None
    figures = status.check(cost)
    payload: dict[str, Any] = {
        "error": f"this month's spend projects to {figures['projected_with_broadcast']:.2f} "
        f"{status.currency} with this broadcast, over the monthly budget of {figures['budget']:.2f}; send it "
        "again with "
        '"over_budget_ok": true to go ahead',
        "budget": figures,
    }
    if preview is not None:
        payload["preview"] = preview
    return jsonify(payload), 409


def _started(broadcast: Broadcast, preview: dict[str, Any] | None = None) -> tuple[Response, int]:
    if broadcast.status != DRAFT and not broadcasts.start_broadcast(_settings(), broadcast.id):
        broadcast.status = DRAFT
        db().commit()
        raise ApiError(
            503,
            f"the job queue (Redis) did not answer; broadcast {broadcast.id} was kept as a draft and nothing "
            f"was sent: POST /api/v1/broadcasts/{broadcast.id}/send once Redis is back",
        )
    payload: dict[str, Any] = {"broadcast": broadcast_json(broadcast)}
    if preview is not None:
        payload["preview"] = preview
    return jsonify(payload), 201 if broadcast.status == DRAFT else 202


def _broadcast(broadcast_id: int) -> Broadcast:
    broadcast = db().get(Broadcast, broadcast_id)
    if broadcast is None:
        raise ApiError(404, f"there is no broadcast {broadcast_id}; list them with GET /api/v1/broadcasts")
    return broadcast


@api.get("/broadcasts")
def list_broadcasts() -> Response:
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    session = db()
    total = session.scalar(select(func.count()).select_from(Broadcast)) or 0
    rows = session.scalars(
        select(Broadcast).order_by(Broadcast.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return jsonify(broadcasts=[broadcast_json(b) for b in rows], page=page, per_page=per_page, total=total)


@api.get("/broadcasts/<int:broadcast_id>")
def get_broadcast(broadcast_id: int) -> Response:
    broadcast = _broadcast(broadcast_id)
    broadcasts.refresh_status(db(), broadcast, _settings().clock.now())
    db().commit()
    return jsonify(broadcast=broadcast_json(broadcast, with_progress=True))


@api.post("/broadcasts/<int:broadcast_id>/cancel")
@needs(EDITOR)
def cancel_broadcast(broadcast_id: int) -> Response:
    broadcast = _broadcast(broadcast_id)
    try:
        stopped = broadcasts.cancel_broadcast(db(), broadcast, _settings().clock.now())
    except broadcasts.BroadcastError as exc:
        raise ApiError(400, str(exc)) from exc
    db().commit()
    return jsonify(broadcast=broadcast_json(broadcast, with_progress=True), stopped=stopped)


@api.post("/broadcasts/<int:broadcast_id>/send")
@needs(EDITOR)
def send_broadcast(broadcast_id: int) -> tuple[Response, int]:
    broadcast = _broadcast(broadcast_id)
    data = request.get_json(silent=True)
    if broadcast.status == DRAFT and (
        refused := _over_budget(data if isinstance(data, dict) else {}, float(broadcast.estimated_cost or 0))
    ):
        return refused
    try:
        broadcasts.send_draft(db(), broadcast)
    except broadcasts.BroadcastError as exc:
        raise ApiError(400, str(exc)) from exc
    db().commit()
    return _started(broadcast)


# --- stats and flags ---------------------------------------------------------------------------


@api.get("/stats")
def get_stats() -> Response:
    span = _int_arg("days", 30, 1, 365)
    data = stats.dashboard_json(stats.dashboard(db(), _settings().clock.now(), span))
    data["open_flags"] = mentoring.open_flags(db())
    return jsonify(data)


@api.get("/flags")
def list_flags() -> Response:
    show = request.args.get("status", "open")
    if show not in ("open", "all"):
        raise ApiError(400, "status must be open or all")
    rows = mentoring.flags(db(), open_only=show == "open", limit=_int_arg("limit", 100, 1, 1000))
    return jsonify(flags=[mentoring.flag_json(flag) for flag in rows])


@api.post("/flags/<int:flag_id>/resolve")
@needs(EDITOR)
def resolve_flag(flag_id: int) -> Response:
    data = json_body() or {}
    note = data.get("note") if isinstance(data, dict) else None
    if note is not None and not isinstance(note, str):
        raise ApiError(400, 'note must be text, e.g. {"note": "called the student"}')
    flag = _mentoring(
        lambda: mentoring.resolve_flag(db(), flag_id, user().email, _settings().clock.now(), note)
    )
    db().commit()
    return jsonify(flag=mentoring.flag_json(flag))


@api.get("/openapi.json")
def openapi() -> Response:
    # Never the Host header, which the caller chooses: PUBLIC_URL, else a relative server URL.
    return jsonify(spec(_settings().public_url + "/api/v1"))
