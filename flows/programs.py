"""Programs by text: PROGRAMS, JOIN <CODE>, LEAVE, PROGRAM, NEXT, VERIFY <code>; the program day the
scheduling pass sends instead of the daily question; the day's next question, lesson and
completion (with its certificate) as answers come in.

A day goes out as its first question under a `ECG 5/14: ` label; the day's lesson comes back with the
feedback on its last question (question first, then the teaching point), which keeps a typical day
at three SMS segments (bench/cost.py). A day whose questions are not all answered or skipped is sent
again at the next daily time: a missed day waits, the program never skips ahead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flows import onboarding, quiz
from flows.engine import Command, Context, Outcome, reply
from flows.schedule import in_quiet_hours, local_date
from store.models import Person
from store.programs import (
    COMPLETED,
    LEFT,
    Enrolment,
    Program,
    ProgramDay,
    Programs,
    first_name,
    parse_source,
    source_for,
)

# Share of a program's questions answered (not skipped) that earns the certificate.
CERTIFICATE_SHARE = 70
_DAYS = "rounds.program_days"


def programs_of(ctx: Context) -> Programs:
    return Programs(ctx.session)


def _day(ctx: Context, program_id: int, day: int) -> ProgramDay | None:
    """A program day, held for the session (a pass reads the same few days for many students)."""
    held: dict[tuple[int, int], ProgramDay | None] = ctx.session.info.setdefault(_DAYS, {})
    if (program_id, day) not in held:
        held[program_id, day] = programs_of(ctx).day(program_id, day)
    return held[program_id, day]


def _program(ctx: Context, program_id: int) -> Program:
    program = programs_of(ctx).program(program_id)
    assert program is not None
    return program


def label(program: Program, day: int) -> str:
    return f"{program.code} {day}/{program.days}: "


def _resolved(progress: dict[tuple[int, int], str], day: int, count: int) -> bool:
    return all(progress.get((day, n), "open") != "open" for n in range(1, count + 1))


@dataclass(frozen=True)
class Sent:
    """A program question written for one person: its text and the local date it counts for."""

    person: Person
    text: str
    day: date


def _ask(
    ctx: Context,
    person: Person,
    enrolment: Enrolment,
    program: Program,
    day: int,
    index: int,
    today: date,
    prefix: str | None = None,
) -> str | None:
    """Ask question `index` of `day` (an attempt on today's date); its text, or None if asked already.

    The text starts with `prefix` (default: the day's label), the whole fitted to two SMS segments.
    """
    program_day = _day(ctx, program.id, day)
    if program_day is None or index > len(program_day.questions):
        return None
    question = ctx.learning.question(int(program_day.questions[index - 1]))
    if question is None:
        return None
    source = source_for(enrolment.id, day, index)
    programs_of(ctx).supersede(person.id, source, today)
    if ctx.learning.insert_attempt(person.id, question.id, today, source, ctx.now, question.version) is None:
        return None
    return quiz.render_question(ctx, person, question, label(program, day) if prefix is None else prefix)


def _open_day(ctx: Context, person: Person, enrolment: Enrolment, program: Program) -> tuple[int, int] | None:
    """(day, question) to send now: an unfinished day's first open question, else the next day's first."""
    day = enrolment.day
    if day >= 1:
        program_day = _day(ctx, program.id, day)
        count = len(program_day.questions) if program_day else 0
        progress = programs_of(ctx).progress(person.id, enrolment.id)
        for n in range(1, count + 1):
            if progress.get((day, n), "open") == "open":
                return day, n
    return (day + 1, 1) if day < program.days else None


def plan_program_days(ctx: Context, people: list[Person], at: datetime) -> tuple[list[Sent], list[Person]]:
    """The scheduling pass's program days: (what to send, the people left for the daily question).

    The same rules as the daily question hold (quiz.ready_for_push, the quiet hours, one push per
    local date by the caller's idempotency key); an enrolled student never gets both.
    """
    enrolled = programs_of(ctx).current_for([p.id for p in people])
    if not enrolled:
        return [], people
    sent: list[Sent] = []
    rest: list[Person] = []
    for person in people:
        enrolment = enrolled.get(person.id)
        today = local_date(person, at)
        if enrolment is None or (enrolment.starts_on is not None and today < enrolment.starts_on):
            rest.append(person)  # not in a program, or their cohort has not started: the daily question
            continue
        if not quiz.ready_for_push(person, at) or in_quiet_hours(person, at, ctx.settings):
            continue
        if enrolment.day_sent_on == today:
            continue  # a day went out today already (NEXT, or an earlier pass)
        program = _program(ctx, enrolment.program_id)
        found = _open_day(ctx, person, enrolment, program)
        if found is None:
            # Every day done but not completed: a newer, shorter version of the program was
            # published after they passed its last day. They finish now, on the days it has.
            progress = programs_of(ctx).progress(person.id, enrolment.id)
            sent.append(Sent(person, _complete(ctx, person, enrolment, program, progress), today))
            enrolment.day_sent_on = today
            continue
        day, index = found
        text = _ask(ctx, person, enrolment, program, day, index, today)  # a missed day: where it stopped
        if text is None:
            continue
        enrolment.day, enrolment.day_sent_on = day, today
        sent.append(Sent(person, text, today))
    return sent, rest


# --- answers ----------------------------------------------------------------------------------


def _after(ctx: Context, person: Person, source: str, verdict: str) -> str | None:
    """What follows a program question's answer or skip: the next question of the day, else the
    lesson (and, after the last day, the completion). None when the source is no current program's."""
    parsed = parse_source(source)
    if parsed is None:
        return None
    enrolment_id, day, index = parsed
    programs = programs_of(ctx)
    enrolment = programs.current(person.id)
    if enrolment is None or enrolment.id != enrolment_id:
        return None
    program = _program(ctx, enrolment.program_id)
    program_day = _day(ctx, program.id, day)
    if program_day is None:
        return None
    today = local_date(person, ctx.now)
    progress = programs.progress(person.id, enrolment.id)
    count = len(program_day.questions)
    for n in range(index + 1, count + 1):
        if progress.get((day, n), "open") == "open":
            following = _ask(ctx, person, enrolment, program, day, n, today, f"{verdict}\n")
            if following is not None:
                return following
    if not _resolved(progress, day, count):
        return verdict
    lesson = ctx.say(
        person, "program_lesson", verdict=verdict, lesson=program_day.lesson_in(person.language or "en")
    )
    if day < program.days:
        return lesson
    return f"{lesson}\n{_complete(ctx, person, enrolment, program, progress)}"


def _complete(
    ctx: Context, person: Person, enrolment: Enrolment, program: Program, progress: dict[tuple[int, int], str]
) -> str:
    # Only the days the program has now count (a shorter version may have been published since).
    answered = sum(1 for (day, _), state in progress.items() if state == "answered" and day <= program.days)
    share = min(100, round(100 * answered / max(program.questions, 1)))
    enrolment.status, enrolment.completed_at = COMPLETED, ctx.now
    title = program.title_in(person.language or "en")
    if share < CERTIFICATE_SHARE:
        return ctx.say(
            person, "program_done_no_certificate", title=title, share=share, need=CERTIFICATE_SHARE
        )
    certificate = programs_of(ctx).issue(
        enrolment, first_name(person), share, local_date(person, ctx.now), ctx.now
    )
    return ctx.say(person, "program_done", title=title, code=certificate.code)


def answer_or_hint(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """An answer as `quiz.answer_or_hint` takes it; a program question's gets the program's follow-up."""
    outcome = quiz.answer_or_hint(ctx, person, command)
    answered = outcome.answered if outcome is not None else None
    if outcome is None or answered is None or parse_source(answered.source) is None:
        return outcome
    key = "program_right" if answered.correct else "program_wrong"
    after = _after(ctx, person, answered.source, ctx.say(person, key, answer=answered.answer))
    return outcome if after is None else reply(after)


def skip(ctx: Context, person: Person, command: Command) -> Outcome:
    """SKIP; a skipped program question moves the day on like an answer."""
    attempt = None if onboarding.in_progress(person) else quiz.open_attempt(ctx.learning, person, ctx.now)
    outcome = quiz.skip(ctx, person, command)
    if attempt is None or parse_source(attempt.source) is None:
        return outcome
    after = _after(ctx, person, attempt.source, ctx.say(person, "program_skipped", id=attempt.question_id))
    return outcome if after is None else reply(after)


# --- keywords ---------------------------------------------------------------------------------


def _when(person: Person) -> str:
    return person.daily_time or "08:00"


def list_programs(ctx: Context, person: Person, command: Command) -> Outcome:
    """PROGRAMS: the open programs for the person's track, each with code, title, days, next cohort."""
    programs = programs_of(ctx)
    cohorts = programs.next_cohorts(local_date(person, ctx.now))
    language = person.language or "en"
    lines = []
    for program in programs.open_programs():
        if program.tracks and person.track not in program.tracks:
            continue
        starts = cohorts.get(program.id)
        key = "programs_item_cohort" if starts else "programs_item"
        lines.append(
            ctx.say(
                person,
                key,
                code=program.code,
                title=program.title_in(language),
                days=program.days,
                starts=_short_date(ctx, person, starts) if starts else "",
            )
        )
    if not lines:
        return reply(ctx.say(person, "programs_none"))
    return reply(ctx.say(person, "programs_list", programs="\n".join(lines)))


def _short_date(ctx: Context, person: Person, day: date) -> str:
    months = ctx.say(person, "program_months").split()
    return f"{day.day} {months[day.month - 1] if len(months) == 12 else day.month}"


def join(ctx: Context, person: Person, command: Command) -> Outcome:
    """JOIN <CODE> for an onboarded student; a bare JOIN (or anyone still signing up) is onboarding's."""
    # Codes are capitals and digits: what else was typed is dropped, so a reply never echoes it.
    code = re.sub(r"[^A-Z0-9]", "", command.rest.split(" ", 1)[0].upper()) if command.rest else ""
    if not code or not onboarding.is_onboarded(person):
        return onboarding.join(ctx, person, command)
    programs = programs_of(ctx)
    program = programs.by_code(code)
    if program is None or not program.active:
        return reply(ctx.say(person, "program_unknown", code=code[:8]))
    language = person.language or "en"
    current = programs.current(person.id)
    if current is not None:
        held = _program(ctx, current.program_id)
        if held.id == program.id:
            return reply(
                ctx.say(
                    person, "program_already", title=held.title_in(language), day=current.day, days=held.days
                )
            )
        return reply(ctx.say(person, "program_busy", title=held.title_in(language), code=program.code))
    previous = programs.enrolment(person.id, program.id)
    if previous is not None and previous.status == COMPLETED:
        return reply(ctx.say(person, "program_finished", title=program.title_in(language)))
    today = local_date(person, ctx.now)
    starts = programs.next_cohorts(today).get(program.id)
    cohort = None
    if starts is not None and starts > today:
        cohort = programs.open_cohort(program, starts, None, ctx.now)
    enrolment = programs.enrol(person.id, program, cohort, ctx.now)
    title = program.title_in(language)
    if cohort is not None:
        return reply(
            ctx.say(
                person,
                "program_joined_cohort",
                title=title,
                starts=_short_date(ctx, person, cohort.starts_on),
                time=_when(person),
            )
        )
    return reply(
        ctx.say(
            person,
            "program_joined",
            title=title,
            days=program.days,
            day=enrolment.day + 1,
            time=_when(person),
        )
    )


def leave(ctx: Context, person: Person, command: Command) -> Outcome:
    enrolment = programs_of(ctx).current(person.id)
    if enrolment is None:
        return reply(ctx.say(person, "program_none_joined"))
    program = _program(ctx, enrolment.program_id)
    enrolment.status = LEFT
    enrolment.updated_at = ctx.now
    return reply(
        ctx.say(
            person,
            "program_left",
            title=program.title_in(person.language or "en"),
            code=program.code,
            day=enrolment.day,
            days=program.days,
        )
    )


def _cohort_waiting(ctx: Context, person: Person, title: str, starts_on: date) -> Outcome:
    """Enrolled in a cohort that has not started yet."""
    starts = _short_date(ctx, person, starts_on)
    return reply(ctx.say(person, "program_waiting_cohort", title=title, starts=starts))


def where(ctx: Context, person: Person, command: Command) -> Outcome:
    """PROGRAM: the day they are on and how many of its questions so far they answered."""
    programs = programs_of(ctx)
    enrolment = programs.current(person.id)
    if enrolment is None:
        return reply(ctx.say(person, "program_none_joined"))
    program = _program(ctx, enrolment.program_id)
    title = program.title_in(person.language or "en")
    if enrolment.day == 0:
        today = local_date(person, ctx.now)
        if enrolment.starts_on is not None and enrolment.starts_on > today:
            return _cohort_waiting(ctx, person, title, enrolment.starts_on)
        return reply(ctx.say(person, "program_waiting", title=title, time=_when(person)))
    progress = programs.progress(person.id, enrolment.id)
    answered = sum(1 for state in progress.values() if state == "answered")
    return reply(
        ctx.say(
            person,
            "program_where",
            title=title,
            day=enrolment.day,
            days=program.days,
            answered=answered,
            asked=len(progress),
        )
    )


def next_day(ctx: Context, person: Person, command: Command) -> Outcome:
    """NEXT: the next day now, once a local day, when the current one is answered or skipped."""
    programs = programs_of(ctx)
    enrolment = programs.current(person.id)
    if enrolment is None:
        return reply(ctx.say(person, "program_none_joined"))
    program = _program(ctx, enrolment.program_id)
    today = local_date(person, ctx.now)
    if enrolment.starts_on is not None and enrolment.starts_on > today:
        return _cohort_waiting(ctx, person, program.title_in(person.language or "en"), enrolment.starts_on)
    if enrolment.next_used_on == today:
        return reply(ctx.say(person, "program_next_used", time=_when(person)))
    found = _open_day(ctx, person, enrolment, program)
    if found is None:
        return reply(ctx.say(person, "program_none_joined"))
    day, index = found
    if day == enrolment.day:
        return reply(ctx.say(person, "program_next_wait"))
    text = _ask(ctx, person, enrolment, program, day, index, today)
    if text is None:
        return reply(ctx.say(person, "program_next_used", time=_when(person)))
    enrolment.day, enrolment.day_sent_on, enrolment.next_used_on = day, today, today
    return reply(text)


def verify_text(ctx: Context, language: str, text: str) -> str:
    """VERIFY <code>'s answer, for anyone (no person needed): holder's first name, program, date."""
    code = text.strip()
    if not code:
        return ctx.catalog.render("verify_how", language)
    found = programs_of(ctx).verify(code)
    if found is None:
        # Echo only what a code can hold: a control character or emoji would cost the reply GSM-7.
        shown = re.sub(r"[^0-9A-Za-z-]", "", code)[:16] or "?"
        return ctx.catalog.render("verify_none", language, code=shown)
    if found.revoked:
        return ctx.catalog.render("verify_revoked", language, code=found.code)
    return ctx.catalog.render(
        "verify_ok",
        language,
        code=found.code,
        name=found.first_name,
        title=found.program.title_in(language),
        date=found.issued_on.isoformat(),
    )


def verify(ctx: Context, person: Person, command: Command) -> Outcome:
    return reply(verify_text(ctx, person.language or "en", command.rest))


def is_verify(text: str) -> bool:
    """A text that is VERIFY <code>: answered even for a number Rounds does not know."""
    return Command.parse(text).word == "VERIFY"
