"""`rounds prices sync` (per-country SMS prices from Twilio's Pricing API), `rounds prices show`
(estimates next to actual costs) and `rounds prices fetch` (actual costs of final messages, now)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from store.costs import MIN_GROUP, synced_prices
from store.db import session_scope
from store.settings import Settings
from workers.costs import cost_sheet, parse_period
from workers.pricing import fetch_message_costs, sync_prices

prices = AppGroup("prices", help="Prices from Twilio and what messages cost.")


def _settings() -> Settings:
    return current_app.config["ROUNDS"]


@prices.command("sync")
@click.option("--country", "countries", multiple=True, help="ISO 3166 alpha-2, repeatable")
@click.option("--all", "every_country", is_flag=True, help="every country the Pricing API lists")
def sync(countries: tuple[str, ...], every_country: bool) -> None:
    """Fetch SMS prices per country (default: where people are and what prices.yaml names)."""
    report = sync_prices(_settings(), list(countries), every_country)
    for iso, (price, unit) in sorted(report.synced.items()):
        click.echo(f"{iso}\t{price:.4f} {unit} per SMS segment")
    if report.missing:
        click.echo(f"no SMS price from Twilio for {' '.join(report.missing)}: prices.yaml stays in use there")
    for iso, why in sorted(report.failed.items()):
        click.echo(f"{iso}\tfailed: {why}", err=True)
    click.echo(f"{len(report.synced)} synced, {len(report.missing)} missing, {len(report.failed)} failed")
    if report.failed:
        raise SystemExit(1)


@prices.command("show")
@click.option("--from", "raw_from", help="YYYY-MM-DD (default: 30 days before --to)")
@click.option("--to", "raw_to", help="YYYY-MM-DD, inclusive (default: today, UTC)")
def show(raw_from: str | None, raw_to: str | None) -> None:
    """Synced prices, then estimated and actual cost by country and channel."""
    settings = _settings()
    try:
        start, end = parse_period(raw_from, raw_to, settings.clock.now().date())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    with session_scope(settings.database_url) as session:
        synced = synced_prices(session)
        sheet = cost_sheet(session, settings, start, end)
    if synced:
        click.echo("synced prices (per SMS segment):")
        for row in synced:
            click.echo(
                f"  {row.country}\t{row.price:.4f} {row.price_unit}\t{row.number_type}, "
                f"{row.carriers} carrier(s)\tsynced {row.synced_at.date().isoformat()}"
            )
    else:
        click.echo("no synced prices: estimates use prices.yaml (run `rounds prices sync`)")
    click.echo(f"costs {start.isoformat()} to {end.isoformat()} ({sheet.currency}):")
    click.echo("  country\tchannel\tlearners\tmessages\tsegments\testimated\tprices from\tactual\tpriced")
    for line in sheet.lines:
        click.echo(
            f"  {line.country}\t{line.channel}\t{line.learners}\t{line.messages}\t{line.segments}\t"
            f"{line.estimated_cost:.2f}\t{line.price_source}\t{line.actual_cost:.2f} {line.actual_unit}\t"
            f"{line.priced}/{line.messages}"
        )
    click.echo(
        f"  shown\t\t\t{sheet.messages}\t\t{sheet.estimated_cost:.2f}\t\t{sheet.actual_cost:.2f}\t"
        f"{sheet.priced}/{sheet.messages}"
    )
    if sheet.suppressed_groups:
        click.echo(f"{sheet.suppressed_groups} group(s) under {MIN_GROUP} learners not shown")


@prices.command("fetch")
def fetch() -> None:
    """Ask Twilio now for the price of final messages still unpriced (the clock does it every 5 minutes)."""
    report = fetch_message_costs(_settings())
    if report.skipped:
        click.echo(f"nothing asked: {report.skipped}")
        return
    click.echo(
        f"asked {report.asked}: {report.priced} priced, {report.not_yet} not priced yet, "
        f"{report.errors} error(s){', throttled by Twilio' if report.throttled else ''}"
    )


COMMANDS: list[click.Command] = [prices]
