"""Console pages: sign-in, the dashboard, the admin's own API tokens, and CSV downloads."""

from __future__ import annotations

import logging
import math

from flask import Response, flash, redirect, render_template, request, session, stream_with_context, url_for
from sqlalchemy import select

from gateway.admin import accounts, charts, exports, stats
from gateway.admin.cost_pages import budget_context
from gateway.admin.web import (
    ADMIN,
    EDITOR,
    back,
    console,
    current_user,
    db,
    requires,
    safe_next,
    settings,
    start_session,
)
from store.admin import AdminUser
from store.retention import latest_run
from workers.outbox import outbox_depth

log = logging.getLogger("rounds.admin")


@console.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    # The peer's address, or the client's from ROUNDS_TRUSTED_PROXIES hops of X-Forwarded-For.
    ip = request.remote_addr or "unknown"
    session_ = db()
    result = accounts.sign_in(session_, email, request.form.get("password", ""), ip, settings().clock.now())
    session_.commit()
    if result.locked_for is not None:
        minutes = max(1, math.ceil(result.locked_for.total_seconds() / 60))
        message = (
            f"Too many failed sign-ins for this account or from your address. Try again in {minutes} "
            "minute(s), or ask an admin to unlock the account (rounds admin unlock EMAIL)."
        )
        return Response(render_template("admin/login.html", error=message, email=email), 429)
    if result.user is None:
        message = "Wrong email or password."
        return Response(render_template("admin/login.html", error=message, email=email), 401)
    start_session(result.user)
    return redirect(safe_next(request.form.get("next")))


@console.post("/logout")
def logout() -> Response:
    user = current_user()
    if user is not None:
        # Every copy of this session's cookie, and the account's other sessions, end here.
        user.session_generation += 1
        db().commit()
    session.clear()
    flash("Signed out.", "ok")
    return redirect(url_for("admin.login"))


@console.get("/")
def dashboard() -> str:
    try:
        span = min(max(int(request.args.get("days", 30)), 7), 90)
    except ValueError:
        span = 30
    data = stats.dashboard(db(), settings().clock.now(), span)
    outbox = outbox_depth(db(), settings())
    active, answers, delivery = data["active"], data["answers"], data["delivery"]
    figures = {
        "active": charts.bar_chart(
            "Daily active students", active.days, [("active", active.values["active"], "bar-a")]
        ),
        "answers": charts.bar_chart(
            "Answers per day",
            answers.days,
            [
                ("answered", answers.values["answered"], "bar-a"),
                ("correct", answers.values["correct"], "bar-b"),
            ],
        ),
        "delivery": charts.bar_chart(
            "Delivery of pushes",
            delivery.days,
            [
                ("delivered", delivery.values["delivered"], "bar-b"),
                ("failed", delivery.values["failed"], "bar-c"),
            ],
        ),
        "opt_outs": charts.bar_chart(
            "Opt-outs", data["opt_outs"].days, [("opt-outs", data["opt_outs"].values["opt_outs"], "bar-c")]
        ),
        "flags": charts.bar_chart(
            "Flags", data["flags"].days, [("flags", data["flags"].values["flags"], "bar-c")]
        ),
        "topics": charts.percent_bars(
            "Accuracy by topic", [(t["topic"], t["accuracy"], t["answered"]) for t in data["topics"]]
        ),
    }
    delivered = sum(delivery.values["delivered"])
    failed = sum(delivery.values["failed"])
    rate = round(100 * delivered / (delivered + failed)) if delivered + failed else None
    return render_template(
        "admin/dashboard.html",
        data=data,
        figures=figures,
        delivery_rate=rate,
        outbox=outbox,
        prune=latest_run(db()),
        retention_days=settings().message_retention_days,
        **budget_context(),
    )


@console.get("/account")
def account() -> str:
    user = current_user()
    return render_template("admin/account.html", tokens=accounts.tokens_of(db(), user), new_token=None)


@console.post("/account/tokens")
def create_token() -> str:
    user = current_user()
    session_ = db()
    label = request.form.get("label", "").strip()[:80] or None
    _, plain = accounts.issue_token(session_, user, label)
    session_.commit()
    # Shown once, in this response only; it is stored hashed.
    return render_template("admin/account.html", tokens=accounts.tokens_of(session_, user), new_token=plain)


@console.post("/account/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    session_ = db()
    try:
        accounts.revoke_token(session_, token_id, settings().clock.now(), owner=current_user())
    except accounts.AccountError as exc:
        return back("admin.account", str(exc), "error")
    session_.commit()
    return back("admin.account", f"Token #{token_id} revoked; programs using it now get 401.")


@console.get("/accounts")
@requires(ADMIN)
def accounts_page() -> str:
    session_ = db()
    users = list(session_.scalars(select(AdminUser).order_by(AdminUser.email)))
    locked = accounts.locks(session_, settings().clock.now())
    by_email = {lock.key: lock for lock in locked if lock.kind == "account"}
    others = [lock for lock in locked if lock.kind == "address" or lock.key not in {u.email for u in users}]
    return render_template(
        "admin/accounts.html",
        users=users,
        by_email=by_email,
        others=others,
        account_failures=accounts.ACCOUNT_FAILURES,
        address_failures=accounts.ADDRESS_FAILURES,
    )


@console.post("/accounts/unlock")
@requires(ADMIN)
def unlock_account() -> Response:
    email = request.form.get("email", "")
    session_ = db()
    forgotten = accounts.unlock(session_, email)
    session_.commit()
    log.warning("console sign-in for %r unlocked by %s", email[:254], current_user().email)
    return back("admin.accounts_page", f"{email[:254]} may sign in again ({forgotten} failure(s) forgotten).")


@console.get("/exports")
def exports_page() -> str:
    return render_template("admin/exports.html", kinds=list(exports.EXPORTS))


@console.get("/exports/<kind>.csv")
@requires(EDITOR)
def download(kind: str) -> Response:
    if kind not in exports.EXPORTS:
        return back("admin.exports_page", f"There is no {kind} export; choose one below.", "error")
    body = exports.iter_csv(settings().database_url, kind)
    response = Response(stream_with_context(body), mimetype="text/csv")
    today = settings().clock.now().date()
    response.headers["Content-Disposition"] = f'attachment; filename="{exports.filename(kind, today)}"'
    return response
