"""Console pages for broadcasts: compose, preview with cost, confirm, follow progress, cancel.

Without JavaScript the Preview button posts the form; with it, admin.js posts the same form
as the admin types and swaps in the preview fragment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import Response, render_template, request
from sqlalchemy import func, select

from gateway.admin.web import (
    EDITOR,
    PAGE_SIZE,
    back,
    console,
    current_user,
    db,
    not_found,
    page_number,
    requires,
    settings,
)
from store.admin import CANCELLED, DONE, DRAFT, Broadcast
from workers import broadcasts
from workers.budget import budget_status

FORM_KEYS = tuple(key.replace("-", "_") for key in broadcasts.SEGMENT_KEYS)


def read_form(form: Mapping[str, Any]) -> tuple[str, broadcasts.Audience, broadcasts.Schedule, str | None]:
    """(text, segment, schedule, template) from the compose form; BroadcastError says what to fix."""
    segment = broadcasts.Audience.from_dict(
        {key: form.get(key) for key in FORM_KEYS if str(form.get(key) or "").strip()}
    )
    when = form.get("when", "now")
    at = form.get("at") if when == "at" else None
    local = form.get("local") if when == "local" else None
    if when == "at" and not at:
        raise broadcasts.BroadcastError("choose the date and time (UTC) to send at, or pick 'now'")
    if when == "local" and not local:
        raise broadcasts.BroadcastError("choose the local time (HH:MM) to send at, or pick 'now'")
    schedule = broadcasts.Schedule.parse(at, local, settings().clock.now())
    template = str(form.get("whatsapp_template") or "").strip() or None
    return str(form.get("text") or ""), segment, schedule, template


def fingerprint(
    text: str, segment: broadcasts.Audience, schedule: broadcasts.Schedule, template: str | None
) -> str:
    """Identifies what was previewed, so a confirm after an edit is caught."""
    raw = json.dumps([broadcasts.clean_text(text), segment.as_dict(), schedule.describe(), template or ""])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@console.get("/broadcasts")
def broadcast_list() -> str:
    session = db()
    page = page_number()
    total = session.scalar(select(func.count()).select_from(Broadcast)) or 0
    rows = session.scalars(
        select(Broadcast).order_by(Broadcast.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    return render_template(
        "admin/broadcasts.html", rows=list(rows), page=page, pages=max(1, -(-total // PAGE_SIZE))
    )


@console.get("/broadcasts/new")
def compose() -> str:
    return render_template("admin/compose.html", form={"when": "now"}, shown=None, error=None)


@console.post("/broadcasts/preview")
def preview() -> Response | str:
    fragment = request.headers.get("X-Requested-With") == "fetch"
    shown, error, previewed = _preview(request.form)
    page = "admin/_preview.html" if fragment else "admin/compose.html"
    status = 200 if error is None or fragment else 400
    over = over_budget(shown.estimated_cost) if shown else None
    return Response(
        render_template(
            page, form=request.form, shown=shown, error=error, previewed=previewed, over_budget=over
        ),
        status,
    )


# The compose form's box an editor ticks to send although the month projects over budget.
OVER_BUDGET_OK = "over_budget_ok"


def over_budget(cost: float) -> dict[str, Any] | None:
    """The budget figures when sending `cost` now leaves the month projected over budget, else None."""
    status = budget_status(db(), settings(), settings().clock.now())
    return status.check(cost) if status.needs_confirmation(cost) else None


def _preview(form: Mapping[str, Any]) -> tuple[broadcasts.Preview | None, str | None, str]:
    try:
        text, segment, schedule, template = read_form(form)
        shown = broadcasts.preview(
            db(),
            text,
            segment,
            schedule,
            settings(),
            broadcasts.load_prices(settings()),
            settings().clock.now(),
            template,
        )
        return shown, None, fingerprint(text, segment, schedule, template)
    except broadcasts.BroadcastError as exc:
        return None, str(exc), ""


@console.post("/broadcasts")
@requires(EDITOR)
def create() -> Response | str:
    if request.form.get("confirm") not in ("send", "draft"):
        return Response(
            render_template(
                "admin/compose.html",
                form=request.form,
                shown=None,
                error="Preview the broadcast first, then confirm it.",
            ),
            400,
        )
    session = db()
    user = current_user()
    try:
        text, segment, schedule, template = read_form(request.form)
        if request.form.get("previewed") != fingerprint(text, segment, schedule, template):
            shown, error, previewed = _preview(request.form)
            error = error or (
                "The message, audience or time changed after the preview: "
                "check this preview and confirm again."
            )
            return Response(
                render_template(
                    "admin/compose.html",
                    form=request.form,
                    shown=shown,
                    error=error,
                    previewed=previewed,
                    over_budget=over_budget(shown.estimated_cost) if shown else None,
                ),
                409,
            )
        broadcast, shown = broadcasts.create_broadcast(
            session,
            text,
            segment,
            schedule,
            settings(),
            settings().clock.now(),
            (user.id, user.email),
            template,
            draft=request.form["confirm"] == "draft",
        )
        over = None if broadcast.status == DRAFT else over_budget(shown.estimated_cost)
        if over and request.form.get(OVER_BUDGET_OK) != "yes":
            session.rollback()
            return Response(
                render_template(
                    "admin/compose.html",
                    form=request.form,
                    shown=shown,
                    error="This month's spend projects over the budget with this broadcast: tick the box "
                    "under the preview to send it anyway, or save it as a draft.",
                    previewed=fingerprint(text, segment, schedule, template),
                    over_budget=over,
                ),
                409,
            )
    except broadcasts.BroadcastError as exc:
        return Response(
            render_template("admin/compose.html", form=request.form, shown=None, error=str(exc)), 400
        )
    session.commit()
    if broadcast.status == DRAFT:
        return back(
            "admin.broadcast_detail", "Saved as a draft; nothing was sent.", broadcast_id=broadcast.id
        )
    return _start(broadcast)


def _start(broadcast: Broadcast) -> Response:
    if broadcasts.start_broadcast(settings(), broadcast.id):
        return back(
            "admin.broadcast_detail", f"Broadcast #{broadcast.id} is on its way.", broadcast_id=broadcast.id
        )
    session = db()
    broadcast.status = DRAFT
    session.commit()
    return back(
        "admin.broadcast_detail",
        "The job queue (Redis) did not answer, so nothing was sent; the broadcast is kept as a draft. "
        "Send it again once Redis is back.",
        "error",
        broadcast_id=broadcast.id,
    )


def _broadcast_or_404(broadcast_id: int) -> Broadcast:
    broadcast = db().get(Broadcast, broadcast_id)
    if broadcast is None:
        not_found(f"There is no broadcast #{broadcast_id}; see the list of broadcasts.")
    return broadcast


@console.get("/broadcasts/<int:broadcast_id>")
def broadcast_detail(broadcast_id: int) -> str:
    session = db()
    broadcast = _broadcast_or_404(broadcast_id)
    broadcasts.refresh_status(session, broadcast, settings().clock.now())
    session.commit()
    progress = broadcasts.progress(session, broadcast.id, settings().clock.now())
    live = broadcast.status not in (DRAFT, DONE, CANCELLED)
    over = over_budget(float(broadcast.estimated_cost or 0)) if broadcast.status == DRAFT else None
    return render_template(
        "admin/broadcast.html", b=broadcast, progress=progress, live=live, over_budget=over
    )


@console.post("/broadcasts/<int:broadcast_id>/cancel")
@requires(EDITOR)
def cancel(broadcast_id: int) -> Response:
    session = db()
    broadcast = _broadcast_or_404(broadcast_id)
    try:
        stopped = broadcasts.cancel_broadcast(session, broadcast, settings().clock.now())
    except broadcasts.BroadcastError as exc:
        return back("admin.broadcast_detail", str(exc), "error", broadcast_id=broadcast_id)
    session.commit()
    return back(
        "admin.broadcast_detail",
        f"Cancelled; {stopped} message(s) not yet sent were stopped.",
        broadcast_id=broadcast_id,
    )


@console.post("/broadcasts/<int:broadcast_id>/send")
@requires(EDITOR)
def send_draft(broadcast_id: int) -> Response:
    session = db()
    broadcast = _broadcast_or_404(broadcast_id)
    if (
        broadcast.status == DRAFT
        and (over := over_budget(float(broadcast.estimated_cost or 0)))
        and request.form.get(OVER_BUDGET_OK) != "yes"
    ):
        return back(
            "admin.broadcast_detail",
            f"This month's spend projects to {over['projected_with_broadcast']:.2f} {over['currency']} with "
            f"this broadcast, over the budget of {over['budget']:.2f}: tick 'send although over budget' "
            "to send it.",
            "error",
            broadcast_id=broadcast_id,
        )
    try:
        broadcasts.send_draft(session, broadcast)
    except broadcasts.BroadcastError as exc:
        return back("admin.broadcast_detail", str(exc), "error", broadcast_id=broadcast_id)
    session.commit()
    return _start(broadcast)


@console.get("/broadcasts/<int:broadcast_id>/again")
def compose_again(broadcast_id: int) -> str:
    """Compose a new broadcast from an old one's text and segment."""
    broadcast = _broadcast_or_404(broadcast_id)
    form: dict[str, Any] = {
        "text": broadcast.text,
        "when": "now",
        "whatsapp_template": broadcast.whatsapp_template,
    }
    for key, values in (broadcast.segment or {}).items():
        form[key.replace("-", "_")] = ",".join(values)
    return render_template("admin/compose.html", form=form, shown=None, error=None)
