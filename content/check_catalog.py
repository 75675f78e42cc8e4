"""Checks for the message catalog: English complete and GSM-7, other languages consistent.

Every message is filled with sample values and counted as `Catalog.render` would
send it, so a translation that grows past the segment budget is caught here.
"""

from __future__ import annotations

import string

from content.bank import EXPLANATION_MAX, MESSAGE_SEGMENTS, Bank, CatalogFile
from content.report import Report
from content.segments import normalise, segment_count

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
    "explanation": "x" * EXPLANATION_MAX,
    "message": "m" * 120,
    "menu": "1 Cardiology 2 Pulmonology 3 Renal 4 GI 5 Endocrine",
    "tracks": "1 USMLE Step 1 2 USMLE Step 2 CK 3 PLAB 1 4 General medicine",
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


def _check_budget(catalog: CatalogFile, key: str, template: str, line: int, out: Report) -> None:
    """Fill the template with sample values and count it as the catalog would send it."""
    label = f"message '{key}'"
    try:
        text = normalise(template.format_map(_Samples()).strip())
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        out.error(catalog.file, line, f"{label}: cannot fill in its placeholders: {exc}")
        return
    segments = segment_count(text)
    if segments > MESSAGE_SEGMENTS:
        out.error(
            catalog.file,
            line,
            f"{label} is {segments} SMS segments with sample values; at most {MESSAGE_SEGMENTS}",
        )
    if key == "help" and catalog.language == "en" and segments != 1:
        out.error(catalog.file, line, f"{label} is {segments} SMS segments; HELP must fit one")
