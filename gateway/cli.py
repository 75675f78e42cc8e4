"""The `rounds` command line, a Flask CLI group (tested through `app.test_cli_runner()`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from gateway import create_app
from store.settings import Settings


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


def _parse_instant(value: str | None) -> datetime:
    if not value:
        return _settings().clock.now()
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time, e.g. 2026-11-26T07:00:00Z") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def cli() -> None:
    """Rounds: daily exam questions, resources and mentoring by SMS and WhatsApp."""


# Commands live on the app's own CLI group (app.cli), as in Flask's tutorial, so that
# `app.test_cli_runner()` reaches them; the `rounds` script is a FlaskGroup over it.
db = AppGroup("db", help="The database schema.")


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations."""
    from store import migrate

    migrate.upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


content = AppGroup("content", help="Questions, resources and the message catalog.")


def _content_path(path: str | None) -> Path:
    from content import content_root

    return Path(path) if path else content_root(_settings().content_path)


@content.command("check")
@click.argument("path", required=False)
def content_check(path: str | None) -> None:
    """Validate content: schema, answer keys, GSM-7 and segment budgets; list each message's segments."""
    from content.bank import load_bank
    from content.check import check_bank
    from content.check_catalog import catalog_segments, segment_table

    root = _content_path(path)
    bank = load_bank(root)
    problems = check_bank(bank, _settings().clock.now().date())
    errors = [p for p in problems if p.severity == "error"]
    for line in segment_table(catalog_segments(bank)):
        click.echo(line)
    for problem in problems:
        click.echo(str(problem))
    click.echo(f"{root}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    if errors:
        sys.exit(1)


@content.command("stats")
@click.argument("path", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def content_stats(path: str | None, as_json: bool) -> None:
    """Counts by track x topic x locale x language, key balance, longest-option share."""
    import json

    from content.bank import load_bank
    from content.stats import bank_stats, stats_lines

    bank = load_bank(_content_path(path))
    stats = bank_stats(bank.questions, bank.translations)
    if as_json:
        click.echo(json.dumps(stats, indent=2))
    else:
        for line in stats_lines(stats):
            click.echo(line)


@content.command("load")
@click.argument("path", required=False)
def content_load(path: str | None) -> None:
    """Upsert content into the database (idempotent)."""
    from content.load import load_content
    from store.db import session_scope

    root = _content_path(path)
    now = _settings().clock.now()
    with session_scope(_settings().database_url) as session:
        report = load_content(session, root, now.date(), now)
    click.echo(str(report))
    for kept in report.kept_keys:
        click.echo(str(kept))


@content.command("retract")
@click.argument("question_id", type=click.IntRange(1, 2**31 - 1), metavar="QID")
@click.option("--reason", required=True, help="what was wrong, as the students will read it")
@click.option("--key", "key", help="the right option letter: publish a corrected version instead of retiring")
@click.option("--by", "by", default="rounds content retract", show_default=True, help="who retracts it")
def content_retract(question_id: int, reason: str, key: str | None, by: str) -> None:
    """Retire a question or correct its key; each student who answered it recently gets one correction."""
    from store.corrections import RetractError, retract
    from store.db import session_scope

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            done = retract(
                session, question_id, reason, key, settings.clock.now(), settings.correction_days, by
            )
    except RetractError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(done.message + (". The scheduling pass sends them outside quiet hours." if done.owed else ""))


@content.command("export")
@click.argument("path", required=False)
def content_export(path: str | None) -> None:
    """Write the database's published items back as YAML (questions/, translations/, and programs/
    for programs published from the console): the seed's format.

    Without PATH the content folder itself is rewritten; with one, the rest of the content folder
    is copied next to them, so `rounds content load PATH` reads it and changes nothing.
    """
    from content.program_drafts import export_programs
    from content.seed import export_content
    from store.db import session_scope

    source = _content_path(None)
    out = Path(path) if path else source
    with session_scope(_settings().database_url) as session:
        report = export_content(session, out, source)
        programs = export_programs(session, out)
    click.echo(f"wrote {report} to {out}")
    if programs:
        click.echo(
            f"wrote {len(programs)} program(s) written in the console: "
            + ", ".join(p.stem.upper() for p in programs)
        )


@click.command()
@with_appcontext
@click.option("--at", "at", help="ISO-8601 instant to run the pass at (default: now)")
def tick(at: str | None) -> None:
    """One scheduling pass: enqueue every push due at that instant."""
    from workers.schedule import run_tick

    report = run_tick(_settings(), _parse_instant(at))
    click.echo(str(report))


@click.command()
@with_appcontext
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--simple", is_flag=True, help="run jobs in this process instead of forking")
@click.option(
    "--with-scheduler/--without-scheduler", default=True, help="run RQ's scheduler for delayed jobs"
)
@click.option(
    "--queue",
    "queue_names",
    multiple=True,
    type=click.Choice(["urgent", "default", "bulk"]),
    help="take jobs only from this queue (repeatable; default all three, urgent first)",
)
def worker(burst: bool, simple: bool, with_scheduler: bool, queue_names: tuple[str, ...]) -> None:
    """Process queued jobs (sends, ticks, sweeps)."""
    from workers import runtime
    from workers.worker import SettingsWorker, SimpleSettingsWorker, lower_priority, warm_up

    settings = _settings()
    lower_priority(settings)
    warm_up(settings)
    worker_class = SimpleSettingsWorker if simple else SettingsWorker
    # Kept in urgency order whatever order they were given in.
    chosen = [name for name in runtime.QUEUE_NAMES if name.removeprefix("rounds-") in queue_names]
    queues = [runtime.queue(settings, name) for name in chosen] or None
    worker_process = worker_class(settings, queues)
    worker_process.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO")


@click.command()
@with_appcontext
@click.option("--dry-run", is_flag=True, help="count what would be deleted; change nothing")
def prune(dry_run: bool) -> None:
    """Delete messages older than ROUNDS_MESSAGE_RETENTION_DAYS, keeping daily counts."""
    from workers.jobs import run_prune

    report = run_prune(_settings(), dry_run=dry_run)
    if report is None:
        click.echo("message retention is off (ROUNDS_MESSAGE_RETENTION_DAYS=0): nothing to prune")
        return
    click.echo(str(report))


@click.command()
@with_appcontext
def clock() -> None:
    """The periodic scheduler: a tick every minute and the outbox sweep."""
    from workers.clock import run_clock

    run_clock(_settings())


@click.command()
@with_appcontext
@click.option("--from", "phone", default="+2348030000001", show_default=True, help="the phone to text from")
@click.option("--whatsapp", is_flag=True, help="text as a WhatsApp user")
@click.option("--url", help="a running web process, e.g. http://localhost:5000 (default: in-process)")
def simulate(phone: str, whatsapp: bool, url: str | None) -> None:
    """Chat with the service in the terminal as a phone would."""
    from flows.phones import BadPhoneNumber, parse_address
    from gateway.simulate import Simulator, SimulatorError, app_poster, http_poster, run

    try:
        address = parse_address(phone)
    except BadPhoneNumber as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from exc
    settings = _settings()
    post = http_poster(url) if url else app_poster(current_app)
    simulator = Simulator(settings, address.phone, whatsapp, post, url or "http://localhost")
    channel = "WhatsApp" if whatsapp else "SMS"
    if sys.stdin.isatty():
        click.echo(f"Texting Rounds as {address.phone} by {channel}. Type a message; /quit to stop.")
    try:
        run(simulator, _prompted_lines(), click.echo)
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc


def _prompted_lines() -> Iterator[str]:
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            return
        yield line


@click.command("dev")
@with_appcontext
def dev() -> None:
    """What `make run` does: migrate, load sample content, start Redis if needed, run the Procfile."""
    from gateway.devserver import run_dev

    run_dev(_settings())


COMMANDS = [db, content, tick, worker, clock, prune, simulate, dev]


def register(app: Flask) -> None:
    from gateway import admin_cli, impact_cli, mentor_cli, opportunity_cli, prices_cli, program_cli

    for command in [
        *COMMANDS,
        *mentor_cli.COMMANDS,
        *admin_cli.COMMANDS,
        *opportunity_cli.COMMANDS,
        *program_cli.COMMANDS,
        *prices_cli.COMMANDS,
        *impact_cli.COMMANDS,
    ]:
        app.cli.add_command(command)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    cli()


if __name__ == "__main__":
    main()
