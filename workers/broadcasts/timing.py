"""When a broadcast goes: now, at one instant, or at a clock time in each recipient's zone,
moved to the end of the recipient's quiet hours (the one rule in `flows.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows.schedule import parse_clock, quiet_at, zone_named
from store.admin import AT, LOCAL, NOW, Broadcast
from store.settings import Settings
from workers.broadcasts.errors import BroadcastError


@dataclass(frozen=True)
class Schedule:
    """When a broadcast goes: now, at one UTC instant, or at a clock time in each recipient's zone."""

    kind: str = NOW
    at: datetime | None = None
    local: str | None = None

    @classmethod
    def parse(cls, at: str | None, local: str | None, now: datetime) -> Schedule:
        at, local = (at or "").strip(), (local or "").strip()
        if at and local:
            raise BroadcastError("give either an absolute time (at) or a local time (local), not both")
        if local:
            clock = parse_clock(local if len(local) == 5 else local.zfill(5))
            if clock is None:
                raise BroadcastError(f"local time {local!r}: write HH:MM, e.g. 18:30")
            return cls(LOCAL, None, clock.strftime("%H:%M"))
        if at:
            try:
                instant = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError as exc:
                raise BroadcastError(f"{at!r} is not an ISO-8601 time, e.g. 2026-12-01T07:00:00Z") from exc
            instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
            if instant <= now:
                raise BroadcastError(f"{at} is in the past; leave the time out to send now")
            return cls(AT, instant.astimezone(UTC), None)
        return cls()

    def describe(self) -> str:
        if self.kind == AT and self.at:
            return f"at {self.at:%Y-%m-%d %H:%M} UTC"
        if self.kind == LOCAL:
            return f"at {self.local} in each recipient's time zone"
        return "now"


def schedule_of(broadcast: Broadcast) -> Schedule:
    return Schedule(broadcast.schedule, broadcast.send_at, broadcast.local_time)


def _next_local(zone: ZoneInfo, clock: time, after: datetime) -> datetime:
    """The first instant at or after `after` when the clock in `zone` reads `clock`."""
    day = after.astimezone(zone).date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), clock, tzinfo=zone).astimezone(UTC)
        if candidate >= after:
            return candidate
    raise AssertionError("one of three consecutive days is always later")


def planned_time(timezone: str | None, schedule: Schedule, now: datetime) -> datetime:
    """The instant the schedule names for a recipient in `timezone`, before quiet hours."""
    if schedule.kind == LOCAL:
        return _next_local(zone_named(timezone), parse_clock(schedule.local or "") or time(8), now)
    if schedule.kind == AT and schedule.at:
        return schedule.at
    return now


def send_time(timezone: str | None, schedule: Schedule, settings: Settings, now: datetime) -> datetime:
    """When this recipient's copy may go: the planned time, moved to the end of their quiet hours."""
    zone = zone_named(timezone)
    base = planned_time(timezone, schedule, now)
    end = parse_clock(settings.quiet_end)
    if end and quiet_at(base, zone, settings):
        return _next_local(zone, end, base)
    return base
