"""WhatsApp pushes inside the free 24 h window: students in Lagos and London (across London's
autumn clock change) get the daily question for eight weeks and answer it when they habitually
check their phone; the share of pushes sent in-window, pushed at the chosen time (before) and
with the pass's early push (after).

The pass is simulated minute by minute through the same decisions the tick takes
(flows.schedule: next_push_at, early_push_due, reschedule, within_whatsapp_window); the SQL that
narrows the pass to the few candidates is covered by tests/test_window_schedule.py.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bench import services
from bench.report import Figure, Results
from flows.schedule import (
    WINDOW_LEAD,
    early_push_due,
    next_push_at,
    parse_clock,
    reschedule,
    within_whatsapp_window,
    zone_named,
)
from store.models import Person
from store.settings import Settings

ZONES = ("Africa/Lagos", "Europe/London")
FIRST_DAY = date(2026, 10, 5)
CLOCK_CHANGE = date(2026, 10, 25)  # London falls back: that Sunday is 25 hours long
WEEKS = 8
DAILY_TIMES = ("07:30", "08:00", "12:30", "18:00", "19:00", "20:00")
# When a student habitually checks their phone, measured from their daily time, with the share of
# students of each habit: soon after the push; later that day; the next day shortly before the
# next push (answering yesterday's question); the next day earlier on.
HABITS = (
    ("within 2 h", timedelta(0), timedelta(hours=2), 0.45),
    ("2-12 h later", timedelta(hours=2), timedelta(hours=12), 0.25),
    ("next day, under 1 h before the next push", timedelta(hours=23), timedelta(hours=24), 0.15),
    ("next day, 1-10 h before the next push", timedelta(hours=14), timedelta(hours=23), 0.15),
)
JITTER_MINUTES = 15  # a check's spread around the habit (standard deviation)
SEND_DELAY = (5, 90)  # seconds from the pass to Twilio accepting the message


@dataclass
class Learner:
    zone: str
    daily_time: str
    habit: str
    offset: timedelta  # habitual check, from the daily time


@dataclass
class Tally:
    pushes: Counter[str] = field(default_factory=Counter)  # by group: all, zone, habit
    in_window: Counter[str] = field(default_factory=Counter)
    early: int = 0
    early_minutes: float = 0.0
    pushes_per_local_day: Counter[tuple[int, date]] = field(default_factory=Counter)

    def share(self, group: str = "all") -> float:
        return self.in_window[group] / self.pushes[group] * 100 if self.pushes[group] else float("nan")


def population(size: int, seed: int) -> list[Learner]:
    rng = random.Random(seed)
    learners = []
    for n in range(size):
        roll, habit = rng.random(), HABITS[-1]
        for candidate in HABITS:
            roll -= candidate[3]
            if roll < 0:
                habit = candidate
                break
        name, low, high, _ = habit
        offset = low + (high - low) * rng.random()
        learners.append(Learner(ZONES[n % len(ZONES)], rng.choice(DAILY_TIMES), name, offset))
    return learners


def checks(learner: Learner, days: int, rng: random.Random, missed: float) -> list[datetime]:
    """The instants the learner looks at their phone (and answers what is open), in UTC."""
    zone = zone_named(learner.zone)
    clock = parse_clock(learner.daily_time) or time(8)
    found = []
    for offset in range(-1, days + 1):
        if rng.random() < missed:
            continue
        local = datetime.combine(FIRST_DAY + timedelta(days=offset), clock, tzinfo=zone)
        jitter = timedelta(minutes=rng.gauss(0, JITTER_MINUTES))
        # Local wall-clock habit: the offset is added on the local clock, then read in UTC.
        found.append((local + learner.offset + jitter).astimezone(UTC))
    return sorted(found)


@dataclass
class Phone:
    """A student's phone: the checks still to come and the question waiting for an answer."""

    person: Person
    checks: list[datetime]
    opened: datetime | None = None  # when the unanswered question arrived

    def look(self, until: datetime) -> None:
        """Every check up to `until`: each answers the question waiting, if one arrived before it."""
        while self.checks and self.checks[0] <= until:
            check = self.checks.pop(0)
            if self.opened is not None and self.opened <= check:
                self.person.last_inbound_at, self.opened = check, None


def simulate(learners: list[Learner], early: bool, seed: int, missed: float = 0.0) -> Tally:
    settings = Settings()  # quiet hours 21:00-07:00
    rng = random.Random(seed)
    start = datetime.combine(FIRST_DAY, time(), tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=WEEKS * 7 + 1)
    tally = Tally()
    for number, learner in enumerate(learners):
        person = Person(
            phone=f"+2340000{number:05d}",
            channel="whatsapp",
            timezone=learner.zone,
            daily_time=learner.daily_time,
            status="active",
            flow=None,
            last_inbound_at=start,  # joined then
        )
        reschedule(person, start)
        phone = Phone(person, checks(learner, WEEKS * 7, rng, missed))
        while person.next_push_at is not None and person.next_push_at < end:
            chosen = person.next_push_at
            at = chosen
            if early:
                tick = chosen - WINDOW_LEAD
                while tick < chosen:
                    phone.look(tick)
                    if early_push_due(person, tick, settings):
                        at = tick
                        break
                    tick += timedelta(minutes=1)
            phone.look(at)
            sent = at + timedelta(seconds=rng.uniform(*SEND_DELAY))
            free = within_whatsapp_window(person.last_inbound_at, sent)
            if at >= start + timedelta(days=1):
                local_day = chosen.astimezone(zone_named(learner.zone)).date()
                groups = ["all", learner.zone, learner.habit]
                if local_day == CLOCK_CHANGE:
                    groups.append(f"{learner.zone} on {local_day}")
                for group in groups:
                    tally.pushes[group] += 1
                    tally.in_window[group] += free
                if at < chosen:
                    tally.early += 1
                    tally.early_minutes += (chosen - at).total_seconds() / 60
                tally.pushes_per_local_day[number, local_day] += 1
            if phone.opened is None:  # an unanswered question stays the one answered next
                phone.opened = sent
            person.next_push_at = next_push_at(person, chosen)
        phone.look(end)
    return tally


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    size = 300 if quick else 1000
    learners = population(size, seed=16)
    for missed, label in ((0.0, "answers every day"), (0.1, "misses 1 day in 10")):
        before = simulate(learners, early=False, seed=5, missed=missed)
        after = simulate(learners, early=True, seed=5, missed=missed)
        case = f"{size} WhatsApp students, {WEEKS} weeks, {label}"
        base = results.add(
            Figure("window", f"{case}: pushed at the chosen time", "in-window", [before.share()], "%")
        )
        results.add(
            Figure(
                "window",
                f"{case}: up to an hour early inside the window",
                "in-window",
                [after.share()],
                "%",
                target=">= 80%",
                met=after.share() >= 80,
            ).compare(base, "at the chosen time")
        )
        for group in (*ZONES, *(f"{zone} on {CLOCK_CHANGE}" for zone in ZONES), *(h[0] for h in HABITS)):
            results.note(
                "window",
                f"{label}, {group}: {before.share(group):.1f} % in-window before, {after.share(group):.1f} % "
                f"after ({after.pushes[group]:,} pushes)",
            )
        twice = sum(1 for n in after.pushes_per_local_day.values() if n > 1)
        results.note(
            "window",
            f"{label}: {after.early:,} of {after.pushes['all']:,} pushes went early, "
            f"{after.early_minutes / max(after.early, 1):.0f} min on average; local days with two pushes: "
            f"{twice}",
        )
    results.note(
        "window",
        "zones Africa/Lagos and Europe/London alternately, from "
        f"{FIRST_DAY.isoformat()} for {WEEKS} weeks (London falls back on 2026-10-25); daily times "
        f"{', '.join(DAILY_TIMES)}; quiet hours 21:00-07:00; a check's time is the habit's local clock "
        f"time with {JITTER_MINUTES} min of spread; the send leaves {SEND_DELAY[0]}-{SEND_DELAY[1]} s "
        "after the pass; the students' habits, as shares: "
        + ", ".join(f"{name} {share:.0%}" for name, _, _, share in HABITS),
    )
