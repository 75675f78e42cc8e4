"""`rounds opportunity add` (approved at once) and `rounds opportunity list`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from flows.opportunities import OpportunityError, checked_values
from store.db import session_scope
from store.opportunities import KINDS, Opportunities
from store.settings import Settings

opportunity = AppGroup("opportunity", help="Opportunities students can text OPP for.")


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


@opportunity.command("add")
@click.option("--title", required=True)
@click.option("--org", required=True, help="the organisation offering it")
@click.option("--kind", required=True, help=f"one of: {', '.join(KINDS)}")
@click.option("--deadline", required=True, help="YYYY-MM-DD; it expires after that date")
@click.option("--link", required=True, help="https://... where to apply")
@click.option(
    "--country", "countries", multiple=True, help="ISO 3166 alpha-2, repeatable; none: every country"
)
@click.option("--track", "tracks", multiple=True, help="a track key, repeatable; none: every track")
def add(
    title: str,
    org: str,
    kind: str,
    deadline: str,
    link: str,
    countries: tuple[str, ...],
    tracks: tuple[str, ...],
) -> None:
    """Add an opportunity, approved at once."""
    try:
        values = checked_values(title, org, kind, deadline, link, countries, tracks)
    except OpportunityError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = _settings()
    now = settings.clock.now()
    with session_scope(settings.database_url) as session:
        store = Opportunities(session)
        row = store.add(**values, created_by="cli")
        store.approve(row, "cli", now)
        click.echo(
            f"opportunity {row.id} approved: {row.title}, {row.org}, deadline {row.deadline.isoformat()}"
        )


@opportunity.command("list")
@click.option("--status", type=click.Choice(["draft", "approved", "expired"]), help="only these")
def list_command(status: str | None) -> None:
    """Every opportunity, nearest deadline first, with its status today."""
    settings = _settings()
    today = settings.clock.now().date()
    with session_scope(settings.database_url) as session:
        rows = Opportunities(session).listing()
        shown = [row for row in rows if status is None or row.status_on(today) == status]
        for row in shown:
            who = " ".join(row.countries) or "all countries"
            tracks = " ".join(row.tracks) or "all tracks"
            click.echo(
                f"{row.id}\t{row.status_on(today)}\t{row.deadline.isoformat()}\t{row.kind}\t"
                f"{row.title}, {row.org}\t{who}; {tracks}\t{row.link}"
            )
        if not shown:
            click.echo("no opportunities" + (f" {status}" if status else ""))


COMMANDS: list[click.Command] = [opportunity]
