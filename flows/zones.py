"""Time zones a student can name: a city, a zone id, a country, a region word (`central`) or `UTC+1`.

Also ranks a phone number's candidate zones so the usual one for its country comes first.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

import phonenumbers
from rapidfuzz import fuzz, process

from flows.phones import time_zones_for

# tzdata's zone.tab lists a country's zones geographically; where its first zone is not
# where most people live, this names the usual one.
USUAL_ZONE = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "RU": "Europe/Moscow",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "CD": "Africa/Kinshasa",
    "CN": "Asia/Shanghai",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",
    "UA": "Europe/Kyiv",
}
_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?00)?")
_WINTER = datetime(2026, 1, 15, 12)


def _read_tab(name: str) -> list[str]:
    """Lines of a tzdata table, from the system zoneinfo or the tzdata package."""
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").splitlines()
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8").splitlines()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return []


def _rows(name: str) -> list[list[str]]:
    return [line.split("\t") for line in _read_tab(name) if line and not line.startswith("#")]


@lru_cache(maxsize=1)
def _zone_table() -> tuple[dict[str, str], dict[str, int], list[tuple[str, str]]]:
    """zone -> country, zone -> rank in zone.tab, and (alias, zone) pairs in priority order."""
    country_of: dict[str, str] = {}
    rank: dict[str, int] = {}
    aliases: list[tuple[str, str]] = []
    first_of_country: dict[str, str] = {}
    for row in _rows("zone.tab"):
        if len(row) < 3:
            continue
        country, zone = row[0], row[2]
        country_of.setdefault(zone, country)
        rank.setdefault(zone, len(rank))
        first_of_country.setdefault(country, USUAL_ZONE.get(country, zone))
        comment = row[3] if len(row) > 3 else ""
        # "Eastern (most areas)", "Pacific", "MST - AZ (except Navajo)" -> eastern, pacific, mst
        word = _fold(re.split(r" \(| -|,", comment, maxsplit=1)[0])
        if word and " " not in word and word.isalpha():
            aliases.append((word, zone))
    for row in _rows("iso3166.tab"):
        if len(row) >= 2 and row[0] in first_of_country:
            name = row[1]
            for part in [re.sub(r"\(.*?\)", "", name), *re.findall(r"\((.*?)\)", name)]:
                if _fold(part):
                    aliases.append((_fold(part), first_of_country[row[0]]))
    return country_of, rank, aliases


def _fold(text: str) -> str:
    """Lower-case ASCII with single spaces: `São_Paulo ` -> `sao paulo`."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[\s_]+", " ", text.lower()).strip()


def city(zone: str) -> str:
    """`America/New_York` -> `New York`."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _rank_key(zone: str, country: str | None) -> tuple[int, int, str]:
    country_of, rank, _ = _zone_table()
    usual = USUAL_ZONE.get(country or "")
    own = 0 if zone == usual else 1 if country_of.get(zone) == country else 2
    return own, rank.get(zone, len(rank)), zone


def ranked_zones(phone: str) -> list[str]:
    """The number's candidate zones, the usual one for its country first."""
    zones = time_zones_for(phone)
    try:
        country = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        country = None
    return sorted(set(zones), key=lambda zone: _rank_key(zone, country))


def examples(zones: Sequence[str], limit: int = 4) -> list[str]:
    """Cities for a prompt: the first zone of each distinct winter offset."""
    seen, picked = set(), []
    for zone in zones:
        offset = _WINTER.replace(tzinfo=zoneinfo.ZoneInfo(zone)).utcoffset()
        if offset not in seen:
            seen.add(offset)
            picked.append(city(zone))
        if len(picked) == limit:
            break
    return picked


@lru_cache(maxsize=1)
def _all_pairs() -> list[tuple[str, str]]:
    """(alias, zone) for every zone: zone.tab's aliases and zones first, then the rest."""
    available = zoneinfo.available_timezones() - {"Factory", "localtime"}
    _, rank, aliases = _zone_table()
    canonical = sorted((zone for zone in available if zone in rank), key=rank.__getitem__)
    # Old link names (`US/Central`, `Canada/Central`) come last so `central` finds a real zone.
    links = sorted(zone for zone in available if zone not in rank)
    pairs = [(_fold(zone), zone) for zone in canonical]
    pairs += [(_fold(city(zone)), zone) for zone in canonical]
    pairs += [(alias, zone) for alias, zone in aliases if zone in available]
    pairs += [(_fold(zone), zone) for zone in links]
    pairs += [(_fold(city(zone)), zone) for zone in links]
    return pairs


def _match_in(query: str, pairs: list[tuple[str, str]]) -> str | None:
    if not pairs:
        return None
    for alias, zone in pairs:
        if alias == query:
            return zone
    if len(query) >= 4:
        for alias, zone in pairs:
            if alias.startswith(query):
                return zone
    if len(query) < 4:
        return None  # too short to guess at: "ok" is not Korea
    found = process.extractOne(query, [alias for alias, _ in pairs], scorer=fuzz.ratio, score_cutoff=80)
    return pairs[found[2]][1] if found else None


def match_zone(text: str, candidates: Sequence[str] = ()) -> str | None:
    """The zone `text` names, preferring `candidates` (a number's zones); None if nothing fits."""
    query = _fold(text)[:40]
    if not query:
        return None
    if query in ("utc", "gmt", "z"):
        return "UTC"
    offset = _OFFSET.fullmatch(query)
    if offset:
        hours = int(offset[2])
        # Etc/GMT names count the other way round: UTC+1 is Etc/GMT-1.
        name = "Etc/GMT" + ("-" if offset[1] == "+" else "+") + str(hours) if hours else "UTC"
        return name if name in zoneinfo.available_timezones() or name == "UTC" else None
    pairs = _all_pairs()
    if candidates:
        wanted = set(candidates)
        order = {zone: i for i, zone in enumerate(candidates)}
        local = sorted((p for p in pairs if p[1] in wanted), key=lambda p: order[p[1]])
        found = _match_in(query, local)
        if found:
            return found
    return _match_in(query, pairs)
