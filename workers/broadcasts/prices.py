"""What a broadcast costs: the price of an SMS segment and of a WhatsApp message by country,
from the content folder's `prices.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from content import BUNDLED, content_root
from store.models import WHATSAPP
from store.settings import Settings


@dataclass(frozen=True)
class PriceTable:
    """Price per SMS segment and per WhatsApp message by country, from prices.yaml."""

    currency: str
    sms: Mapping[str, float]
    whatsapp: Mapping[str, float]
    source: str = ""

    def price(self, channel: str, country: str | None) -> float:
        table = self.whatsapp if channel == WHATSAPP else self.sms
        return float(table.get((country or "").upper(), table.get("default", 0.0)))


def load_prices(settings: Settings) -> PriceTable:
    """The configured content folder's prices.yaml, else the bundled one."""
    path = content_root(settings.content_path) / "prices.yaml"
    if not path.is_file():
        path = BUNDLED / "prices.yaml"
    return _read_prices(str(path), path.stat().st_mtime)


@lru_cache(maxsize=4)
def _read_prices(path: str, _mtime: float) -> PriceTable:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}

    def table(name: str) -> dict[str, float]:
        return {
            str(k).upper() if k != "default" else "default": float(v)
            for k, v in (data.get(name) or {}).items()
        }

    return PriceTable(str(data.get("currency", "USD")), table("sms"), table("whatsapp"), path)
