"""One person, two channels: `WHATSAPP` (how to reach Rounds there), `SMS` (pushes by SMS),
`STOP SMS` / `STOP WHATSAPP` (stop one channel, keep the other), and the choice of the cheapest
channel that can reach someone now (`push_route`), which the send path applies to every push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.engine import OPT_OUT_WORDS, Command, Context, Outcome, reply
from flows.schedule import WHATSAPP_WINDOW, reschedule
from store.models import ACTIVE, OPTED_OUT, SMS, WHATSAPP, Person

# The words that name a channel after STOP.
CHANNEL_WORDS = {
    **dict.fromkeys(["SMS", "TEXT", "TEXTO"], SMS),
    **dict.fromkeys(["WHATSAPP", "WA"], WHATSAPP),
}
CHANNEL_NAMES = {SMS: "SMS", WHATSAPP: "WhatsApp"}
# How a push leaves.
FREE_FORM, TEMPLATE = "whatsapp", "template"


def can_text(person: Person) -> bool:
    """An SMS needs a phone number: a WhatsApp user known only by their business-scoped id has none."""
    return person.phone.startswith("+")


def on_whatsapp(person: Person) -> bool:
    return person.channel == WHATSAPP or person.whatsapp_inbound_at is not None


def wa_me_link(whatsapp_from: str) -> str:
    """`whatsapp:+14155238886` -> `wa.me/14155238886` (wa.me takes the number as digits only)."""
    digits = "".join(ch for ch in whatsapp_from if ch.isdigit())
    return f"wa.me/{digits}" if digits else ""


def whatsapp(ctx: Context, person: Person, command: Command) -> Outcome:
    """WHATSAPP: by SMS, the link to write to Rounds there; on WhatsApp, they already are (and
    pushes come there again)."""
    if person.channel == WHATSAPP:  # the channel this text came in on
        person.prefers_sms = False
        return reply(ctx.say(person, "whatsapp_already"))
    link = wa_me_link(ctx.settings.whatsapp_from or "")
    if not link:
        return reply(ctx.say(person, "whatsapp_unavailable"))
    person.prefers_sms = False
    return reply(ctx.say(person, "whatsapp_link", wa_link=link))


def sms(ctx: Context, person: Person, command: Command) -> Outcome:
    """SMS: pushes go by SMS from now on (WHATSAPP undoes it)."""
    if not can_text(person):
        return reply(ctx.say(person, "sms_no_number"))
    person.prefers_sms = True
    person.sms_blocked = False
    return reply(ctx.say(person, "sms_set"))


def stop_one(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """`STOP SMS` / `STOP WHATSAPP`: that channel stops and the other goes on, also right after a
    STOP (which ends both). With no other channel to go on, it is a STOP."""
    channel = CHANNEL_WORDS.get(command.rest.upper().strip(" .!"))
    if command.word not in OPT_OUT_WORDS or channel is None:
        return None
    other = WHATSAPP if channel == SMS else SMS
    reachable = on_whatsapp(person) if other == WHATSAPP else can_text(person)
    if not reachable:
        person.opt_out()
        return reply(ctx.say(person, "stopped"))
    person.sms_blocked = channel == SMS
    person.whatsapp_blocked = channel == WHATSAPP
    person.prefers_sms = False if channel == SMS else person.prefers_sms
    if person.status == OPTED_OUT:
        person.status = ACTIVE
        person.paused_until = None
        reschedule(person, ctx.now)
    return reply(
        ctx.say(person, "stopped_channel", channel=CHANNEL_NAMES[channel], other=CHANNEL_NAMES[other])
    )


@dataclass(frozen=True)
class Reach:
    """What the send path knows about a person when a push's turn comes."""

    status: str
    has_number: bool  # an E.164 number: SMS can reach them
    on_whatsapp: bool  # they have written on WhatsApp (it may reach them)
    whatsapp_inbound_at: datetime | None
    prefers_sms: bool = False
    sms_blocked: bool = False
    whatsapp_blocked: bool = False


def push_route(
    reach: Reach,
    now: datetime,
    *,
    sms_cost: float,
    template_cost: float | None,
    sms_ready: bool = True,
) -> str | None:
    """The cheapest way a push reaches this person now: `whatsapp` (free-form, inside the 24 h
    window), `template` (a WhatsApp template, when one is configured and cheaper than the SMS),
    `sms`, or None (opted out, or no channel left). `SMS` (prefers_sms) puts SMS first.

    `sms_cost` is the whole message's price by SMS (segments x price), `template_cost` the price of a
    template message in their country, None when no template is configured for the message."""
    if reach.status == OPTED_OUT:
        return None
    can_sms = reach.has_number and not reach.sms_blocked and sms_ready
    can_whatsapp = reach.on_whatsapp and not reach.whatsapp_blocked
    if can_sms and reach.prefers_sms:
        return SMS
    if can_whatsapp:
        opened = reach.whatsapp_inbound_at
        if opened is not None and now - opened < WHATSAPP_WINDOW:
            return FREE_FORM
        if template_cost is not None and (not can_sms or template_cost < sms_cost):
            return TEMPLATE
    if can_sms:
        return SMS
    return None
