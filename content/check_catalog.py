"""Checks for the message catalog: English complete and GSM-7, other languages consistent.

Every message is filled with sample values and rendered as it leaves for each channel
(`segments.for_channel`); the SMS rendering must fit the segment budget, so a translation
that grows past it is caught here. `catalog_segments` lists both renderings' counts.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from content.bank import EXPLANATION_MAX, MESSAGE_SEGMENTS, Bank, CatalogFile
from content.report import Report
from content.segments import WHATSAPP, SegmentCount, count, for_channel

# Typical long values for the placeholders flows fill in; other names get DEFAULT_SAMPLE.
SAMPLE_VALUES: dict[str, str | int] = {
    "name": "Oluwaseun",
    "mentor": "Dr Adebayo",
    "streak": 128,
    "count": 1250,
    "answered": 1250,
    "accuracy": 87,
    "days": 30,
    "cap": 5,
    "id": 1203,
    "letter": "C",
    "answer": "C",
    "topic": "Infectious dis.",
    "weakest": "Biostats/ethics",
    "track": "USMLE Step 2 CK",
    "time": "19:00",
    "date": "2026-12-24",
    "until": "2026-12-24",
    "timezone": "America/Argentina/Buenos_Aires",
    "zone": "America/Argentina/Buenos_Aires",
    "language": "fr",
    "channel": "WhatsApp",
    "explanation": "x" * EXPLANATION_MAX,
    "message": "m" * 120,
    "menu": "1 Cardiology 2 Pulmonology 3 Renal 4 GI 5 Endocrine",
    "tracks": "1 USMLE Step 1 2 USMLE Step 2 CK 3 PLAB 1 4 General medicine",
    # Opportunities: a typical title, organisation and link (the lists are fitted by the flow).
    "title": "Clinical observership in internal medicine",
    "org": "Lagos University Teaching Hospital",
    "link": "https://example.org/apply/observership-2027",
    "who": "NG, GH, KE, Step 1",
    "deadline": "12 Jan",
    # Weekly progress
    "last_answered": 1250,
    "last_accuracy": 87,
    "strongest": "Biostats/ethics",
    "topic_key": "biostats",
    "top": 50,
    "program": "ECG 14/14",
    "weekday": "Wednesday",
    # Corrections (the flow shortens the reason to fit)
    "reason": "The key said B but current guidelines make C right.",
    "answer_text": "Intravenous ceftriaxone 2 g daily",
    # The budget alert to admins (amounts in the organisation's currency)
    "month": "2026-11",
    "currency": "USD",
    "projected": "12345.67",
    "budget": "10000.00",
    "spent": "4567.89",
    # One person, two channels
    "wa_link": "wa.me/14155238886",
    "other": "WhatsApp",
}
# Messages held to fewer segments than MESSAGE_SEGMENTS (HELP is checked on its own below).
SEGMENT_BUDGETS = {
    "weekly_on": 1,
    "weekly_off": 1,
    "weekly_help": 1,
    "report_thanks": 1,
    "report_how": 1,
    "report_unknown": 1,
    "report_no_question": 1,
    **dict.fromkeys(
        [
            "stopped",
            "stopped_channel",
            "whatsapp_link",
            "whatsapp_already",
            "whatsapp_unavailable",
            "sms_set",
            "sms_no_number",
        ],
        1,
    ),
}
DEFAULT_SAMPLE = "sample value"


class _Sample:
    """A sample that formats as text, or as a number under a numeric spec like {accuracy:.0f}."""

    def __init__(self, value: str | int):
        self.text = str(value)
        self.number = value if isinstance(value, int) else 12

    def __format__(self, spec: str) -> str:
        try:
            return format(self.text, spec)
        except ValueError:
            return format(self.number, spec)


class _Samples(dict[str, _Sample]):
    def __missing__(self, key: str) -> _Sample:
        return _Sample(SAMPLE_VALUES.get(key, DEFAULT_SAMPLE))


def _fields(template: str) -> set[str]:
    """The placeholder names in a template; raises ValueError on unbalanced braces."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _braced(names: list[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def check_catalog(bank: Bank, out: Report) -> None:
    english = bank.catalogs.get("en")
    if english is None:
        out.error(
            bank.root / "catalog" / "en.yaml",
            1,
            "the catalog needs English (catalog/en.yaml): other languages fall back to it",
        )
        return
    if "help" not in english.messages:
        out.error(english.file, 1, "message 'help' is missing; HELP must answer in one segment")
    for catalog in bank.catalogs.values():
        _check_language(catalog, english, out)


def _check_language(catalog: CatalogFile, english: CatalogFile, out: Report) -> None:
    is_english = catalog is english
    for key, template in catalog.messages.items():
        line, label = catalog.lines.get(key, 1), f"message '{key}'"
        if not is_english and key not in english.messages:
            out.error(
                catalog.file,
                line,
                f"{label} is not in English (en.yaml); add it there first or remove it here",
            )
            continue
        try:
            names = _fields(template)
        except ValueError as exc:
            out.error(
                catalog.file,
                line,
                f"{label}: bad {{placeholder}}: {exc}; write {{{{ and }}}} for a literal brace",
            )
            continue
        if any(not name or name[0].isdigit() for name in names):
            out.error(catalog.file, line, f"{label}: placeholders need names, like {{name}}")
            continue
        if is_english:
            # Only the literal text: the braces of {placeholders} are never sent.
            literal = "".join(part for part, _, _, _ in string.Formatter().parse(template))
            out.english(catalog.file, line, label, literal)
        else:
            try:
                want = _fields(english.messages[key])
            except ValueError:
                want = names  # English's own broken braces are reported against en.yaml
            if names != want:
                missing, extra = sorted(want - names), sorted(names - want)
                said = "; ".join(
                    ([f"missing {_braced(missing)}"] if missing else [])
                    + ([f"unknown {_braced(extra)}"] if extra else [])
                )
                out.error(catalog.file, line, f"{label}: placeholders differ from English: {said}")
                continue
        _check_budget(catalog, key, template, line, out)
    missing = [k for k in english.messages if k not in catalog.messages]
    if missing:
        out.warn(
            catalog.file,
            1,
            f"{len(missing)} message(s) only in English (students get "
            f"English for them): {', '.join(missing)}",
        )


def _sample(template: str) -> str:
    """The template filled with sample values (raises what `str.format` raises)."""
    return template.format_map(_Samples()).strip()


def _check_budget(catalog: CatalogFile, key: str, template: str, line: int, out: Report) -> None:
    """Fill the template with sample values and count it as it would go out by SMS."""
    label = f"message '{key}'"
    try:
        text = for_channel(_sample(template), "sms")
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        out.error(catalog.file, line, f"{label}: cannot fill in its placeholders: {exc}")
        return
    segments = count(text).segments
    if segments > MESSAGE_SEGMENTS:
        out.error(
            catalog.file,
            line,
            f"{label} is {segments} SMS segments with sample values; at most {MESSAGE_SEGMENTS}",
        )
    budget = SEGMENT_BUDGETS.get(key)
    if budget is not None and segments > budget:
        out.error(
            catalog.file, line, f"{label} is {segments} SMS segments with sample values; at most {budget}"
        )
    if key in ("help", "help_more") and segments != 1:
        out.error(catalog.file, line, f"{label} is {segments} SMS segments; HELP and HELP 2 must fit one")


@dataclass(frozen=True)
class MessageCost:
    """One catalog message, filled with sample values, as counted on each channel."""

    language: str
    key: str
    sms: SegmentCount
    whatsapp: SegmentCount


def catalog_segments(bank: Bank) -> list[MessageCost]:
    """Every message in every language with the segments of its SMS and WhatsApp renderings.

    Messages whose placeholders cannot be filled are left out: `check_catalog` reports them.
    """
    costs = []
    for language in sorted(bank.catalogs):
        for key, template in bank.catalogs[language].messages.items():
            try:
                text = _sample(template)
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                continue
            sms, whatsapp = count(for_channel(text, "sms")), count(for_channel(text, WHATSAPP))
            costs.append(MessageCost(language, key, sms, whatsapp))
    return costs


def segment_table(costs: list[MessageCost]) -> list[str]:
    """`catalog_segments` as text: a row per message, `SMS/WhatsApp` segments per language."""
    languages = sorted({cost.language for cost in costs})
    cells: dict[str, dict[str, str]] = {}
    for cost in costs:
        cells.setdefault(cost.key, {})[cost.language] = f"{_cell(cost.sms)}/{_cell(cost.whatsapp)}"
    width = max((len(key) for key in cells), default=3) + 2
    lines = [
        "segments per message with sample values, SMS/WhatsApp (u = UCS-2):",
        "message".ljust(width) + "".join(language.ljust(8) for language in languages).rstrip(),
    ]
    for key, row in cells.items():
        lines.append(key.ljust(width) + "".join(row.get(lang, "-").ljust(8) for lang in languages).rstrip())
    return lines


def _cell(counted: SegmentCount) -> str:
    return f"{counted.segments}{'u' if counted.encoding == 'UCS-2' else ''}"
