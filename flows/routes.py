"""The order in which an inbound text is matched: `ROUTES`, read top to bottom, first answer wins.

Every keyword, role conversation, open flow and fallback is named here, so a flow's priority is
this table's order, never an import order. `handle` is the engine's one entry point.
"""

from __future__ import annotations

from flows import (
    channels,
    checkins,
    mentors,
    onboarding,
    opportunities,
    programs,
    quiz,
    reports,
    resources,
    safeguarding,
    settings,
    weekly,
)
from flows.engine import (
    HELP_MORE_WORDS,
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Command,
    Context,
    Handler,
    Inbound,
    Outcome,
    Route,
    _opt_in,
    _opt_out,
    reply,
)
from store.mentoring import ONCALL
from store.models import MENTOR, OPTED_OUT, Person

# Words that work whatever flow is open (the first word of the text, upper-cased).
KEYWORDS: dict[str, Handler] = {
    "JOIN": programs.join,  # JOIN <CODE> enrols; a bare JOIN is onboarding's
    **dict.fromkeys(["Q", "QUIZ", "MORE"], quiz.question_now),
    "SKIP": programs.skip,  # quiz.skip, and a skipped program question moves its day on
    **dict.fromkeys(["SCORE", "STATS"], quiz.score),
    **dict.fromkeys(["RES", "RESOURCES", "RESOURCE"], resources.resources),
    **dict.fromkeys(["TIME", "HOUR", "HEURE", "HORA"], settings.set_time),
    **dict.fromkeys(["TZ", "TIMEZONE"], settings.set_zone),
    "PAUSE": settings.pause,
    **dict.fromkeys(["RESUME", "UNPAUSE"], settings.resume),
    **dict.fromkeys(["LANG", "LANGUAGE", "LANGUE", "IDIOMA"], settings.set_language),
    "MENTOR": mentors.student_mentor,
    **dict.fromkeys(["OPP", "OPPS", "OPPORTUNITIES"], opportunities.opp),
    **dict.fromkeys(["PROGRAMS", "PROGRAMMES", "PROGRAMAS"], programs.list_programs),
    **dict.fromkeys(["PROGRAM", "PROGRAMME", "PROGRAMA"], programs.where),
    **dict.fromkeys(["LEAVE", "QUITTER", "SALIR"], programs.leave),
    **dict.fromkeys(["NEXT", "SUIVANT", "SIGUIENTE"], programs.next_day),
    **dict.fromkeys(["VERIFY", "VERIFIER", "VERIFICAR"], programs.verify),
    "WEEKLY": weekly.weekly,
    **dict.fromkeys(["REPORT", "SIGNALER", "REPORTAR"], reports.report),
    "WHATSAPP": channels.whatsapp,  # how to reach Rounds on WhatsApp (pushes go there again)
    "SMS": channels.sms,  # pushes by SMS
}
# People whose role has a conversation of its own, after the opt-out words.
ROLE_HANDLERS: dict[str, Handler] = {MENTOR: mentors.handle_mentor, ONCALL: safeguarding.handle_oncall}
# An open flow, by the part of `Person.flow` before the first colon.
OPEN_FLOWS: dict[str, Handler] = {onboarding.FLOW: onboarding.continue_onboarding}
# Where a first message goes, whatever it says.
FIRST_CONTACT: Handler = onboarding.first_contact


def opt_out(ctx: Context, person: Person, command: Command) -> Outcome | None:
    return _opt_out(ctx, person) if command.whole in OPT_OUT_WORDS else None


def opted_out(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """START or HELP; anything else gets no answer at all until START."""
    if person.status != OPTED_OUT:
        return None
    if command.whole in OPT_IN_WORDS:
        return _opt_in(ctx, person)
    if command.whole in HELP_WORDS:
        return reply(ctx.say(person, "help_opted_out"))
    return Outcome()


def help_or_start(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """HELP (a role with its own conversation has its own HELP) and START while subscribed."""
    if command.whole in HELP_WORDS and person.role not in ROLE_HANDLERS:
        return reply(ctx.say(person, "help"))
    if command.whole in HELP_MORE_WORDS and person.role not in ROLE_HANDLERS:
        return reply(ctx.say(person, "help_more"))
    if command.whole in ("START", "UNSTOP"):
        return reply(ctx.say(person, "already_active"))
    return None


def role(ctx: Context, person: Person, command: Command) -> Outcome | None:
    handler = ROLE_HANDLERS.get(person.role)
    return None if handler is None else handler(ctx, person, command)


def first_message(ctx: Context, person: Person, command: Command) -> Outcome | None:
    return FIRST_CONTACT(ctx, person, command) if command.first_contact else None


def empty(ctx: Context, person: Person, command: Command) -> Outcome | None:
    if command.raw:
        return None
    if command.media:
        # Rounds reads only text: say so, and show what can be texted.
        return reply(ctx.say(person, "media_only"), ctx.say(person, "help").split("\n", 1)[0])
    return reply(ctx.say(person, "empty"))


def keyword(ctx: Context, person: Person, command: Command) -> Outcome | None:
    handler = KEYWORDS.get(command.word)
    return None if handler is None else handler(ctx, person, command)


def open_flow(ctx: Context, person: Person, command: Command) -> Outcome | None:
    handler = OPEN_FLOWS.get((person.flow or "").split(":", 1)[0])
    return None if handler is None else handler(ctx, person, command)


def unknown(ctx: Context, person: Person, command: Command) -> Outcome:
    return reply(ctx.say(person, "unknown"))


ROUTES: tuple[tuple[str, Route], ...] = (
    ("opt-out word", opt_out),  # STOP and the like, from anyone, in any flow: both channels end
    ("one channel's opt-out", channels.stop_one),  # STOP SMS / STOP WHATSAPP: the other goes on
    ("opted out", opted_out),  # START and HELP; nothing else is answered
    ("help or start", help_or_start),
    ("role", role),  # mentors and the on-call number
    ("first contact", first_message),  # onboarding starts
    ("empty", empty),  # a picture or a location alone, or blanks
    ("keyword", keyword),  # KEYWORDS
    ("open flow", open_flow),  # OPEN_FLOWS: onboarding's steps
    ("check-in answer", checkins.answer_checkin),  # `4 good week`, before an exam answer
    # a bare `B`, `Q17 B`, or a hint while a question is open; a program question's answer brings the
    # day's next question or its lesson
    ("exam answer", programs.answer_or_hint),
    ("not yet onboarded", onboarding.not_yet_onboarded),
    ("unknown", unknown),
)


def handle(ctx: Context, person: Person, inbound: Inbound, first_contact: bool = False) -> Outcome:
    """Route one inbound text for `person` and return what to answer.

    It changes the person (and learning state) through the context it is given; the caller
    commits and sends.
    """
    command = Command.parse(inbound.text, inbound.attachments, first_contact)
    for _name, route in ROUTES:
        outcome = route(ctx, person, command)
        if outcome is not None:
            return outcome
    return unknown(ctx, person, command)
