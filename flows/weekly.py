"""`WEEKLY ON`/`WEEKLY OFF`, and the weekly progress message: once a week, on
ROUNDS_PROGRESS_WEEKDAY at the student's daily time, a student who answered anything that ISO week
gets answers and accuracy against last week, the streak, strongest and weakest topic, the program
day when enrolled, and their place in their track as a rounded top percentage.

The scheduling pass plans it for everyone due at their daily time at once, with the daily
question's rules (opt-out, pause, quiet hours); the figures come set-wise from `store.weekly`.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import cast

from content.catalog import Catalog
from content.segments import fits, for_channel, truncate_to
from flows.engine import Command, Context, Outcome, reply
from flows.onboarding import TRACK_NAMES, in_progress
from flows.opportunities import may_push
from flows.resources import topic_name
from flows.schedule import local_date
from store.models import PAUSED, STUDENT, Person
from store.weekly import WeekFigures, Weekly, program_day_labels

# Message.kind of the weekly message.
KIND = "weekly"
MAX_SEGMENTS = 2
# A track's place is shown only among this many students who answered that week, or more.
MIN_GROUP = 10
# A place is rounded up to one of these; below the top half nothing is said.
TOP_STEPS = (1, 5, 10, 20, 30, 40, 50)


# --- the texts ----------------------------------------------------------------------------------


def weekday_name(ctx: Context, person: Person) -> str:
    names = ctx.say(person, "weekly_weekdays").split()
    day = ctx.settings.progress_weekday
    return names[day] if len(names) == 7 else str(day)


def weekly(ctx: Context, person: Person, command: Command) -> Outcome:
    """`WEEKLY ON`, `WEEKLY OFF`; anything else says what to text."""
    word = command.rest.strip().upper()
    if word == "OFF":
        Weekly(ctx.session).switch(person.id, False, ctx.now)
        return reply(ctx.say(person, "weekly_off"))
    if word == "ON":
        Weekly(ctx.session).switch(person.id, True, ctx.now)
        time = person.daily_time or "08:00"
        return reply(ctx.say(person, "weekly_on", weekday=weekday_name(ctx, person), time=time))
    return reply(ctx.say(person, "weekly_help", weekday=weekday_name(ctx, person)))


# --- places -------------------------------------------------------------------------------------


def top_percent(better: int, group: int) -> int | None:
    """`better` of `group` students did better: the top share as a rounded step, or None.

    None for a group under MIN_GROUP (it would single people out) and below the top half.
    """
    if group < MIN_GROUP:
        return None
    share = 100 * (better + 1) / group
    for step in TOP_STEPS:
        if share <= step:
            return step
    return None


@dataclass
class Places:
    """One track's spread of weekly scores, read once per pass: how many did better than a score."""

    group: int
    scores: list[int]  # every student's score, ascending
    known: dict[int, int | None] = field(default_factory=dict)  # score -> place: a pass has few scores

    @classmethod
    def of(cls, spread: Counter[int]) -> Places:
        scores = sorted(spread.elements())
        return cls(len(scores), scores)

    def top(self, score: int) -> int | None:
        if score not in self.known:
            better = self.group - bisect.bisect_right(self.scores, score)
            self.known[score] = top_percent(better, self.group)
        return self.known[score]


# --- the pass's part ----------------------------------------------------------------------------


@dataclass
class Texts:
    """The weekly templates rendered for each language and channel once, not once per student."""

    catalog: Catalog
    cache: dict[tuple[str, str, str], str] = field(default_factory=dict)
    shapes: dict[tuple[str, str, bool, bool, bool, bool], tuple[str, ...]] = field(default_factory=dict)

    def template(self, key: str, language: str, channel: str) -> str:
        found = self.cache.get((key, language, channel))
        if found is None:
            # Rendering is letter by letter, so a rendered template filled with rendered values
            # reads as the filled template rendered.
            found = for_channel(self.catalog.template(key, language).strip(), channel)
            self.cache[key, language, channel] = found
        return found

    def joined(self, keys: tuple[str, ...], language: str, channel: str) -> str:
        """The templates of `keys`, rendered and joined by spaces, once."""
        name = "+".join(keys)
        found = self.cache.get((name, language, channel))
        if found is None:
            found = " ".join(self.template(key, language, channel) for key in keys)
            self.cache[name, language, channel] = found
        return found

    def variants(
        self, language: str, channel: str, last: bool, topics: bool, program: bool, place: bool
    ) -> tuple[str, ...]:
        """The message's templates joined, for the parts a student has, in the order they are tried:
        all of them, then without the optional parts in turn (`_DROPPED_IN_TURN`), each once."""
        shape = (language, channel, last, topics, program, place)
        found = self.shapes.get(shape)
        if found is None:
            keys = ["weekly_progress" if last else "weekly_progress_new", "", "", "", "weekly_footer"]
            for part, key, present in (
                (_TOPICS, "weekly_topics", topics),
                (_PROGRAM, "weekly_program", program),
                (_PLACE, "weekly_place", place),
            ):
                if present:
                    keys[part] = key
            joined = []
            for dropped in _DROPPED_IN_TURN:
                chosen = tuple(key for part, key in enumerate(keys) if key and part not in dropped)
                template = self.joined(chosen, language, channel)
                if template not in joined:
                    joined.append(template)
            found = self.shapes[shape] = tuple(joined)
        return found

    def value(self, text: str, channel: str) -> str:
        found = self.cache.get(("", text, channel))
        if found is None:
            found = self.cache["", text, channel] = for_channel(text, channel)
        return found


@dataclass(frozen=True)
class Planned:
    person: Person
    text: str
    key: str


def week_key(person_id: int, day: date) -> str:
    """The idempotency key: one weekly message per person per ISO week (of their local date)."""
    return f"weekly:{person_id}:{iso_week(day)}"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# The parts of the message in order, and which go first when it is too long: topics, then the
# program day, then the place.
_HEAD, _TOPICS, _PROGRAM, _PLACE, _FOOTER = range(5)
_DROPPED_IN_TURN = ((), (_TOPICS,), (_TOPICS, _PROGRAM), (_TOPICS, _PROGRAM, _PLACE))


def compose(
    texts: Texts,
    person: Person,
    figures: WeekFigures,
    place: int | None,
    program: str | None,
    topic: Callable[[str], str],
) -> str:
    """The message for one student, at most MAX_SEGMENTS on their channel: the optional parts go,
    topics first, then the program day and the place, until it fits.

    The parts' templates are joined once per language, channel and choice of parts (`Texts.variants`),
    so a student costs one `format` and one length check (a pass composes 100,000).
    """
    language, channel = person.language or "en", person.channel
    values: dict[str, object] = {
        "answered": figures.answered,
        "accuracy": round(100 * figures.correct / figures.answered),
        "streak": figures.streak,
    }
    last = bool(figures.last_answered)
    if last:
        values["last_answered"] = figures.last_answered
        values["last_accuracy"] = round(100 * figures.last_correct / figures.last_answered)
    topics = placed = False
    if figures.strongest and figures.weakest:
        topics = True
        values["strongest"] = texts.value(topic(figures.strongest), channel)
        values["weakest"] = texts.value(topic(figures.weakest), channel)
        values["topic_key"] = figures.weakest
    if program:
        values["program"] = texts.value(program, channel)
    if place is not None and person.track:
        placed = True
        values["top"] = place
        values["track"] = texts.value(TRACK_NAMES.get(person.track, person.track), channel)
    for template in texts.variants(language, channel, last, topics, bool(program), placed):
        text = template.format_map(values)
        if fits(text, MAX_SEGMENTS):
            return text
    head = "weekly_progress" if last else "weekly_progress_new"
    return truncate_to(texts.template(head, language, channel).format_map(values), MAX_SEGMENTS)


_PASS = "rounds.weekly_pass"


@dataclass
class WeekReading:
    """What a pass reads once for a week: the tracks' spread, the rendered templates, topic names."""

    places: dict[str, Places]
    texts: Texts
    topics: dict[str, str] = field(default_factory=dict)

    def topic(self, ctx: Context, key: str) -> str:
        if key not in self.topics:
            self.topics[key] = topic_name(ctx, key)
        return self.topics[key]


def _reading(ctx: Context, weekly: Weekly, today: date) -> WeekReading:
    held: dict[date, WeekReading] = ctx.session.info.setdefault(_PASS, {})
    reading = held.get(today)
    if reading is None:
        spread = weekly.track_scores(today)
        places = {track: Places.of(scores) for track, scores in spread.items()}
        reading = held[today] = WeekReading(places, Texts(ctx.catalog))
    return reading


# Up to this many due students are named in the figures' statements; a bigger pass selects them there.
LISTED_MOST = 2000
# Local dates run from UTC-12 to UTC+14: the weekday can only be somewhere within that of `at`.
_EARLIEST, _LATEST = timedelta(hours=-12), timedelta(hours=14)


def _weekday_somewhere(weekday: int, at: datetime) -> bool:
    return weekday in {(at + _EARLIEST).weekday(), (at + _LATEST).weekday()}


def _sendable(ctx: Context, student: Person, at: datetime, verdicts: dict[tuple, bool]) -> bool:
    """A student (not onboarding) whom the daily question's rules (`may_push`) let us text at `at`,
    worked out once per zone, daily time and status: a big pass has few of each."""
    if student.role != STUDENT or not student.daily_time or in_progress(student):
        return False
    paused = student.paused_until if student.status == PAUSED else None
    key = (student.timezone, student.daily_time, student.status, paused)
    if key not in verdicts:
        verdicts[key] = may_push(ctx, student, at)
    return verdicts[key]


def plan_weekly_progress(ctx: Context, at: datetime) -> list[Planned]:
    """The weekly messages due at `at`: for each student due at their daily time whose local weekday
    is ROUNDS_PROGRESS_WEEKDAY, who did not text WEEKLY OFF and answered something this week.

    A few statements for the whole pass, however many are due; run before the daily questions
    move the due students on, so a pass that stops half way finds them due again.
    """
    weekday = ctx.settings.progress_weekday
    if not _weekday_somewhere(weekday, at):
        return []
    weekly = Weekly(ctx.session)
    # Plain rows with a Person's columns, not mapped objects: a Sunday pass may read 100,000.
    candidates = cast(list[Person], weekly.due_students(at))
    verdicts: dict[tuple, bool] = {}
    zones: dict[str | None, date] = {}
    by_day: dict[date, list[Person]] = {}
    for student in candidates:
        if student.timezone not in zones:
            zones[student.timezone] = local_date(student, at)
        today = zones[student.timezone]
        if today.weekday() == weekday and _sendable(ctx, student, at, verdicts):
            by_day.setdefault(today, []).append(student)
    planned = []
    for today, group in by_day.items():
        reading = _reading(ctx, weekly, today)
        scope = [s.id for s in group] if len(group) <= LISTED_MOST else weekly.due_ids(at)
        figures = weekly.figures(scope, today)
        programs = program_day_labels(ctx.session, scope)
        topic = partial(reading.topic, ctx)
        texts, places, week = reading.texts, reading.places, iso_week(today)
        for student in group:
            found = figures.get(student.id)
            if found is None:
                continue  # nothing answered this week: no message
            track = places.get(student.track or "")
            place = track.top(found.correct) if track is not None else None
            text = compose(texts, student, found, place, programs.get(student.id), topic)
            planned.append(Planned(student, text, f"weekly:{student.id}:{week}"))  # week_key's
    return planned
