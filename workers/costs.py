"""What messages cost, by the recipient's country and the channel: the estimate (synced prices,
else prices.yaml, saying which) next to the actual cost Twilio charged, for a date range. Groups
of fewer than MIN_GROUP learners are left out and only counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from store.costs import MIN_GROUP, WindowGroup, cost_groups, window_groups
from store.models import WHATSAPP
from store.settings import Settings
from workers.broadcasts.prices import load_prices

DEFAULT_DAYS = 30


@dataclass
class CostLine:
    country: str
    channel: str
    learners: int
    messages: int
    segments: int
    price: float  # per SMS segment, or per WhatsApp message
    price_source: str  # "Twilio <date of the sync>" or "prices.yaml"
    estimated_cost: float
    actual_cost: float  # over the `priced` messages only
    priced: int
    actual_unit: str


@dataclass
class CostSheet:
    start: date
    end: date  # inclusive
    currency: str
    lines: list[CostLine] = field(default_factory=list)
    suppressed_groups: int = 0  # country and channel groups under MIN_GROUP learners, not shown
    # WhatsApp students' pushes by country, and how many were sent inside the free 24 h window.
    window: list[WindowGroup] = field(default_factory=list)
    suppressed_window_groups: int = 0

    @property
    def window_pushes(self) -> int:
        return sum(group.pushes for group in self.window)

    @property
    def in_window(self) -> int:
        return sum(group.in_window for group in self.window)

    @property
    def in_window_share(self) -> float | None:
        """The share of the shown groups' WhatsApp pushes sent in-window (None: none shown)."""
        return self.in_window / self.window_pushes if self.window_pushes else None

    @property
    def estimated_cost(self) -> float:
        return sum(line.estimated_cost for line in self.lines)

    @property
    def actual_cost(self) -> float:
        return sum(line.actual_cost for line in self.lines)

    @property
    def messages(self) -> int:
        return sum(line.messages for line in self.lines)

    @property
    def priced(self) -> int:
        return sum(line.priced for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "currency": self.currency,
            "min_group": MIN_GROUP,
            "suppressed_groups": self.suppressed_groups,
            "groups": [
                asdict(line)
                | {"estimated_cost": round(line.estimated_cost, 4), "actual_cost": round(line.actual_cost, 4)}
                for line in self.lines
            ],
            "shown_totals": {
                "messages": self.messages,
                "priced": self.priced,
                "estimated_cost": round(self.estimated_cost, 2),
                "actual_cost": round(self.actual_cost, 2),
            },
            "whatsapp_window": {
                "pushes": self.window_pushes,
                "in_window": self.in_window,
                "share": None if self.in_window_share is None else round(self.in_window_share, 4),
                "suppressed_groups": self.suppressed_window_groups,
                "groups": [
                    asdict(group) | {"share": round(group.in_window / group.pushes, 4)}
                    for group in self.window
                ],
            },
        }


def default_period(today: date) -> tuple[date, date]:
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def cost_sheet(session: Session, settings: Settings, start: date, end: date) -> CostSheet:
    """Estimates and actuals for messages created from `start` to `end` (inclusive, UTC dates)."""
    prices = load_prices(settings)
    sheet = CostSheet(start, end, prices.currency)
    since = datetime.combine(start, time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    for group in cost_groups(session, since, until):
        if group.learners < MIN_GROUP:
            sheet.suppressed_groups += 1
            continue
        price, source = prices.quote(group.channel, group.country)
        units = group.messages if group.channel == WHATSAPP else group.segments
        sheet.lines.append(
            CostLine(
                country=group.country,
                channel=group.channel,
                learners=group.learners,
                messages=group.messages,
                segments=group.segments,
                price=price,
                price_source=source,
                estimated_cost=units * price,
                actual_cost=group.actual_cost,
                priced=group.priced,
                actual_unit="/".join(group.price_units) or prices.currency,
            )
        )
    sheet.lines.sort(key=lambda line: (-line.estimated_cost, line.country, line.channel))
    for window in window_groups(session, since, until):
        if window.learners < MIN_GROUP:
            sheet.suppressed_window_groups += 1
        else:
            sheet.window.append(window)
    return sheet


def parse_period(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date]:
    """`from`/`to` as YYYY-MM-DD (either may be missing: the last 30 days); ValueError says what is wrong."""
    start, end = default_period(today)
    try:
        if raw_to:
            end = date.fromisoformat(raw_to)
            if not raw_from:
                start = end - timedelta(days=DEFAULT_DAYS - 1)
        if raw_from:
            start = date.fromisoformat(raw_from)
    except ValueError as exc:
        raise ValueError("from and to are dates written YYYY-MM-DD, e.g. 2026-11-01") from exc
    if start > end:
        raise ValueError(f"from ({start.isoformat()}) is after to ({end.isoformat()})")
    return start, end
