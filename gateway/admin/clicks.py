"""Short-link clicks for people and programs: the console's clicks page (resources or
opportunities) and `GET /api/v1/links/clicks`, both summed over a range of UTC days.

The house privacy rule holds for every figure: a total, or a cell of a breakdown (one channel, one
country), of 1 to 9 clicks is shown as "<10" (`null` in JSON); when that leaves exactly one cell
hidden beside a shown total, the next smallest is hidden too, so the total cannot give it away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Response, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.admin.api import ApiError, api
from gateway.admin.api import db as api_db
from gateway.admin.web import console, db
from store.links import KINDS, OPPORTUNITY, RESOURCE, ClickRow, ShortLinks
from store.models import Resource
from store.opportunities import Opportunity

MIN_CELL = 10
UNKNOWN_COUNTRY = "unknown"


def suppressed(cells: dict[str, int]) -> dict[str, int | None]:
    """`cells` with every count under MIN_CELL hidden (None), and one more if only one was."""
    shown: dict[str, int | None] = {key: (n if n >= MIN_CELL else None) for key, n in cells.items()}
    hidden = [key for key, n in shown.items() if n is None]
    if len(hidden) == 1 and len(shown) > 1:
        smallest = min((key for key, n in shown.items() if n is not None), key=lambda key: cells[key])
        shown[smallest] = None
    return shown


@dataclass
class Clicks:
    """One target's clicks: the total, and counts by channel and by country before suppression."""

    total: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    by_country: dict[str, int] = field(default_factory=dict)

    def add(self, row: ClickRow) -> None:
        self.total += row.clicks
        self.by_channel[row.channel] = self.by_channel.get(row.channel, 0) + row.clicks
        country = row.country or UNKNOWN_COUNTRY
        self.by_country[country] = self.by_country.get(country, 0) + row.clicks

    def public(self) -> dict[str, Any]:
        """What may be shown: the total and the breakdowns, small figures suppressed (0 is shown)."""
        return {
            "total": self.total if self.total == 0 or self.total >= MIN_CELL else None,
            "by_channel": suppressed(self.by_channel),
            "by_country": dict(sorted(suppressed(self.by_country).items())),
        }


def clicks_by_target(
    rows: list[ClickRow], kind: str, targets: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """target id -> its shown clicks, for every target in `targets` (0 when never clicked)."""
    summaries: dict[str, Clicks] = {str(t): Clicks() for t in targets or []}
    for row in rows:
        if row.kind == kind:
            summaries.setdefault(row.target, Clicks()).add(row)
    return {target: summary.public() for target, summary in summaries.items()}


def opportunity_clicks(session: Session, ids: list[int]) -> dict[str, dict[str, Any]]:
    targets = [str(i) for i in ids]
    return clicks_by_target(ShortLinks(session).clicks(OPPORTUNITY, targets), OPPORTUNITY, targets)


def _days() -> tuple[date | None, date | None]:
    """The `from` and `to` days asked for (either may be absent); ValueError saying what to fix."""
    days = []
    for name in ("from", "to"):
        raw = (request.args.get(name) or "").strip()
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            raise ValueError(f"{name} must be a date such as 2026-12-01, got {raw!r}") from None
    return days[0], days[1]


def _titles(session: Session, kind: str) -> dict[str, str]:
    if kind == RESOURCE:
        return {r.id: r.title for r in session.scalars(select(Resource).order_by(Resource.id))}
    return {str(o.id): o.title for o in session.scalars(select(Opportunity).order_by(Opportunity.id))}


def _table(session: Session, kind: str, first: date | None, last: date | None) -> list[dict[str, Any]]:
    """Every resource or opportunity with its clicks in [first, last], most clicked first."""
    titles = _titles(session, kind)
    rows = ShortLinks(session).clicks(kind, None, first, last)
    summaries = clicks_by_target(rows, kind, list(titles))
    items = [
        {"kind": kind, "id": target, "title": titles.get(target, "(removed)"), "clicks": clicks}
        for target, clicks in summaries.items()
    ]
    # Most clicked first; the suppressed ones together, after every shown count and before 0.
    return sorted(items, key=lambda item: (-_rank(item["clicks"]["total"]), item["id"]))


def _rank(total: int | None) -> float:
    return MIN_CELL - 0.5 if total is None else total


@console.get("/clicks")
def clicks() -> tuple[str, int]:
    kind = request.args.get("kind") or RESOURCE
    if kind not in KINDS:
        kind = RESOURCE
    first: date | None = None
    last: date | None = None
    problem = None
    try:
        first, last = _days()
    except ValueError as exc:
        problem = str(exc)
    html = render_template(
        "admin/clicks.html",
        kind=kind,
        kinds={RESOURCE: "resources", OPPORTUNITY: "opportunities"},
        items=_table(db(), kind, first, last),
        first=first,
        last=last,
        problem=problem,
        min_cell=MIN_CELL,
    )
    return html, 400 if problem else 200


@api.get("/links/clicks")
def api_clicks() -> Response:
    kind = request.args.get("kind") or RESOURCE
    if kind not in KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(KINDS)}")
    try:
        first, last = _days()
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return jsonify(
        kind=kind,
        first=first.isoformat() if first else None,
        last=last.isoformat() if last else None,
        min_cell=MIN_CELL,
        items=_table(api_db(), kind, first, last),
    )
