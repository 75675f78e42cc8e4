"""The safeguarding word list (`safeguarding.yaml`) and the whole-word matcher over it.

Text and phrases are folded the same way (lowercase, no accents, no apostrophes), then
compared word by word, so "rape" never matches inside "grape" or "therapist".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from content import BUNDLED, content_root

FILE = "safeguarding.yaml"
# Most serious first: a text matching several is flagged for the first.
CATEGORIES = ("self_harm", "crisis", "abuse", "burnout")

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def words(text: str) -> list[str]:
    """`"I can't go on, I'm épuisée"` -> `["i", "cant", "go", "on", "im", "epuisee"]`."""
    folded = unicodedata.normalize("NFKD", text or "")
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return _NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split()


@dataclass(frozen=True)
class Match:
    category: str
    phrase: str


@dataclass(frozen=True)
class WordList:
    # (category, phrase as written, its folded words); a word ending in * is a prefix.
    phrases: tuple[tuple[str, str, tuple[str, ...]], ...]

    def matches(self, text: str) -> list[Match]:
        """Every listed phrase found in `text`, most serious category first."""
        tokens = words(text)
        found: dict[tuple[str, str], Match] = {}
        for category, phrase, pattern in self.phrases:
            if (category, phrase) not in found and _contains(tokens, pattern):
                found[(category, phrase)] = Match(category, phrase)
        order = {c: i for i, c in enumerate(CATEGORIES)}
        return sorted(found.values(), key=lambda m: (order.get(m.category, len(order)), m.phrase))


def _word_matches(token: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return token.startswith(pattern[:-1])
    return token == pattern


def _contains(tokens: list[str], pattern: tuple[str, ...]) -> bool:
    size = len(pattern)
    for start in range(len(tokens) - size + 1):
        if all(_word_matches(tokens[start + i], pattern[i]) for i in range(size)):
            return True
    return False


def parse_word_list(data: object) -> WordList:
    """Build a word list from the YAML's shape: {language: {category: [phrase, ...]}}."""
    if not isinstance(data, dict):
        raise ValueError(f"{FILE} must map languages to categories")
    phrases: list[tuple[str, str, tuple[str, ...]]] = []
    for language, categories in data.items():
        if not isinstance(categories, dict):
            raise ValueError(f"{FILE}: {language} must map categories to lists of phrases")
        for category, items in categories.items():
            if category not in CATEGORIES:
                raise ValueError(f"{FILE}: unknown category {category!r}; use {', '.join(CATEGORIES)}")
            for item in items or []:
                # Keep a trailing * through folding: it marks a prefix.
                prefix = str(item).strip().endswith("*")
                folded = words(str(item))
                if not folded:
                    continue
                if prefix:
                    folded[-1] += "*"
                phrases.append((str(category), str(item).strip(), tuple(folded)))
    return WordList(tuple(phrases))


def load_word_list(root: Path) -> WordList:
    data = yaml.safe_load((root / FILE).read_text(encoding="utf-8")) or {}
    return parse_word_list(data)


@lru_cache(maxsize=8)
def get_word_list(configured: str = "") -> WordList:
    """The word list of a content folder, or the bundled one if that folder has none.

    Safeguarding must never switch off because a custom content folder left the file out.
    """
    root = content_root(configured)
    return load_word_list(root if (root / FILE).is_file() else BUNDLED)
