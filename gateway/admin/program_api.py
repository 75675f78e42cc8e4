"""/api/v1/programs: enrolments per program and day, drop-off and completions (groups under 10
withheld), cohorts (admin), /api/v1/certificates with revoke (admin), and the educators' workflow
for programs: drafts, new versions, submission, reviews and publishing, as for questions."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify

from content import content_root
from content.program_drafts import submit_program
from gateway.admin.api import ADMIN, ApiError, _iso, _settings, api, body, db, needs, user
from store import program_authoring
from store.program_authoring import ProgramReview, ProgramVersion
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


# --- writing programs: the question bank's workflow (store/program_authoring.py) -------------------
# A refusal from the workflow is answered by question_api's handler for store.authoring.Refused.


def _program_code(code: str) -> str:
    code = code.upper()
    if not program_authoring.CODE.fullmatch(code):
        raise ApiError(404, f"there is no program {code[:8]}; GET /api/v1/programs lists them")
    return code


def program_review_json(row: ProgramReview) -> dict[str, Any]:
    return {
        "reviewer": row.reviewer,
        "verdict": row.verdict,
        "note": row.note,
        "at": _iso(row.at),
        "counts": row.counts,
    }


def program_version_json(version: ProgramVersion, reviews: list[ProgramReview]) -> dict[str, Any]:
    return {
        "code": version.code,
        "version": version.version,
        "status": version.status,
        "origin": version.origin,
        "title": dict(version.title or {}),
        "summary": dict(version.summary or {}),
        "tracks": list(version.tracks or []),
        "days": [dict(d) for d in version.days or []],
        "author": version.author,
        "reviewers": list(version.reviewers or []),
        "created_at": _iso(version.created_at),
        "updated_at": _iso(version.updated_at),
        "submitted_at": _iso(version.submitted_at),
        "published_at": _iso(version.published_at),
        "approvals": len(program_authoring.approvers(reviews)),
        "reviews": [program_review_json(r) for r in reviews],
    }


def _with_reviews(version: ProgramVersion) -> dict[str, Any]:
    return program_version_json(version, program_authoring.reviews_of(db(), [version.id])[version.id])


@api.post("/programs")
def create_program() -> tuple[Response, int]:
    version = program_authoring.create_draft(db(), user(), body(), _settings().clock.now())
    db().commit()
    return jsonify(_with_reviews(version)), 201


@api.get("/programs/<code>/versions")
def program_versions(code: str) -> Response:
    code = _program_code(code)
    versions = program_authoring.versions_of(db(), code)
    if not versions and Programs(db()).by_code(code) is None:
        raise ApiError(404, f"there is no program {code}; GET /api/v1/programs lists them")
    reviews = program_authoring.reviews_of(db(), [v.id for v in versions])
    published = program_authoring.published_version(db(), code)
    return jsonify(
        code=code,
        published_version=published.version if published else None,
        reviews_required=_settings().reviews_required,
        versions=[program_version_json(v, reviews[v.id]) for v in versions],
    )


@api.patch("/programs/<code>")
def edit_program(code: str) -> Response:
    version = program_authoring.edit(db(), user(), _program_code(code), body(), _settings().clock.now())
    db().commit()
    return jsonify(_with_reviews(version))


@api.post("/programs/<code>/submit")
def submit_program_version(code: str) -> Response:
    settings = _settings()
    version = submit_program(
        db(), user(), _program_code(code), content_root(settings.content_path), settings.clock.now()
    )
    db().commit()
    return jsonify(_with_reviews(version))


@api.post("/programs/<code>/reviews")
def review_program(code: str) -> tuple[Response, int]:
    data = body()
    verdict, note = data.get("verdict"), data.get("note") or ""
    if not isinstance(verdict, str) or not isinstance(note, str):
        raise ApiError(400, 'send {"verdict": "approve" | "changes", "note": "..."}')
    settings = _settings()
    row, published = program_authoring.add_review(
        db(), user(), _program_code(code), verdict, note, settings.reviews_required, settings.clock.now()
    )
    db().commit()
    return jsonify(
        review=program_review_json(row), published_version=published.version if published else None
    ), 201


@api.post("/programs/<code>/publish")
def publish_program(code: str) -> Response:
    settings = _settings()
    version = program_authoring.publish(
        db(), user(), _program_code(code), settings.reviews_required, settings.clock.now()
    )
    db().commit()
    return jsonify(_with_reviews(version))
