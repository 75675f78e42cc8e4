"""The correction text owed after a retraction: which question, what was wrong, the right answer,
at most two segments on the student's channel, in their language; and when it may go (the daily
question's rules: not opted out or paused, outside quiet hours, else at their next daily time).
"""

from __future__ import annotations

from datetime import datetime

from content.segments import for_channel, segment_count, truncate_to
from flows.engine import Context
from flows.opportunities import may_push, next_daily
from flows.resources import topic_name
from store.corrections import REKEY, Correction
from store.models import OPTED_OUT, Person, Question

# Message.kind of a correction.
KIND = "correction"
MAX_SEGMENTS = 2
# The reason and the option text are shortened by this many characters at a time to fit.
_STEP = 12


def _shortened(text: str, cut: int) -> str:
    if cut <= 0:
        return text
    kept = text[: max(0, len(text) - cut)].rstrip(" ,.;:")
    return f"{kept}..." if kept else ""


def correction_text(ctx: Context, person: Person, correction: Correction, question: Question) -> str:
    """The text for one student, fitted to MAX_SEGMENTS: the reason is shortened first, then the
    option's text, so the question's number and the right letter always stay."""
    key = correction.new_answer or correction.old_answer
    template = "correction_rekeyed" if correction.kind == REKEY else "correction_retired"
    option = str((question.options or {}).get(key, ""))
    values = {"id": question.id, "topic": topic_name(ctx, question.topic), "answer": key}

    def render(reason: str, answer_text: str) -> str:
        text = ctx.say(person, template, reason=reason, answer_text=answer_text, **values)
        return for_channel(text, person.channel)

    reason = correction.reason
    for cut in range(0, len(reason) + _STEP, _STEP):
        text = render(_shortened(reason, cut), option)
        if segment_count(text) <= MAX_SEGMENTS:
            return text
    for cut in range(_STEP, len(option) + _STEP, _STEP):
        text = render("", _shortened(option, cut))
        if segment_count(text) <= MAX_SEGMENTS:
            return text
    return truncate_to(render("", ""), MAX_SEGMENTS)


def when_to_send(ctx: Context, person: Person, at: datetime) -> datetime | None:
    """`at` if the student may be texted now, else their next daily time; None when they opted out."""
    if person.status == OPTED_OUT:
        return None
    return at if may_push(ctx, person, at) else next_daily(person, at)
