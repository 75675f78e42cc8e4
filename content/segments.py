"""SMS segment arithmetic, as carriers count it, a GSM-7 normaliser, and per-channel rendering.

Hand-written because no maintained library counts extension characters, UTF-16
code units and split boundaries exactly as Twilio bills them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape character: each costs two septets.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# Look-alikes that would silently force UCS-2, mapped to their GSM-7 cousins.
_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u3000": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\ufeff": "",
    "\u00ad": "",
    "\u2022": "-",
    "\u00b7": ".",
    "\t": " ",
    "\u00b0": "o",
    "\u00d7": "x",
    "\u2264": "<=",
    "\u2265": ">=",
}
_TABLE = str.maketrans(_REPLACEMENTS)

# Letters outside GSM-7 that do not decompose into a GSM-7 letter plus a mark.
_LETTER_FOLDS = {"œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}
SMS, WHATSAPP = "sms", "whatsapp"
# A text of GSM-7's basic letters only (one septet each, no escape pairs) is unchanged by
# normalising and folding, and costs one unit a character: checked in C, not letter by letter.
_PLAIN_GSM7 = re.compile("[" + "".join(re.escape(c) for c in sorted(GSM7_BASIC)) + "]*")


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)


def normalise(text: str) -> str:
    """Map typographic look-alikes to GSM-7 so plain text stays in the cheap encoding.

    Accented letters outside GSM-7 (e.g. the French ê) are left alone: dropping
    them would change words; such text is counted honestly as UCS-2 instead.
    """
    mapped = text.translate(_TABLE)
    if is_gsm7(mapped):
        return mapped
    # Compatibility forms (full-width letters, ligatures) often decompose to ASCII.
    out = []
    for char in mapped:
        if char in GSM7_ALL:
            out.append(char)
            continue
        folded = unicodedata.normalize("NFKC", char)
        out.append(folded if is_gsm7(folded) else char)
    return "".join(out)


def fold_for_sms(text: str) -> str:
    """`text` with each letter GSM-7 lacks written without its accent (ê -> e, á -> a, œ -> oe).

    The accented letters GSM-7 has (é è à ù ì ò Ç ñ ü ä ö ...) are kept: only a letter that
    would switch the whole SMS to UCS-2, and so double its cost, is folded.
    """
    out = []
    for char in text:
        if char in GSM7_ALL:
            out.append(char)
            continue
        plain = _LETTER_FOLDS.get(char)
        if plain is None and char.isalpha():
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and is_gsm7(plain) else char)
    return "".join(out)


def for_channel(text: str, channel: str | None) -> str:
    """`text` as it is sent on `channel`: look-alikes mapped, and on SMS the letters GSM-7 lacks folded.

    WhatsApp costs nothing per character, so it gets the full spelling. A text whose channel
    is not known (None) is only normalised: folding loses letters, so it happens only for SMS.
    """
    if _PLAIN_GSM7.fullmatch(text):
        return text  # nothing to map or fold: a pass over 100k texts skips the per-letter loops
    plain = normalise(text)
    if channel is None or channel == WHATSAPP:
        return plain
    return fold_for_sms(plain)


def rendered(text: str, channel: str | None) -> tuple[str, SegmentCount]:
    """`for_channel(text, channel)` and its `count`, with one look at a text of plain GSM-7."""
    if _PLAIN_GSM7.fullmatch(text):
        units = len(text)
        return text, SegmentCount("GSM-7", units, 1 if units <= GSM7_SINGLE else -(-units // GSM7_PART))
    sent = for_channel(text, channel)
    return sent, count(sent)


def _split_units(text: str) -> tuple[str, list[int]]:
    """The encoding and each character's cost in units, keeping pairs whole."""
    if is_gsm7(text):
        return "GSM-7", [2 if c in GSM7_EXTENSION else 1 for c in text]
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text]


def count(text: str) -> SegmentCount:
    """How many segments `text` costs as one SMS."""
    if _PLAIN_GSM7.fullmatch(text):
        # One septet a character and no pairs to keep whole: arithmetic, without the per-letter walk.
        units = len(text)
        return SegmentCount("GSM-7", units, 1 if units <= GSM7_SINGLE else -(-units // GSM7_PART))
    return _walk(text)


def _walk(text: str) -> SegmentCount:
    """`count` for any text, character by character."""
    encoding, costs = _split_units(text)
    units = sum(costs)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    # Walk the text: an escape pair or a surrogate pair never straddles two parts.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return SegmentCount(encoding, units, segments)


def segment_count(text: str) -> int:
    return count(text).segments


def fits(text: str, segments: int) -> bool:
    """Whether `text` costs at most `segments` as one SMS: `segment_count(text) <= segments`, by its
    length alone for plain GSM-7 (a pass fits 100,000 texts)."""
    if _PLAIN_GSM7.fullmatch(text):
        return len(text) <= (GSM7_SINGLE if segments == 1 else segments * GSM7_PART)
    return count(text).segments <= segments


def truncate_to(text: str, segments: int, ellipsis: str = "...") -> str:
    """Cut `text` so it fits `segments`, ending with `ellipsis` when it had to be cut."""
    if segment_count(text) <= segments:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if segment_count(text[:mid].rstrip() + ellipsis) <= segments:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + ellipsis
