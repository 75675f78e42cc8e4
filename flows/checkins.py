"""Weekly mentor check-ins: ask each paired student in their own local time, record the 1-5
answer and note, and send each mentor one summary per cycle.

`plan_checkins` is the scheduling pass's share of mentoring; it writes the records and
returns what to queue (with idempotency keys), and never sends.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from content.catalog import Catalog
from content.segments import segment_count, truncate_to
from flows.engine import Command, Context, Outcome, Push
from flows.mentors import (
    active_pair_of_student,
    best_mentor,
    first_name,
    match,
    pairing_notices,
    profile_of,
)
from flows.safeguarding import (
    LOW_SCORE,
    hide_numbers,
    looks_like_patient_data,
    raise_flag,
    supportive_reply,
    word_matches,
)
from flows.schedule import DEFAULT_CLOCK, is_quiet_time, parse_clock, quiet_at, zone_for
from store.learning import Learning
from store.mentoring import CHECKIN, CHECKIN_SUMMARY, CheckIn, Mentoring, Pair, pair_key
from store.models import OPTED_OUT, STUDENT, Person
from store.settings import Settings

log = logging.getLogger("rounds.checkins")

# (person_id, body, kind, idempotency_key): what the scheduling pass queues.
Planned = tuple[int, str, str, str | None]

# A check-in goes out at most this long after its time (a clock that was down catches up).
ASK_WINDOW = timedelta(hours=12)
# An answer counts for this long after the question.
ANSWER_WINDOW = timedelta(days=3)
# A mentor's summary waits this long for everyone to answer.
SUMMARY_AFTER = timedelta(hours=24)
SUMMARY_SEGMENTS = 3
NOTE_MAX = 160
SUMMARY_NOTE_MAX = 40
SUNDAY = 6

_ANSWER = re.compile(r"\s*([1-5])\s*(?:/\s*5)?(?:[\s.,:;!)\-]+(.*))?", re.S)


# --- time ---------------------------------------------------------------------------------


def in_quiet_hours(person: Person, at: datetime, settings: Settings) -> bool:
    """Inside the quiet window at the person's local time (no exception for their own time)."""
    return quiet_at(at, zone_for(person), settings)


def checkin_weekday(settings: Settings) -> int:
    if 0 <= settings.checkin_weekday <= 6:
        return settings.checkin_weekday
    log.warning("ROUNDS_CHECKIN_WEEKDAY=%s is not 0-6; using Sunday", settings.checkin_weekday)
    return SUNDAY


def checkin_due(student: Person, settings: Settings, at: datetime) -> tuple[datetime, str]:
    """This local week's check-in instant (UTC) for the student, and its ISO week label.

    The student's daily time on the check-in weekday; a daily time inside quiet hours moves
    to the end of them, since the check-in is ours, not a time they chose for it.
    """
    zone = zone_for(student)
    today = at.astimezone(zone).date()
    day = today + timedelta(days=checkin_weekday(settings) - today.weekday())
    clock = parse_clock(student.daily_time or "") or DEFAULT_CLOCK
    if is_quiet_time(clock, settings):
        clock = parse_clock(settings.quiet_end) or clock
    due = datetime.combine(day, clock, tzinfo=zone).replace(fold=0).astimezone(UTC)
    year, week, _ = day.isocalendar()
    return due, f"{year}-W{week:02d}"


# --- the scheduling pass ------------------------------------------------------------------


def plan_checkins(session: Session, catalog: Catalog, settings: Settings, at: datetime) -> list[Planned]:
    """Everything mentoring schedules at `at`: waiting-list matches, check-ins, mentor summaries.

    Records are written in `session` (the caller commits); running it twice for the same
    instant plans nothing twice, and every item also carries an idempotency key.
    """
    return [
        *plan_waiting_matches(session, catalog, settings, at),
        *_plan_questions(session, catalog, settings, at),
        *_plan_summaries(session, catalog, settings, at),
    ]


def plan_waiting_matches(
    session: Session, catalog: Catalog, settings: Settings, at: datetime
) -> list[Planned]:
    """Pair waiting students (oldest first) with mentors who now have room; tell both.

    The mentors are read once a pass, and a student is looked at in the database only when one
    of them could take them: a long waiting list with every mentor full costs the same few reads
    a minute as a short one.
    """
    planned: list[Planned] = []
    mentoring = Mentoring(session)
    waiting = mentoring.waiting()
    mentors = mentoring.available_mentors() if waiting else []
    for student in waiting:
        if student.status == OPTED_OUT or student.role != STUDENT:
            mentoring.leave_waitlist(student.id)
            continue
        if in_quiet_hours(student, at, settings) or best_mentor(student, mentors) is None:
            continue
        if active_pair_of_student(session, student):
            mentoring.leave_waitlist(student.id)
            continue
        new_pair = match(session, student, at, mentors)
        if new_pair is not None:
            planned += [
                (p.person_id, p.body, p.kind, p.key) for p in pairing_notices(session, catalog, new_pair)
            ]
    return planned


def _plan_questions(session: Session, catalog: Catalog, settings: Settings, at: datetime) -> list[Planned]:
    planned: list[Planned] = []
    mentoring = Mentoring(session)
    # A pair asked in the last six days is done for this week; skip it without the time maths.
    recent = mentoring.pairs_asked_since(at - timedelta(days=6))
    for current, student in mentoring.active_pairs_with_students():
        if current.id in recent or (student.flow or "").startswith("onboarding"):
            continue
        due, week = checkin_due(student, settings, at)
        if not due <= at < due + ASK_WINDOW or in_quiet_hours(student, at, settings):
            continue
        created = mentoring.add_checkin(
            {
                "pair_id": current.id,
                "student_id": student.id,
                "mentor_id": current.mentor_id,
                "week": week,
                "asked_at": at,
            }
        )
        if created is None:
            continue
        mentor = mentoring.member(current.mentor_id)
        body = catalog.render(
            "checkin_ask", student.language, mentor=profile_of(session, mentor).display_name
        )
        planned.append((student.id, body, CHECKIN, pair_key(current.id, "checkin", week)))
    return planned


def _plan_summaries(session: Session, catalog: Catalog, settings: Settings, at: datetime) -> list[Planned]:
    planned: list[Planned] = []
    mentoring = Mentoring(session)
    groups: dict[tuple[int, str], list[CheckIn]] = defaultdict(list)
    for checkin in mentoring.unsummarised_checkins():
        groups[(checkin.mentor_id, checkin.week)].append(checkin)
    for (mentor_id, week), checkins in groups.items():
        pairs = {p.id: p for p in mentoring.active_pairs_of_mentor(mentor_id)}
        current = [c for c in checkins if c.pair_id in pairs]
        answered = {c.pair_id for c in current if c.answered_at is not None}
        everyone_answered = bool(pairs) and answered == set(pairs)
        if not everyone_answered and at < min(c.asked_at for c in checkins) + SUMMARY_AFTER:
            continue
        mentor = mentoring.person(mentor_id)
        if mentor is not None and in_quiet_hours(mentor, at, settings):
            continue
        for checkin in checkins:
            checkin.summarised_at = at
        if mentor is None or mentor.status == OPTED_OUT or not current:
            continue
        if profile_of(session, mentor).away:
            continue  # away means no summaries; the flags still reached the admins
        body = summary_text(mentoring, catalog, mentor, current, pairs)
        planned.append(
            (mentor.id, body, CHECKIN_SUMMARY, f"mentor:{mentor.id}:summary:{week}:{checkins[0].id}")
        )
    mentoring.flush()
    return planned


def summary_text(
    mentoring: Mentoring, catalog: Catalog, mentor: Person, checkins: list[CheckIn], pairs: dict[int, Pair]
) -> str:
    """`Check-ins this week: #11 Amina 4 (good week); #12 Bola 2; no answer: #13 Chidi. ...`"""
    language = mentor.language
    ordered = sorted(checkins, key=lambda c: pairs[c.pair_id].number)

    def label(checkin: CheckIn) -> str:
        student = mentoring.member(checkin.student_id)
        return f"#{pairs[checkin.pair_id].number} {first_name(catalog, student, language)}"

    def render(with_notes: bool) -> str:
        parts = []
        for checkin in ordered:
            if checkin.score is None:
                continue
            part = f"{label(checkin)} {checkin.score}"
            if with_notes and checkin.note:
                note = checkin.note[:SUMMARY_NOTE_MAX].rstrip()
                part += f" ({note}{'...' if len(checkin.note) > SUMMARY_NOTE_MAX else ''})"
            parts.append(part)
        missing = [label(c) for c in ordered if c.score is None]
        if missing:
            parts.append(catalog.render("checkin_summary_missing", language, names=", ".join(missing)))
        return catalog.render("checkin_summary", language, answers="; ".join(parts))

    text = render(with_notes=True)
    if segment_count(text) > SUMMARY_SEGMENTS:
        text = render(with_notes=False)
    return truncate_to(text, SUMMARY_SEGMENTS)


# --- the student's answer -----------------------------------------------------------------


def pending_checkin(mentoring: Mentoring, student: Person, now: datetime) -> CheckIn | None:
    """The student's latest unanswered check-in, if it was asked recently enough to answer."""
    return mentoring.pending_checkin(student.id, now - ANSWER_WINDOW)


def _question_since(learning: Learning, student: Person, checkin: CheckIn) -> bool:
    """An exam question asked after the check-in is still open: a bare 1-4 answers that."""
    return learning.open_since(student.id, checkin.asked_at)


def read_checkin_answer(text: str) -> tuple[int, str] | None:
    """`4`, `4/5`, `2 rough week, exams` -> (score, note); anything else -> None."""
    found = _ANSWER.fullmatch(text)
    return None if found is None else (int(found.group(1)), (found.group(2) or "").strip())


def answer_checkin(ctx: Context, student: Person, command: Command) -> Outcome | None:
    """`4` or `2 rough week, exams` after a check-in: record it; None if it is not one."""
    if student.role != STUDENT:
        return None
    found = read_checkin_answer(command.raw)
    if found is None:
        return None
    checkin = pending_checkin(ctx.mentoring, student, ctx.now)
    if checkin is None:
        return None
    score, note = found
    if not note and score <= 4 and _question_since(ctx.learning, student, checkin):
        return None
    checkin.score = score
    checkin.answered_at = ctx.now
    patient_data = bool(note) and looks_like_patient_data(note, ctx.now.year)
    if note and not patient_data:
        checkin.note = hide_numbers(note, ctx.say(student, "mentor_number_hidden"))[0][:NOTE_MAX]
    matches = word_matches(ctx, note) if note else []
    replies: list[str] = []
    pushes: list[Push] = []
    if matches or score <= LOW_SCORE:
        relay_pair = ctx.mentoring.pair(checkin.pair_id)
        _, pushes = raise_flag(
            ctx, student, command.raw, matches, pair=relay_pair, checkin=checkin, score=score
        )
        replies.append(supportive_reply(ctx, student))
    if patient_data:
        replies.append(ctx.say(student, "checkin_patient_data"))
    if not replies:
        mentor = ctx.mentoring.person(checkin.mentor_id)
        name = profile_of(ctx.session, mentor).display_name if mentor else ""
        replies.append(ctx.say(student, "checkin_thanks", mentor=name))
    return Outcome(replies=replies, pushes=pushes)
