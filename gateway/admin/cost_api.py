"""GET /api/v1/costs: estimated and actual cost by country and channel over a date range, and this
month's spend against the budget with cost per active learner-month by country (any token);
groups under 10 learners are left out and only counted."""

from __future__ import annotations

from flask import Response, jsonify, request

from gateway.admin.api import ApiError, _settings, api, db
from workers.budget import budget_status
from workers.costs import cost_sheet, parse_period


@api.get("/costs")
def costs() -> Response:
    try:
        start, end = parse_period(
            request.args.get("from"), request.args.get("to"), _settings().clock.now().date()
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    sheet = cost_sheet(db(), _settings(), start, end).as_dict()
    sheet["budget"] = budget_status(db(), _settings(), _settings().clock.now()).as_dict()
    return jsonify(sheet)
