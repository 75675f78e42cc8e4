"""The one clock. Every process reads the time from the `Settings` it was handed
(`settings.clock.now()`), so a test, a replay or `rounds tick --at` fixes the instant
instead of racing the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The wall clock, in UTC."""

    # Simulated seconds per wall second: above 1 only for a time-compressed replay.
    rate = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock(Clock):
    """A clock that only moves when told to: tests and replays."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


class ScaledClock(Clock):
    """Time-compressed: reads `start` at the wall instant `origin`, then runs `rate` times faster.

    For benchmark replays only (`bench/soak.py`): every process of a replay is given the same
    start, origin and rate, so they agree on the simulated instant. Production refuses it.
    """

    def __init__(self, start: datetime, rate: float, origin: datetime, wall: Clock | None = None) -> None:
        if start.tzinfo is None or origin.tzinfo is None:
            raise ValueError("a ScaledClock needs aware datetimes")
        if not rate > 0:
            raise ValueError(f"a ScaledClock's rate must be above 0, got {rate}")
        self.start, self.rate, self.origin = start, float(rate), origin
        self.wall = wall or Clock()

    def now(self) -> datetime:
        return self.start + (self.wall.now() - self.origin) * self.rate


SYSTEM_CLOCK = Clock()
