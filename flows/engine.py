"""What every flow speaks: the inbound text, the context, the outcome, and the opt-out words.

The order in which a text is matched lives in `flows.routes`; `flows.routes.handle` is the one
entry point.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy.orm import Session

from content.catalog import Catalog
from flows.schedule import reschedule
from store.learning import Learning
from store.links import ShortLinks
from store.mentoring import Mentoring
from store.models import ACTIVE, Person
from store.opportunities import Opportunities
from store.settings import Settings

# Twilio's own opt-out and opt-in words; only the whole message counts.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# The second page of the command list (HELP must fit one segment, and the second wave's words do not).
HELP_MORE_WORDS = frozenset({"HELP 2", "HELP MORE", "INFO 2", "HELP2"})

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
    message_type: str = "text"  # WhatsApp's MessageType: `location`, `image`, ... carry no text

    @property
    def attachments(self) -> int:
        """Photos and voice notes (NumMedia), or one for a shared location: what came besides text."""
        return self.num_media or (0 if self.message_type in ("", "text") else 1)


@dataclass
class Push:
    """A message to someone other than the sender (a relay, an alert), sent later."""

    person_id: int
    body: str
    kind: str
    key: str | None = None


@dataclass(frozen=True)
class Answered:
    """The asking an answer was recorded for (so a flow wrapping the quiz can follow it up)."""

    source: str
    answer: str
    correct: bool


@dataclass
class Outcome:
    replies: list[str] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    answered: Answered | None = None


@dataclass
class Context:
    session: Session
    catalog: Catalog
    settings: Settings
    now: datetime

    def say(self, person: Person, key: str, **values: object) -> str:
        return self.catalog.render(key, person.language or "en", **values)

    @cached_property
    def learning(self) -> Learning:
        """Questions, askings, answers and cards, queried on this context's session.

        With ROUNDS_SERVE_ONLY_REVIEWED, the bank holds only items with the required approvals."""
        settings = self.settings
        return Learning(self.session, settings.reviews_required if settings.serve_only_reviewed else 0)

    @cached_property
    def mentoring(self) -> Mentoring:
        """Mentors, pairs, check-ins and flags, queried on this context's session."""
        return Mentoring(self.session)

    @cached_property
    def opportunities(self) -> Opportunities:
        """Opportunities, saved reminders and digest subscriptions, queried on this context's session."""
        return Opportunities(self.session)

    @cached_property
    def links(self) -> ShortLinks:
        """Short-link codes, made on first use and remembered for this context."""
        return ShortLinks(self.session)


# A keyword's or an open flow's handler always answers; a route may pass (None) to the next one.
Handler = Callable[[Context, Person, "Command"], Outcome]
Route = Callable[[Context, Person, "Command"], Outcome | None]


@dataclass(frozen=True)
class Command:
    """A text split into its first word (upper-cased) and the rest, and how it arrived."""

    raw: str
    word: str
    rest: str
    media: int = 0
    # The person's first message ever: onboarding starts whatever it says.
    first_contact: bool = False

    @classmethod
    def parse(cls, text: str, media: int = 0, first_contact: bool = False) -> Command:
        cleaned = re.sub(r"\s+", " ", text or "").strip()
        first, _, rest = cleaned.partition(" ")
        return cls(cleaned, first.strip(_EDGE_PUNCTUATION).upper(), rest.strip(), media, first_contact)

    @property
    def whole(self) -> str:
        """The whole text as one upper-case word, for single-word keywords."""
        return self.raw.strip(_EDGE_PUNCTUATION).upper()


def reply(*texts: str) -> Outcome:
    return Outcome(replies=[t for t in texts if t])


def _opt_out(ctx: Context, person: Person) -> Outcome:
    person.opt_out()
    return reply(ctx.say(person, "stopped"))


def _opt_in(ctx: Context, person: Person) -> Outcome:
    person.status = ACTIVE
    person.paused_until = None
    person.sms_blocked = person.whatsapp_blocked = False  # START on either channel restarts both
    reschedule(person, ctx.now)  # their daily question starts again
    return reply(ctx.say(person, "restarted"))
