"""The daily push instant across DST changes, quiet hours, and local dates (pure, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from flows.schedule import (
    in_quiet_hours,
    is_quiet_time,
    local_date,
    next_push_at,
    push_instant,
    quiet_at,
    reschedule,
)
from store.models import Person
from store.settings import Settings


def student(zone: str, daily_time: str, **fields) -> Person:
    return Person(phone="+10000000000", timezone=zone, daily_time=daily_time, status="active", **fields)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "daily_time", "day", "expected"),
    [
        # New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist, so 03:30 EDT.
        ("America/New_York", "02:30", date(2026, 3, 8), utc(2026, 3, 8, 7, 30)),
        # ... and falls back at 02:00 on 1 November: 01:30 happens twice; the first is EDT.
        ("America/New_York", "01:30", date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
        # An ordinary time either side of the change keeps its local hour.
        ("America/New_York", "08:00", date(2026, 3, 7), utc(2026, 3, 7, 13, 0)),
        ("America/New_York", "08:00", date(2026, 3, 8), utc(2026, 3, 8, 12, 0)),
        ("America/New_York", "08:00", date(2026, 11, 1), utc(2026, 11, 1, 13, 0)),
        # London: 01:30 on 29 March 2026 does not exist (02:30 BST); on 25 October it is BST first.
        ("Europe/London", "01:30", date(2026, 3, 29), utc(2026, 3, 29, 1, 30)),
        ("Europe/London", "01:30", date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        ("Europe/London", "07:00", date(2026, 3, 28), utc(2026, 3, 28, 7, 0)),
        ("Europe/London", "07:00", date(2026, 3, 29), utc(2026, 3, 29, 6, 0)),
    ],
)
def test_push_instant_across_dst(zone, daily_time, day, expected):
    assert push_instant(student(zone, daily_time), day) == expected


def test_next_push_walks_over_the_spring_forward_night():
    person = student("America/New_York", "08:00")
    first = next_push_at(person, utc(2026, 3, 7, 12, 0))
    assert first == utc(2026, 3, 7, 13, 0)
    reschedule(person, first)
    assert person.next_push_at == utc(2026, 3, 8, 12, 0)  # still 08:00 local, now EDT
    reschedule(person, person.next_push_at)
    assert person.next_push_at == utc(2026, 3, 9, 12, 0)


def test_next_push_walks_over_the_fall_back_night():
    person = student("America/New_York", "01:30")
    first = next_push_at(person, utc(2026, 10, 31, 12, 0))
    assert first == utc(2026, 11, 1, 5, 30)
    reschedule(person, first)
    # Once, not again at the repeated 01:30: the next is 2 November, 01:30 EST.
    assert person.next_push_at == utc(2026, 11, 2, 6, 30)


def test_next_push_is_strictly_after_now():
    person = student("Africa/Lagos", "08:00")
    assert next_push_at(person, utc(2026, 11, 26, 6, 59)) == utc(2026, 11, 26, 7, 0)
    assert next_push_at(person, utc(2026, 11, 26, 7, 0)) == utc(2026, 11, 27, 7, 0)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "opted_out"},
        {"status": "paused"},
        {"flow": "onboarding:zone"},
        {"daily_time": None},
    ],
)
def test_no_push_while_not_eligible(fields):
    person = student("Africa/Lagos", "08:00")
    for name, value in fields.items():
        setattr(person, name, value)
    assert next_push_at(person, utc(2026, 11, 26, 6, 0)) is None


def test_a_timed_pause_pushes_again_after_it_ends():
    person = student("Africa/Lagos", "08:00", paused_until=utc(2026, 12, 3, 9, 0))
    person.status = "paused"
    assert next_push_at(person, utc(2026, 11, 26, 9, 0)) == utc(2026, 12, 4, 7, 0)


def test_no_zone_means_utc():
    person = student(None, "08:00")
    assert next_push_at(person, utc(2026, 11, 26, 9, 0)) == utc(2026, 11, 27, 8, 0)


def test_local_date_of_an_instant():
    assert local_date(student("Pacific/Auckland", "08:00"), utc(2026, 11, 26, 12, 0)) == date(2026, 11, 27)
    assert local_date(student("America/Los_Angeles", "08:00"), utc(2026, 11, 26, 3, 0)) == date(2026, 11, 25)


@pytest.mark.parametrize(
    ("daily_time", "local", "quiet"),
    [
        ("08:00", (12, 0), False),
        ("08:00", (21, 0), True),
        ("08:00", (23, 30), True),
        ("08:00", (3, 0), True),
        ("08:00", (6, 59), True),
        ("08:00", (7, 0), False),
        # The student's own time is welcome even inside quiet hours, and a little after it.
        ("22:00", (22, 0), False),
        ("22:00", (22, 30), False),
        ("22:00", (23, 30), True),
        ("23:30", (0, 10), False),
        ("05:30", (5, 30), False),
        ("05:30", (5, 0), True),
    ],
)
def test_quiet_hours_default_21_to_07(daily_time, local, quiet):
    person = student("Europe/London", daily_time)
    # 26 November: London is on GMT, so local time is UTC.
    day = 27 if daily_time == "23:30" else 26
    assert in_quiet_hours(person, utc(2026, 11, day, *local), Settings()) is quiet


def test_quiet_hours_are_configurable_and_follow_dst():
    person = student("America/New_York", "08:00")
    settings = Settings(quiet_start="22:00", quiet_end="06:00")
    # 21:30 EDT on 31 October is 01:30 UTC; 21:30 EST on 2 November is 02:30 UTC.
    assert not in_quiet_hours(person, utc(2026, 11, 1, 1, 30), settings)
    assert not in_quiet_hours(person, utc(2026, 11, 3, 2, 30), settings)
    assert in_quiet_hours(person, utc(2026, 11, 3, 3, 30), settings)
    assert not in_quiet_hours(
        person, utc(2026, 11, 3, 3, 30), Settings(quiet_start="00:00", quiet_end="00:00")
    )


def test_advancing_after_a_held_late_push_keeps_todays_own_time():
    person = student("Africa/Lagos", "22:30")
    # Yesterday's push was found only at 22:00 today (and held for quiet hours): today's 22:30 is next.
    reschedule(person, utc(2026, 11, 26, 21, 0))
    assert person.next_push_at == utc(2026, 11, 26, 21, 30)
    assert not in_quiet_hours(person, person.next_push_at, Settings())


# The one quiet-hours rule, used by the daily question, the check-ins and broadcasts.
@pytest.mark.parametrize(
    ("start", "end", "zone", "at", "quiet"),
    [
        # Across midnight (the default 21:00-07:00): the start is in, the end is out.
        ("21:00", "07:00", "Africa/Lagos", utc(2026, 11, 26, 19, 59), False),  # 20:59 local
        ("21:00", "07:00", "Africa/Lagos", utc(2026, 11, 26, 20, 0), True),  # 21:00
        ("21:00", "07:00", "Africa/Lagos", utc(2026, 11, 26, 23, 30), True),  # 00:30 the next day
        ("21:00", "07:00", "Africa/Lagos", utc(2026, 11, 27, 5, 59), True),  # 06:59
        ("21:00", "07:00", "Africa/Lagos", utc(2026, 11, 27, 6, 0), False),  # 07:00
        # Within one day: 13:00-15:00.
        ("13:00", "15:00", "UTC", utc(2026, 11, 26, 12, 59), False),
        ("13:00", "15:00", "UTC", utc(2026, 11, 26, 14, 0), True),
        ("13:00", "15:00", "UTC", utc(2026, 11, 26, 15, 0), False),
        # The same instant, 11:30 UTC, on New York's clocks either side of the spring change.
        ("21:00", "07:00", "America/New_York", utc(2026, 3, 7, 11, 30), True),  # 06:30 EST
        ("21:00", "07:00", "America/New_York", utc(2026, 3, 8, 11, 30), False),  # 07:30 EDT
        # ... and of the autumn one.
        ("21:00", "07:00", "America/New_York", utc(2026, 10, 31, 11, 30), False),  # 07:30 EDT
        ("21:00", "07:00", "America/New_York", utc(2026, 11, 1, 11, 30), True),  # 06:30 EST
        # London's repeated hour, 01:30 twice on 25 October, is quiet both times.
        ("01:00", "02:00", "Europe/London", utc(2026, 10, 25, 0, 30), True),  # 01:30 BST
        ("01:00", "02:00", "Europe/London", utc(2026, 10, 25, 1, 30), True),  # 01:30 GMT
        # Equal or unreadable ends mean no quiet hours at all.
        ("00:00", "00:00", "UTC", utc(2026, 11, 26, 3, 0), False),
        ("9pm", "07:00", "UTC", utc(2026, 11, 26, 22, 0), False),
    ],
)
def test_the_quiet_hours_rule(start, end, zone, at, quiet):
    settings = Settings(quiet_start=start, quiet_end=end)
    assert quiet_at(at, ZoneInfo(zone), settings) is quiet
    assert is_quiet_time(at.astimezone(ZoneInfo(zone)).time(), settings) is quiet


def test_opting_out_clears_the_schedule_until_start():
    person = student("Africa/Lagos", "09:00", next_push_at=utc(2026, 11, 27, 8, 0))
    person.opt_out()
    assert person.status == "opted_out" and person.next_push_at is None
    assert next_push_at(person, utc(2026, 11, 27, 7, 0)) is None
