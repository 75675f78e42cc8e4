"""The console's programs page: per program the enrolments, drop-off by day (an inline SVG chart),
completions and certificates (revoke, admins), and a form to open a cohort. No JavaScript."""

from __future__ import annotations

from datetime import date

from flask import Response, render_template, request

from gateway.admin.charts import bar_chart
from gateway.admin.web import ADMIN, back, console, current_user, db, not_found, requires, settings
from store.programs import Programs


@console.get("/programs")
def programs() -> str:
    store = Programs(db())
    cohorts = store.next_cohorts(settings().clock.now().date())
    rows = []
    for figures in store.figures():
        program = figures["program"]
        days = figures["days"]
        chart = bar_chart(
            f"{program.code}: enrolments that reached each day",
            [f"day  {d['day']}" for d in days],
            [("reached", [d["reached"] or 0 for d in days], "bar-a")],
        )
        rows.append((figures, cohorts.get(program.id), chart))
    return render_template("admin/programs.html", rows=rows, certificates=store.certificates())


@console.post("/programs/<code>/cohorts")
@requires(ADMIN)
def open_cohort(code: str) -> Response:
    try:
        starts = date.fromisoformat(request.form.get("starts_on", ""))
    except ValueError:
        return back("admin.programs", "Give the cohort's start as a date.", "error")
    now = settings().clock.now()
    if starts < now.date():
        return back("admin.programs", "That date has passed; a cohort starts today or later.", "error")
    store = Programs(db())
    program = store.by_code(code)
    if program is None or not program.active:
        not_found(f"There is no open program {code[:8]}.")
    user = current_user()
    store.open_cohort(program, starts, user.email if user else None, now)
    db().commit()
    return back("admin.programs", f"{program.code}: a cohort starts on {starts.isoformat()}.")


@console.post("/programs/certificates/<code>/revoke")
@requires(ADMIN)
def revoke_certificate(code: str) -> Response:
    user = current_user()
    row = Programs(db()).revoke(code, user.email if user else "console", settings().clock.now())
    if row is None:
        not_found(f"There is no certificate {code[:16]}.")
    db().commit()
    return back("admin.programs", f"Certificate {row.code} revoked: VERIFY now says it was withdrawn.")
