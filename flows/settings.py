"""What a student can change by text at any time: `TIME`, `TZ`, `PAUSE [days]`, `RESUME`, `LANG`.

Each confirms in one segment, and any change that moves the daily push reschedules it (START
does too, in the engine's opt-in).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from flows import onboarding
from flows.engine import Command, Context, Outcome, reply
from flows.schedule import local_date, local_now, parse_daily_time, reschedule
from flows.zones import match_zone, ranked_zones
from store.models import ACTIVE, PAUSED, Person

MAX_PAUSE_DAYS = 365
# Language names students may type instead of the code.
LANGUAGE_WORDS = {
    **dict.fromkeys(["english", "anglais", "ingles", "eng"], "en"),
    **dict.fromkeys(["french", "francais", "frances", "fra", "fre"], "fr"),
    **dict.fromkeys(["spanish", "espanol", "espagnol", "castellano", "spa", "esp"], "es"),
}
_PAUSE = re.compile(r"(\d{1,4})\s*(?:d|days?|jours?|j|dias?)?")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return re.sub(r"\s+", " ", text).strip(" .!")


def _zone_label(person: Person) -> str:
    return person.timezone or "UTC"


def set_time(ctx: Context, person: Person, command: Command) -> Outcome:
    if onboarding.current_step(person) == onboarding.TIME and command.rest:
        return onboarding.take_time(ctx, person, command.rest)
    daily_time = parse_daily_time(command.rest)
    if daily_time is None:
        return reply(ctx.say(person, "time_help"))
    person.daily_time = daily_time
    reschedule(person, ctx.now)
    return reply(ctx.say(person, "time_set", time=daily_time, zone=_zone_label(person)))


def set_zone(ctx: Context, person: Person, command: Command) -> Outcome:
    if onboarding.current_step(person) == onboarding.ZONE and command.rest:
        return onboarding.take_zone(ctx, person, command.rest)
    zone = match_zone(command.rest, ranked_zones(person.phone)) if command.rest else None
    if zone is None:
        return reply(ctx.say(person, "tz_help"))
    person.timezone = zone
    reschedule(person, ctx.now)
    return reply(ctx.say(person, "tz_set", zone=zone, now=local_now(person, ctx.now).strftime("%H:%M")))


def pause(ctx: Context, person: Person, command: Command) -> Outcome:
    wanted = _fold(command.rest)
    match = _PAUSE.fullmatch(wanted) if wanted else None
    if wanted and (match is None or int(match[1]) < 1):
        return reply(ctx.say(person, "pause_help"))
    person.status = PAUSED
    if match is None:
        person.paused_until = None
        person.next_push_at = None
        return reply(ctx.say(person, "paused"))
    days = min(int(match[1]), MAX_PAUSE_DAYS)
    person.paused_until = ctx.now + timedelta(days=days)
    reschedule(person, ctx.now)
    # The day questions start again is what the student plans around.
    until = local_date(person, person.next_push_at or person.paused_until)
    return reply(ctx.say(person, "paused_days", days=days, until=until.isoformat()))


def resume(ctx: Context, person: Person, command: Command) -> Outcome:
    was_paused = person.status == PAUSED
    person.status = ACTIVE
    person.paused_until = None
    reschedule(person, ctx.now)
    if not onboarding.is_onboarded(person):
        return reply(ctx.say(person, "resumed_plain"))
    key = "resumed" if was_paused else "not_paused"
    return reply(ctx.say(person, key, time=person.daily_time, zone=_zone_label(person)))


def language_code(text: str, available: list[str]) -> str | None:
    """`fr`, `FR.`, `fr-CA`, `francais`, `French` -> `fr` when the catalog has it."""
    word = _fold(text).split(" ")[0] if _fold(text) else ""
    code = LANGUAGE_WORDS.get(word) or re.split(r"[-_]", word)[0]
    return code if code in available else None


def set_language(ctx: Context, person: Person, command: Command) -> Outcome:
    code = language_code(command.rest, ctx.catalog.languages)
    if code is None:
        return reply(ctx.say(person, "lang_help", languages=", ".join(ctx.catalog.languages)))
    person.language = code
    if onboarding.in_progress(person):
        # Ask the pending onboarding question again, now in the new language.
        return reply(ctx.say(person, "lang_set"), onboarding.prompt(ctx, person))
    return reply(ctx.say(person, "lang_set"))
