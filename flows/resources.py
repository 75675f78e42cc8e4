"""`RES [words]` and `RES MORE`: the topic menu, and free study links a page at a time.

Words that name a topic (`cardio`, `cardiolgy`, `heart`, over the taxonomy's keys, names and
synonyms and any topic the resources table uses) give that topic's links, best for the words
first; any other words are searched for (content.search) over titles, tags, synonyms and the
topics of questions that use them. Nothing found: the topic menu.
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
from content.search import Entry, Extras, ResourceIndex, load_vocabulary
from content.segments import is_gsm7, segment_count, truncate_to
from flows.engine import Command, Context, Outcome, reply
from flows.links import resource_url
from store.models import Person

PAGE_SIZE = 3
HEADER_CHARS = 30
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


# One index per library and content folder: built on the first RES after a change, then reused.
_INDEXES: dict[tuple, ResourceIndex] = {}


def _index(ctx: Context) -> ResourceIndex:
    """The search index of the active library, rebuilt only when a resource was added, retired or edited."""
    path = ctx.settings.content_path
    signature = (path, ctx.learning.resources_version())
    index = _INDEXES.get(signature)
    if index is None:
        # The library changed (a content load): read the files' tags and synonyms afresh too.
        load_vocabulary.cache_clear()
        vocabulary = load_vocabulary(path)
        entries = []
        for r in ctx.learning.resources():
            extras = vocabulary.extras.get(r.id, Extras())
            entries.append(
                Entry(
                    r.id,
                    r.title,
                    tuple(r.topics or ()),
                    tuple(r.languages or ()),
                    extras.tags,
                    r.kind or "",
                    extras.locale,
                )
            )
        index = ResourceIndex(entries, vocabulary)
        if len(_INDEXES) >= 4:
            _INDEXES.clear()
        _INDEXES[signature] = index
    return index


def _ranked(index: ResourceIndex, language: str, topic: Topic, words: str) -> list[str]:
    """Ids of a topic's links best for `words` first, then those for every topic; with no topic, the hits."""
    scores = index.scores(words) if words else {}
    if not topic.key:
        return index.order(scores, list(scores), language)
    own = [e.id for e in index.entries if topic.key in e.topics]
    # A resource tagged "general" serves every topic, after the topic's own.
    general = [e.id for e in index.entries if GENERAL in e.topics and topic.key not in e.topics]
    return index.order(scores, own, language) + index.order({}, general, language)


def find(ctx: Context, words: str, language: str = "en") -> tuple[Topic | None, list[str]]:
    """What `RES <words>` lists, as resource ids: the topic the words name, with its links best
    for them first, or else the search hits under the student's own words; (None, []) when
    nothing matches."""
    index = _index(ctx)
    topic = match_topic(words, _topics(ctx, index.entries))
    if topic is None:
        if not index.entries or not index.scores(words):
            return None, []
        topic = Topic("", _header(words) or words[:HEADER_CHARS])
    return topic, _ranked(index, language, topic, words)


def _header(words: str) -> str:
    """The student's own words as a page title: letters, digits and spaces, kept short."""
    return " ".join(re.sub(r"[^\w' -]+", " ", words).split())[:HEADER_CHARS].strip()


def _topics(ctx: Context, library: list[Entry]) -> list[Topic]:
    """Topics that have at least one resource, in taxonomy order, then any others."""
    used = {key for resource in library for key in resource.topics}
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
    library = _index(ctx).entries
    if not library:
        return ctx.say(person, "res_none")
    names = [t.name for t in _topics(ctx, library)]
    return _fit_list(lambda topics: ctx.say(person, key, topics=topics), names, MENU_SEGMENTS)


def _page(
    ctx: Context,
    person: Person,
    topic: Topic,
    offset: int,
    words: str = "",
    ranked: list[str] | None = None,
) -> Outcome:
    language = person.language or "en"
    # Ids, best first; only the page's own rows are read.
    library = ranked if ranked is not None else _ranked(_index(ctx), language, topic, words)
    if offset >= len(library):
        _remember(person, None)
        key = "res_end" if offset else "res_topic_empty"
        return reply(ctx.say(person, key, topic=topic.name))
    chosen = ctx.learning.resources_by_id(library[offset : offset + PAGE_SIZE])
    while True:
        more = offset + len(chosen) < len(library)
        items = "\n".join(f"{r.title} {resource_url(ctx, person, r)}" for r in chosen)
        text = ctx.say(person, "res_page_more" if more else "res_page", topic=topic.name, items=items)
        if segment_count(text) <= PAGE_SEGMENTS or len(chosen) == 1:
            break
        chosen = chosen[:-1]
    # Kept after the last page too, so RES MORE can say the topic has no more.
    _remember(person, {"topic": topic.key, "words": words, "next": offset + len(chosen)})
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
    if _fold(wanted) in ("more", "plus", "mas"):
        topics = _topics(ctx, _index(ctx).entries)
        page = (person.flow_state or {}).get("res") or {}
        words = str(page.get("words") or "")
        topic = next((t for t in topics if t.key == page.get("topic")), None)
        if topic is None and words and not page.get("topic"):
            topic = Topic("", _header(words))
        if topic is None:
            return reply(menu(ctx, person))
        return _page(ctx, person, topic, int(page.get("next") or 0), words)
    topic, ranked = find(ctx, wanted, person.language or "en")
    if topic is not None:
        return _page(ctx, person, topic, 0, wanted, ranked)
    # A taxonomy topic with no links yet is known, just empty.
    known = match_topic(wanted, list(load_taxonomy(ctx.settings.content_path)))
    if known is not None:
        return reply(ctx.say(person, "res_topic_empty", topic=known.name))
    return reply(menu(ctx, person, "res_unknown"))
