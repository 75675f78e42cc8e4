"""Text and numbers that come from outside, made safe to store and to act on.

`clean` is the one rule for text: the edges (webhooks, the API, the console) call it, and the
column types below apply it again to every string bound for the database, so no path can hand
PostgreSQL a NUL or either backend an unencodable surrogate. `whole_number` bounds numbers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Text, TypeDecorator

log = logging.getLogger("rounds.text")

# What Twilio delivers at most in one message; an inbound body is stored up to this length.
MAX_BODY = 1600
# The largest value an Integer column holds on every backend, and a BigInteger one.
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1

# C0 controls except tab and newline, DEL, and UTF-16 surrogates (never valid alone in a str).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A text as Rounds keeps it, and what had to be done to it."""

    text: str
    changed: bool = False  # control characters removed, or invalid surrogates replaced
    cut: bool = False  # longer than the limit: the rest was dropped

    @property
    def flags(self) -> str | None:
        """What a message row's `body_flags` records: `cleaned`, `cut`, both, or None."""
        words = [word for word, done in (("cleaned", self.changed), ("cut", self.cut)) if done]
        return " ".join(words) or None


def _fix(match: re.Match[str]) -> str:
    character = match.group()
    if character >= "\ud800":
        return _REPLACEMENT
    return "\n" if character == "\r" else ""


def clean(value: str | None, limit: int | None = None) -> Cleaned:
    """`value` without NUL and other control characters (tab and newline stay; a carriage return
    becomes a newline), lone surrogates replaced by U+FFFD, cut to `limit` characters if given."""
    text = value or ""
    changed = False
    if _UNSAFE.search(text) is not None:
        cleaned = _UNSAFE.sub(_fix, text.replace("\r\n", "\n"))
        changed = cleaned != text
        text = cleaned
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    return Cleaned(text, changed, cut)


def needs_cleaning(value: str) -> bool:
    """Whether `clean` would change `value` (before any cut): the column types' quick check."""
    return _UNSAFE.search(value) is not None


def clean_json(value: Any) -> Any:
    """Every string in a parsed JSON document (keys too) cleaned."""
    if isinstance(value, str):
        return clean(value).text
    if isinstance(value, dict):
        return {clean_json(key): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    return value


def whole_number(raw: str | None, low: int = 0, high: int = MAX_INT) -> int | None:
    """A plain decimal number (ASCII digits, spaces around allowed) within [low, high]; else None.

    Stricter than int(): no signs, underscores or other scripts' digits, and no parsing of a
    thousand-digit string only to find it too big for any column.
    """
    text = (raw or "").strip()
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if low <= number <= high else None


class _Cleaning:
    """Bind processing shared by the column types: clean whatever a code path forgot to."""

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str) and _UNSAFE.search(value) is not None:
            log.warning("a value with control characters reached the database unclean; cleaned it")
            return clean(value).text
        return value


class CleanString(_Cleaning, TypeDecorator[str]):
    """VARCHAR whose values are cleaned on the way in (the backstop behind `clean`)."""

    impl = String
    cache_ok = True  # SQLAlchemy reads it from the class itself, not from a base


class CleanText(_Cleaning, TypeDecorator[str]):
    """TEXT whose values are cleaned on the way in (the backstop behind `clean`)."""

    impl = Text
    cache_ok = True
