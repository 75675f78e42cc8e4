"""/api/v1 for the quality of questions: students' reports (list, resolve with a note), a question's
item statistics per version, and retraction (retire, or correct the key) with its corrections.

Resolving and retracting need a reviewer (`store.reports.is_reviewer`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, jsonify, request

from gateway.admin.api import ApiError, _int_arg, _iso, _settings, api, body, db, error, user
from store.corrections import RetractError, retract
from store.itemstats import MIN_ANSWERED_FOR_FLAGS, item_stats
from store.models import Question
from store.reports import OPEN, RESOLVED, QuestionReport, Reports, is_reviewer


def needs_reviewer(view: Callable) -> Callable:
    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not is_reviewer(user()):
            return error(403, f"this token belongs to a {user().role}; this needs a reviewer")
        return view(*args, **kwargs)

    return checked


def report_json(row: QuestionReport, status: str | None = None) -> dict[str, Any]:
    """A report without the student: their words and the version, never their number."""
    return {
        "id": row.id,
        "question_id": row.question_id,
        "question_version": row.question_version,
        "text": row.text,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "resolved_at": _iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "note": row.note,
        **({"question_status": status} if status is not None else {}),
    }


def _question(question_id: int) -> Question:
    question = db().get(Question, question_id)
    if question is None:
        raise ApiError(404, f"there is no question {question_id}")
    return question


@api.get("/reports")
def list_reports() -> Response:
    show = request.args.get("status", OPEN)
    if show not in (OPEN, RESOLVED, "all"):
        raise ApiError(400, "status must be open, resolved or all")
    rows = Reports(db()).listing(None if show == "all" else show, _int_arg("limit", 200, 1, 1000))
    return jsonify(reports=[report_json(row) for row in rows])


@api.post("/reports/<int:report_id>/resolve")
@needs_reviewer
def resolve_report(report_id: int) -> Response:
    data = body()
    note, every = data.get("note"), data.get("all", False)
    if not isinstance(note, str) or not note.strip():
        raise ApiError(400, 'give a note, e.g. {"note": "the key is right: B is first-line"}')
    if not isinstance(every, bool):
        raise ApiError(400, "all must be true or false")
    store = Reports(db())
    report = store.get(report_id)
    if report is None:
        raise ApiError(404, f"there is no report {report_id}; GET /api/v1/reports lists them")
    resolved = store.resolve(report, note, user().email, _settings().clock.now(), every_open=every)
    db().commit()
    status = _question(report.question_id).status
    return jsonify(resolved=[report_json(row, status) for row in resolved], question_status=status)


@api.get("/questions/<int:question_id>/stats")
def question_stats(question_id: int) -> Response:
    _question(question_id)
    return jsonify(
        question_id=question_id,
        min_answered_for_flags=MIN_ANSWERED_FOR_FLAGS,
        versions=[s.as_dict() for s in item_stats(db(), question_id)],
    )


@api.post("/questions/<int:question_id>/retract")
@needs_reviewer
def retract_question(question_id: int) -> Response:
    data = body()
    reason, key = data.get("reason"), data.get("key")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(
            400, 'give a reason the students will read, e.g. {"reason": "B is no longer first-line"}'
        )
    if key is not None and (not isinstance(key, str) or len(key.strip()) != 1):
        raise ApiError(
            400, 'key is one option letter, e.g. {"key": "C"}; leave it out to retire the question'
        )
    _question(question_id)
    settings = _settings()
    try:
        done = retract(
            db(), question_id, reason, key, settings.clock.now(), settings.correction_days, user().email
        )
    except RetractError as exc:
        raise ApiError(400, str(exc)) from exc
    db().commit()
    question = _question(question_id)
    return jsonify(
        question_id=question_id,
        changed=done.correction is not None,
        status=question.status,
        version=question.version,
        answer=question.answer,
        owed=done.owed,
        message=done.message,
    )
