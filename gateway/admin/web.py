"""The console's plumbing: its blueprint, a database session per request, sign-in, roles and CSRF.

Every POST under /admin carries a per-session token; pages are never cached and may not be
framed, and the session cookie is HttpOnly, SameSite=Lax and (in production) Secure. The cookie
holds the account id, its session generation and two times, never anything from the password.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy.orm import Session

from store.admin import ADMIN, EDITOR, AdminUser
from store.db import session_factory
from store.settings import Settings
from store.text import whole_number

console = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PUBLIC_ENDPOINTS = {"admin.login", "admin.static"}
PAGE_SIZE = 50
MAX_PAGE = 1_000_000
# A console session ends after 30 minutes without a request, and 12 hours after sign-in at most.
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# The last-seen time in the cookie is rewritten at most this often.
SEEN_RESOLUTION = timedelta(minutes=1)


@console.record_once
def _configure_cookies(state: Any) -> None:
    # Lax keeps the cookie off cross-site POSTs; the CSRF token covers the rest.
    state.app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    state.app.config["PERMANENT_SESSION_LIFETIME"] = ABSOLUTE_TIMEOUT


def settings() -> Settings:
    return current_app.config["ROUNDS"]


def db() -> Session:
    """This request's session, opened on first use and closed at teardown."""
    if "admin_db" not in g:
        g.admin_db = session_factory(settings().database_url)()
    return g.admin_db


@console.teardown_app_request
def _close_db(_error: BaseException | None) -> None:
    session_ = g.pop("admin_db", None)
    if session_ is not None:
        session_.close()


def current_user() -> AdminUser | None:
    if "admin_user" not in g:
        g.admin_user = _session_user()
    return g.admin_user


def _session_user() -> AdminUser | None:
    """The account this request's cookie signs in, if the session is still alive; notes the visit."""
    user_id = session.get("admin_user_id")
    if not user_id:
        return None
    user = db().get(AdminUser, user_id)
    now = int(settings().clock.now().timestamp())
    signed_in, seen = session.get("admin_signed_in", 0), session.get("admin_seen", 0)
    alive = (
        user is not None
        and user.active
        # Sign-out, a new password or `rounds admin disable` bumped the generation: this cookie is over.
        and session.get("admin_generation") == user.session_generation
        and now - signed_in < ABSOLUTE_TIMEOUT.total_seconds()
        and now - seen < IDLE_TIMEOUT.total_seconds()
    )
    if not alive:
        for key in ("admin_user_id", "admin_generation", "admin_signed_in", "admin_seen"):
            session.pop(key, None)
        return None
    if now - seen >= SEEN_RESOLUTION.total_seconds():
        session["admin_seen"] = now
    return user


def start_session(user: AdminUser) -> None:
    """A fresh session on sign-in, so an identifier planted before it is worthless."""
    now = int(settings().clock.now().timestamp())
    session.clear()
    session.permanent = True
    session["admin_user_id"] = user.id
    session["admin_generation"] = user.session_generation
    session["admin_signed_in"] = session["admin_seen"] = now
    session["csrf"] = secrets.token_urlsafe(32)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after sign-in."""
    if target and target.startswith("/admin") and not urlsplit(target).netloc:
        return target
    return url_for("admin.dashboard")


@console.before_request
def _guard() -> Response | None:
    if request.method == "POST":
        sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent, expected):
            return Response(
                render_template(
                    "admin/error.html",
                    title="Form expired",
                    message="This form has expired or came from another site. Go back, reload the page "
                    "and submit it again.",
                ),
                400,
            )
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_user() is None:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return None


@console.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@console.app_context_processor
def _template_values() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "EDITOR": EDITOR, "ADMIN": ADMIN}


def requires(role: str) -> Callable:
    """Refuse the view with 403 unless the signed-in user has `role` or stronger."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or not user.can(role):
                return forbidden(role)
            return view(*args, **kwargs)

        return checked

    return decorate


def forbidden(role: str) -> Response:
    return Response(
        render_template(
            "admin/error.html",
            title="Not allowed",
            message=f"This needs the {role} role or higher. Ask an admin to change your role "
            "(rounds admin create EMAIL --role ...).",
        ),
        403,
    )


def not_found(what: str) -> NoReturn:
    abort(Response(render_template("admin/error.html", title="Not found", message=what), 404))


def back(endpoint: str, message: str, category: str = "ok", **values: Any) -> Response:
    flash(message, category)
    return redirect(url_for(endpoint, **values))


def page_number() -> int:
    # A page far past the end is empty; one past any offset the database can take would be a 500.
    return whole_number(request.args.get("page"), 1, MAX_PAGE) or 1
