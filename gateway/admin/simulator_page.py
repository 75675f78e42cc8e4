"""The phone simulator: an admin texts the service as a student and sees what comes back.

Each text goes through the real webhook as a signed Twilio request inside this process
(gateway.simulate), so what the admin sees is exactly what a phone would get. It texts only
as numbers reserved for fiction, never as a real person, and every text it sends, and the
replies to it, are stored with the account that sent it (`messages.simulated_by`).
"""

from __future__ import annotations

import logging

from flask import Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import or_, select, update

from flows.phones import BadPhoneNumber, mask, parse_address
from gateway.admin.web import EDITOR, back, console, current_user, db, requires, settings
from gateway.simulate import FICTIONAL_RANGES, Simulator, SimulatorError, app_poster, is_fictional
from store.models import Message

log = logging.getLogger("rounds.admin")

DEFAULT_PHONE = "+447700900001"


def _address(raw: str | None) -> str:
    try:
        phone = parse_address(raw or DEFAULT_PHONE).phone
    except BadPhoneNumber:
        return DEFAULT_PHONE
    return phone if is_fictional(phone) else DEFAULT_PHONE


@console.get("/simulator")
def simulator() -> str:
    phone = _address(request.args.get("phone"))
    whatsapp = request.args.get("channel") == "whatsapp"
    rows = list(
        db().scalars(select(Message).where(Message.phone == phone).order_by(Message.id.desc()).limit(40))
    )
    return render_template(
        "admin/simulator.html",
        phone=phone,
        whatsapp=whatsapp,
        messages=list(reversed(rows)),
        ranges=list(FICTIONAL_RANGES),
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
    email = current_user().email  # read now: the rollback below expires the account
    if not is_fictional(phone):
        # A real number would let the console speak for a real student or mentor.
        log.warning("simulator refused %s for %s: not a number reserved for fiction", mask(phone), email)
        return back(
            "admin.simulator",
            f"The simulator only texts as numbers reserved for fiction ({'; '.join(FICTIONAL_RANGES)}), "
            f"never as a real person; use a number such as {DEFAULT_PHONE}.",
            "error",
        )
    # Release this request's database session first: on SQLite it holds the write lock
    # the webhook is about to need.
    db().rollback()
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy method; typed as Flask
    simulator_ = Simulator(settings(), phone, whatsapp, app_poster(app))
    try:
        simulator_.send(text)
    except SimulatorError as exc:
        return back("admin.simulator", f"The webhook refused the text: {exc}", "error", phone=phone)
    _mark_simulated(simulator_.last_sid, email)
    channel = "whatsapp" if whatsapp else "sms"
    return redirect(url_for("admin.simulator", phone=phone, channel=channel) + "#latest")


def _mark_simulated(sid: str, email: str) -> None:
    """Stamp the simulated text and the replies to it with the account that sent it."""
    session = db()
    inbound = select(Message.id).where(Message.twilio_sid == sid).scalar_subquery()
    session.execute(
        update(Message)
        .where(or_(Message.twilio_sid == sid, Message.reply_to_id == inbound))
        .values(simulated_by=email)
        .execution_options(synchronize_session=False)
    )
    session.commit()
