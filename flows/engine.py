"""The router: opt-out words first, then global keywords, then the person's open flow.

`handle` is the one entry point. It changes the person (and learning state) through the
session it is given and returns the replies; the caller commits and sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from content.catalog import Catalog
from store.models import ACTIVE, OPTED_OUT, Person
from store.settings import Settings

# Twilio's own opt-out and opt-in words; only the whole message counts.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# Feature phones add stray punctuation; these are stripped before matching keywords.
_EDGE_PUNCTUATION = ".,!?;:'\"()[]*-_ "


@dataclass
class Inbound:
    """One text as the person sent it."""

    text: str
    channel: str
    received_at: datetime
    num_media: int = 0
    profile_name: str | None = None


@dataclass
class Push:
    """A message to someone other than the sender (a relay, an alert), sent later."""

    person_id: int
    body: str
    kind: str
    key: str | None = None


@dataclass
class Outcome:
    replies: list[str] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)


@dataclass
class Context:
    session: Session
    catalog: Catalog
    settings: Settings
    now: datetime

    def say(self, person: Person, key: str, **values: object) -> str:
        return self.catalog.render(key, person.language or "en", **values)


Handler = Callable[[Context, Person, "Command"], Outcome]


@dataclass(frozen=True)
class Command:
    """A text split into its first word (upper-cased) and the rest."""

    raw: str
    word: str
    rest: str

    @classmethod
    def parse(cls, text: str) -> Command:
        cleaned = re.sub(r"\s+", " ", text or "").strip()
        first, _, rest = cleaned.partition(" ")
        return cls(cleaned, first.strip(_EDGE_PUNCTUATION).upper(), rest.strip())

    @property
    def whole(self) -> str:
        """The whole text as one upper-case word, for single-word keywords."""
        return self.raw.strip(_EDGE_PUNCTUATION).upper()


# Keywords that work whatever flow is open; filled in by the flow modules.
KEYWORDS: dict[str, Handler] = {}
# Handlers for an open flow, by the part of `Person.flow` before the first colon.
OPEN_FLOWS: dict[str, Handler] = {}
# People whose role has its own conversation (mentors) are routed here after opt-out words.
ROLE_HANDLERS: dict[str, Handler] = {}
# Called for a person's first ever message.
FIRST_CONTACT: list[Handler] = []
# Tried in order when no keyword or flow took the text (e.g. a bare answer letter).
FALLBACKS: list[Callable[[Context, Person, Command], Outcome | None]] = []


def keyword(*words: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for word in words:
            KEYWORDS[word] = handler
        return handler

    return register


def reply(*texts: str) -> Outcome:
    return Outcome(replies=[t for t in texts if t])


def handle(ctx: Context, person: Person, inbound: Inbound, first_contact: bool = False) -> Outcome:
    """Route one inbound text for `person` and return what to answer."""
    command = Command.parse(inbound.text)

    if command.whole in OPT_OUT_WORDS:
        return _opt_out(ctx, person)
    if person.status == OPTED_OUT:
        if command.whole in OPT_IN_WORDS:
            return _opt_in(ctx, person)
        if command.whole in HELP_WORDS:
            return reply(ctx.say(person, "help_opted_out"))
        # Opted out means nothing more is sent, whatever they text, until START.
        return Outcome()

    role_handler = ROLE_HANDLERS.get(person.role)
    # A role with its own conversation (mentors) has its own HELP.
    if command.whole in HELP_WORDS and role_handler is None:
        return reply(ctx.say(person, "help"))
    if command.whole in ("START", "UNSTOP"):
        return reply(ctx.say(person, "already_active"))

    if role_handler is not None:
        return role_handler(ctx, person, command)

    if first_contact and FIRST_CONTACT:
        return FIRST_CONTACT[0](ctx, person, command)

    if not command.raw:
        return reply(ctx.say(person, "media_only" if inbound.num_media else "empty"))

    handler = KEYWORDS.get(command.word)
    if handler is not None:
        return handler(ctx, person, command)

    open_flow = (person.flow or "").split(":", 1)[0]
    if open_flow in OPEN_FLOWS:
        return OPEN_FLOWS[open_flow](ctx, person, command)

    for fallback in FALLBACKS:
        outcome = fallback(ctx, person, command)
        if outcome is not None:
            return outcome
    return reply(ctx.say(person, "unknown"))


def _opt_out(ctx: Context, person: Person) -> Outcome:
    person.status = OPTED_OUT
    person.next_push_at = None
    return reply(ctx.say(person, "stopped"))


def _opt_in(ctx: Context, person: Person) -> Outcome:
    person.status = ACTIVE
    person.paused_until = None
    for hook in OPT_IN_HOOKS:
        hook(ctx, person)
    return reply(ctx.say(person, "restarted"))


# Called when a person opts back in (e.g. to reschedule their daily question).
OPT_IN_HOOKS: list[Callable[[Context, Person], None]] = []
