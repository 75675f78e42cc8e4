"""The console's opportunities page: every opportunity with its status today, a form to add a
draft (editors) and an approve button on each draft (admins). Plain forms, no JavaScript."""

from __future__ import annotations

from flask import Response, render_template, request

from flows.opportunities import OpportunityError, checked_values
from gateway.admin.clicks import MIN_CELL, opportunity_clicks
from gateway.admin.web import ADMIN, EDITOR, back, console, current_user, db, not_found, requires, settings
from store.opportunities import DRAFT, KINDS, Opportunities


def _page(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    today = settings().clock.now().date()
    rows = Opportunities(db()).listing()
    html = render_template(
        "admin/opportunities.html",
        rows=[(row, row.status_on(today)) for row in rows],
        clicks=opportunity_clicks(db(), [row.id for row in rows]),
        min_cell=MIN_CELL,
        kinds=KINDS,
        errors=errors or [],
        form=request.form if errors else {},
    )
    return html, status


@console.get("/opportunities")
def opportunities() -> tuple[str, int]:
    return _page()


@console.post("/opportunities")
@requires(EDITOR)
def add_opportunity() -> Response | tuple[str, int]:
    form = request.form
    try:
        values = checked_values(
            form.get("title", ""),
            form.get("org", ""),
            form.get("kind", ""),
            form.get("deadline", ""),
            form.get("link", ""),
            form.get("countries", "").replace(",", " ").split(),
            form.get("tracks", "").replace(",", " ").split(),
        )
    except OpportunityError as exc:
        return _page(str(exc).split("; "), 400)
    user = current_user()
    row = Opportunities(db()).add(**values, status=DRAFT, created_by=user.email if user else None)
    db().commit()
    return back("admin.opportunities", f"Opportunity {row.id} added as a draft; an admin approves it.")


@console.post("/opportunities/<int:opportunity_id>/approve")
@requires(ADMIN)
def approve_opportunity(opportunity_id: int) -> Response:
    store = Opportunities(db())
    row = store.get(opportunity_id)
    if row is None:
        not_found(f"There is no opportunity {opportunity_id}.")
    if row.status != DRAFT:
        return back("admin.opportunities", f"Opportunity {row.id} is not a draft.", "error")
    user = current_user()
    store.approve(row, user.email if user else None, settings().clock.now())
    db().commit()
    return back("admin.opportunities", f"Opportunity {row.id} approved: students can text OPP for it.")
