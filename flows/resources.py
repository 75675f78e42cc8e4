"""`RES [topic]` and `RES MORE`: the topic menu, and free study links for a topic a page at a time.

Topics are matched forgivingly (`cardio`, `cardiolgy`, `heart`) over the taxonomy's keys,
names and synonyms and any topic the resources table uses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import yaml
from rapidfuzz import fuzz, process

from content import content_root
from content.segments import is_gsm7, segment_count, truncate_to
from flows.engine import Command, Context, Outcome, reply
from flows.links import resource_url
from store.models import Person, Resource

PAGE_SIZE = 3
PAGE_SEGMENTS = 3
# A menu should cost no more than two segments when its language fits GSM-7.
MENU_SEGMENTS = 2
GENERAL = "general"


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    synonyms: tuple[str, ...] = ()


@lru_cache(maxsize=8)
def load_taxonomy(content_path: str = "") -> tuple[Topic, ...]:
    """The taxonomy's topics, in file order; empty if the file is missing or unreadable."""
    path = content_root(content_path) / "taxonomy.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return ()
    topics = []
    for item in data.get("topics") or [] if isinstance(data, dict) else []:
        if isinstance(item, dict) and item.get("key"):
            key = str(item["key"])
            synonyms = tuple(str(s) for s in item.get("synonyms") or [] if s)
            topics.append(Topic(key, str(item.get("name") or key.title()), synonyms))
    return tuple(topics)


def topic_name(ctx: Context, key: str) -> str:
    """A topic's display name (its taxonomy name, else the key in title case)."""
    for topic in load_taxonomy(ctx.settings.content_path):
        if topic.key == key:
            return topic.name
    return key.replace("_", " ").title()


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9&/]+", " ", text).strip()


def _library(ctx: Context) -> list[Resource]:
    return ctx.learning.resources()


def _topics(ctx: Context, library: list[Resource]) -> list[Topic]:
    """Topics that have at least one resource, in taxonomy order, then any others."""
    used = {key for resource in library for key in resource.topics or []}
    known = [t for t in load_taxonomy(ctx.settings.content_path) if t.key in used]
    extra = sorted(used - {t.key for t in known})
    return known + [Topic(key, key.replace("_", " ").title()) for key in extra]


def match_topic(text: str, topics: list[Topic]) -> Topic | None:
    """The topic `text` names: exact key, name or synonym, then a prefix, then a near spelling."""
    query = _fold(text)[:40]
    if not query:
        return None
    pairs = [(_fold(word), topic) for topic in topics for word in (topic.key, topic.name, *topic.synonyms)]
    pairs = [(word, topic) for word, topic in pairs if word]
    for word, topic in pairs:
        if word == query:
            return topic
    if len(query) >= 4:
        for word, topic in pairs:
            if word.startswith(query):
                return topic
        found = process.extractOne(query, [w for w, _ in pairs], scorer=fuzz.ratio, score_cutoff=80)
        if found:
            return pairs[found[2]][1]
    return None


def _fit_list(render: Callable[[str], str], names: list[str], segments: int) -> str:
    """Render with as many of `names` as fit in `segments` (UCS-2 text may take three)."""
    for size in range(len(names), 0, -1):
        text = render(", ".join(names[:size]))
        budget = segments if is_gsm7(text) else PAGE_SEGMENTS
        if segment_count(text) <= budget:
            return text
    return truncate_to(render(""), PAGE_SEGMENTS)


def menu(ctx: Context, person: Person, key: str = "res_menu") -> str:
    """The topic menu (or, with key=res_unknown, the menu with a did-not-find hint)."""
    library = _library(ctx)
    if not library:
        return ctx.say(person, "res_none")
    names = [t.name for t in _topics(ctx, library)]
    return _fit_list(lambda topics: ctx.say(person, key, topics=topics), names, MENU_SEGMENTS)


def _page(ctx: Context, person: Person, topic: Topic, offset: int) -> Outcome:
    language = person.language or "en"
    # A resource tagged "general" serves every topic, after the topic's own.
    library = [r for r in _library(ctx) if topic.key in (r.topics or []) or GENERAL in (r.topics or [])]
    library.sort(key=lambda r: (topic.key not in (r.topics or []), language not in (r.languages or [])))
    if offset >= len(library):
        _remember(person, None)
        key = "res_end" if offset else "res_topic_empty"
        return reply(ctx.say(person, key, topic=topic.name))
    chosen = library[offset : offset + PAGE_SIZE]
    while True:
        more = offset + len(chosen) < len(library)
        items = "\n".join(f"{r.title} {resource_url(ctx, person, r)}" for r in chosen)
        text = ctx.say(person, "res_page_more" if more else "res_page", topic=topic.name, items=items)
        if segment_count(text) <= PAGE_SEGMENTS or len(chosen) == 1:
            break
        chosen = chosen[:-1]
    # Kept after the last page too, so RES MORE can say the topic has no more.
    _remember(person, {"topic": topic.key, "next": offset + len(chosen)})
    return reply(truncate_to(text, PAGE_SEGMENTS))


def _remember(person: Person, page: dict | None) -> None:
    # Reassign, not mutate: the JSON column does not track changes inside the dict.
    state = {k: v for k, v in (person.flow_state or {}).items() if k != "res"}
    if page is not None:
        state["res"] = page
    person.flow_state = state


def resources(ctx: Context, person: Person, command: Command) -> Outcome:
    wanted = command.rest.strip()
    if not wanted:
        return reply(menu(ctx, person))
    topics = _topics(ctx, _library(ctx))
    if _fold(wanted) in ("more", "plus", "mas"):
        page = (person.flow_state or {}).get("res") or {}
        topic = next((t for t in topics if t.key == page.get("topic")), None)
        if topic is None:
            return reply(menu(ctx, person))
        return _page(ctx, person, topic, int(page.get("next") or 0))
    topic = match_topic(wanted, topics)
    if topic is None:
        # A taxonomy topic with no links yet is known, just empty.
        known = match_topic(wanted, list(load_taxonomy(ctx.settings.content_path)))
        if known is not None:
            return reply(ctx.say(person, "res_topic_empty", topic=known.name))
        return reply(menu(ctx, person, "res_unknown"))
    return _page(ctx, person, topic, 0)
