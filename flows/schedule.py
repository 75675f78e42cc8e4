"""When a person's daily question is due: the next push instant in UTC, quiet hours, local dates,
and the earlier instant that keeps a WhatsApp push inside the free 24 h window.

Pure functions over a person's time zone and chosen `HH:MM`; a local time that a DST change
skips moves forward, one it repeats is taken at its first occurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from store.models import ACTIVE, PAUSED, WHATSAPP, Person
from store.settings import Settings

DEFAULT_DAILY_TIME = "08:00"
DEFAULT_CLOCK = time.fromisoformat(DEFAULT_DAILY_TIME)
# A push the scheduling pass sends a little late still counts as the student's chosen time.
CHOSEN_TIME_GRACE = timedelta(hours=1)

# WhatsApp allows free-form messages (not charged as templates) within 24 h of the person's last one.
WHATSAPP_WINDOW = timedelta(hours=24)
# A WhatsApp push goes at most this much before the chosen time to land inside the open window...
WINDOW_LEAD = timedelta(hours=1)
# ... aiming this long before the window closes (the pass runs each minute, the send queues) ...
WINDOW_MARGIN = timedelta(minutes=10)
# ... and never closer to the close than this.
WINDOW_MIN_MARGIN = timedelta(minutes=5)

_UTC_ZONE = ZoneInfo("UTC")
_CLOCK = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?(am|pm|h)?")
_FOUR_DIGITS = re.compile(r"(\d{2})(\d{2})(am|pm|h)?")


def zone_for(person: Person) -> ZoneInfo:
    """The person's zone; UTC while none is set (or a stored name no longer exists)."""
    return zone_named(person.timezone)


def zone_named(name: str | None) -> ZoneInfo:
    """The zone of that name; UTC for none (or a name that no longer exists)."""
    return _zone(name) if name else _UTC_ZONE


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    # ZoneInfo's own cache keeps only a few zones alive; a pass over 300 zones re-read the files.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC_ZONE


def parse_clock(text: str) -> time | None:
    """`HH:MM` (stored form) or None."""
    match = re.fullmatch(r"(\d{2}):(\d{2})", text or "")
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return time(int(match[1]), int(match[2]))


def parse_daily_time(text: str) -> str | None:
    """`19:00`, `7pm`, `7:30 am`, `7.30pm`, `19h`, `19h30`, `0730`, `OK` (08:00) -> `HH:MM`, else None."""
    cleaned = (text or "").strip().lower()[:20].replace("a.m", "am").replace("p.m", "pm")
    cleaned = re.sub(r"\s+", "", cleaned).rstrip(".")
    if cleaned in ("ok", "okay"):
        return DEFAULT_DAILY_TIME
    match = _CLOCK.fullmatch(cleaned) or _FOUR_DIGITS.fullmatch(cleaned)
    if not match:
        return None
    hour, minute, suffix = int(match[1]), int(match[2] or 0), match[3]
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def local_date(person: Person, at: datetime) -> date:
    """The calendar date in the person's zone at instant `at`."""
    return at.astimezone(zone_for(person)).date()


def local_now(person: Person, at: datetime) -> datetime:
    return at.astimezone(zone_for(person))


def end_of_local_day(person: Person, at: datetime) -> datetime:
    """The UTC instant the person's local date at `at` ends (their next local midnight)."""
    zone = zone_for(person)
    tomorrow = at.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


def push_instant(person: Person, day: date) -> datetime:
    """The UTC instant of the person's daily time on local date `day`.

    fold=0 makes zoneinfo read a skipped time with the offset before the change (so
    02:30 on a spring-forward night lands at 03:30) and a repeated one as its first pass.
    """
    clock = parse_clock(person.daily_time or "") or DEFAULT_CLOCK
    local = datetime.combine(day, clock, tzinfo=zone_for(person)).replace(fold=0)
    return local.astimezone(UTC)


def _schedulable(person: Person) -> bool:
    """Onboarded, with a time, and not opted out or paused without an end."""
    if not person.daily_time or (person.flow or "").startswith("onboarding"):
        return False
    if person.status == ACTIVE:
        return True
    return person.status == PAUSED and person.paused_until is not None


def next_push_at(person: Person, after: datetime) -> datetime | None:
    """The first daily push strictly after `after` (and after any pause), or None if none is due."""
    if not _schedulable(person):
        return None
    start = after
    if person.status == PAUSED and person.paused_until is not None:
        start = max(after, person.paused_until)
    day = local_date(person, start)
    for offset in range(3):
        instant = push_instant(person, day + timedelta(days=offset))
        if instant > start:
            return instant
    return None  # unreachable: one of three consecutive days is always later


def reschedule(person: Person, now: datetime) -> None:
    """Set `next_push_at` after a change of time, zone, pause or subscription, and after the
    scheduling pass handled the push due at `now` (the next one is strictly later; when a late
    push was held back for quiet hours, today's own time may still be ahead and is kept)."""
    person.next_push_at = next_push_at(person, now)


def is_quiet_time(clock: time, settings: Settings) -> bool:
    """The one quiet-hours rule: whether a local clock time lies in the quiet window.

    The window runs from ROUNDS_QUIET_START up to ROUNDS_QUIET_END (21:00-07:00 by default, across
    midnight); equal or unreadable ends mean there are no quiet hours.
    """
    start, end = parse_clock(settings.quiet_start), parse_clock(settings.quiet_end)
    if start is None or end is None or start == end:
        return False
    return (start <= clock or clock < end) if start > end else (start <= clock < end)


def quiet_at(at: datetime, zone: ZoneInfo, settings: Settings) -> bool:
    """Whether instant `at` is in quiet hours on the clocks of `zone` (daylight saving included)."""
    return is_quiet_time(at.astimezone(zone).time(), settings)


def in_quiet_hours(person: Person, at: datetime, settings: Settings) -> bool:
    """True inside the quiet window (default 21:00-07:00 local), except at the person's own time."""
    quiet = quiet_at(at, zone_for(person), settings)
    if not quiet or not person.daily_time:
        return quiet
    # The student chose this time themselves, so a push at (or just after) it is welcome.
    today = local_date(person, at)
    for day in (today, today - timedelta(days=1)):
        chosen = push_instant(person, day)
        if chosen <= at < chosen + CHOSEN_TIME_GRACE:
            return False
    return True


def within_whatsapp_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Free-form WhatsApp is allowed only within 24 h of the person's last message to us."""
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_WINDOW


def window_push_at(person: Person, chosen: datetime, settings: Settings) -> datetime | None:
    """The earlier instant a WhatsApp person's push due at `chosen` goes at, so that it is sent
    inside their open 24 h window; None when it simply goes at `chosen`.

    Only when the window (last inbound + 24 h) closes before `chosen` but no more than WINDOW_LEAD
    before it: then WINDOW_MARGIN before the close, never before `chosen - WINDOW_LEAD`, never on
    another local date than `chosen`'s, never inside quiet hours (on the person's own clocks).
    """
    if person.channel != WHATSAPP or person.last_inbound_at is None or person.status != ACTIVE:
        return None
    if person.prefers_sms or person.whatsapp_blocked:
        return None  # their pushes go by SMS (flows/channels.py): no window to catch
    closes = person.last_inbound_at + WHATSAPP_WINDOW
    if closes >= chosen:
        return None  # still open at the chosen time: nothing to gain
    early = max(chosen - WINDOW_LEAD, closes - WINDOW_MARGIN)
    if closes - early < WINDOW_MIN_MARGIN:
        return None  # closes too soon after the earliest allowed instant
    zone = zone_for(person)
    if early.astimezone(zone).date() != chosen.astimezone(zone).date():
        return None  # the push belongs to the chosen time's local date (one a day)
    if quiet_at(early, zone, settings):
        return None
    return early


def early_push_due(person: Person, at: datetime, settings: Settings) -> bool:
    """Whether the pass at `at` sends the person's next push ahead of its time, inside their window."""
    chosen, last_inbound = person.next_push_at, person.last_inbound_at
    if chosen is None or chosen <= at or last_inbound is None:
        return False  # not scheduled, due anyway, or no window
    early = window_push_at(person, chosen, settings)
    if early is None or at < early or quiet_at(at, zone_for(person), settings):
        return False
    return at < last_inbound + WHATSAPP_WINDOW - WINDOW_MIN_MARGIN
