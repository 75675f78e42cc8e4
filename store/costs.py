"""Prices and costs: per-country prices synced from Twilio's Pricing API, the messages whose actual
price is still to be fetched, the per-country cost figures the console, the API and the CLI
show (groups under MIN_GROUP learners left out), and the months whose spend was alerted over budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from store.models import INBOUND, OUTBOUND, STUDENT, WHATSAPP, Base, Message, MessageStatus, Person, utcnow
from store.text import CleanString

# Privacy: a per-country figure over fewer learners than this is never shown.
MIN_GROUP = 10

# Statuses after which Twilio's price for a message no longer changes. `sent` is final only once
# no delivery report has come for SENT_SETTLES (many SMS routes never report one).
FINAL_STATUSES = (
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
    MessageStatus.READ,
)
SENT_SETTLES = timedelta(hours=1)
# Messages that left (and so cost something): TwiML replies included, though Twilio's price for
# them cannot be fetched (no sid is kept for a reply).
BILLED_STATUSES = (MessageStatus.REPLIED, MessageStatus.SENT, *FINAL_STATUSES)


class SyncedPrice(Base):
    """The price of one outbound SMS segment to a country, as Twilio's Pricing API gave it."""

    __tablename__ = "synced_prices"

    country: Mapped[str] = mapped_column(CleanString(2), primary_key=True)
    channel: Mapped[str] = mapped_column(CleanString(10), primary_key=True)
    price: Mapped[float] = mapped_column(Float)
    price_unit: Mapped[str] = mapped_column(CleanString(8))
    # Which of Twilio's number types the price is for (local, toll free, shortcode, mobile), and
    # over how many carriers the highest current price was taken.
    number_type: Mapped[str] = mapped_column(CleanString(16))
    carriers: Mapped[int] = mapped_column(Integer, default=0)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


def save_synced(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert or replace synced prices (keyed by country and channel)."""
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SyncedPrice).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["country", "channel"],
        set_={
            name: statement.excluded[name]
            for name in ("price", "price_unit", "number_type", "carriers", "synced_at")
        },
    )
    session.execute(statement)


def synced_prices(session: Session) -> list[SyncedPrice]:
    return list(session.scalars(select(SyncedPrice).order_by(SyncedPrice.country, SyncedPrice.channel)))


def countries_in_use(session: Session) -> list[str]:
    """Every country someone Rounds talks to is in."""
    return sorted(c for c in session.scalars(select(Person.country).distinct()) if c)


def costs_due(
    session: Session, now: datetime, max_checks: int, max_age: timedelta, limit: int
) -> list[tuple[int, str, int]]:
    """(id, sid, checks so far) of final messages whose price is still unknown and due to be asked."""
    final = or_(
        Message.status.in_(FINAL_STATUSES),
        and_(Message.status == MessageStatus.SENT, Message.sent_at <= now - SENT_SETTLES),
    )
    rows = session.execute(
        select(Message.id, Message.twilio_sid, Message.cost_checks)
        .where(
            Message.actual_cost.is_(None),
            Message.twilio_sid.is_not(None),
            Message.sent_at >= now - max_age,
            Message.direction == OUTBOUND,
            Message.cost_checks < max_checks,
            or_(Message.cost_due_at.is_(None), Message.cost_due_at <= now),
            final,
        )
        .order_by(Message.sent_at, Message.id)
        .limit(limit)
    ).all()
    return [(row.id, row.twilio_sid, row.cost_checks) for row in rows]


def record_cost(session: Session, message_id: int, cost: float, unit: str) -> bool:
    """Store a message's actual cost, once: a row already priced is left as it is."""
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.actual_cost.is_(None))
        .values(
            actual_cost=cost,
            price_unit=unit,
            cost_checks=Message.cost_checks + 1,
            cost_due_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def cost_not_yet(session: Session, message_id: int, due_at: datetime, counted: bool) -> None:
    """No price yet (or Twilio could not answer): ask again at `due_at`; `counted` spends a check."""
    values: dict[str, object] = {"cost_due_at": due_at}
    if counted:
        values["cost_checks"] = Message.cost_checks + 1
    session.execute(
        update(Message)
        .where(Message.id == message_id, Message.actual_cost.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


@dataclass
class CostGroup:
    """Messages sent to one country on one channel over a date range."""

    country: str
    channel: str
    learners: int
    messages: int
    segments: int
    priced: int  # messages whose actual cost is known
    actual_cost: float
    price_units: tuple[str, ...]


def cost_groups(session: Session, start: datetime, end: datetime) -> list[CostGroup]:
    """Outbound messages in [start, end) by the recipient's country and the channel, every group."""
    country = func.coalesce(Person.country, "??").label("country")
    rows = session.execute(
        select(
            country,
            Message.channel,
            func.count(func.distinct(Message.person_id)),
            func.count(),
            func.coalesce(func.sum(Message.segments), 0),
            func.count(Message.actual_cost),
            func.coalesce(func.sum(Message.actual_cost), 0.0),
            func.min(Message.price_unit),
            func.max(Message.price_unit),
        )
        .join(Person, Person.id == Message.person_id)
        .where(
            Message.direction == OUTBOUND,
            Message.status.in_(BILLED_STATUSES),
            Message.created_at >= start,
            Message.created_at < end,
        )
        .group_by(country, Message.channel)
        .order_by(country, Message.channel)
    ).all()
    return [
        CostGroup(
            country=row[0],
            channel=row[1],
            learners=int(row[2]),
            messages=int(row[3]),
            segments=int(row[4]),
            priced=int(row[5]),
            actual_cost=float(row[6] or 0.0),
            price_units=tuple(sorted({unit for unit in (row[7], row[8]) if unit})),
        )
        for row in rows
    ]


@dataclass
class WindowGroup:
    """WhatsApp students' pushes to one country, and how many left inside the free 24 h window."""

    country: str
    learners: int
    pushes: int
    in_window: int


def _day_before(dialect: str, column: Any) -> ColumnElement:
    """`column` minus 24 hours (SQLite keeps datetimes as text: its datetime() does the sum)."""
    if dialect == "postgresql":
        return column - literal_column("interval '24 hours'")
    return func.datetime(column, "-24 hours")


def window_groups(session: Session, start: datetime, end: datetime) -> list[WindowGroup]:
    """Pushes (every sent outbound kind but replies) created in [start, end) to students on WhatsApp
    or whose row left on WhatsApp, by country; in window: left on WhatsApp within 24 h after a
    WhatsApp message from the student (free-form, not a charged template). Every group."""
    inbound = aliased(Message)
    dialect = session.get_bind().dialect.name
    opened = exists().where(
        inbound.person_id == Message.person_id,
        inbound.direction == INBOUND,
        inbound.channel == WHATSAPP,
        inbound.created_at <= Message.sent_at,
        inbound.created_at > _day_before(dialect, Message.sent_at),
    )
    free = case((and_(Message.channel == WHATSAPP, opened), 1), else_=0)
    country = func.coalesce(Person.country, "??").label("country")
    rows = session.execute(
        select(country, func.count(func.distinct(Message.person_id)), func.count(), func.sum(free))
        .join(Person, Person.id == Message.person_id)
        .where(
            Message.direction == OUTBOUND,
            Message.kind != "reply",
            Message.sent_at.is_not(None),
            Message.status.in_(BILLED_STATUSES),
            or_(Message.channel == WHATSAPP, Person.channel == WHATSAPP),
            Message.created_at >= start,
            Message.created_at < end,
        )
        .group_by(country)
        .order_by(country)
    ).all()
    return [WindowGroup(row[0], int(row[1]), int(row[2]), int(row[3] or 0)) for row in rows]


@dataclass
class SpendGroup:
    """Billed outbound messages to one country on one channel on one UTC day: what Twilio charged
    for those it has priced, and the SMS segments and messages of those it has not (to estimate)."""

    day: date
    country: str
    channel: str
    actual_cost: float
    priced: int
    unpriced_messages: int
    unpriced_segments: int


def spend_groups(session: Session, start: datetime, end: datetime) -> list[SpendGroup]:
    """Every billed outbound message created in [start, end), by UTC day, recipient country and
    channel: one scan, however many windows the caller cuts from it."""
    country = func.coalesce(Person.country, "??").label("country")
    postgres = session.get_bind().dialect.name == "postgresql"
    day = (cast(Message.created_at, Date) if postgres else func.date(Message.created_at)).label("day")
    unpriced = Message.actual_cost.is_(None)
    rows = session.execute(
        select(
            day,
            country,
            Message.channel,
            func.coalesce(func.sum(Message.actual_cost), 0.0),
            func.count(Message.actual_cost),
            func.coalesce(func.sum(case((unpriced, 1), else_=0)), 0),
            func.coalesce(func.sum(case((unpriced, Message.segments), else_=0)), 0),
        )
        .outerjoin(Person, Person.id == Message.person_id)
        .where(
            Message.direction == OUTBOUND,
            Message.status.in_(BILLED_STATUSES),
            Message.created_at >= start,
            Message.created_at < end,
        )
        .group_by(day, country, Message.channel)
    ).all()
    return [
        SpendGroup(
            row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])),
            row[1],
            row[2],
            float(row[3] or 0.0),
            int(row[4]),
            int(row[5] or 0),
            int(row[6] or 0),
        )
        for row in rows
    ]


def active_learners_by_country(session: Session, since: datetime) -> dict[str, int]:
    """Students who texted Rounds at or after `since`, by country ("??" where unknown)."""
    country = func.coalesce(Person.country, "??").label("country")
    rows = session.execute(
        select(country, func.count())
        .where(Person.role == STUDENT, Person.last_inbound_at >= since)
        .group_by(country)
    ).all()
    return {row[0]: int(row[1]) for row in rows}


class BudgetAlert(Base):
    """A month whose spend projected over ROUNDS_MONTHLY_BUDGET: one row per month, so the alert
    goes out once however many clock runs see it."""

    __tablename__ = "budget_alerts"

    month: Mapped[str] = mapped_column(CleanString(7), primary_key=True)  # YYYY-MM (UTC)
    budget: Mapped[float] = mapped_column(Float)
    spend: Mapped[float] = mapped_column(Float)  # month to date when it was raised
    projected: Mapped[float] = mapped_column(Float)
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # alert texts queued
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def record_budget_alert(session: Session, values: Mapping[str, object]) -> bool:
    """Record the month's alert; False if another run already did (one statement, so two racing
    runs cannot both win)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(BudgetAlert)
        .values(values)
        .on_conflict_do_nothing(index_elements=["month"])
        .returning(BudgetAlert.month)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def budget_alert(session: Session, month: str) -> BudgetAlert | None:
    return session.get(BudgetAlert, month)
