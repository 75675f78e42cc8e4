"""Prices: an SMS segment and a WhatsApp message by country, for broadcast estimates and the
send path's choice of channel,
from the prices synced from Twilio's Pricing API (`rounds prices sync`) where there are some,
else from the content folder's `prices.yaml`; each price says which it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import yaml

from content import BUNDLED, content_root
from store.costs import synced_prices
from store.db import read_session
from store.models import SMS, WHATSAPP
from store.settings import Settings


@dataclass(frozen=True)
class PriceTable:
    """Price per SMS segment and per WhatsApp message by country: synced from Twilio, else prices.yaml."""

    currency: str
    sms: Mapping[str, float]
    whatsapp: Mapping[str, float]
    source: str = ""
    # (channel, ISO country) -> (price, "Twilio YYYY-MM-DD"): prices synced from the Pricing API.
    synced: Mapping[tuple[str, str], tuple[float, str]] = field(default_factory=dict)

    def price(self, channel: str, country: str | None) -> float:
        return self.quote(channel, country)[0]

    def quote(self, channel: str, country: str | None) -> tuple[float, str]:
        """The price and where it came from: `Twilio <date of the sync>` or `prices.yaml`."""
        channel = WHATSAPP if channel == WHATSAPP else SMS
        found = self.synced.get((channel, (country or "").upper()))
        if found is not None:
            return found
        table = self.whatsapp if channel == WHATSAPP else self.sms
        return float(table.get((country or "").upper(), table.get("default", 0.0))), "prices.yaml"


def load_prices(settings: Settings) -> PriceTable:
    """Synced prices in the table's currency over the content folder's prices.yaml (else the bundled one)."""
    path = content_root(settings.content_path) / "prices.yaml"
    if not path.is_file():
        path = BUNDLED / "prices.yaml"
    table = _read_prices(str(path), path.stat().st_mtime)
    session = read_session(settings.database_url)
    try:
        rows = synced_prices(session)
    finally:
        session.close()
    # A price in another currency than the table's would not add up with the rest: left out.
    synced = {
        (row.channel, row.country): (row.price, f"Twilio {row.synced_at.date().isoformat()}")
        for row in rows
        if row.price_unit.upper() == table.currency.upper()
    }
    return replace(table, synced=synced)


@lru_cache(maxsize=4)
def _read_prices(path: str, _mtime: float) -> PriceTable:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}

    def table(name: str) -> dict[str, float]:
        return {
            str(k).upper() if k != "default" else "default": float(v)
            for k, v in (data.get(name) or {}).items()
        }

    return PriceTable(str(data.get("currency", "USD")), table("sms"), table("whatsapp"), path)
