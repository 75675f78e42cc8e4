"""/api/v1/opportunities: list (any token), add as a draft (editor), approve (admin)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify, request

from flows.opportunities import OpportunityError, checked_values
from gateway.admin.api import ADMIN, EDITOR, ApiError, _iso, _settings, api, body, db, needs, user
from gateway.admin.clicks import opportunity_clicks
from store.opportunities import DRAFT, STATUSES, Opportunities, Opportunity


def opportunity_json(row: Opportunity, today: date) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "org": row.org,
        "kind": row.kind,
        "deadline": row.deadline.isoformat(),
        "countries": list(row.countries or []),
        "tracks": list(row.tracks or []),
        "link": row.link,
        "status": row.status_on(today),
        "created_by": row.created_by,
        "approved_by": row.approved_by,
        "approved_at": _iso(row.approved_at),
        "created_at": _iso(row.created_at),
    }


def _today() -> date:
    return _settings().clock.now().date()


@api.get("/opportunities")
def list_opportunities() -> Response:
    status = request.args.get("status")
    if status and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
    today = _today()
    rows = [r for r in Opportunities(db()).listing() if not status or r.status_on(today) == status]
    clicks = opportunity_clicks(db(), [r.id for r in rows])
    return jsonify(opportunities=[opportunity_json(r, today) | {"clicks": clicks[str(r.id)]} for r in rows])


def _list_of(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, f'{name} must be a list of text, e.g. ["NG"]; leave it out for everyone')
    return value


@api.post("/opportunities")
@needs(EDITOR)
def create_opportunity() -> tuple[Response, int]:
    data = body()
    fields = [data.get(name) for name in ("title", "org", "kind", "deadline", "link")]
    if not all(isinstance(value, str) for value in fields):
        raise ApiError(400, "give title, org, kind, deadline (YYYY-MM-DD) and link, each as text")
    try:
        values = checked_values(*fields, _list_of(data, "countries"), _list_of(data, "tracks"))
    except OpportunityError as exc:
        raise ApiError(400, str(exc)) from exc
    row = Opportunities(db()).add(**values, status=DRAFT, created_by=user().email)
    db().commit()
    return jsonify(opportunity=opportunity_json(row, _today())), 201


@api.post("/opportunities/<int:opportunity_id>/approve")
@needs(ADMIN)
def approve_opportunity(opportunity_id: int) -> Response:
    store = Opportunities(db())
    row = store.get(opportunity_id)
    if row is None:
        raise ApiError(
            404, f"there is no opportunity {opportunity_id}; list them with GET /api/v1/opportunities"
        )
    if row.status != DRAFT:
        raise ApiError(
            400, f"opportunity {opportunity_id} is {row.status_on(_today())}; only a draft can be approved"
        )
    store.approve(row, user().email, _settings().clock.now())
    db().commit()
    return jsonify(opportunity=opportunity_json(row, _today()))
