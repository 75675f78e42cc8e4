"""`rounds program list`, `rounds program open CODE --start YYYY-MM-DD` (a cohort) and
`rounds program revoke CODE` (a certificate)."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from store.db import session_scope
from store.programs import Programs
from store.settings import Settings

program = AppGroup("program", help="Programs students JOIN, their cohorts and certificates.")


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


@program.command("list")
def list_command() -> None:
    """Every open program with its days and next cohort."""
    settings = _settings()
    with session_scope(settings.database_url) as session:
        store = Programs(session)
        cohorts = store.next_cohorts(settings.clock.now().date())
        rows = store.open_programs()
        for row in rows:
            starts = cohorts.get(row.id)
            click.echo(
                f"{row.code}\t{row.days} days\t{row.questions} questions\t{row.title_in('en')}\t"
                f"next cohort {starts.isoformat() if starts else 'none (rolling start)'}"
            )
        if not rows:
            click.echo("no open programs; add programs/*.yaml to the content and run `rounds content load`")


@program.command("open")
@click.argument("code")
@click.option("--start", required=True, help="YYYY-MM-DD: the day the cohort's first day goes out")
def open_command(code: str, start: str) -> None:
    """Open a cohort: students who JOIN before it starts begin together on that date."""
    try:
        starts = date.fromisoformat(start)
    except ValueError as exc:
        raise click.ClickException(f"--start must be a date like 2027-01-11, not {start!r}") from exc
    settings = _settings()
    now = settings.clock.now()
    if starts < now.date():
        raise click.ClickException(f"{start} has passed; a cohort starts today or later")
    with session_scope(settings.database_url) as session:
        store = Programs(session)
        row = store.by_code(code)
        if row is None or not row.active:
            raise click.ClickException(f"no open program {code.upper()}; `rounds program list` shows them")
        store.open_cohort(row, starts, "cli", now)
        click.echo(f"{row.code}: a cohort starts on {starts.isoformat()}; PROGRAMS now says so")


@program.command("revoke")
@click.argument("code")
def revoke_command(code: str) -> None:
    """Revoke a certificate: VERIFY and /verify then say it was withdrawn."""
    settings = _settings()
    with session_scope(settings.database_url) as session:
        certificate = Programs(session).revoke(code, "cli", settings.clock.now())
        if certificate is None:
            raise click.ClickException(f"no certificate {code}")
        click.echo(f"certificate {certificate.code} revoked")


COMMANDS: list[click.Command] = [program]
