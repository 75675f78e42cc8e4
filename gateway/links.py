"""`GET /r/<code>`: a short link's 302 to the real resource or opportunity, counted once per click.

A HEAD, a known bot or link-preview fetcher (WhatsApp, Telegram, Facebook, Slack... fetch every
link they show) and a browser's prefetch are redirected but not counted, so the figures are
people opening a link. An unknown code gets a tiny 404 page; a removed resource or a closed
opportunity gets a 410 page that says what to text instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache

import crawleruseragents
from flask import Blueprint, Response, current_app, redirect, request
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from content.catalog import Catalog, get_catalog
from store.db import session_factory
from store.links import CODE_MAX, OPPORTUNITY, RESOURCE, ShortLink, ShortLinks
from store.models import Resource
from store.opportunities import DRAFT, Opportunity
from store.settings import Settings

log = logging.getLogger("rounds.links")

blueprint = Blueprint("links", __name__)

_CODE = re.compile(rf"[0-9a-z]{{1,{CODE_MAX}}}")
# What browsers send on a speculative fetch: Chrome `Sec-Purpose`/`Purpose`, Safari `X-Purpose`,
# Firefox `X-Moz`.
_PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")
_PAGE = (
    '<!doctype html><html lang="{lang}"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<meta name="robots" content="noindex"><title>Rounds: {heading}</title>'
    "<style>body{{font:1rem/1.5 sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}</style>"
    "<h1>{heading}</h1><p>{text}</p></html>"
)


def is_counted(method: str, user_agent: str, headers: Mapping[str, str]) -> bool:
    """Whether this request is a person opening the link (not a preview, a bot or a prefetch)."""
    if method != "GET":
        return False
    if any(headers.get(name) for name in _PREFETCH_HEADERS):
        return False
    # No user agent at all is a script, not a phone's browser.
    return bool(user_agent.strip()) and not _is_bot(user_agent)


@lru_cache(maxsize=4096)
def _is_bot(user_agent: str) -> bool:
    # The list is ~1,500 patterns (1-3 ms a match on this machine); phones repeat their agents.
    return crawleruseragents.is_crawler(user_agent)


def _page(catalog: Catalog, language: str, heading: str, key: str, status: int, **values: str) -> Response:
    html = _PAGE.format(
        lang=language,
        heading=escape(catalog.template(heading, language)),
        text=escape(catalog.template(key, language).format(**values)),
    )
    return Response(
        html,
        status,
        mimetype="text/html",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


@blueprint.get("/r/<code>")
def follow(code: str) -> Response:
    settings: Settings = current_app.config["ROUNDS"]
    catalog = get_catalog(settings.content_path)
    language = request.accept_languages.best_match(catalog.languages) or "en"
    code = code.strip().lower()
    if not _CODE.fullmatch(code):
        return _page(catalog, language, "link_unknown_heading", "link_unknown", 404)
    session = session_factory(settings.database_url)()
    try:
        links = ShortLinks(session)
        link = links.find(code)
        if link is None:
            return _page(catalog, language, "link_unknown_heading", "link_unknown", 404)
        url = _open_target(session, link, settings, language)
        if isinstance(url, Response):
            return url
        if is_counted(request.method, request.user_agent.string, request.headers):
            try:
                links.count(link.id, settings.clock.now().date())
                session.commit()
            except SQLAlchemyError:
                # A click the database could not take is lost; the student still gets the page.
                session.rollback()
                log.exception("could not count a click on %s", code)
    finally:
        session.close()
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _open_target(session: Session, link: ShortLink, settings: Settings, language: str) -> str | Response:
    """The real URL, or the 410 page when the target is gone or closed."""
    catalog = get_catalog(settings.content_path)
    if link.kind == RESOURCE:
        resource = session.get(Resource, link.target)
        if resource is None or not resource.active:
            return _page(catalog, language, "link_gone_heading", "link_gone_resource", 410)
        return resource.url
    if link.kind == OPPORTUNITY and link.target.isdigit():
        opportunity = session.get(Opportunity, int(link.target))
        if opportunity is None or opportunity.status == DRAFT:
            return _page(catalog, language, "link_gone_heading", "link_gone_opportunity", 410)
        # The deadline is a date in the student's own zone: a day after it in UTC, it is over
        # everywhere (the scheduling pass expires it then too).
        if opportunity.deadline < settings.clock.now().date() - timedelta(days=1):
            day = opportunity.deadline.isoformat()
            return _page(catalog, language, "link_gone_heading", "link_closed_opportunity", 410, date=day)
        return opportunity.link
    return _page(catalog, language, "link_unknown_heading", "link_unknown", 404)
