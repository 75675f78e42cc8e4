"""Prices from Twilio, through the twilio package: per-country SMS prices from the Pricing API
(`rounds prices sync`, weekly from the clock) and each sent message's actual price, fetched in
batches off the request path once its status is final (every few minutes from the clock).

Twilio fills a message's `price` some time after the send: a null price is asked again later, with
a growing wait, at most MAX_CHECKS times and for at most MAX_AGE after the send. A row is priced
once; a 429 spends no check and ends the run, a 5xx or a network error spends one.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from store.costs import cost_not_yet, costs_due, countries_in_use, record_cost, save_synced
from store.db import session_factory
from store.models import SMS
from store.settings import Settings
from workers import runtime
from workers.broadcasts.prices import load_prices
from workers.transport import make_http_client

log = logging.getLogger("rounds.pricing")

MAX_CHECKS = 8  # fetches of a message that found no price yet (about a day of waiting in all)
MAX_AGE = timedelta(days=3)  # after this, a message still without a price is left unpriced
FIRST_WAIT = timedelta(minutes=5)
LONGEST_WAIT = timedelta(hours=6)
BATCH = 200
RUN_LIMIT = 5000  # messages asked about in one run; the next run takes the rest
CONCURRENCY = 8  # requests in flight at once (each is one round trip to Twilio)
SYNC_TRIES = 3
LOCK_KEY = "rounds:costs:fetch"

_TOLL_FREE = re.compile(r"^\+1(800|833|844|855|866|877|888)\d{7}$")
_ISO = re.compile(r"^[A-Z]{2}$")


class TwilioPricing:
    """The twilio package's client with both hosts pointed where the settings say: the REST API
    (Message resources) at TWILIO_API_BASE and the Pricing API at its own base."""

    def __init__(self, settings: Settings):
        self.http = make_http_client(
            settings.twilio_api_base.rstrip("/"), settings.twilio_timeout_seconds, connections=CONCURRENCY
        )
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http)
        self.client.api.base_url = settings.twilio_api_base.rstrip("/")
        self.client.pricing.base_url = settings.pricing_base.rstrip("/")

    def country(self, iso: str) -> Any:
        return self.client.pricing.v1.messaging.countries(iso).fetch()

    def every_country(self) -> list[str]:
        """ISO codes of every country the Pricing API lists (it pages them)."""
        return [row.iso_country for row in self.client.pricing.v1.messaging.countries.stream(page_size=50)]

    def message_price(self, sid: str) -> tuple[str | None, str | None]:
        message = self.client.api.v2010.accounts(self.client.account_sid).messages(sid).fetch()
        return message.price, message.price_unit


def number_type_for(sender: str) -> str:
    """The Pricing API's number type of the sender SMS pushes go from."""
    if sender.isdigit() and len(sender) <= 6:
        return "shortcode"
    if _TOLL_FREE.match(sender):
        return "toll free"
    return "local"  # a long code, or a messaging service (whose pool is long codes, most often)


def sms_price(outbound_sms_prices: list[dict[str, Any]], number_type: str) -> tuple[float, int, str] | None:
    """The highest current price of one segment across the country's carriers for `number_type`
    (any number type when Twilio lists none of that kind): (price, carriers, number type)."""

    def prices(wanted: str | None) -> tuple[list[float], int]:
        found, carriers = [], 0
        for carrier in outbound_sms_prices or []:
            mine = [
                float(p["current_price"])
                for p in carrier.get("prices") or []
                if p.get("current_price") not in (None, "")
                and (wanted is None or p.get("number_type") == wanted)
            ]
            if mine:
                found.extend(mine)
                carriers += 1
        return found, carriers

    found, carriers = prices(number_type)
    if not found:
        found, carriers = prices(None)
        number_type = "any"
    if not found:
        return None
    return max(found), carriers, number_type


@dataclass
class SyncReport:
    synced: dict[str, tuple[float, str]] = field(default_factory=dict)  # ISO -> (price, unit)
    missing: list[str] = field(default_factory=list)  # not known to the Pricing API, or no SMS price
    failed: dict[str, str] = field(default_factory=dict)  # ISO -> what went wrong

    def as_dict(self) -> dict[str, Any]:
        return {"synced": sorted(self.synced), "missing": self.missing, "failed": self.failed}


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or (exc.status or 0) >= 500
    return True  # could not reach Twilio


def _fetch_country(pricing: TwilioPricing, iso: str) -> Any:
    for attempt in range(1, SYNC_TRIES + 1):
        try:
            return pricing.country(iso)
        except Exception as exc:
            if attempt == SYNC_TRIES or not _retryable(exc):
                raise
            time.sleep(min(pricing.http.last_retry_after() or 0.5 * attempt, 5.0))
    raise AssertionError("unreachable")


def sync_prices(
    settings: Settings, countries: list[str] | None = None, every_country: bool = False
) -> SyncReport:
    """Fetch SMS prices for `countries` (default: where people are, and every country prices.yaml
    names; `every_country`: all the Pricing API lists) and store them with the time of the sync."""
    report = SyncReport()
    if not settings.twilio_configured:
        report.failed["*"] = "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"
        return report
    pricing = TwilioPricing(settings)
    now = settings.clock.now()
    session = session_factory(settings.database_url)()
    try:
        if every_country:
            try:
                wanted = pricing.every_country()
            except Exception as exc:  # the package raises a plain TwilioException for a refused page
                report.failed["*"] = f"could not list the countries: {exc}"
                return report
        elif countries:
            wanted = [c.strip().upper() for c in countries]
        else:
            table = load_prices(settings)
            named = {c for c in [*table.sms, *table.whatsapp] if c != "default"}
            wanted = sorted(named | set(countries_in_use(session)))
        number_type = number_type_for(settings.sms_from)
        rows: list[dict[str, object]] = []
        for iso in wanted:
            if not _ISO.match(iso):
                report.failed[iso] = "not an ISO 3166 alpha-2 code (two letters, e.g. NG)"
                continue
            try:
                country = _fetch_country(pricing, iso)
            except TwilioRestException as exc:
                if exc.status == 404:
                    report.missing.append(iso)
                else:
                    report.failed[iso] = f"Twilio answered {exc.status}: {exc.msg}"
                continue
            except Exception as exc:
                report.failed[iso] = f"could not reach Twilio: {exc}"
                continue
            found = sms_price(country.outbound_sms_prices or [], number_type)
            if found is None:
                report.missing.append(iso)
                continue
            price, carriers, kind = found
            unit = (country.price_unit or "USD").upper()
            rows.append(
                {
                    "country": iso,
                    "channel": SMS,
                    "price": price,
                    "price_unit": unit,
                    "number_type": kind,
                    "carriers": carriers,
                    "synced_at": now,
                }
            )
            report.synced[iso] = (price, unit)
        save_synced(session, rows)
        session.commit()
    finally:
        session.close()
    log.info("prices synced: %s", report.as_dict())
    return report


@dataclass
class FetchReport:
    asked: int = 0
    priced: int = 0
    not_yet: int = 0  # Twilio has no price for them yet: asked again later
    errors: int = 0
    throttled: bool = False
    skipped: str = ""  # why nothing was asked

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _wait(checks: int) -> timedelta:
    return min(FIRST_WAIT * (2**checks), LONGEST_WAIT)


@dataclass
class _Answer:
    price: str | None = None
    unit: str | None = None
    error: str = ""
    throttled: bool = False
    retry_after: float | None = None


def _ask(pricing: TwilioPricing, sid: str) -> _Answer:
    try:
        price, unit = pricing.message_price(sid)
    except TwilioRestException as exc:
        if exc.status == 429:
            return _Answer(error="429", throttled=True, retry_after=pricing.http.last_retry_after())
        return _Answer(error=f"{exc.status} {exc.code}")
    except Exception as exc:
        return _Answer(error=f"could not reach Twilio: {exc}")
    return _Answer(price=price, unit=unit)


def fetch_message_costs(settings: Settings, limit: int = RUN_LIMIT) -> FetchReport:
    """Ask Twilio for the price of every final message still unpriced and due, in batches."""
    report = FetchReport()
    if not settings.twilio_configured:
        report.skipped = "no Twilio credentials"
        return report
    lock = runtime.redis_for(settings).lock(LOCK_KEY, timeout=900) if settings.redis_url else None
    if lock is not None and not lock.acquire(blocking=False):
        report.skipped = "another fetch is running"
        return report
    try:
        _fetch(settings, report, limit)
    finally:
        if lock is not None:
            lock.release()
    if report.asked:
        log.info("message costs: %s", report.as_dict())
    return report


def _fetch(settings: Settings, report: FetchReport, limit: int) -> None:
    pricing = TwilioPricing(settings)
    now = settings.clock.now()
    session = session_factory(settings.database_url)()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            while report.asked < limit and not report.throttled:
                due = costs_due(session, now, MAX_CHECKS, MAX_AGE, min(BATCH, limit - report.asked))
                if not due:
                    break
                answers = list(pool.map(lambda row: _ask(pricing, row[1]), due))
                report.asked += len(due)
                for (message_id, _sid, checks), answer in zip(due, answers, strict=True):
                    _settle(session, message_id, checks, answer, now, report)
                session.commit()
    finally:
        session.close()


def _settle(
    session: Any, message_id: int, checks: int, answer: _Answer, now: datetime, report: FetchReport
) -> None:
    if answer.throttled:
        # Twilio asked us to slow down: this costs the message no check; the whole run stops.
        report.throttled = True
        wait = timedelta(seconds=answer.retry_after or 60)
        cost_not_yet(session, message_id, now + wait, counted=False)
    elif answer.error:
        report.errors += 1
        log.warning("message %s: price fetch failed (%s); asking again later", message_id, answer.error)
        cost_not_yet(session, message_id, now + _wait(checks), counted=True)
    elif answer.price in (None, ""):
        report.not_yet += 1
        cost_not_yet(session, message_id, now + _wait(checks), counted=True)
    else:
        cost = abs(float(str(answer.price)))  # Twilio gives charges as negative amounts
        if record_cost(session, message_id, cost, (answer.unit or "USD").upper()):
            report.priced += 1
