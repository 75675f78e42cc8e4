"""Mentors: the service functions the CLI and admin API share (add_mentor, pair, unpair,
matching), the relay that hides both sides' numbers, and the mentor's own commands.

Nothing here sends: relays and notices leave as `Outcome.pushes` (or `Push` lists for the
CLI and the scheduling pass), and the gateway or a worker queues them.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from content.catalog import Catalog
from content.segments import GSM7_BASIC, fold_for_sms, normalise, truncate_to
from flows.engine import HELP_WORDS, Command, Context, Outcome, Push, reply
from flows.phones import parse_address, time_zones_for
from flows.safeguarding import (
    hide_numbers,
    looks_like_patient_data,
    raise_flag,
    supportive_reply,
    word_matches,
)
from store.mentoring import (
    MENTOR_NOTICE,
    PAIR_ENDED,
    RELAY,
    TO_MENTOR,
    TO_STUDENT,
    Mentoring,
    MentorProfile,
    Pair,
    pair_key,
)
from store.models import ACTIVE, MENTOR, OPTED_OUT, STUDENT, Person

# Mentee numbers start at two digits, so a reply like "3 tips for you" is never read as #3.
FIRST_NUMBER = 11
# Relayed texts per pair, per direction, per hour: neither side can flood the other.
RELAY_LIMIT = 10
RELAY_WINDOW = timedelta(hours=1)
# A relayed text, prefix included, costs at most this many segments.
RELAY_SEGMENTS = 3
LIST_SEGMENTS = 2
FIRST_NAME_MAX = 15
DISPLAY_NAME_MAX = 24

_NUMBERED = re.compile(r"#?(\d{1,4})(?:[\s:.,;)\-]+(.*))?", re.S)
_DONE = re.compile(r"DONE\s*#?(\d{1,4})?", re.I)
_AWAY = re.compile(r"(PAUSE|AWAY)(\s+\d{1,3})?", re.I)
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class MentoringError(ValueError):
    """A request an admin can correct; the message says what was wrong and what to do."""


# --- people and names ---------------------------------------------------------------------


def _person(session: Session, who: Person | str, what: str) -> Person:
    """A Person as given, or the one with this phone number (raises BadPhoneNumber if bad)."""
    if isinstance(who, Person):
        return who
    address = parse_address(who)
    person = Mentoring(session).person_by_phone(address.phone)
    if person is None:
        raise MentoringError(f"no {what} with the number {address.phone}: they must text Rounds first")
    return person


def _gsm_letters(text: str) -> str:
    """Letters, spaces, dots, hyphens and apostrophes that GSM-7 can carry; never digits."""
    plain = fold_for_sms(normalise(text or ""))  # Conceição -> Conceicao, not Concei
    kept = "".join(c for c in plain if c in GSM7_BASIC and (c.isalpha() or c in " .-'"))
    return re.sub(r"\s+", " ", kept).strip(" .-'")


def display_name(name: str) -> str:
    """What mentees see, e.g. "Dr O": GSM-7, at most 24 characters, no digits."""
    if any(c.isdigit() for c in name or ""):
        raise MentoringError(f"the mentor name {name!r} has digits; use a name like 'Dr O'")
    shown = _gsm_letters(name)[:DISPLAY_NAME_MAX].strip()
    if not any(c.isalpha() for c in shown):
        raise MentoringError("the mentor needs a name mentees can read, e.g. --name 'Dr O'")
    return shown


def first_name(catalog: Catalog, student: Person, language: str) -> str:
    """The student's first name as a mentor sees it; digits never pass, so no number can leak."""
    words = _gsm_letters(student.name or "").split()
    name = words[0][:FIRST_NAME_MAX] if words else ""
    return name if any(c.isalpha() for c in name) else catalog.render("mentor_default_student", language)


def profile_of(session: Session, mentor: Person) -> MentorProfile:
    """The mentor's profile; one is made from the Person if an admin set the role by hand."""
    mentoring = Mentoring(session)
    profile = mentoring.profile(mentor.id)
    if profile is None:
        profile = MentorProfile(
            person_id=mentor.id,
            display_name=_gsm_letters(mentor.name or "")[:DISPLAY_NAME_MAX] or "Mentor",
            tracks=[],
            languages=[],
            capacity=5,
            away=False,
        )
        mentoring.add(profile)
    return profile


def _track_key(text: str) -> str:
    from flows.onboarding import TRACKS, parse_track  # the onboarding menu owns the track words

    track = parse_track(text)
    if track is None:
        raise MentoringError(f"unknown track {text!r}; use one of {', '.join(TRACKS)}")
    return track


def _track_name(track: str | None) -> str:
    from flows.onboarding import TRACK_NAMES

    return TRACK_NAMES.get(track or "", track or "-")


def _language_code(text: str) -> str:
    code = (text or "").strip().lower()
    if not _LANGUAGE.fullmatch(code):
        raise MentoringError(f"unknown language {text!r}; use a code like en, fr or es")
    return code


def _split(values: tuple[str, ...] | list[str]) -> list[str]:
    """Accept ("step1", "plab1") as well as ("step1,plab1",)."""
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


# --- service functions (CLI and admin API) ------------------------------------------------


def add_mentor(
    session: Session,
    phone: str,
    name: str,
    tracks: tuple[str, ...] | list[str] = (),
    languages: tuple[str, ...] | list[str] = (),
    capacity: int = 5,
) -> Person:
    """Make `phone` a mentor (or update one); idempotent. Raises BadPhoneNumber or MentoringError."""
    address = parse_address(phone)
    shown = display_name(name)
    track_keys = list(dict.fromkeys(_track_key(t) for t in _split(tracks)))
    codes = list(dict.fromkeys(_language_code(code) for code in _split(languages)))
    if capacity < 0:
        raise MentoringError("capacity must be 0 or more (0 takes no new mentees)")
    mentoring = Mentoring(session)
    person = mentoring.person_by_phone(address.phone)
    if person is None:
        zones = time_zones_for(address.phone)
        person = Person(
            phone=address.phone,
            channel=address.channel,
            country=address.country,
            timezone=zones[0] if zones else None,
            language=codes[0] if codes else "en",
            role=MENTOR,
            status=ACTIVE,
            flow_state={},
        )
        mentoring.add(person)
    elif person.role != MENTOR:
        if person.role != STUDENT:
            raise MentoringError(f"{address.phone} is the {person.role} number and cannot be a mentor")
        if active_pair_of_student(session, person) is not None:
            raise MentoringError(f"{address.phone} is a student with a mentor: unpair them first")
        # A mentor gets no daily questions and no onboarding.
        person.role = MENTOR
        person.flow = None
        person.daily_time = None
        person.next_push_at = None
        mentoring.leave_waitlist(person.id)
    person.name = name.strip()[:60]
    profile = profile_of(session, person)
    profile.display_name = shown
    profile.tracks = track_keys
    profile.languages = codes
    profile.capacity = capacity
    session.flush()
    return person


def pair(session: Session, mentor: Person | str, student: Person | str, now: datetime) -> Pair:
    """Pair a student with a mentor (ending any other active pair of theirs); idempotent."""
    mentor = _person(session, mentor, "mentor")
    student = _person(session, student, "student")
    if mentor.role != MENTOR:
        raise MentoringError(f"{mentor.phone} is not a mentor: add them with `rounds mentor add` first")
    if student.role != STUDENT:
        raise MentoringError(f"{student.phone} is not a student")
    profile_of(session, mentor)
    current = active_pair_of_student(session, student)
    if current is not None and current.mentor_id == mentor.id:
        return current
    if current is not None:
        end_pair(session, current, "rematch", now)
    return _create_pair(session, mentor, student, now)


def unpair(session: Session, student: Person | str, now: datetime, by: str = "admin") -> Pair | None:
    """End the student's active pair; returns it, or None if they had none."""
    student = _person(session, student, "student")
    current = active_pair_of_student(session, student)
    if current is not None:
        end_pair(session, current, by, now)
    return current


def end_pair(session: Session, pair: Pair, by: str, now: datetime) -> None:
    pair.status = PAIR_ENDED
    pair.thread_open = False
    pair.ended_at = now
    pair.ended_by = by[:16]
    session.flush()


def active_pair_of_student(session: Session, student: Person) -> Pair | None:
    return Mentoring(session).active_pair_of_student(student.id)


def active_pairs_of_mentor(session: Session, mentor: Person) -> list[Pair]:
    return Mentoring(session).active_pairs_of_mentor(mentor.id)


def _create_pair(session: Session, mentor: Person, student: Person, now: datetime) -> Pair:
    """Insert the pair with the mentor's next number, retrying if a concurrent match took it.

    If another request paired this student first, that pair is the answer.
    """
    for _ in range(3):
        created = Mentoring(session).create_pair(mentor.id, student.id, FIRST_NUMBER, now)
        if created is not None:
            return created
    raise MentoringError("could not give the pair a number (busy); please try again")


# --- matching -------------------------------------------------------------------------------


def best_mentor(student: Person, mentors: list[tuple[Person, MentorProfile, int]]) -> Person | None:
    """The best free mentor for the student's track and language, or None.

    `mentors`: each available mentor with their profile and active mentee count. A mentor who
    names the track or language is preferred to one who takes any; then the one with the most
    room, so mentees spread out.
    """
    best: tuple[tuple, Person] | None = None
    for mentor, profile, count in mentors:
        if count >= profile.capacity:
            continue
        tracks, languages = profile.tracks or [], profile.languages or []
        if tracks and student.track and student.track not in tracks:
            continue
        if languages and (student.language or "en") not in languages:
            continue
        rank = (
            0 if student.track in tracks else 1,
            0 if (student.language or "en") in languages else 1,
            count / max(profile.capacity, 1),
            mentor.id,
        )
        if best is None or rank < best[0]:
            best = (rank, mentor)
    return best[1] if best else None


def find_mentor(session: Session, student: Person) -> Person | None:
    """`best_mentor` among the mentors available now."""
    return best_mentor(student, Mentoring(session).available_mentors())


def match(
    session: Session,
    student: Person,
    now: datetime,
    mentors: list[tuple[Person, MentorProfile, int]] | None = None,
) -> Pair | None:
    """Pair the student with the best free mentor; None when nobody is free.

    `mentors`: the available mentors read once for a run of matches (the waiting list at a
    tick); each pair made here is counted against its mentor in that list.
    """
    if mentors is None:
        return _pair_with(session, find_mentor(session, student), student, now)
    created = _pair_with(session, best_mentor(student, mentors), student, now)
    if created is not None:
        mentors[:] = [(m, p, count + (m.id == created.mentor_id)) for m, p, count in mentors]
    return created


def _pair_with(session: Session, mentor: Person | None, student: Person, now: datetime) -> Pair | None:
    return _create_pair(session, mentor, student, now) if mentor is not None else None


def join_waitlist(session: Session, student: Person, now: datetime) -> None:
    """Put the student on the waiting list once; asking again keeps their place."""
    Mentoring(session).join_waitlist(student.id, now)


def pairing_notices(session: Session, catalog: Catalog, new_pair: Pair) -> list[Push]:
    """Tell both sides about a new pair (for the CLI, the admin API and the waiting list)."""
    mentoring = Mentoring(session)
    student, mentor = mentoring.person(new_pair.student_id), mentoring.person(new_pair.mentor_id)
    if student is None or mentor is None:
        return []
    profile = profile_of(session, mentor)
    return [
        Push(
            student.id,
            catalog.render("mentor_paired_student", student.language, mentor=profile.display_name),
            MENTOR_NOTICE,
            pair_key(new_pair.id, "notice", "paired-student"),
        ),
        _new_mentee_notice(catalog, mentor, student, new_pair),
    ]


def _new_mentee_notice(catalog: Catalog, mentor: Person, student: Person, new_pair: Pair) -> Push:
    body = catalog.render(
        "mentor_paired_mentor",
        mentor.language,
        name=first_name(catalog, student, mentor.language),
        number=new_pair.number,
        track=_track_name(student.track),
    )
    return Push(mentor.id, body, MENTOR_NOTICE, pair_key(new_pair.id, "notice", "paired-mentor"))


def ending_notices(session: Session, catalog: Catalog, ended: Pair) -> list[Push]:
    """Tell both sides a pair has ended (for the CLI and the admin API)."""
    mentoring = Mentoring(session)
    student, mentor = mentoring.person(ended.student_id), mentoring.person(ended.mentor_id)
    if student is None or mentor is None:
        return []
    profile = profile_of(session, mentor)
    name = first_name(catalog, student, mentor.language)
    return [
        Push(
            student.id,
            catalog.render("mentor_ended_student", student.language, mentor=profile.display_name),
            MENTOR_NOTICE,
            pair_key(ended.id, "notice", "ended-student"),
        ),
        Push(
            mentor.id,
            catalog.render("mentor_ended_mentor", mentor.language, name=name, number=ended.number),
            MENTOR_NOTICE,
            pair_key(ended.id, "notice", "ended-mentor"),
        ),
    ]


# --- the relay --------------------------------------------------------------------------


def rate_limited(ctx: Context, relay_pair: Pair, receiver: Person, direction: str) -> bool:
    """This pair has used up its relays in this direction for the hour."""
    recent = ctx.mentoring.recent_relays(relay_pair.id, receiver.id, direction, ctx.now - RELAY_WINDOW)
    return over_relay_limit(recent)


def over_relay_limit(recent: int) -> bool:
    """`recent`: texts relayed in one pair and direction within the last RELAY_WINDOW."""
    return recent >= RELAY_LIMIT


def _relay_push(
    ctx: Context, relay_pair: Pair, receiver: Person, direction: str, key: str, text: str, **values: object
) -> tuple[Push, bool]:
    """The relayed text with its prefix, numbers hidden, cut to the segment budget."""
    hidden_text, hid = hide_numbers(text, ctx.say(receiver, "mentor_number_hidden"))
    body = truncate_to(ctx.say(receiver, key, message=hidden_text, **values), RELAY_SEGMENTS)
    token = secrets.token_hex(8)
    return Push(receiver.id, body, RELAY, pair_key(relay_pair.id, direction, token)), hid


def _screen(ctx: Context, sender: Person, text: str, relay_pair: Pair | None) -> tuple[bool, list[Push]]:
    """Raise a flag when the text has words of crisis; returns (flagged, alert pushes)."""
    matches = word_matches(ctx, text)
    if not matches:
        return False, []
    _, pushes = raise_flag(ctx, sender, text, matches, pair=relay_pair)
    return True, pushes


def relay_from_student(ctx: Context, student: Person, relay_pair: Pair, text: str) -> Outcome:
    """`MENTOR <text>` from a paired student: screen it, then relay it as `[Amina #12] text`."""
    if looks_like_patient_data(text, ctx.now.year):
        return reply(ctx.say(student, "mentor_patient_data"))
    mentor = ctx.mentoring.member(relay_pair.mentor_id)
    profile = profile_of(ctx.session, mentor)
    flagged, pushes = _screen(ctx, student, text, relay_pair)
    replies = [supportive_reply(ctx, student)] if flagged else []
    if mentor.status == OPTED_OUT or profile.away:
        replies.append(ctx.say(student, "mentor_unavailable", mentor=profile.display_name))
        return Outcome(replies=replies, pushes=pushes)
    if rate_limited(ctx, relay_pair, mentor, TO_MENTOR):
        replies.append(ctx.say(student, "mentor_rate_limited_student"))
        return Outcome(replies=replies, pushes=pushes)
    name = first_name(ctx.catalog, student, mentor.language)
    push, hid = _relay_push(
        ctx,
        relay_pair,
        mentor,
        TO_MENTOR,
        "mentor_relay_to_mentor",
        text,
        name=name,
        number=relay_pair.number,
    )
    relay_pair.last_student_message_at = ctx.now
    relay_pair.thread_open = True
    if not flagged:
        key = "mentor_sent_hidden" if hid else "mentor_sent"
        replies.append(ctx.say(student, key, mentor=profile.display_name))
    return Outcome(replies=replies, pushes=[push, *pushes])


def relay_from_mentor(
    ctx: Context, mentor: Person, profile: MentorProfile, relay_pair: Pair, text: str
) -> Outcome:
    """A mentor's reply to mentee #n: relayed as `[Mentor Dr O] text`."""
    student = ctx.mentoring.member(relay_pair.student_id)
    name = first_name(ctx.catalog, student, mentor.language)
    if looks_like_patient_data(text, ctx.now.year):
        return reply(ctx.say(mentor, "mentor_patient_data"))
    _, pushes = _screen(ctx, mentor, text, relay_pair)
    if student.status == OPTED_OUT:
        return Outcome(
            [ctx.say(mentor, "mentor_mentee_stopped", name=name, number=relay_pair.number)], pushes
        )
    if rate_limited(ctx, relay_pair, student, TO_STUDENT):
        notice = ctx.say(mentor, "mentor_rate_limited_mentor", name=name, number=relay_pair.number)
        return Outcome([notice], pushes)
    push, hid = _relay_push(
        ctx, relay_pair, student, TO_STUDENT, "mentor_relay_to_student", text, mentor=profile.display_name
    )
    relay_pair.last_mentor_message_at = ctx.now
    relay_pair.thread_open = True
    key = "mentor_sent_to_mentee_hidden" if hid else "mentor_sent_to_mentee"
    return Outcome([ctx.say(mentor, key, name=name, number=relay_pair.number)], [push, *pushes])


def student_mentor(ctx: Context, student: Person, command: Command) -> Outcome:
    """`MENTOR` (matched with a mentor, or put on the waiting list) and `MENTOR <message>`."""
    text = command.rest.strip()
    current = active_pair_of_student(ctx.session, student)
    if current is not None:
        if not text:
            profile = profile_of(ctx.session, ctx.mentoring.member(current.mentor_id))
            return reply(ctx.say(student, "mentor_usage", mentor=profile.display_name))
        return relay_from_student(ctx, student, current, text)
    # Checked before matching, so the warning comes first and nothing is half done.
    if text and looks_like_patient_data(text, ctx.now.year):
        return reply(ctx.say(student, "mentor_patient_data"))
    new_pair = match(ctx.session, student, ctx.now)
    if new_pair is None:
        join_waitlist(ctx.session, student, ctx.now)
        # Nobody to relay to, but words of crisis still reach the admins.
        flagged, pushes = _screen(ctx, student, text, None) if text else (False, [])
        replies = [supportive_reply(ctx, student)] if flagged else []
        return Outcome([*replies, ctx.say(student, "mentor_waiting")], pushes)
    mentor = ctx.mentoring.member(new_pair.mentor_id)
    profile = profile_of(ctx.session, mentor)
    welcome = _new_mentee_notice(ctx.catalog, mentor, student, new_pair)
    if not text:
        paired = ctx.say(student, "mentor_paired_student", mentor=profile.display_name)
        return Outcome([paired], [welcome])
    relayed = relay_from_student(ctx, student, new_pair, text)
    relayed.replies.insert(0, ctx.say(student, "mentor_paired_now", mentor=profile.display_name))
    relayed.pushes.insert(0, welcome)
    return relayed


# --- the mentor's side ----------------------------------------------------------------------


def addressed(text: str) -> tuple[int, str] | None:
    """`12 see you`, `#12: ok` -> (12, "see you"); None when the text starts with no number."""
    numbered = _NUMBERED.fullmatch(text)
    return None if numbered is None else (int(numbered.group(1)), (numbered.group(2) or "").strip())


def reply_target(pairs: list[Pair]) -> Pair | None:
    """Where a bare reply goes: the only mentee, else the last who wrote (thread still open)."""
    if len(pairs) == 1:
        return pairs[0]
    waiting = [
        (p.last_student_message_at, p)
        for p in pairs
        if p.thread_open and p.last_student_message_at is not None
    ]
    return max(waiting, key=lambda wrote: wrote[0])[1] if waiting else None


def _mentee_list(ctx: Context, mentor: Person, pairs: list[Pair], key: str = "mentor_list", **values) -> str:
    stopped = ctx.say(mentor, "mentor_list_stopped")
    items = []
    for item in pairs:
        student = ctx.mentoring.member(item.student_id)
        label = f"{item.number} {first_name(ctx.catalog, student, mentor.language)}"
        items.append(f"{label} ({stopped})" if student.status == OPTED_OUT else label)
    text = ctx.say(mentor, key, mentees=", ".join(items), **{"number": pairs[0].number, **values})
    return truncate_to(text, LIST_SEGMENTS)


def _done(
    ctx: Context, mentor: Person, profile: MentorProfile, pairs: list[Pair], number: str | None
) -> Outcome:
    if number is not None:
        target = next((p for p in pairs if p.number == int(number)), None)
        if target is None:
            return reply(ctx.say(mentor, "mentor_no_mentee", number=number))
    else:
        target = reply_target(pairs)
        if target is None:
            return reply(ctx.say(mentor, "mentor_done_which", number=pairs[0].number))
    target.thread_open = False
    student = ctx.mentoring.member(target.student_id)
    notice = Push(
        student.id,
        ctx.say(student, "mentor_thread_closed", mentor=profile.display_name),
        MENTOR_NOTICE,
        pair_key(target.id, "notice", f"closed-{secrets.token_hex(6)}"),
    )
    name = first_name(ctx.catalog, student, mentor.language)
    done = ctx.say(mentor, "mentor_done", name=name, number=target.number)
    # An opted-out student is not told (the outbox would refuse anyway).
    return Outcome([done], [] if student.status == OPTED_OUT else [notice])


def handle_mentor(ctx: Context, mentor: Person, command: Command) -> Outcome:
    """Everything a mentor texts, after STOP/START: commands, `12 msg`, or a bare reply."""
    profile = profile_of(ctx.session, mentor)
    whole = command.whole
    if not command.raw or whole in HELP_WORDS:
        return reply(ctx.say(mentor, "mentor_help"))
    if _AWAY.fullmatch(whole):
        profile.away = True
        return reply(ctx.say(mentor, "mentor_away_on"))
    if whole in ("RESUME", "BACK"):
        profile.away = False
        return reply(ctx.say(mentor, "mentor_away_off"))
    pairs = active_pairs_of_mentor(ctx.session, mentor)
    if not pairs:
        return reply(ctx.say(mentor, "mentor_none_yet"))
    if whole == "LIST":
        return reply(_mentee_list(ctx, mentor, pairs))
    done = _DONE.fullmatch(whole)
    if done:
        return _done(ctx, mentor, profile, pairs, done.group(1))
    numbered = addressed(command.raw)
    if numbered:
        number, text = numbered
        target = next((p for p in pairs if p.number == number), None)
        if target is not None:
            if not text:
                return reply(ctx.say(mentor, "mentor_number_only", number=number))
            return relay_from_mentor(ctx, mentor, profile, target, text)
        if number >= FIRST_NUMBER:
            # A number that is not one of theirs now (an ended pair, a slip): never a guess at
            # someone else, but the list of the numbers they have.
            return reply(_mentee_list(ctx, mentor, pairs, "mentor_unknown_number", number=number))
    target = reply_target(pairs)
    if target is None:
        return reply(ctx.say(mentor, "mentor_which", number=pairs[0].number))
    return relay_from_mentor(ctx, mentor, profile, target, command.raw)
