"""`GET /verify/<code>`: the public page of a program certificate (first name, program, date; never a
phone number or a surname), or a not-found page. Small and script-free, like the console."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from store.db import session_scope
from store.programs import Programs
from store.settings import Settings

blueprint = Blueprint("verify", __name__, template_folder="templates")


@blueprint.get("/verify/<path:code>")
def certificate(code: str) -> tuple[str, int, dict[str, str]]:
    settings: Settings = current_app.config["ROUNDS"]
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    with session_scope(settings.database_url) as session:
        found = Programs(session).verify(code[:32])
        if found is None:
            return render_template("verify.html", found=None, code=code[:32]), 404, headers
        html = render_template(
            "verify.html",
            found=found,
            code=found.code,
            title=found.program.title_in("en"),
            date=found.issued_on.strftime("%-d %B %Y"),
        )
    return html, 200, headers
