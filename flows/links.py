"""The address a resource or an opportunity goes out as: `PUBLIC_URL/r/<code>` when PUBLIC_URL is
set, so clicks are counted (per target, day, channel and country), else the real URL, since a
short link that points nowhere reachable would only break the message.
"""

from __future__ import annotations

from flows.engine import Context
from store.links import OPPORTUNITY, RESOURCE
from store.models import Person, Resource
from store.opportunities import Opportunity

SHORT_PATH = "/r/"


def short_url(ctx: Context, person: Person, kind: str, target: str, url: str) -> str:
    base = ctx.settings.public_url
    if not base:
        return url
    code = ctx.links.code_for(kind, target, person.channel, person.country, ctx.now)
    return f"{base}{SHORT_PATH}{code}"


def resource_url(ctx: Context, person: Person, resource: Resource) -> str:
    return short_url(ctx, person, RESOURCE, resource.id, resource.url)


def opportunity_url(ctx: Context, person: Person, opportunity: Opportunity) -> str:
    return short_url(ctx, person, OPPORTUNITY, str(opportunity.id), opportunity.link)
