"""/api/v1/programs: enrolments per program and day, drop-off and completions (groups under 10
withheld), cohorts (admin), and /api/v1/certificates with revoke (admin)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify

from gateway.admin.api import ADMIN, ApiError, _iso, _settings, api, body, db, needs, user
from store.programs import Certificate, Programs


def figures_json(figures: dict[str, Any], next_cohort: date | None) -> dict[str, Any]:
    program = figures["program"]
    return {
        "code": program.code,
        "title": dict(program.title),
        "days": program.days,
        "questions": program.questions,
        "active": program.active,
        "next_cohort": next_cohort.isoformat() if next_cohort else None,
        **{name: figures[name] for name in ("enrolled", "in_progress", "left", "completed", "certificates")},
        "by_day": figures["days"],
    }


def certificate_json(row: Certificate, program_code: str) -> dict[str, Any]:
    return {
        "code": row.code,
        "program": program_code,
        "first_name": row.first_name,
        "issued_on": row.issued_on.isoformat(),
        "answered_percent": row.answered_share,
        "revoked_at": _iso(row.revoked_at),
        "revoked_by": row.revoked_by,
    }


@api.get("/programs")
def list_programs() -> Response:
    store = Programs(db())
    cohorts = store.next_cohorts(_settings().clock.now().date())
    return jsonify(
        programs=[figures_json(f, cohorts.get(f["program"].id)) for f in store.figures()],
        note="counts under 10 are null: groups that small are never shown",
    )


@api.post("/programs/<code>/cohorts")
@needs(ADMIN)
def open_cohort(code: str) -> tuple[Response, int]:
    data = body()
    try:
        starts = date.fromisoformat(str(data.get("starts_on", "")))
    except ValueError as exc:
        raise ApiError(400, 'give starts_on as a date, e.g. {"starts_on": "2027-01-11"}') from exc
    now = _settings().clock.now()
    if starts < now.date():
        raise ApiError(400, "starts_on has passed; a cohort starts today or later")
    store = Programs(db())
    program = store.by_code(code)
    if program is None or not program.active:
        raise ApiError(404, f"there is no open program {code[:8]}; GET /api/v1/programs lists them")
    cohort = store.open_cohort(program, starts, user().email, now)
    db().commit()
    return jsonify(program=program.code, starts_on=cohort.starts_on.isoformat()), 201


@api.get("/certificates")
def list_certificates() -> Response:
    return jsonify(certificates=[certificate_json(c, code) for c, code in Programs(db()).certificates()])


@api.post("/certificates/<code>/revoke")
@needs(ADMIN)
def revoke_certificate(code: str) -> Response:
    store = Programs(db())
    row = store.revoke(code, user().email, _settings().clock.now())
    if row is None:
        raise ApiError(404, f"there is no certificate {code[:16]}; GET /api/v1/certificates lists them")
    db().commit()
    program = store.program(row.program_id)
    return jsonify(certificate=certificate_json(row, program.code if program else "?"))
