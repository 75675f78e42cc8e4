"""The time-compressed clock of benchmark replays: it runs `rate` times faster, every process
agrees on it, the clock process ticks once per simulated minute, and production refuses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from store.clock import SYSTEM_CLOCK, FixedClock, ScaledClock
from store.settings import Settings
from workers.clock import build_scheduler

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
ORIGIN = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
REPLAY = {
    "ROUNDS_CLOCK_START": "2026-12-01T00:00:00Z",
    "ROUNDS_CLOCK_ORIGIN": "2026-12-05T23:00:00+00:00",
    "ROUNDS_CLOCK_RATE": "120",
}


def test_scaled_clock_runs_rate_times_faster_from_its_start():
    wall = FixedClock(ORIGIN)
    clock = ScaledClock(START, 120, ORIGIN, wall)
    assert clock.now() == START
    wall.advance(seconds=30)
    assert clock.now() == START + timedelta(hours=1)


def test_two_processes_reading_the_same_settings_agree():
    first = Settings.from_env(dict(REPLAY), dotenv=False).clock
    second = Settings.from_env(dict(REPLAY), dotenv=False).clock
    assert isinstance(first, ScaledClock) and isinstance(second, ScaledClock)
    assert (
        (first.start, first.origin, first.rate)
        == (second.start, second.origin, second.rate)
        == (
            START,
            ORIGIN,
            120.0,
        )
    )


def test_without_the_settings_the_wall_clock_is_used():
    assert Settings.from_env({}, dotenv=False).clock is SYSTEM_CLOCK


def test_production_refuses_a_scaled_clock():
    with pytest.raises(ValueError, match="ROUNDS_CLOCK_RATE set in production"):
        Settings.from_env({"ROUNDS_ENV": "production", "ROUNDS_CLOCK_RATE": "60"}, dotenv=False)
    with pytest.raises(ValueError, match="benchmark replays only"):
        Settings.from_env({"ROUNDS_ENV": "production", **REPLAY}, dotenv=False)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"ROUNDS_CLOCK_ORIGIN": ""}, "needs ROUNDS_CLOCK_START and ROUNDS_CLOCK_ORIGIN"),
        ({"ROUNDS_CLOCK_START": "2026-12-01T00:00:00"}, "must carry its offset"),
        ({"ROUNDS_CLOCK_START": "tomorrow"}, "ISO 8601"),
        ({"ROUNDS_CLOCK_RATE": "0"}, "above 0"),
    ],
)
def test_a_half_configured_scaled_clock_says_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({**REPLAY, **changes}, dotenv=False)


def test_the_clock_process_ticks_once_per_simulated_minute(redis_url):
    connection = Redis.from_url(redis_url)
    try:
        scaled = build_scheduler(connection, ScaledClock(START, 120, ORIGIN, FixedClock(ORIGIN)))
        normal = build_scheduler(connection)
        tick = {job.name: job for job in scaled.get_jobs()}["rounds.tick"]
        assert tick.interval == pytest.approx(0.5) and tick.cron is None
        assert {job.name: job for job in normal.get_jobs()}["rounds.tick"].cron == "* * * * *"
    finally:
        connection.close()
