"""`REPORT Q17 the key is wrong`, or `REPORT <text>` about the last question the student got:
the report is kept against that question's version, and the student is thanked in one segment.
"""

from __future__ import annotations

import re

from flows.engine import Command, Context, Outcome, reply
from store.models import Person
from store.reports import Reports, report_text

# `Q17`, `Q 17`, `#17`, `17:` at the start of the rest; at most 9 digits (a question id fits an INTEGER).
_QUESTION = re.compile(r"^(?:Q\s?|#)?(\d{1,9})(?=$|[\s:,.;!?)-])[\s:,.;!?)-]*", re.IGNORECASE)
# Only `Q…` or `#…` counts as naming a question when a bare number could be the text itself.
_NAMED = re.compile(r"^(?:Q\s?|#)\d", re.IGNORECASE)
# A number longer than any question id, named as one: the student meant a question that cannot exist.
_TOO_LONG = re.compile(r"^(?:Q\s?|#)(\d{10,})", re.IGNORECASE)


def parse(rest: str) -> tuple[int | None, str, str | None]:
    """(question id or None, the words, the id as typed when it cannot be one)."""
    too_long = _TOO_LONG.match(rest)
    if too_long:
        return None, "", too_long.group(1)[:12]
    match = _QUESTION.match(rest) if _NAMED.match(rest) else None
    if match is None:
        return None, rest, None
    return int(match.group(1)), rest[match.end() :], None


def report(ctx: Context, person: Person, command: Command) -> Outcome:
    """Keep the report and thank them; a missing text, an unknown id or no question yet gets a hint."""
    question_id, words, impossible = parse(command.rest)
    if impossible is not None:
        return reply(ctx.say(person, "report_unknown", id=impossible))
    text = report_text(words)
    if not any(ch.isalnum() for ch in text):
        # Nothing said (emoji alone count as nothing to act on): say how.
        return reply(ctx.say(person, "report_how"))
    reports = Reports(ctx.session)
    asked = reports.asked_version(person.id, question_id)
    if asked is None:
        if question_id is None:
            return reply(ctx.say(person, "report_no_question"))
        return reply(ctx.say(person, "report_unknown", id=question_id))
    reports.record(person.id, asked[0], asked[1], text, ctx.now)
    return reply(ctx.say(person, "report_thanks", id=asked[0]))
