"""Safeguarding for mentoring: raise flags (and the on-call alert), spot patient identifiers,
and keep phone numbers out of relayed text.

Called from the relay and the check-in answer; returns pushes, never sends.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from content.safeguarding import Match, get_word_list
from flows.engine import Command, Context, Outcome, Push, reply
from flows.phones import BadPhoneNumber, mask, parse_address
from store.mentoring import ALERT, ONCALL, CheckIn, Flag, Pair
from store.models import ACTIVE, Person

log = logging.getLogger("rounds.safeguarding")

LOW_SCORE = 2  # a check-in answer of 1 or 2 raises a flag
EXCERPT_MAX = 320
CONVERSATION_SIZE = 20
# One page to the on-call number per person per hour is enough; later flags are still recorded.
ALERT_QUIET = timedelta(hours=1)

# --- patient identifiers -------------------------------------------------------------------

# Words that only appear when someone writes out a patient's identity.
_ID_WORDS = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\b\.?|date of birth|birth ?date|date de naissance|fecha de nacimiento)",
    re.IGNORECASE,
)
# A record number: MRN 00123456, hospital no: H1234567, NHS number 943 476 5919, IPP 12345 ...
_RECORD_NUMBER = re.compile(
    r"\b(?:mrn|ipp|nhs(?:\s*(?:no|number|num))?|hosp(?:ital)?\s*(?:no|number|num|id)|"
    r"patient\s*(?:no|number|num|id)|(?:medical\s*)?record\s*(?:no|number|num)|"
    r"n(?:o|um(?:ero)?)\.?\s*de\s*(?:dossier|historia)|historia\s*cl[ií]nica|expediente)"
    r"\b\W{0,3}[a-z]{0,3}\s?\d[\d\s-]{3,}",
    re.IGNORECASE,
)
# "born 12/03/1961", "née le 3.4.1950", "nacido el 1-2-1970"
_BORN_ON = re.compile(
    r"\b(?:born|n[ée]e?|nacid[oa])(?:\s+(?:on|le|el))?\s+\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}",
    re.IGNORECASE,
)
_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](\d{4})\b|\b(\d{4})-\d{2}-\d{2}\b")
# A titled name ("Mrs Okafor", "pt John") or two capitalised words ("Jane Doe").
_NAME = re.compile(
    r"\b(?:mr|mrs|ms|miss|mme|mlle|sr|sra|srta|pt|patient|patiente|paciente)\.?\s+[A-Z][a-z]+"
    r"|\b[A-Z][a-z]+\s+[A-Z][a-z]{2,}\b",
)


def looks_like_patient_data(text: str, today_year: int) -> bool:
    """True for a name with a date of birth, a DOB, or a hospital/record number.

    A date counts as a birth date only when it is two or more years back, so an exam date
    ("my exam is on 12/06/2027") next to a name is not mistaken for one.
    """
    if _ID_WORDS.search(text) or _RECORD_NUMBER.search(text) or _BORN_ON.search(text):
        return True
    if not _NAME.search(text):
        return False
    for match in _DATE.finditer(text):
        year = int(match.group(1) or match.group(2))
        if 1900 <= year <= today_year - 2:
            return True
    return False


# --- phone numbers in relayed text -----------------------------------------------------------

# Seven or more digits, however they are separated (`0803/111/0022`, `0803 , 111 , 0022`,
# `0 8 0 3 ...`): up to three characters that are neither letters nor digits between any two.
_PHONE_LIKE = re.compile(r"\+?\d(?:[\W_]{0,3}\d){6,}")
# What may pass although it has seven digits: one calendar date with its year, or one time range.
_DATE_OR_HOURS = re.compile(
    r"(?P<day>\d{1,2})(?P<sep>[/.-])(?P<month>\d{1,2})(?P=sep)(?P<year>\d{4})"
    r"|(?P<iso_year>\d{4})-(?P<iso_month>\d{2})-(?P<iso_day>\d{2})"
    r"|(?P<h1>\d{1,2})[:h](?P<m1>\d{2})\s?(?:-|to|a|à)\s?(?P<h2>\d{1,2})[:h](?P<m2>\d{2})"
)


def _date_or_hours(run: str) -> bool:
    """A real date (`12/06/2027`, `2027-06-12`) or hours (`10:30-11:45`), not a number in disguise."""
    found = _DATE_OR_HOURS.fullmatch(run)
    if found is None:
        return False
    parts = {key: int(value) for key, value in found.groupdict().items() if value and key != "sep"}
    if "h1" in parts:
        return parts["h1"] < 24 and parts["h2"] < 24 and parts["m1"] < 60 and parts["m2"] < 60
    if "day" in parts:
        day, month, year = parts["day"], parts["month"], parts["year"]
    else:
        day, month, year = parts["iso_day"], parts["iso_month"], parts["iso_year"]
    return 1 <= day <= 31 and 1 <= month <= 12 and 1900 <= year <= 2100


def hide_numbers(text: str, stand_in: str) -> tuple[str, bool]:
    """Replace any run of seven or more digits (a phone number, however written); says whether it did."""
    hid = False

    def replace(found: re.Match[str]) -> str:
        nonlocal hid
        if _date_or_hours(found.group(0)):
            return found.group(0)
        hid = True
        return stand_in

    return _PHONE_LIKE.sub(replace, text), hid


# --- flags and alerts ---------------------------------------------------------------------


def word_matches(ctx: Context, text: str) -> list[Match]:
    return get_word_list(ctx.settings.content_path).matches(text or "")


def raise_flag(
    ctx: Context,
    person: Person,
    text: str,
    matches: list[Match],
    pair: Pair | None = None,
    checkin: CheckIn | None = None,
    score: int | None = None,
) -> tuple[Flag, list[Push]]:
    """Record a flag for admins and, when an on-call number is set, page it (no student number)."""
    matched = [f"{m.category}:{m.phrase}" for m in matches]
    if score is not None and score <= LOW_SCORE:
        matched.append(f"low_score:{score}")
    reason = matches[0].category if matches else "low_score"
    flag = Flag(
        person_id=person.id,
        pair_id=pair.id if pair else None,
        checkin_id=checkin.id if checkin else None,
        reason=reason,
        matched=matched,
        excerpt=(text or "")[:EXCERPT_MAX],
        # The conversation around it: the person's latest messages and the pair's latest pushes.
        message_ids=ctx.mentoring.conversation(person.id, pair.id if pair else None, CONVERSATION_SIZE),
        alerted=False,
        resolved=False,
        created_at=ctx.now,
    )
    ctx.mentoring.add(flag)
    log.warning("safeguarding flag %s (%s) for %s", flag.id, reason, mask(person.phone))
    pushes = _alert(ctx, flag, person)
    return flag, pushes


def _alert(ctx: Context, flag: Flag, person: Person) -> list[Push]:
    oncall = oncall_person(ctx)
    if oncall is None:
        return []
    if ctx.mentoring.alerted_since(person.id, ctx.now - ALERT_QUIET, besides=flag.id):
        return []
    flag.alerted = True
    body = ctx.say(oncall, "mentor_alert", flag=flag.id, reason=flag.reason.replace("_", " "))
    return [Push(oncall.id, body, ALERT, f"flag:{flag.id}:alert")]


def oncall_person(ctx: Context) -> Person | None:
    """The person behind ROUNDS_ONCALL_PHONE, created on first use; None when unset or invalid."""
    raw = ctx.settings.oncall_phone
    if not raw:
        return None
    try:
        address = parse_address(raw)
    except BadPhoneNumber:
        log.error("ROUNDS_ONCALL_PHONE is not a phone number; safeguarding alerts are not sent")
        return None
    person = ctx.mentoring.person_by_phone(address.phone)
    if person is None:
        person = Person(
            phone=address.phone,
            channel=address.channel,
            country=address.country,
            role=ONCALL,
            status=ACTIVE,
            language="en",
            flow_state={},
        )
        ctx.mentoring.add(person)
    return person


def supportive_reply(ctx: Context, person: Person) -> str:
    helpline = ctx.settings.helpline_text or ctx.say(person, "mentor_helpline_default")
    return ctx.say(person, "mentor_support", helpline=helpline)


def handle_oncall(ctx: Context, person: Person, command: Command) -> Outcome:
    """The on-call number texting in: it only receives alerts, so say where to look."""
    return reply(ctx.say(person, "mentor_oncall_help"))
