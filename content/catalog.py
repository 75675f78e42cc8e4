"""The message catalog: every text a student or mentor can receive, per language.

Strings are `str.format` templates; a missing language or key falls back to English.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import yaml

from content import content_root
from content.segments import normalise

DEFAULT_LANGUAGE = "en"


class Catalog:
    def __init__(self, messages: dict[str, dict[str, str]]):
        if DEFAULT_LANGUAGE not in messages:
            raise ValueError("the catalog needs an English file (catalog/en.yaml)")
        self.messages = messages

    @property
    def languages(self) -> list[str]:
        return sorted(self.messages)

    def template(self, key: str, language: str = DEFAULT_LANGUAGE) -> str:
        table = self.messages.get(language) or {}
        if key in table:
            return table[key]
        try:
            return self.messages[DEFAULT_LANGUAGE][key]
        except KeyError:
            raise KeyError(f"message {key!r} is not in the catalog") from None

    def render(self, key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
        """The message `key` in `language`, filled in and normalised for SMS."""
        return normalise(self.template(key, language).format(**values).strip())

    @staticmethod
    def placeholders(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def load_catalog(root: Path) -> Catalog:
    folder = root / "catalog"
    messages: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        messages[path.stem] = {str(k): str(v) for k, v in data.items()}
    return Catalog(messages)


@lru_cache(maxsize=8)
def get_catalog(configured: str = "") -> Catalog:
    """The catalog for a content folder, loaded once per process."""
    return load_catalog(content_root(configured))
