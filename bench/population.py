"""Students in bulk for the fan-out and scheduling benchmarks, loaded with PostgreSQL's COPY.

Each gets a time zone and a daily time (any minute of the day); next_push_at is computed by
flows.schedule.next_push_at itself, once per (zone, daily time) pair.
"""

from __future__ import annotations

import random
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg
from sqlalchemy.engine import make_url

from flows.schedule import next_push_at

COLUMNS = (
    "phone",
    "channel",
    "name",
    "language",
    "timezone",
    "country",
    "role",
    "status",
    "track",
    "daily_time",
    "next_push_at",
    "flow",
    "flow_state",
    "unreachable",
    "last_inbound_at",
    "created_at",
    "updated_at",
)
TRACKS = ("step1", "step2ck", "plab1", "general")
COUNTRIES = ("NG", "GH", "KE", "IN", "PK", "EG", "ZA", "GB", "US", "PH")


def spread_zones(count: int = 300) -> list[str]:
    """`count` real zones picked evenly from the tz database (aliases and Etc/ left out)."""
    names = sorted(
        z
        for z in zoneinfo.available_timezones()
        if "/" in z and not z.startswith(("Etc/", "posix", "right", "SystemV", "US/", "Canada/", "Brazil/"))
    )
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _naive(instant: datetime | None) -> datetime | None:
    return instant.astimezone(UTC).replace(tzinfo=None) if instant else None


def load_students(
    url: str,
    count: int,
    after: datetime,
    zones: list[str],
    whatsapp_share: float = 0.0,
    seed: int = 7,
    first_number: int = 0,
    daily_time: str | None = None,
    draw: Callable[[random.Random], tuple[str, int]] | None = None,
) -> None:
    """COPY `count` onboarded students; next_push_at is each one's first daily time after `after`.

    `draw(rng)` picks a student's (zone, minute of the day); by default both are uniform. With
    `daily_time` every student's daily time is that one (a morning rush).
    """
    rng = random.Random(seed)
    pushes: dict[tuple[str, str], datetime | None] = {}
    now = _naive(after)
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY people ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n in range(first_number, first_number + count):
                if draw is None:
                    zone, minute = zones[rng.randrange(len(zones))], rng.randrange(1440)
                else:
                    zone, minute = draw(rng)
                daily = daily_time or f"{minute // 60:02d}:{minute % 60:02d}"
                key = (zone, daily)
                if key not in pushes:
                    shape = SimpleNamespace(
                        timezone=zone, daily_time=daily, flow=None, status="active", paused_until=None
                    )
                    pushes[key] = next_push_at(shape, after)  # type: ignore[arg-type]  # a Person's shape, not one
                whatsapp = rng.random() < whatsapp_share
                copy.write_row(
                    (
                        f"+2349{n:09d}",
                        "whatsapp" if whatsapp else "sms",
                        "Student",
                        "en",
                        zone,
                        COUNTRIES[n % len(COUNTRIES)],
                        "student",
                        "active",
                        TRACKS[n % len(TRACKS)],
                        daily,
                        _naive(pushes[key]),
                        None,
                        "{}",
                        False,
                        now if whatsapp else None,
                        now,
                        now,
                    )
                )
        cursor.execute("ANALYZE people")
