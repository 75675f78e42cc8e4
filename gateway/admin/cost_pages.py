"""The console's costs page: this month's spend against the budget, synced prices, and by country
and channel the estimated cost next to what Twilio charged, over a date range (groups under 10
learners left out). A plain GET form."""

from __future__ import annotations

from flask import render_template, request

from gateway.admin.web import console, db, settings
from store.costs import MIN_GROUP, synced_prices
from workers import budget
from workers.costs import cost_sheet, default_period, parse_period


@console.get("/costs")
def costs() -> tuple[str, int]:
    today = settings().clock.now().date()
    status, error = 200, ""
    try:
        start, end = parse_period(request.args.get("from"), request.args.get("to"), today)
    except ValueError as exc:
        (start, end), error, status = default_period(today), str(exc), 400
    sheet = cost_sheet(db(), settings(), start, end)
    html = render_template(
        "admin/costs.html",
        sheet=sheet,
        synced=synced_prices(db()),
        error=error,
        **budget_context(),
    )
    return html, status


def budget_context() -> dict[str, object]:
    """What the budget panel (`admin/_budget.html`) needs, at the clock's now."""
    return {
        "budget": budget.budget_status(db(), settings(), settings().clock.now()),
        "rate_days": budget.RATE_DAYS,
        "learner_month_days": budget.LEARNER_MONTH_DAYS,
        "min_group": MIN_GROUP,
    }
