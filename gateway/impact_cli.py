"""`rounds impact rollup` (the nightly rollup, now, or for a range of days) and `rounds impact show`
(the figures by a dimension). `rounds export impact` writes them as CSV (gateway/admin_cli.py)."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from store.db import session_scope
from store.settings import Settings
from workers.impact import DIMENSIONS, csv_rows, impact_period, impact_report, run_rollup

impact = AppGroup("impact", help="Impact figures: reach, retention, learning and cost per learner.")


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


def period(raw_from: str | None, raw_to: str | None, settings: Settings) -> tuple[date, date]:
    """--from/--to, by default the 90 days to yesterday (today is not rolled up yet)."""
    try:
        return impact_period(raw_from, raw_to, settings.clock.now().date())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@impact.command("rollup")
@click.option("--from", "raw_from", help="first UTC day to roll up, YYYY-MM-DD (default: yesterday)")
@click.option("--to", "raw_to", help="last UTC day, inclusive (default: yesterday)")
def rollup(raw_from: str | None, raw_to: str | None) -> None:
    """Roll up days into the impact tables (the clock does yesterday's each night at 02:47 UTC).

    A backfill goes day by day in order; a learner's summary takes each day once, so run it over
    days older than the learners' last rollup only on an empty summary."""
    settings = _settings()
    start = date.fromisoformat(raw_from) if raw_from else None
    end = date.fromisoformat(raw_to) if raw_to else (start if start else None)
    report = run_rollup(settings, start, end)
    click.echo(
        f"rolled up {len(report.days)} day(s): {report.group_rows} group row(s), {report.learners} learner(s)"
    )


@impact.command("show")
@click.option("--by", type=click.Choice(DIMENSIONS), default="country", show_default=True)
@click.option("--from", "raw_from", help="YYYY-MM-DD (default: 90 days to yesterday)")
@click.option("--to", "raw_to", help="YYYY-MM-DD, inclusive")
def show(by: str, raw_from: str | None, raw_to: str | None) -> None:
    """The figures as a table (groups under 10 learners left out)."""
    settings = _settings()
    start, end = period(raw_from, raw_to, settings)
    with session_scope(settings.database_url) as session:
        report = impact_report(session, settings, by, start, end)
    rows = csv_rows(report)
    keep = (
        "group",
        "learners",
        "active_30",
        "answered",
        "accuracy",
        "latest_20_accuracy",
        "week_4_retention",
        "cost_per_learner_month",
    )
    index = [rows[0].index(name) for name in keep]
    click.echo(f"{by}, {start.isoformat()} to {end.isoformat()}, cost in {report.currency}")
    click.echo("\t".join(keep))
    for row in rows[1:]:
        click.echo("\t".join(str(row[i]) if i < len(row) else "" for i in index))
    for line in report.equity:
        flag = "  <- over the threshold" if line.flagged else ""
        click.echo(
            f"equity: {line.figure}: best {line.best[0]} {line.best[1]}, worst {line.worst[0]} "
            f"{line.worst[1]}, ratio {line.ratio}{flag}"
        )


COMMANDS: list[click.Command] = [impact]
