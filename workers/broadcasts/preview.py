"""What a broadcast would do right now: recipients, skips, SMS segments, cost and warnings,
counted with one grouped query; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from content import segments
from store.models import SMS, WHATSAPP, Person
from store.settings import Settings
from workers.broadcasts.audience import SKIP_REASONS, Audience, skip_reason
from workers.broadcasts.errors import BroadcastError
from workers.broadcasts.prices import PriceTable
from workers.broadcasts.timing import Schedule, planned_time, send_time

MAX_TEXT = 1600  # Twilio refuses a longer Body


@dataclass
class CountryLine:
    country: str
    sms: int = 0
    whatsapp: int = 0
    cost: float = 0.0
    price_source: str = ""  # where the prices came from: "Twilio <date>" (synced) or "prices.yaml"


@dataclass
class Preview:
    """What a broadcast would do right now: who gets it, what it costs, what to look out for."""

    text: str
    audience: Audience
    schedule: Schedule
    encoding: str
    units: int
    segments_per_sms: int
    matched: int = 0
    recipients: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: {"sms": 0, "whatsapp": 0})
    countries: list[CountryLine] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    deferred_by_quiet_hours: int = 0
    first_send: datetime | None = None
    last_send: datetime | None = None
    total_segments: int = 0  # SMS segments
    whatsapp_messages: int = 0
    estimated_cost: float = 0.0
    currency: str = "USD"
    price_sources: list[str] = field(default_factory=list)  # "Twilio <date>" and/or "prices.yaml"
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "segment": self.audience.as_dict(),
            "schedule": self.schedule.describe(),
            "encoding": self.encoding,
            "characters": self.units,
            "segments_per_message": {"sms": self.segments_per_sms, "whatsapp": 1},
            "matched": self.matched,
            "recipients": self.recipients,
            "by_channel": self.by_channel,
            "by_country": [c.__dict__ | {"cost": round(c.cost, 4)} for c in self.countries],
            "skipped": self.skipped,
            "deferred_by_quiet_hours": self.deferred_by_quiet_hours,
            "first_send": self.first_send.isoformat() if self.first_send else None,
            "last_send": self.last_send.isoformat() if self.last_send else None,
            "total_segments": self.total_segments,
            "whatsapp_messages": self.whatsapp_messages,
            "estimated_cost": round(self.estimated_cost, 2),
            "currency": self.currency,
            "price_sources": self.price_sources,
            "warnings": self.warnings,
        }


def clean_text(text: str) -> str:
    """The text as it will be sent (GSM-7 look-alikes mapped), or a BroadcastError."""
    cleaned = segments.normalise((text or "").strip())
    if not cleaned:
        raise BroadcastError("the message is empty; write the text to send")
    if len(cleaned) > MAX_TEXT:
        raise BroadcastError(f"the message is {len(cleaned)} characters; Twilio takes at most {MAX_TEXT}")
    return cleaned


def preview(
    session: Session,
    text: str,
    audience: Audience,
    schedule: Schedule,
    settings: Settings,
    prices: PriceTable,
    now: datetime,
    whatsapp_template: str | None = None,
) -> Preview:
    """Count recipients and cost with one grouped query; nothing is written."""
    cleaned = clean_text(text)
    # SMS recipients get the accents GSM-7 lacks folded (the WhatsApp text keeps them): count that.
    counted = segments.count(segments.for_channel(cleaned, SMS))
    result = Preview(cleaned, audience, schedule, counted.encoding, counted.units, counted.segments)
    result.currency = prices.currency
    reason = skip_reason(now, bool(whatsapp_template)).label("reason")
    matched = (
        select(reason, Person.channel, Person.country, Person.timezone).where(*audience.where(now)).subquery()
    )
    rows = session.execute(
        select(
            matched.c.reason, matched.c.channel, matched.c.country, matched.c.timezone, func.count()
        ).group_by(matched.c.reason, matched.c.channel, matched.c.country, matched.c.timezone)
    ).all()
    countries: dict[str, CountryLine] = {}
    for why, channel, country, timezone, number in rows:
        result.matched += number
        if why != "send":
            result.skipped[why] = result.skipped.get(why, 0) + number
            continue
        result.recipients += number
        result.by_channel[channel] = result.by_channel.get(channel, 0) + number
        line = countries.setdefault(country or "??", CountryLine(country or "??"))
        if channel == WHATSAPP:
            line.whatsapp += number
            result.whatsapp_messages += number
            price, source = prices.quote(WHATSAPP, country)
            line.cost += number * price
        else:
            line.sms += number
            result.total_segments += number * counted.segments
            price, source = prices.quote(SMS, country)
            line.cost += number * counted.segments * price
        if source not in result.price_sources:
            result.price_sources.append(source)
        label = f"{channel} {source}"
        if label not in line.price_source:
            line.price_source = f"{line.price_source}; {label}" if line.price_source else label
        when = send_time(timezone, schedule, settings, now)
        if when > planned_time(timezone, schedule, now):
            result.deferred_by_quiet_hours += number
        result.first_send = min(result.first_send or when, when)
        result.last_send = max(result.last_send or when, when)
    result.countries = sorted(countries.values(), key=lambda c: (-c.cost, c.country))
    result.estimated_cost = sum(c.cost for c in result.countries)
    result.warnings = _warnings(result, cleaned, text, audience)
    return result


def _warnings(result: Preview, cleaned: str, original: str, audience: Audience) -> list[str]:
    notes = []
    on_sms = segments.for_channel(cleaned, SMS)
    if result.encoding == "UCS-2":
        odd = sorted({c for c in on_sms if not segments.is_gsm7(c)})[:8]
        notes.append(
            f"{''.join(odd)!r} force UCS-2: {result.segments_per_sms} segment(s) per SMS "
            "at 70 characters each; replace them to halve the cost"
        )
    if on_sms != cleaned:
        notes.append("accents GSM-7 lacks are written plainly by SMS to stay in GSM-7; WhatsApp keeps them")
    if cleaned != (original or "").strip():
        notes.append("typographic quotes, dashes or spaces were replaced with plain ones to stay in GSM-7")
    if result.segments_per_sms > 1:
        notes.append(f"each SMS costs {result.segments_per_sms} segments; shorten the text to cut the cost")
    if not audience.filters:
        notes.append("no segment given: this goes to every student")
    if result.skipped.get("outside_window"):
        notes.append(
            f"{result.skipped['outside_window']} WhatsApp recipient(s) have not written in 24 hours and are "
            "skipped unless an approved template is given"
        )
    if result.deferred_by_quiet_hours:
        notes.append(
            f"{result.deferred_by_quiet_hours} recipient(s) are in quiet hours and get it when they end"
        )
    if result.matched and not result.recipients:
        notes.append("nobody in this segment can receive it")
    return notes
