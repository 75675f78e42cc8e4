"""`rounds admin ...`, `rounds broadcast` and `rounds export`: the admins' command line."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from store.db import session_scope
from store.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from store.models import Person
    from workers.broadcasts import Preview


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


admin = AppGroup("admin", help="Admin accounts, API tokens, broadcasts and people's data.")


@admin.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["admin", "editor", "viewer", "educator", "reviewer"]),
    default="admin",
    show_default=True,
    help="educator and reviewer are held besides the rank: a new account is then a viewer",
)
@click.option("--password", help="for scripts; without it the password is asked for twice, hidden")
def admin_create(email: str, role: str, password: str | None) -> None:
    """Create an account (or reset its password and role; educator/reviewer are added)."""
    from gateway.admin.accounts import AccountError, create_admin

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(_settings().database_url) as session:
            user = create_admin(session, email, password, role)
            email, role = user.email, " + ".join(user.roles)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{email} can sign in at /admin as {role}")


@admin.command("grant")
@click.argument("email")
@click.option("--role", type=click.Choice(["educator", "reviewer"]), required=True)
@click.option("--remove", is_flag=True, help="take the role away instead")
def admin_grant(email: str, role: str, remove: bool) -> None:
    """Give an existing account a second role (educator or reviewer), keeping its rank and password."""
    from gateway.admin.accounts import find_user, grant_role, remove_role

    with session_scope(_settings().database_url) as session:
        user = find_user(session, email)
        if user is None:
            raise click.ClickException(
                f"there is no account {email!r}; create it with rounds admin create {email} --role {role}"
            )
        (remove_role if remove else grant_role)(user, role)
        roles = " + ".join(user.roles)
    click.echo(f"{email} now holds: {roles}")


@admin.command("token")
@click.argument("email")
@click.option("--label", help="what the token is for, shown in the console")
def admin_token(email: str, label: str | None) -> None:
    """Print a new API token for EMAIL, once; only its hash is kept."""
    from gateway.admin.accounts import find_user, issue_token

    with session_scope(_settings().database_url) as session:
        user = find_user(session, email)
        if user is None:
            raise click.ClickException(
                f"there is no account {email!r}; create it with rounds admin create {email}"
            )
        token, plain = issue_token(session, user, label)
        token_id = token.id
    click.echo(plain)
    click.echo(f"token #{token_id}; shown once. Revoke with: rounds admin revoke {token_id}", err=True)


@admin.command("disable")
@click.argument("email")
def admin_disable(email: str) -> None:
    """Stop an account: no sign-in, its sessions end and its API tokens are revoked."""
    from gateway.admin.accounts import disable_admin, find_user

    with session_scope(_settings().database_url) as session:
        user = find_user(session, email)
        if user is None:
            raise click.ClickException(f"there is no account {email!r}")
        revoked = disable_admin(session, user, _settings().clock.now())
    click.echo(f"{email} can no longer sign in; {revoked} API token(s) revoked")


@admin.command("list")
def admin_list() -> None:
    """List accounts with their role and state, and every sign-in lock in force."""
    from sqlalchemy import select

    from gateway.admin.accounts import locks
    from store.admin import AdminUser

    with session_scope(_settings().database_url) as session:
        users = list(session.scalars(select(AdminUser).order_by(AdminUser.email)))
        locked = locks(session, _settings().clock.now())
        by_email = {lock.key: lock for lock in locked if lock.kind == "account"}
        for user in users:
            lock = by_email.pop(user.email, None)
            state = "active" if user.active else "disabled"
            if lock is not None:
                state = f"LOCKED until {lock.until:%Y-%m-%d %H:%M} UTC ({lock.failures} failures)"
            last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
            click.echo(f"{user.email:<40} {'+'.join(user.roles):<8} last sign-in {last:<16}  {state}")
        for lock in [*by_email.values(), *(lock for lock in locked if lock.kind == "address")]:
            what = "address" if lock.kind == "address" else "no such account"
            until = f"{lock.until:%Y-%m-%d %H:%M} UTC"
            click.echo(f"{lock.key:<40} {what}: LOCKED until {until} ({lock.failures} failures)")
    if not users:
        click.echo("no accounts yet; create one with rounds admin create EMAIL --role admin")


@admin.command("unlock")
@click.argument("email")
def admin_unlock(email: str) -> None:
    """Let a locked account sign in again at once (forget its failed sign-ins)."""
    from gateway.admin.accounts import unlock

    with session_scope(_settings().database_url) as session:
        forgotten = unlock(session, email)
    click.echo(f"{email} may sign in again; {forgotten} failed sign-in(s) forgotten")


@admin.command("revoke")
@click.argument("token_id", type=int)
def admin_revoke(token_id: int) -> None:
    """Revoke an API token by its number."""
    from gateway.admin.accounts import AccountError, revoke_token

    try:
        with session_scope(_settings().database_url) as session:
            revoke_token(session, token_id, _settings().clock.now())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token #{token_id} revoked")


def _person(session: Session, phone: str) -> Person:
    from gateway.admin.people import find_person

    person = find_person(session, phone)
    if person is None:
        raise click.ClickException(f"nobody with the number or id {phone!r}")
    return person


@admin.command("export-person")
@click.argument("phone")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="file to write (default: stdout)")
def admin_export_person(phone: str, out: str | None) -> None:
    """Everything held about one person (a data request), as JSON."""
    from gateway.admin.people import person_record

    with session_scope(_settings().database_url) as session:
        record = person_record(session, _person(session, phone))
    text = json.dumps(record, indent=1, ensure_ascii=False)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text)


@admin.command("erase")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def admin_erase(phone: str, yes: bool) -> None:
    """Erase a person's personal data (name, number, message texts); answer counts stay."""
    from gateway.admin.people import erase_person, is_erased

    with session_scope(_settings().database_url) as session:
        person = _person(session, phone)
        if is_erased(person):
            click.echo(f"person #{person.id} was already erased")
            return
        if not yes:
            click.confirm(
                f"Erase person #{person.id} ({person.name or 'no name'})? This cannot be undone", abort=True
            )
        result = erase_person(session, person, _settings().clock.now())
        person_id = person.id
    click.echo(
        f"erased person #{person_id}: {result['messages']} message text(s) blanked; answer counts kept"
    )


@admin.command("broadcasts")
@click.argument("broadcast_id", type=int, required=False)
def admin_broadcasts(broadcast_id: int | None) -> None:
    """List recent broadcasts, or show one's progress."""
    from sqlalchemy import select

    from store.admin import Broadcast
    from workers.broadcasts import progress, refresh_status

    with session_scope(_settings().database_url) as session:
        if broadcast_id is None:
            for b in session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(20)):
                when = f"{b.created_at:%Y-%m-%d %H:%M}"
                click.echo(f"#{b.id:<5} {b.status:<9} {b.recipients:>7} recipients  {when}  {b.text[:40]}")
            return
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise click.ClickException(
                f"there is no broadcast #{broadcast_id}; list them with rounds admin broadcasts"
            )
        now = _settings().clock.now()
        refresh_status(session, broadcast, now)
        shown = progress(session, broadcast_id, now)
        click.echo(f"broadcast #{broadcast_id}: {broadcast.status}, {shown.total} message(s)")
        for state, number in shown.counts.items():
            if number:
                click.echo(f"  {state:<12}{number}")
        for failure in shown.failures:
            click.echo(f"  failed {failure['count']}: {failure['error_code'] or ''} {failure['reason']}")


@admin.command("cancel")
@click.argument("broadcast_id", type=int)
def admin_cancel(broadcast_id: int) -> None:
    """Cancel a broadcast: messages not yet sent are not sent."""
    from store.admin import Broadcast
    from workers.broadcasts import BroadcastError, cancel_broadcast

    with session_scope(_settings().database_url) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise click.ClickException(f"there is no broadcast #{broadcast_id}")
        try:
            stopped = cancel_broadcast(session, broadcast, _settings().clock.now())
        except BroadcastError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"broadcast #{broadcast_id} cancelled; {stopped} queued message(s) will not be sent")


def _echo_preview(shown: Preview) -> None:
    click.echo(f"to:         {shown.audience.describe()}, {shown.schedule.describe()}")
    click.echo(f"text:       {shown.text}")
    click.echo(f"encoding:   {shown.encoding}, {shown.units} units")
    click.echo(f"segments:   {shown.segments_per_sms} per SMS, 1 per WhatsApp message")
    sms, whatsapp = shown.by_channel.get("sms", 0), shown.by_channel.get("whatsapp", 0)
    click.echo(f"recipients: {shown.recipients} ({sms} SMS, {whatsapp} WhatsApp) of {shown.matched} matched")
    skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in shown.skipped.items() if n)
    click.echo(f"skipped:    {skipped or 'none'}")
    click.echo(
        f"total:      {shown.total_segments} SMS segments + {shown.whatsapp_messages} WhatsApp messages"
    )
    click.echo(f"cost:       about {shown.estimated_cost:.2f} {shown.currency}")
    click.echo(f"prices:     {', '.join(sorted(shown.price_sources)) or 'none needed'}")
    for warning in shown.warnings:
        click.echo(f"note:       {warning}")


@click.command("broadcast")
@with_appcontext
@click.argument("text")
@click.option(
    "--segment",
    "segments_",
    multiple=True,
    metavar="KEY=VALUE",
    help="track, country, language, channel, status, mentor, joined-before, joined-after, "
    "last-active (7d), inactive (30d); repeat for several",
)
@click.option("--at", "at", metavar="ISO-8601", help="send at this instant (UTC unless an offset is given)")
@click.option("--local", "local", metavar="HH:MM", help="send at this clock time in each recipient's zone")
@click.option(
    "--template", help="approved WhatsApp template ContentSid for recipients outside the 24 h window"
)
@click.option("--yes", is_flag=True, help="send without asking")
def broadcast(
    text: str, segments_: tuple[str, ...], at: str | None, local: str | None, template: str | None, yes: bool
) -> None:
    """Preview a broadcast (recipients, segments, cost), then send it."""
    from workers.broadcasts import (
        Audience,
        BroadcastError,
        Schedule,
        create_broadcast,
        load_prices,
        preview,
        run_fan_out,
    )
    from workers.budget import budget_status

    settings = _settings()
    now = settings.clock.now()
    try:
        segment = Audience.parse(segments_)
        schedule = Schedule.parse(at, local, now)
        with session_scope(settings.database_url) as session:
            shown = preview(session, text, segment, schedule, settings, load_prices(settings), now, template)
            budget = budget_status(session, settings, now)
    except BroadcastError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_preview(shown)
    if not shown.recipients:
        raise click.ClickException("nobody in this segment can receive it; nothing sent")
    if budget.needs_confirmation(shown.estimated_cost):
        figures = budget.check(shown.estimated_cost)
        click.echo(
            f"budget:     {figures['month']} spend {figures['spend_to_date']:.2f}, projected "
            f"{figures['projected']:.2f}, {figures['projected_with_broadcast']:.2f} with this broadcast, "
            f"against a budget of {figures['budget']:.2f} {figures['currency']}"
        )
        # Over budget, an answer typed by reflex at a prompt is not enough: the command must say so.
        if not yes:
            raise click.ClickException(
                "this month's spend projects over the monthly budget (ROUNDS_MONTHLY_BUDGET) with this "
                "broadcast; nothing sent. Add --yes to send it anyway"
            )
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException("add --yes to send (no terminal to ask for confirmation)")
        click.confirm(
            f"Send to {shown.recipients} for about {shown.estimated_cost:.2f} {shown.currency}?", abort=True
        )
    with session_scope(settings.database_url) as session:
        created, _ = create_broadcast(
            session, text, segment, schedule, settings, now, (None, "cli"), template
        )
        broadcast_id = created.id
    # The command line has time to wait: fan out here, with a progress bar, rather than in a worker.
    with click.progressbar(
        length=shown.recipients, label=f"broadcast #{broadcast_id}", file=sys.stderr
    ) as bar:
        report = run_fan_out(settings, broadcast_id, now=now, on_batch=bar.update)
    click.echo(
        f"broadcast #{broadcast_id}: {report.created} message(s) queued"
        + (f", {report.deferred} for later (time or quiet hours)" if report.deferred else "")
        + f"; follow it with: rounds admin broadcasts {broadcast_id}"
    )


@click.command("export")
@with_appcontext
@click.argument("kind", type=click.Choice(["answers", "learners", "messages", "impact"]))
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="file to write (default: stdout)")
@click.option(
    "--by",
    type=click.Choice(["country", "channel", "track", "language", "cohort"]),
    default="country",
    show_default=True,
    help="impact only: the dimension",
)
@click.option("--from", "raw_from", help="impact only: YYYY-MM-DD (default: 90 days to yesterday)")
@click.option("--to", "raw_to", help="impact only: YYYY-MM-DD, inclusive")
def export(kind: str, out: str | None, by: str, raw_from: str | None, raw_to: str | None) -> None:
    """Export answers, learners or messages as CSV, streamed (memory stays flat); or the impact
    figures by a dimension (groups under 10 learners left out)."""
    from gateway.admin.exports import count_rows, iter_csv

    settings = _settings()
    if kind == "impact":
        _export_impact(settings, out, by, raw_from, raw_to)
        return
    if not out:
        for chunk in iter_csv(settings.database_url, kind):
            sys.stdout.write(chunk)
        return
    with session_scope(settings.database_url) as session:
        total = count_rows(session, kind)
    started = time.monotonic()  # elapsed time, not an instant
    with (
        open(out, "w", encoding="utf-8", newline="") as handle,
        click.progressbar(length=total, label=f"{kind} -> {out}", file=sys.stderr) as bar,
    ):
        for chunk in iter_csv(settings.database_url, kind, on_rows=bar.update):
            handle.write(chunk)
    seconds = time.monotonic() - started
    click.echo(f"wrote {total} {kind} row(s) to {out} in {seconds:.1f}s", err=True)


def _export_impact(settings: Any, out: str | None, by: str, raw_from: str | None, raw_to: str | None) -> None:
    """The impact figures as CSV: a few rows per dimension, from the rollups (no streaming needed)."""
    import csv

    from gateway.admin.exports import spreadsheet_cell
    from workers.impact import csv_rows, impact_period, impact_report

    try:
        start, end = impact_period(raw_from, raw_to, settings.clock.now().date())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    with session_scope(settings.database_url) as session:
        rows = csv_rows(impact_report(session, settings, by, start, end))
    handle = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        csv.writer(handle).writerows([[spreadsheet_cell(cell) for cell in row] for row in rows])
    finally:
        if out:
            handle.close()
            click.echo(f"wrote {len(rows) - 1} impact row(s) by {by} to {out}", err=True)


COMMANDS: list[click.Command] = [admin, broadcast, export]
