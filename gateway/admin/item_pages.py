"""The console's pages on the quality of questions: students' reports (resolve with a note, or
clear a held question), and one question's item statistics with an inline SVG chart of the option
shares and a form to retract it. No JavaScript."""

from __future__ import annotations

from flask import Response, render_template, request
from sqlalchemy import select

from gateway.admin.charts import percent_bars
from gateway.admin.web import back, console, current_user, db, forbidden, not_found, settings
from store.corrections import Corrections, RetractError, retract
from store.itemstats import MIN_ANSWERED_FOR_FLAGS, ItemStats, item_stats
from store.models import Question
from store.reports import OPEN, RESOLVED, Reports, is_reviewer
from store.text import whole_number

REVIEWER = "reviewer"


def _reviewer() -> bool:
    user = current_user()
    return user is not None and is_reviewer(user)


@console.get("/reports")
def reports() -> str:
    show = request.args.get("status", OPEN)
    if show not in (OPEN, RESOLVED, "all"):
        show = OPEN
    store = Reports(db())
    about = whole_number(request.args.get("question"), 1, 2**31 - 1)
    rows = store.listing(None if show == "all" else show, question_id=about)
    asked = {r.question_id for r in rows}
    statuses = dict(db().execute(select(Question.id, Question.status).where(Question.id.in_(asked))).all())
    return render_template(
        "admin/reports.html", rows=rows, show=show, statuses=statuses, reviewer=_reviewer(), about=about
    )


@console.post("/reports/<int:report_id>/resolve")
def resolve_report(report_id: int) -> Response:
    if not _reviewer():
        return forbidden(REVIEWER)
    note = request.form.get("note", "").strip()
    if not note:
        return back("admin.reports", "Write a note: what you checked and what you decided.", "error")
    store = Reports(db())
    report = store.get(report_id)
    if report is None:
        not_found(f"There is no report {report_id}.")
    user = current_user()
    every = request.form.get("all") == "1"
    done = store.resolve(
        report, note, user.email if user else "console", settings().clock.now(), every_open=every
    )
    db().commit()
    question = db().get(Question, report.question_id)
    status = question.status if question else "?"
    return back("admin.reports", f"{len(done)} report(s) on Q{report.question_id} resolved; it is {status}.")


def option_chart(stats: ItemStats) -> object:
    """The share choosing each option (the key marked), as horizontal bars."""
    rows = [
        (f"{letter}{' (key)' if letter == stats.key else ''}", round(100 * share), stats.answered)
        for letter, share in stats.options.items()
    ]
    return percent_bars(f"Q{stats.question_id} v{stats.version}: share choosing each option", rows)


@console.get("/questions/<int:question_id>/stats")
def item_stats_page(question_id: int) -> str:
    question = db().get(Question, question_id)
    if question is None:
        not_found(f"There is no question {question_id}.")
    versions = [(s, option_chart(s) if s.shown else None) for s in item_stats(db(), question_id)]
    return render_template(
        "admin/item_stats.html",
        question=question,
        versions=versions,
        min_answered=MIN_ANSWERED_FOR_FLAGS,
        corrections=Corrections(db()).for_question(question_id),
        reviewer=_reviewer(),
    )


@console.post("/questions/<int:question_id>/retract")
def retract_question(question_id: int) -> Response:
    if not _reviewer():
        return forbidden(REVIEWER)
    reason = request.form.get("reason", "")
    key = request.form.get("key", "").strip() or None
    user = current_user()
    now = settings().clock.now()
    try:
        done = retract(
            db(), question_id, reason, key, now, settings().correction_days, user.email if user else "console"
        )
    except RetractError as exc:
        return back("admin.item_stats_page", f"Not retracted: {exc}.", "error", question_id=question_id)
    db().commit()
    return back("admin.item_stats_page", done.message + ".", question_id=question_id)
