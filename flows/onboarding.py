"""Onboarding, in the contract's order: name, exam track (a numbered menu), daily time, and the
time zone from the number's country code (asked only when that country has several).

The step lives in `person.flow` (`onboarding:name` ... `onboarding:zone`).
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz, process

from content.segments import GSM7_BASIC, fold_for_sms, normalise
from flows.engine import Command, Context, Outcome, reply
from flows.schedule import parse_daily_time, reschedule
from flows.zones import city, examples, match_zone, ranked_zones
from store.models import STUDENT, WHATSAPP, Person

FLOW = "onboarding"
NAME, TRACK, TIME, ZONE = "name", "track", "time", "zone"
# The catalog's menu lists the tracks in this order, numbered from 1.
TRACKS = ("step1", "step2ck", "plab1", "general")
TRACK_NAMES = {"step1": "USMLE Step 1", "step2ck": "USMLE Step 2 CK", "plab1": "PLAB 1", "general": "General"}
# What students type for a track, squeezed to letters and digits.
_TRACK_WORDS = {
    **{str(i): key for i, key in enumerate(TRACKS, 1)},
    **{re.sub(r"[^a-z0-9]", "", name.lower()): key for key, name in TRACK_NAMES.items()},
    **dict.fromkeys(["step1", "usmle1", "s1", "usmlestepone", "stepone"], "step1"),
    **dict.fromkeys(["step2", "step2ck", "usmle2", "usmle2ck", "usmlestep2", "ck", "2ck", "s2"], "step2ck"),
    **dict.fromkeys(["plab", "plab1", "plabone", "plab2"], "plab1"),
    **dict.fromkeys(["general", "gen", "generalmedicine", "other", "none", "generale"], "general"),
}
_YES = frozenset({"ok", "okay", "k", "yes", "y", "oui", "si", "vale", "d'accord", "daccord"})
_NAME_LEAD = re.compile(
    r"^(my name is|my name's|name is|name|i am|i'm|it's|this is|je m'appelle|je suis|moi c'est|"
    r"me llamo|mi nombre es|soy)\b[\s:,.-]*",
    re.IGNORECASE,
)
# How the welcome names the channel a newcomer wrote on ("one question a day by WhatsApp").
CHANNEL_NAMES = {WHATSAPP: "WhatsApp"}
# After this many replies we cannot place, the usual zone is taken (TZ changes it any time).
ZONE_TRIES = 3


def in_progress(person: Person) -> bool:
    return (person.flow or "").split(":", 1)[0] == FLOW


def is_onboarded(person: Person) -> bool:
    return bool(person.track and person.daily_time) and not in_progress(person)


def current_step(person: Person) -> str | None:
    flow = person.flow or ""
    return flow.split(":", 1)[1] if in_progress(person) and ":" in flow else None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9' ]+", " ", text).strip()


def parse_track(text: str) -> str | None:
    """`1`-`4`, `step 1`, `usmle step 2 ck`, `plab`, `general` (and near spellings) -> track key."""
    squeezed = re.sub(r"[^a-z0-9]", "", _fold(text[:40]))
    if squeezed in _TRACK_WORDS:
        return _TRACK_WORDS[squeezed]
    if len(squeezed) >= 4:
        found = process.extractOne(squeezed, list(_TRACK_WORDS), scorer=fuzz.ratio, score_cutoff=75)
        if found:
            return _TRACK_WORDS[found[0]]
    return None


def clean_name(text: str) -> str | None:
    """The name as given, without control characters, lead-ins (`my name is`) or extra length."""
    printable = "".join(c for c in text[:200] if not unicodedata.category(c).startswith("C"))
    name = _NAME_LEAD.sub("", re.sub(r"\s+", " ", printable).strip()).strip(" .,!")
    if name.islower():
        name = name.title()
    return name[:60].strip() or None


def display_name(ctx: Context, person: Person) -> str:
    """The name as it can go in a GSM-7 text (at most 20 characters), else a friendly stand-in."""
    # Letters GSM-7 lacks lose their accent (Jérôme -> Jérome) rather than the whole letter.
    folded = fold_for_sms(normalise(person.name or ""))
    plain = "".join(c for c in folded if c in GSM7_BASIC and c not in "\r\n")
    plain = re.sub(r"\s+", " ", plain).strip()[:20].strip()
    return plain if any(c.isalpha() for c in plain) else ctx.say(person, "default_name")


def _go(person: Person, step: str) -> None:
    person.flow = f"{FLOW}:{step}"


def start(ctx: Context, person: Person) -> Outcome:
    """Begin (or begin again) at the name step; no pushes until it is finished."""
    _go(person, NAME)
    person.flow_state = {}
    person.next_push_at = None
    return reply(ctx.say(person, "welcome", channel=CHANNEL_NAMES.get(person.channel or "", "SMS")))


def _zone_prompt(ctx: Context, person: Person, retry: bool = False) -> str:
    zones = ranked_zones(person.phone)
    if not zones:
        return ctx.say(person, "onboarding_zone_any")
    key = "onboarding_zone_retry" if retry else "onboarding_zone"
    return ctx.say(person, key, examples=", ".join(examples(zones)), default=city(zones[0]))


def prompt(ctx: Context, person: Person) -> str:
    """The current step's question again, for a text that did not belong to onboarding."""
    step = current_step(person)
    if step == TRACK:
        return ctx.say(person, "onboarding_track_retry")
    if step == TIME:
        return ctx.say(person, "onboarding_time")
    if step == ZONE:
        return _zone_prompt(ctx, person)
    return ctx.say(person, "onboarding_name_again")


def _finish(ctx: Context, person: Person) -> Outcome:
    person.flow = None
    person.flow_state = {}
    reschedule(person, ctx.now)
    zone = person.timezone or "UTC"
    return reply(ctx.say(person, "onboarding_done", time=person.daily_time, zone=zone))


def _after_time(ctx: Context, person: Person) -> Outcome:
    zones = ranked_zones(person.phone)
    if len(zones) == 1:
        person.timezone = zones[0]
    if person.timezone:
        return _finish(ctx, person)
    _go(person, ZONE)
    return reply(_zone_prompt(ctx, person))


def take_name(ctx: Context, person: Person, text: str) -> Outcome:
    person.name = clean_name(text)
    _go(person, TRACK)
    return reply(ctx.say(person, "onboarding_track", name=display_name(ctx, person)))


def take_track(ctx: Context, person: Person, text: str) -> Outcome:
    track = parse_track(text)
    if track is None:
        return reply(ctx.say(person, "onboarding_track_retry"))
    person.track = track
    _go(person, TIME)
    return reply(ctx.say(person, "onboarding_time"))


def take_time(ctx: Context, person: Person, text: str) -> Outcome:
    daily_time = parse_daily_time(text)
    if daily_time is None:
        return reply(ctx.say(person, "onboarding_time_retry"))
    person.daily_time = daily_time
    return _after_time(ctx, person)


def take_zone(ctx: Context, person: Person, text: str) -> Outcome:
    zones = ranked_zones(person.phone)
    zone: str | None
    if _fold(text) in _YES:
        zone = zones[0] if zones else "UTC"
    else:
        zone = match_zone(text, zones)
    if zone is None:
        tries = int((person.flow_state or {}).get("zone_tries", 0)) + 1
        if tries < ZONE_TRIES:
            person.flow_state = {**(person.flow_state or {}), "zone_tries": tries}
            return reply(_zone_prompt(ctx, person, retry=True))
        zone = zones[0] if zones else "UTC"
    person.timezone = zone
    return _finish(ctx, person)


def continue_onboarding(ctx: Context, person: Person, command: Command) -> Outcome:
    """The open onboarding flow takes the text as the answer to its current step."""
    step = current_step(person)
    if step == NAME:
        return take_name(ctx, person, command.raw)
    if step == TRACK:
        return take_track(ctx, person, command.raw)
    if step == TIME:
        return take_time(ctx, person, command.raw)
    if step == ZONE:
        return take_zone(ctx, person, command.raw)
    return start(ctx, person)  # a step this code no longer knows: begin again


def first_contact(ctx: Context, person: Person, command: Command) -> Outcome:
    return start(ctx, person)


def join(ctx: Context, person: Person, command: Command) -> Outcome:
    if is_onboarded(person):
        return reply(ctx.say(person, "already_joined"))
    return start(ctx, person)


def not_yet_onboarded(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """A student who never finished (say their first text was HELP) is walked through it now."""
    if person.role in (None, STUDENT) and not person.flow and not is_onboarded(person):
        return start(ctx, person)
    return None
