"""`OPP`: opportunities a student is eligible for (country and track), a page at a time; `OPP <n>`
for details; `OPP SAVE <n>` for a reminder a week before the deadline; `OPP ON`/`OPP OFF` for the
weekly digest. Also what the scheduling pass decides for the digest and the reminders, and the
rules every way of adding an opportunity (CLI, API, console) checks.

The numbers a student sees (`1)`, `2)`...) index the list last shown to them (by `OPP` or by a
digest), kept in `flow_state["opp"]`, so `OPP 2` means the same thing the text said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import phonenumbers

from content.segments import for_channel, segment_count, truncate_to
from flows.engine import Command, Context, Outcome, reply
from flows.links import opportunity_url
from flows.onboarding import TRACKS
from flows.schedule import in_quiet_hours, local_date, push_instant
from store.models import ACTIVE, PAUSED, Person
from store.opportunities import KINDS, Opportunity
from store.text import whole_number

PAGE_SIZE = 3
# A list or a digest is one message of at most this many segments.
LIST_SEGMENTS = 3
# How many of a listing `OPP <n>` and `OPP MORE` can reach.
MAX_LISTED = 30
REMIND_BEFORE = timedelta(days=7)
MORE_WORDS = frozenset({"MORE", "PLUS", "MAS", "MÁS"})
SAVE_WORDS = frozenset({"SAVE", "GARDER", "GUARDAR"})
ON_WORDS = frozenset({"ON"})
OFF_WORDS = frozenset({"OFF"})
TRACK_NAMES = {"step1": "Step 1", "step2ck": "Step 2 CK", "plab1": "PLAB 1", "general": "General"}
TITLE_MAX, ORG_MAX, LINK_MAX = 80, 60, 400


# --- who may see what -------------------------------------------------------------------------


def eligible(opportunity: Opportunity, country: str | None, track: str | None) -> bool:
    """Empty lists mean everyone; a person whose country (or track) is unknown sees only those
    open to every country (or track)."""
    if opportunity.countries and (not country or country.upper() not in opportunity.countries):
        return False
    return not opportunity.tracks or bool(track and track in opportunity.tracks)


def open_for(ctx: Context, person: Person, at: datetime) -> list[Opportunity]:
    """Open opportunities `person` is eligible for at `at`, nearest deadline first."""
    day = local_date(person, at)
    return [o for o in ctx.opportunities.open_on(day) if eligible(o, person.country, person.track)]


# --- rendering -----------------------------------------------------------------------------------


def short_date(ctx: Context, person: Person, day: date) -> str:
    """`12 Jan` (month names from the catalog, in the student's language)."""
    months = ctx.say(person, "opp_months").split()
    return f"{day.day} {months[day.month - 1]}" if len(months) == 12 else day.isoformat()


def _line(ctx: Context, person: Person, number: int, opportunity: Opportunity) -> str:
    return ctx.say(
        person,
        "opp_line",
        n=number,
        title=opportunity.title,
        org=opportunity.org,
        date=short_date(ctx, person, opportunity.deadline),
        link=opportunity_url(ctx, person, opportunity),
    )


def _sent(person: Person, text: str) -> str:
    """`text` as it goes out on the person's channel (SMS folds the letters GSM-7 lacks), cut to
    LIST_SEGMENTS: what the budget is counted on."""
    return truncate_to(for_channel(text, person.channel), LIST_SEGMENTS)


def _fit_page(
    ctx: Context, person: Person, key: str, numbered: list[tuple[int, Opportunity]]
) -> tuple[str, int]:
    """The page text with as many of `numbered` as fit LIST_SEGMENTS (at least one), and how many."""
    chosen = numbered[:PAGE_SIZE]
    while True:
        items = "\n".join(_line(ctx, person, n, o) for n, o in chosen)
        text = for_channel(ctx.say(person, key, items=items, first=chosen[0][0]), person.channel)
        if segment_count(text) <= LIST_SEGMENTS or len(chosen) == 1:
            return _sent(person, text), len(chosen)
        chosen = chosen[:-1]


def _who(ctx: Context, person: Person, opportunity: Opportunity) -> str:
    parts = list(opportunity.countries) + [TRACK_NAMES.get(t, t) for t in opportunity.tracks]
    return ", ".join(parts) if parts else ctx.say(person, "opp_everyone")


def _kind(ctx: Context, person: Person, kind: str) -> str:
    names = ctx.say(person, "opp_kinds").split(",")
    return names[KINDS.index(kind)].strip() if kind in KINDS and len(names) == len(KINDS) else kind


# --- what the student last saw -------------------------------------------------------------------


def remember_listing(person: Person, ids: list[int] | None, shown: int = 0) -> None:
    # Reassign, not mutate: the JSON column does not track changes inside the dict.
    state = {k: v for k, v in (person.flow_state or {}).items() if k != "opp"}
    if ids:
        state["opp"] = {"ids": ids[:MAX_LISTED], "next": shown}
    person.flow_state = state


def _listing(person: Person) -> dict:
    listing = (person.flow_state or {}).get("opp")
    return listing if isinstance(listing, dict) else {}


# --- the texts -----------------------------------------------------------------------------------


def opp(ctx: Context, person: Person, command: Command) -> Outcome:
    words = command.rest.upper().split()
    if not words:
        return _first_page(ctx, person)
    first = words[0]
    if first in MORE_WORDS and len(words) == 1:
        return _more(ctx, person)
    if first in ON_WORDS and len(words) == 1:
        return _on(ctx, person)
    if first in OFF_WORDS and len(words) == 1:
        return _off(ctx, person)
    if first in SAVE_WORDS:
        number = whole_number(words[1], 1) if len(words) == 2 else None
        if len(words) == 2 and number is None:
            return reply(ctx.say(person, "opp_help"))
        return _save(ctx, person, number)
    number = whole_number(command.rest, 1)
    if number is not None:
        return _detail(ctx, person, number)
    return reply(ctx.say(person, "opp_help"))


def _first_page(ctx: Context, person: Person) -> Outcome:
    found = open_for(ctx, person, ctx.now)
    if not found:
        remember_listing(person, None)
        return reply(ctx.say(person, "opp_none"))
    return _page(ctx, person, [o.id for o in found[:MAX_LISTED]], 0, {o.id: o for o in found})


def _page(
    ctx: Context, person: Person, ids: list[int], offset: int, known: dict[int, Opportunity]
) -> Outcome:
    day = local_date(person, ctx.now)
    numbered = []
    for index in range(offset, len(ids)):
        opportunity = known.get(ids[index]) or ctx.opportunities.get(ids[index])
        if opportunity is not None and opportunity.is_open(day):
            numbered.append((index + 1, opportunity))
    if not numbered:
        remember_listing(person, ids, len(ids))
        return reply(ctx.say(person, "opp_end"))
    # "OPP MORE" only when something is left after what fits.
    text, shown = _fit_page(ctx, person, "opp_list_more", numbered)
    if shown == len(numbered):
        text, shown = _fit_page(ctx, person, "opp_list", numbered)
    remember_listing(person, ids, numbered[shown - 1][0])
    return reply(text)


def _more(ctx: Context, person: Person) -> Outcome:
    listing = _listing(person)
    ids = [int(i) for i in listing.get("ids") or []]
    if not ids:
        return _first_page(ctx, person)
    return _page(ctx, person, ids, int(listing.get("next") or 0), {})


def _chosen(ctx: Context, person: Person, number: int | None) -> Opportunity | Outcome:
    """The opportunity numbered `number` in the last listing, or the answer saying why not."""
    ids = [int(i) for i in _listing(person).get("ids") or []]
    if not ids:
        return reply(ctx.say(person, "opp_nothing_listed"))
    if number is None:
        return reply(ctx.say(person, "opp_save_help", count=len(ids)))
    if number > len(ids):
        return reply(ctx.say(person, "opp_no_such", n=number, count=len(ids)))
    opportunity = ctx.opportunities.get(ids[number - 1])
    if opportunity is None or not opportunity.is_open(local_date(person, ctx.now)):
        return reply(ctx.say(person, "opp_closed"))
    return opportunity


def _detail(ctx: Context, person: Person, number: int) -> Outcome:
    chosen = _chosen(ctx, person, number)
    if isinstance(chosen, Outcome):
        return chosen
    text = ctx.say(
        person,
        "opp_detail",
        n=number,
        title=chosen.title,
        kind=_kind(ctx, person, chosen.kind),
        org=chosen.org,
        date=short_date(ctx, person, chosen.deadline),
        who=_who(ctx, person, chosen),
        link=opportunity_url(ctx, person, chosen),
    )
    return reply(_sent(person, text))


def _save(ctx: Context, person: Person, number: int | None) -> Outcome:
    chosen = _chosen(ctx, person, number)
    if isinstance(chosen, Outcome):
        return chosen
    deadline = short_date(ctx, person, chosen.deadline)
    remind_on = chosen.deadline - REMIND_BEFORE
    remind_at = push_instant(person, remind_on)
    if remind_at <= ctx.now and ctx.opportunities.saved(person.id, chosen.id) is None:
        link = opportunity_url(ctx, person, chosen)
        return reply(ctx.say(person, "opp_save_soon", title=chosen.title, date=deadline, link=link))
    saved = ctx.opportunities.save(person.id, chosen.id, remind_at)
    remind_date = local_date(person, saved.remind_at)
    return reply(ctx.say(person, "opp_saved", date=short_date(ctx, person, remind_date), deadline=deadline))


def _on(ctx: Context, person: Person) -> Outcome:
    ctx.opportunities.subscribe(person.id, ctx.now, next_daily(person, ctx.now))
    return reply(ctx.say(person, "opp_on", time=person.daily_time or "08:00"))


def _off(ctx: Context, person: Person) -> Outcome:
    ctx.opportunities.unsubscribe(person.id)
    return reply(ctx.say(person, "opp_off"))


# --- what the scheduling pass decides -----------------------------------------------------------


def next_daily(person: Person, after: datetime) -> datetime:
    """The person's daily time strictly after `after` (whatever their status)."""
    day = local_date(person, after)
    for offset in range(3):
        instant = push_instant(person, day + timedelta(days=offset))
        if instant > after:
            return instant
    return push_instant(person, day + timedelta(days=3))  # unreachable


def may_push(ctx: Context, person: Person, at: datetime) -> bool:
    """As for the daily question: active (or a pause that has run out) and not in quiet hours."""
    if person.status == PAUSED:
        if person.paused_until is None or person.paused_until > at:
            return False
    elif person.status != ACTIVE:
        return False
    return not in_quiet_hours(person, at, ctx.settings)


def week_key(person: Person, at: datetime) -> str:
    """The digest's idempotency key: one per person per ISO week (of their local date)."""
    year, week, _ = local_date(person, at).isocalendar()
    return f"opp-digest:{person.id}:{year}-W{week:02d}"


@dataclass
class Digest:
    text: str
    ids: list[int]
    shown: int


def plan_digest(ctx: Context, person: Person, seen_until: datetime, at: datetime) -> Digest | None:
    """The weekly digest for `person` at `at`: what matches them and was approved after
    `seen_until`, in one message of at most LIST_SEGMENTS; None when nothing is new or they may
    not be texted now."""
    if not may_push(ctx, person, at):
        return None
    new = [o for o in open_for(ctx, person, at) if o.approved_at is not None and o.approved_at > seen_until]
    if not new:
        return None
    new = new[:MAX_LISTED]
    numbered = list(enumerate(new, 1))
    text, shown = _fit_page(ctx, person, "opp_digest_more", numbered)
    if shown == len(numbered):
        text, shown = _fit_page(ctx, person, "opp_digest", numbered)
    return Digest(text, [o.id for o in new], shown)


def reminder_text(ctx: Context, person: Person, opportunity: Opportunity) -> str:
    text = ctx.say(
        person,
        "opp_reminder",
        title=opportunity.title,
        org=opportunity.org,
        date=short_date(ctx, person, opportunity.deadline),
        link=opportunity_url(ctx, person, opportunity),
    )
    return truncate_to(for_channel(text, person.channel), 2)


# --- adding one ----------------------------------------------------------------------------------


class OpportunityError(ValueError):
    """Input for a new opportunity that cannot be kept; the message says what to change."""


_LINK = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def checked_values(
    title: str,
    org: str,
    kind: str,
    deadline: str | date,
    link: str,
    countries: Iterable[str] = (),
    tracks: Iterable[str] = (),
) -> dict:
    """The column values for a new opportunity, or OpportunityError naming every problem."""
    problems = []
    title, org, link = (title or "").strip(), (org or "").strip(), (link or "").strip()
    kind = re.sub(r"[\s_-]+", " ", (kind or "").strip().lower())
    if not title or len(title) > TITLE_MAX:
        problems.append(f"the title must be 1 to {TITLE_MAX} characters")
    if not org or len(org) > ORG_MAX:
        problems.append(f"the organisation must be 1 to {ORG_MAX} characters")
    if kind not in KINDS:
        problems.append(f"the kind must be one of: {', '.join(KINDS)}")
    day: date | None = deadline if isinstance(deadline, date) else None
    if day is None:
        try:
            day = date.fromisoformat(str(deadline or "").strip())
        except ValueError:
            problems.append("the deadline must be a date such as 2027-01-12")
    if not _LINK.fullmatch(link) or len(link) > LINK_MAX:
        problems.append(f"the link must start with https:// and be at most {LINK_MAX} characters")
    codes = sorted({(c or "").strip().upper() for c in countries if (c or "").strip()})
    unknown = [c for c in codes if c not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        problems.append(f"unknown country code(s) {', '.join(unknown)}: use ISO 3166 alpha-2, e.g. NG, IN")
    keys = sorted({(t or "").strip().lower() for t in tracks if (t or "").strip()})
    bad_tracks = [t for t in keys if t not in TRACKS]
    if bad_tracks:
        problems.append(f"unknown track(s) {', '.join(bad_tracks)}: use {', '.join(TRACKS)}")
    if problems:
        raise OpportunityError("; ".join(problems))
    return {
        "title": title,
        "org": org,
        "kind": kind,
        "deadline": day,
        "link": link,
        "countries": codes,
        "tracks": keys,
    }
