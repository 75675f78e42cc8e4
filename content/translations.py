"""French and Spanish versions of the bank's questions, as written in translations/<lang>/*.yaml.

Each item names an English question by id and gives its stem, options and explanation in that
language, and who translated it; the key, topic and tracks stay the English item's. Reading never
raises: a file or item of the wrong shape becomes a `Problem` and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from content.report import Problem
from content.source import Fields, LineDict, items_of, read_yaml

# The languages questions are translated into; English is the question file itself.
TRANSLATED_LANGUAGES = ("fr", "es")
TRANSLATION_FIELDS = ("id", "stem", "options", "explanation", "translated_by")
# Budgets of a translation's SMS rendering (after folding the accents GSM-7 lacks), the same as
# the English item's: the question with its options in two segments; the feedback (verdict,
# letter, explanation, streak) in two, since French and Spanish run longer than English.
TRANSLATED_QUESTION_SEGMENTS = 2
TRANSLATED_FEEDBACK_SEGMENTS = 2
# A published item without a translation is a warning until the bank's translations have landed;
# set this to True to make every missing one an error that blocks `rounds content load`.
MISSING_TRANSLATION_IS_ERROR = False


@dataclass(frozen=True, eq=False)
class TranslationItem:
    """One question's text in one language, as written in translations/<lang>/<file>.yaml."""

    id: int
    language: str
    stem: str
    options: dict[str, str]
    explanation: str
    translated_by: str
    file: Path
    line: int
    # Line of each field, and of each option as "options.A".
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, name: str) -> int:
        return self.lines.get(name, self.line)


def _label(item: LineDict, language: str) -> str:
    ident = item.get("id")
    return (
        f"{language} translation of question {ident}"
        if isinstance(ident, int | str)
        else f"{language} translation"
    )


def _translation(
    item: LineDict, language: str, path: Path, problems: list[Problem]
) -> TranslationItem | None:
    f = Fields(item, path, _label(item, language), problems)
    lines = f.lines()
    translation = TranslationItem(
        id=f.number("id"),
        language=language,
        stem=f.text("stem"),
        options=f.options("options", lines),
        explanation=f.text("explanation"),
        translated_by=f.text("translated_by"),
        file=path,
        line=item.line,
        lines=lines,
    )
    f.unknown(TRANSLATION_FIELDS)
    return translation if f.ok else None


def read_translations(root: Path, problems: list[Problem]) -> list[TranslationItem]:
    """Every translation under `root`/translations; no folder is no translations (not a problem)."""
    folder = root / "translations"
    if not folder.is_dir():
        return []
    found: list[TranslationItem] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if not child.is_dir() or child.name not in TRANSLATED_LANGUAGES:
            problems.append(
                Problem(
                    child,
                    1,
                    f"translations/ holds one folder per language ({', '.join(TRANSLATED_LANGUAGES)}), "
                    f"not {child.name!r}",
                )
            )
            continue
        for path in sorted(child.glob("*.yaml")):
            data, trouble = read_yaml(path)
            problems += trouble
            for item in [] if trouble else items_of(data, path, "translation", problems):
                if (translation := _translation(item, child.name, path, problems)) is not None:
                    found.append(translation)
    return found
