"""The console's impact page and the printable donor report: the same figures as /api/v1/impact,
as tables and inline SVG charts (no script), groups under 10 learners left out."""

from __future__ import annotations

from flask import render_template, request

from gateway.admin.charts import line_chart, percent_bars
from gateway.admin.web import console, db, settings
from workers.impact import (
    DIMENSIONS,
    EQUITY_WEEK,
    ImpactReport,
    default_period,
    impact_period,
    impact_report,
    parse_dimension,
)

# Retention curves drawn on the page: the largest groups, as the chart has room for six lines.
CURVES = 6


def _report() -> tuple[ImpactReport, str, int]:
    today = settings().clock.now().date()
    status, error = 200, ""
    try:
        by = parse_dimension(request.args.get("by"))
        start, end = impact_period(request.args.get("from"), request.args.get("to"), today)
    except ValueError as exc:
        by, (start, end), error, status = "country", default_period(today), str(exc), 400
    return impact_report(db(), settings(), by, start, end), error, status


def _charts(report: ImpactReport) -> dict[str, object]:
    groups = report.groups
    largest = sorted(groups, key=lambda g: -g.learners)[:CURVES]
    weeks = [str(week) for week in range(len(groups[0].retention))] if groups else []
    return {
        "active": percent_bars(
            "Active in the last 30 days, share of learners in touch",
            [(g.group, round(100 * g.active_30 / g.learners), g.learners) for g in groups],
        ),
        "accuracy": percent_bars(
            "Accuracy on answers in the dates",
            [(g.group, round(100 * g.accuracy), g.answered) for g in groups if g.accuracy is not None],
        ),
        "retention": line_chart(
            "Share who texted in each week since joining",
            weeks,
            [
                (g.group, [None if (r := g.retention_at(w)) is None else 100 * r for w in range(len(weeks))])
                for g in largest
            ],
        ),
    }


@console.get("/impact")
def impact() -> tuple[str, int]:
    report, error, status = _report()
    html = render_template(
        "admin/impact.html",
        report=report,
        error=error,
        dimensions=DIMENSIONS,
        charts=_charts(report),
        equity_week=EQUITY_WEEK,
    )
    return html, status


@console.get("/impact/report")
def impact_donor_report() -> tuple[str, int]:
    report, error, status = _report()
    totals = {
        "learners": sum(g.learners for g in report.groups),
        "answered": sum(g.answered for g in report.groups),
        "certificates": sum(g.certificates for g in report.groups),
        "cost": sum(g.cost for g in report.groups),
        "learner_months": sum(g.learner_months for g in report.groups),
    }
    html = render_template(
        "admin/impact_report.html",
        report=report,
        error=error,
        totals=totals,
        charts=_charts(report),
        equity_week=EQUITY_WEEK,
    )
    return html, status
