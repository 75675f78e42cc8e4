"""The phone simulator: an admin texts the service as a student and sees what comes back.

Each text goes through the real webhook as a signed Twilio request inside this process
(gateway.simulate), so what the admin sees is exactly what a phone would get.
"""

from __future__ import annotations

from flask import Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from flows.phones import BadPhoneNumber, parse_address
from gateway.admin.web import EDITOR, back, console, db, requires, settings
from gateway.simulate import Simulator, app_poster
from store.models import Message

DEFAULT_PHONE = "+2348030000001"


def _address(raw: str | None) -> str:
    try:
        return parse_address(raw or DEFAULT_PHONE).phone
    except BadPhoneNumber:
        return DEFAULT_PHONE


@console.get("/simulator")
def simulator() -> str:
    phone = _address(request.args.get("phone"))
    whatsapp = request.args.get("channel") == "whatsapp"
    rows = list(
        db().scalars(select(Message).where(Message.phone == phone).order_by(Message.id.desc()).limit(40))
    )
    return render_template(
        "admin/simulator.html", phone=phone, whatsapp=whatsapp, messages=list(reversed(rows))
    )


@console.post("/simulator")
@requires(EDITOR)
def simulator_send() -> Response:
    raw = request.form.get("phone", "")
    whatsapp = request.form.get("channel") == "whatsapp"
    text = request.form.get("text", "")
    try:
        phone = parse_address(raw or DEFAULT_PHONE).phone
    except BadPhoneNumber as exc:
        return back("admin.simulator", f"{exc}; use a number such as {DEFAULT_PHONE}.", "error")
    # Release this request's database session first: on SQLite it holds the write lock
    # the webhook is about to need.
    db().rollback()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    simulator_ = Simulator(settings(), phone, whatsapp, app_poster(app))
    try:
        simulator_.send(text)
    except RuntimeError as exc:
        return back("admin.simulator", f"The webhook refused the text: {exc}", "error", phone=phone)
    channel = "whatsapp" if whatsapp else "sms"
    return redirect(url_for("admin.simulator", phone=phone, channel=channel) + "#latest")
