"""The month's spend against the organisation's budget (ROUNDS_MONTHLY_BUDGET): spend so far, a
projection to the month's end, cost per active learner-month by country, the once-a-month alert
the clock sends when the projection first crosses the budget, and the check bulk broadcasts make.

Projection: the month-to-date spend plus the mean daily spend of the last RATE_DAYS whole UTC days
times the days (fractional) left in the month. Spend is what Twilio charged where it has priced a
message, else the estimate (SMS segments or WhatsApp messages times the country's price).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from content.catalog import get_catalog
from flows.phones import BadPhoneNumber, mask, parse_address
from store.costs import (
    MIN_GROUP,
    BudgetAlert,
    SpendGroup,
    active_learners_by_country,
    budget_alert,
    record_budget_alert,
    spend_groups,
)
from store.db import session_scope
from store.mentoring import ONCALL
from store.models import ACTIVE, WHATSAPP, Person
from store.settings import Settings
from workers.broadcasts.prices import PriceTable, load_prices
from workers.outbox import enqueue_send, queue_message

log = logging.getLogger("rounds.budget")

# Whole UTC days before today whose mean daily spend is the rate the month is projected at.
RATE_DAYS = 7
# Cost per active learner-month: spend since the start of the LEARNER_MONTH_DAYS whole days before
# today over the students who texted since then.
LEARNER_MONTH_DAYS = 30
ALERT_KIND = "budget_alert"


# --- the projection (pure: time and spend in, figures out) -------------------------------------


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC month `now` is in: [first instant, first instant of the next month)."""
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def rate_window(now: datetime, days: int = RATE_DAYS) -> tuple[datetime, datetime]:
    """The whole UTC days the daily rate is read from: the `days` before today."""
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    return today - timedelta(days=days), today


@dataclass(frozen=True)
class Projection:
    month: str  # YYYY-MM (UTC)
    spend_to_date: float
    daily_rate: float
    days_left: float
    projected: float


def project_month(
    now: datetime, spend_to_date: float, recent_spend: float, days: int = RATE_DAYS
) -> Projection:
    """Month-to-date spend plus the recent daily rate (`recent_spend` over `days` whole days) times
    the days left in the month, counted from `now` to the month's end."""
    start, end = month_bounds(now)
    days_left = (end - now.astimezone(UTC)).total_seconds() / 86400
    rate = recent_spend / days if days else 0.0
    return Projection(
        month=start.strftime("%Y-%m"),
        spend_to_date=spend_to_date,
        daily_rate=rate,
        days_left=days_left,
        projected=spend_to_date + rate * days_left,
    )


# --- figures read from the message log ------------------------------------------------------------


def group_spend(group: SpendGroup, prices: PriceTable) -> tuple[float, float]:
    """(spend, of which actual): Twilio's price where known, the estimate for the rest."""
    price = prices.price(group.channel, group.country)
    units = group.unpriced_messages if group.channel == WHATSAPP else group.unpriced_segments
    return group.actual_cost + units * price, group.actual_cost


@dataclass
class CountryCost:
    country: str
    learners: int  # students who texted in the last LEARNER_MONTH_DAYS
    spend: float  # over those days
    per_learner_month: float


@dataclass
class BudgetStatus:
    currency: str
    budget: float | None
    projection: Projection
    actual_to_date: float  # the part of the month's spend Twilio has priced
    countries: list[CountryCost] = field(default_factory=list)
    suppressed_groups: int = 0  # countries under MIN_GROUP active learners, not shown
    alerted_at: datetime | None = None

    @property
    def over(self) -> bool:
        return self.budget is not None and self.projection.projected > self.budget

    def needs_confirmation(self, cost: float) -> bool:
        """Whether sending something that costs `cost` now leaves the month projected over budget
        (already over, or pushed over by it); something free never needs asking about."""
        return self.budget is not None and cost > 0 and self.projection.projected + cost > self.budget

    def as_dict(self) -> dict[str, Any]:
        p = self.projection
        return {
            "month": p.month,
            "currency": self.currency,
            "budget": self.budget,
            "spend_to_date": round(p.spend_to_date, 2),
            "actual_to_date": round(self.actual_to_date, 2),
            "daily_rate": round(p.daily_rate, 4),
            "rate_days": RATE_DAYS,
            "days_left": round(p.days_left, 2),
            "projected": round(p.projected, 2),
            "over_budget": self.over,
            "alerted_at": self.alerted_at.isoformat() if self.alerted_at else None,
            "learner_month_days": LEARNER_MONTH_DAYS,
            "min_group": MIN_GROUP,
            "suppressed_groups": self.suppressed_groups,
            "cost_per_learner_month": [
                {
                    "country": c.country,
                    "learners": c.learners,
                    "spend": round(c.spend, 2),
                    "per_learner_month": round(c.per_learner_month, 4),
                }
                for c in self.countries
            ],
        }

    def check(self, cost: float) -> dict[str, Any]:
        """The figures a broadcast that costs `cost` is confirmed against."""
        return {
            "month": self.projection.month,
            "currency": self.currency,
            "budget": self.budget,
            "spend_to_date": round(self.projection.spend_to_date, 2),
            "projected": round(self.projection.projected, 2),
            "broadcast_cost": round(cost, 2),
            "projected_with_broadcast": round(self.projection.projected + cost, 2),
        }


def budget_status(session: Session, settings: Settings, now: datetime) -> BudgetStatus:
    """The month's spend, its projection and the cost per active learner-month, at `now`; the
    message log is read once, by day, from the earliest day any of the windows needs."""
    prices = load_prices(settings)
    month_start, _ = month_bounds(now)
    rate_start, today = rate_window(now)
    since = today - timedelta(days=LEARNER_MONTH_DAYS)
    to_date = actual = recent = 0.0
    by_country: dict[str, float] = {}
    for group in spend_groups(session, min(month_start, since), now):
        spend, charged = group_spend(group, prices)
        if group.day >= month_start.date():
            to_date, actual = to_date + spend, actual + charged
        if rate_start.date() <= group.day < today.date():
            recent += spend
        if group.day >= since.date():
            by_country[group.country] = by_country.get(group.country, 0.0) + spend
    status = BudgetStatus(
        currency=prices.currency,
        budget=settings.monthly_budget,
        projection=project_month(now, to_date, recent),
        actual_to_date=actual,
    )
    learners = active_learners_by_country(session, since)
    for country in sorted(set(by_country) | set(learners)):
        count = learners.get(country, 0)
        if count < MIN_GROUP:
            status.suppressed_groups += 1
            continue
        spend = by_country.get(country, 0.0)
        status.countries.append(CountryCost(country, count, spend, spend / count))
    status.countries.sort(key=lambda c: (-c.per_learner_month, c.country))
    alert = budget_alert(session, status.projection.month)
    status.alerted_at = alert.created_at if alert else None
    return status


def current_status(settings: Settings) -> BudgetStatus:
    with session_scope(settings.database_url) as session:
        return budget_status(session, settings, settings.clock.now())


# --- the alert ---------------------------------------------------------------------------------


def _alert_person(session: Session, number: str) -> Person | None:
    """The person behind an alert number, created (as an alert-only number) on first use."""
    person = session.scalars(select(Person).where(Person.phone == number)).first()
    if person is not None:
        return person
    try:
        address = parse_address(number)
    except BadPhoneNumber:  # checked at start-up; kept safe for a hand-built Settings
        log.error("a ROUNDS_BUDGET_ALERT_TO number is not a phone number; skipped")
        return None
    person = Person(
        phone=address.phone,
        channel=address.channel,
        country=address.country,
        role=ONCALL,
        status=ACTIVE,
        language="en",
        flow_state={},
    )
    session.add(person)
    session.flush()
    return person


def check_budget(settings: Settings) -> dict[str, Any]:
    """The clock's budget check: the first time in a month that the projection is over budget,
    record it and text the alert numbers. The month's row and the texts are written in one
    transaction, and the row is keyed by month, so however many runs see it, one alert goes."""
    now = settings.clock.now()
    if settings.monthly_budget is None:
        return {"budget": None}
    queued: list[int] = []
    with session_scope(settings.database_url) as session:
        status = budget_status(session, settings, now)
        result = status.check(0.0) | {"over_budget": status.over, "alerted": False}
        if not status.over or status.alerted_at is not None:
            return result
        p = status.projection
        values = {
            "month": p.month,
            "budget": status.budget,
            "spend": p.spend_to_date,
            "projected": p.projected,
            "recipients": 0,
            "created_at": now,
        }
        if not record_budget_alert(session, values):
            return result
        catalog = get_catalog(settings.content_path)
        for number in settings.budget_alert_to:
            person = _alert_person(session, number)
            if person is None:
                continue
            body = catalog.render(
                "budget_alert",
                person.language,
                month=p.month,
                projected=f"{p.projected:.2f}",
                budget=f"{status.budget:.2f}",
                spent=f"{p.spend_to_date:.2f}",
                currency=status.currency,
            )
            message_id = queue_message(
                session, person, body, ALERT_KIND, f"budget:{p.month}:{person.id}", now=now
            )
            if message_id is not None:
                queued.append(message_id)
        session.execute(
            update(BudgetAlert).where(BudgetAlert.month == p.month).values(recipients=len(queued))
        )
    log.warning(
        "%s spend projects to %.2f %s, over the budget of %.2f: alert texted to %s",
        p.month,
        p.projected,
        status.currency,
        status.budget,
        ", ".join(mask(number) for number in settings.budget_alert_to)
        or "nobody (ROUNDS_BUDGET_ALERT_TO unset)",
    )
    enqueue_send(settings, queued, urgent=True)
    return result | {"alerted": True, "texts": len(queued)}
