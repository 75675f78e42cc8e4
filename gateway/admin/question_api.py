"""/api/v1/questions: educators write drafts, reviewers review them, and a published item gets a
new version when it is edited. Who may do what is decided in store/authoring.py (`allow`), not
here: a refusal there is a 403 here, with its reason.

`?language=fr` (or es) works on that language's versions of an item; the default is English.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from content import content_root
from content.drafts import submit_draft
from gateway.admin.api import ApiError, _iso, _settings, api, body, db, error, user
from store import authoring
from store.authoring import LANGUAGES, STATUSES, QuestionReview, QuestionVersion, Refused

# questions.id is a 32-bit INTEGER: a larger id is no question of ours.
MAX_QUESTION_ID = 2**31 - 1


@api.errorhandler(Refused)
def _refused(exc: Refused) -> Response:
    """A refusal from the workflow, with the checker's problems when a submission failed."""
    if not exc.problems:
        return error(exc.status, exc.message)
    response = jsonify(error=exc.message, problems=exc.problems)
    response.status_code = exc.status
    return response


def _language() -> str:
    language = request.args.get("language", authoring.ENGLISH).strip().lower() or authoring.ENGLISH
    if language not in LANGUAGES:
        raise ApiError(400, f"language must be one of {', '.join(LANGUAGES)}, not {language[:8]!r}")
    return language


def _question_id(question_id: int) -> int:
    if question_id > MAX_QUESTION_ID:
        raise ApiError(404, f"there is no question {question_id}")
    return question_id


def review_json(row: QuestionReview) -> dict[str, Any]:
    return {
        "reviewer": row.reviewer,
        "verdict": row.verdict,
        "note": row.note,
        "at": _iso(row.at),
        "counts": row.counts,
    }


def version_json(version: QuestionVersion, reviews: list[QuestionReview] | None = None) -> dict[str, Any]:
    reviews = reviews or []
    return {
        "id": version.question_id,
        "language": version.language,
        "version": version.version,
        "base_version": version.base_version,
        "status": version.status,
        "origin": version.origin,
        "topic": version.topic,
        "tracks": list(version.tracks or []),
        "difficulty": version.difficulty,
        "locale": version.locale,
        "stem": version.stem,
        "options": dict(version.options or {}),
        "answer": version.answer,
        "explanation": version.explanation,
        "sources": list(version.sources or []),
        "author": version.author,
        "reviewers": list(version.reviewers or []),
        "review": version.review,
        "review_by": version.review_by.isoformat() if version.review_by else None,
        "pair_with": list(version.pair_with or []),
        "pair_reason": version.pair_reason,
        "created_at": _iso(version.created_at),
        "updated_at": _iso(version.updated_at),
        "submitted_at": _iso(version.submitted_at),
        "published_at": _iso(version.published_at),
        "approvals": len(authoring.approvers(reviews)),
        "reviews": [review_json(r) for r in reviews],
    }


def _with_reviews(version: QuestionVersion) -> dict[str, Any]:
    return version_json(version, authoring.reviews_of(db(), [version.id])[version.id])


@api.get("/questions")
def list_questions() -> Response:
    status = request.args.get("status", "").strip().lower() or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
    language = _language() if request.args.get("language") else None
    listed = authoring.list_items(
        db(),
        status=status,
        topic=request.args.get("topic", "").strip() or None,
        track=request.args.get("track", "").strip() or None,
        language=language,
    )
    return jsonify(
        questions=[
            {
                "id": row.version.question_id,
                "language": row.version.language,
                "version": row.version.version,
                "status": row.version.status,
                "published_version": row.published,
                "approvals": row.approvals,
                "topic": row.version.topic,
                "tracks": list(row.version.tracks or []),
                "author": row.version.author,
                "stem": row.version.stem,
                "updated_at": _iso(row.version.updated_at),
            }
            for row in listed
        ],
        reviews_required=_settings().reviews_required,
    )


@api.post("/questions")
def create_question() -> tuple[Response, int]:
    data = body()
    version = authoring.create_draft(db(), user(), data, _settings().clock.now())
    db().commit()
    return jsonify(_with_reviews(version)), 201


@api.get("/questions/<int:question_id>")
def show_question(question_id: int) -> Response:
    language = _language()
    versions = authoring.versions_of(db(), _question_id(question_id), language)
    if not versions:
        raise ApiError(
            404, f"there is no question {question_id} in {language}; GET /api/v1/questions lists them"
        )
    reviews = authoring.reviews_of(db(), [v.id for v in versions])
    published = next((v for v in versions if v.status == authoring.PUBLISHED), None)
    return jsonify(
        id=question_id,
        language=language,
        published_version=published.version if published else None,
        reviews_required=_settings().reviews_required,
        versions=[version_json(v, reviews[v.id]) for v in versions],
    )


@api.patch("/questions/<int:question_id>")
def edit_question(question_id: int) -> Response:
    version = authoring.edit(
        db(), user(), _question_id(question_id), body(), _settings().clock.now(), _language()
    )
    db().commit()
    return jsonify(_with_reviews(version))


@api.get("/questions/<int:question_id>/diff")
def diff_question(question_id: int) -> Response:
    try:
        before, after = int(request.args.get("from", "")), int(request.args.get("to", ""))
    except ValueError:
        raise ApiError(400, "give the two versions to compare as ?from=1&to=2") from None
    language = _language()
    changes = authoring.diff(db(), _question_id(question_id), before, after, language)
    return jsonify(id=question_id, language=language, changes=changes, **{"from": before, "to": after})


@api.post("/questions/<int:question_id>/submit")
def submit_question(question_id: int) -> Response:
    settings = _settings()
    version = submit_draft(
        db(),
        user(),
        _question_id(question_id),
        content_root(settings.content_path),
        settings.clock.now(),
        _language(),
    )
    db().commit()
    return jsonify(_with_reviews(version))


@api.post("/questions/<int:question_id>/reviews")
def review_question(question_id: int) -> tuple[Response, int]:
    data = body()
    verdict, note = data.get("verdict"), data.get("note") or ""
    if not isinstance(verdict, str) or not isinstance(note, str):
        raise ApiError(400, 'send {"verdict": "approve" | "changes", "note": "..."}')
    row = authoring.add_review(
        db(), user(), _question_id(question_id), verdict, note, _settings().clock.now(), _language()
    )
    db().commit()
    return jsonify(review_json(row)), 201


@api.post("/questions/<int:question_id>/publish")
def publish_question(question_id: int) -> Response:
    settings = _settings()
    version = authoring.publish(
        db(), user(), _question_id(question_id), settings.reviews_required, settings.clock.now(), _language()
    )
    db().commit()
    return jsonify(_with_reviews(version))
