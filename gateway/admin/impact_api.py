"""GET /api/v1/impact: reach, retention, learning and cost by country, channel, track, language or
cohort (join month) over a date range (any token), from the nightly rollups; groups under 10
learners are left out and counted in suppressed_groups."""

from __future__ import annotations

from flask import Response, jsonify, request

from gateway.admin.api import ApiError, _settings, api, db
from workers.impact import impact_period, impact_report, parse_dimension


@api.get("/impact")
def impact() -> Response:
    settings = _settings()
    try:
        by = parse_dimension(request.args.get("by"))
        start, end = impact_period(
            request.args.get("from"), request.args.get("to"), settings.clock.now().date()
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return jsonify(impact_report(db(), settings, by, start, end).as_dict())
