"""`check_translations`: each French and Spanish question against its English item.

A translation must name a question that exists, give exactly the English item's option letters,
fill every field (who translated it included), and read by SMS, once the accents GSM-7 lacks are
folded, in GSM-7 within the English budgets. `translation_problems` is the same check for one
text, for the review workflow to run before it publishes a language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from content import translations
from content.bank import LETTERS, Bank, render_question
from content.catalog import Catalog
from content.check_catalog import SAMPLE_VALUES
from content.report import Report, describe_char
from content.segments import GSM7_ALL, count, for_channel, normalise
from content.translations import (
    TRANSLATED_FEEDBACK_SEGMENTS,
    TRANSLATED_LANGUAGES,
    TRANSLATED_QUESTION_SEGMENTS,
    TranslationItem,
)

FEEDBACK_KEYS = ("feedback_correct", "feedback_wrong")
TRANSLATED_BY_MAX = 80  # the column's width (store.translations)
# Counted in place of a feedback message a catalog lacks (the English one's shape).
FALLBACK_FEEDBACK = "Not quite: it's {answer}. {explanation} Day streak: {streak}"
MISSING_LISTED = 12  # ids named in the missing-translations warning; the count says the rest


@dataclass(frozen=True)
class _Text:
    """What render_question needs: a question id, a stem and options."""

    id: int
    stem: str
    options: Mapping[str, str]


class EnglishItem(Protocol):
    """What a translation is checked against: a bank QuestionItem or a stored Question row."""

    @property
    def id(self) -> int: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    @property
    def answer(self) -> str: ...


def sms_rendering(text: str) -> str:
    """How `text` goes out by SMS: look-alikes mapped, the accents GSM-7 lacks folded."""
    return for_channel(normalise(text), "sms")


def translation_problems(
    english: EnglishItem,
    language: str,
    stem: str,
    options: Mapping[str, str],
    explanation: str,
    translated_by: str,
    feedback_templates: Mapping[str, str],
) -> list[tuple[str, str]]:
    """(field, message) for each thing wrong with this text as `language`'s version of `english`.

    `feedback_templates`: the language's feedback_correct and feedback_wrong catalog messages, so
    the feedback is counted as the student receives it. Fields are `stem`, `options`, `options.X`,
    `explanation` and `translated_by`.
    """
    found: list[tuple[str, str]] = []
    if language not in TRANSLATED_LANGUAGES:
        found.append(("id", f"language {language!r} is not one of {', '.join(TRANSLATED_LANGUAGES)}"))
    letters, wanted = sorted(options), sorted(english.options)
    if letters != wanted:
        found.append(
            (
                "options",
                f"options {', '.join(letters) or 'none'} must be the English item's letters "
                f"{', '.join(wanted)}",
            )
        )
    fields = [("stem", stem), ("explanation", explanation)]
    fields += [(f"options.{letter}", text) for letter, text in sorted(options.items())]
    for name, text in fields:
        if not text.strip():
            found.append((name, f"{name.replace('options.', 'option ')} is empty"))
            continue
        sent = sms_rendering(text)
        bad = sorted(set(sent) - GSM7_ALL, key=sent.index)
        if bad:
            chars = ", ".join(describe_char(c) for c in bad)
            found.append(
                (name, f"{name.replace('options.', 'option ')} is not GSM-7 by SMS even folded: {chars}")
            )
    texts = [t.strip().lower() for t in options.values()]
    if len(set(texts)) != len(texts):
        found.append(("options", "two options have the same text"))
    if not translated_by.strip():
        found.append(("translated_by", "translated_by is empty: say who translated it"))
    elif len(translated_by) > TRANSLATED_BY_MAX:
        found.append(("translated_by", f"translated_by is over {TRANSLATED_BY_MAX} characters"))
    if found:
        return found  # budgets of a text that is not whole would only add noise

    sms = count(sms_rendering(render_question(_Text(english.id, stem, options))))
    if sms.segments > TRANSLATED_QUESTION_SEGMENTS or sms.encoding != "GSM-7":
        found.append(
            (
                "stem",
                f"the question as sent by SMS (Q{english.id} stem plus A)-D) lines, accents folded) is "
                f"{sms.units} {sms.encoding} units = {sms.segments} segments; it must fit "
                f"{TRANSLATED_QUESTION_SEGMENTS}: shorten the stem or options",
            )
        )
    for key, template in sorted(feedback_templates.items()):
        filled = template.format(
            answer=english.answer, explanation=explanation.strip(), streak=SAMPLE_VALUES["streak"]
        )
        feedback = count(sms_rendering(filled.strip()))
        if feedback.segments > TRANSLATED_FEEDBACK_SEGMENTS:
            found.append(
                (
                    "explanation",
                    f"the feedback ({key}) as sent by SMS is {feedback.units} {feedback.encoding} units = "
                    f"{feedback.segments} segments; it must fit {TRANSLATED_FEEDBACK_SEGMENTS}: "
                    "shorten the explanation",
                )
            )
            break
    return found


def publishing_problems(
    catalog: Catalog,
    english: EnglishItem,
    language: str,
    stem: str,
    options: Mapping[str, str],
    explanation: str,
    translated_by: str,
) -> list[str]:
    """What stops this text being published as `language`'s version of the stored question `english`,
    each said as a reviewer can act on it; empty when it may be published.

    For the review workflow to run before `store.translations.publish_translation`, with the
    catalog students get their feedback from.
    """
    templates = {key: catalog.template(key, language) for key in FEEDBACK_KEYS}
    return [
        message
        for _, message in translation_problems(
            english, language, stem, options, explanation, translated_by, templates
        )
    ]


def _feedback_templates(bank: Bank, language: str) -> dict[str, str]:
    """The language's feedback messages (English ones where the language lacks them, as served)."""
    own = bank.catalogs.get(language)
    english = bank.catalogs.get("en")
    templates = {}
    for key in FEEDBACK_KEYS:
        for catalog in (own, english):
            if catalog is not None and key in catalog.messages:
                templates[key] = catalog.messages[key]
                break
    return templates or {"feedback": FALLBACK_FEEDBACK}


def check_translations(bank: Bank, out: Report) -> None:
    """Every translation against its English item, then the published items left untranslated."""
    questions = {q.id: q for q in bank.questions}
    seen: dict[tuple[int, str], TranslationItem] = {}
    for t in bank.translations:
        label = f"{t.language} translation of question {t.id}"
        first = seen.setdefault((t.id, t.language), t)
        if first is not t:
            out.error(
                t.file, t.line_of("id"), f"{label}: already given at {first.file}:{first.line}; keep one"
            )
            continue
        english = questions.get(t.id)
        if (english is None and (t.id in bank.written_ids or bank.unread_question_files)) or (
            english is not None and sorted(english.options) != list(LETTERS)
        ):
            continue  # the English item has errors of its own; the translation is checked once it loads
        if english is None:
            out.error(t.file, t.line_of("id"), f"{label}: there is no question {t.id} in questions/")
            continue
        templates = _feedback_templates(bank, t.language)
        for name, message in translation_problems(
            english, t.language, t.stem, t.options, t.explanation, t.translated_by, templates
        ):
            out.error(t.file, t.line_of(name), f"{label}: {message}")
    _check_missing(bank, set(seen), out)


def _check_missing(bank: Bank, translated: set[tuple[int, str]], out: Report) -> None:
    """One warning (an error once MISSING_TRANSLATION_IS_ERROR) per language, with the count."""
    ids = sorted({q.id for q in bank.questions})
    if not ids:
        return
    for language in TRANSLATED_LANGUAGES:
        missing = [qid for qid in ids if (qid, language) not in translated]
        if not missing:
            continue
        listed = ", ".join(map(str, missing[:MISSING_LISTED]))
        more = f" and {len(missing) - MISSING_LISTED} more" if len(missing) > MISSING_LISTED else ""
        message = (
            f"{len(missing)} of {len(ids)} questions have no {language} translation "
            f"(students with LANG {language} get them in English): {listed}{more}"
        )
        where: Path = bank.root / "translations" / language
        (out.error if translations.MISSING_TRANSLATION_IS_ERROR else out.warn)(where, 1, message)
