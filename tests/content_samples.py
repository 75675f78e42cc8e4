"""A small, valid content folder written to disk, for content check and load tests.

Tests break one thing in it and expect exactly that to be reported.
"""

from __future__ import annotations

import re
from pathlib import Path

TAXONOMY = """\
topics:
  - key: renal
    name: "Renal"
    synonyms: ["kidney", "nephro"]
  - key: cardiology
    name: "Cardiology"
    synonyms: ["cardio", "heart"]
tracks:
  - key: step1
    name: "USMLE Step 1"
  - key: plab1
    name: "PLAB 1"
"""


# Distinct stems, so that the items of a sample are not near-duplicates of each other.
STEMS = (
    "Which ion does a loop diuretic waste most?",
    "A man on furosemide for heart failure feels weak. Which serum level fell?",
    "Cramps and a U wave on ECG follow a new water tablet. What is low?",
    "After high-dose IV diuretic, which electrolyte should be replaced first?",
)


def question(
    ident: int,
    stem: str = "",
    explanation: str = "Loop diuretics block NKCC2 and waste K; bicarbonate is kept.",
    answer: str = "B",
    topic: str = "renal",
    review_by: str = "2030-01-31",
) -> str:
    """One question item; every line is fixed so tests can name exact line numbers."""
    stem = stem or STEMS[(ident % 100 + ident // 100) % len(STEMS)]
    return f"""\
- id: {ident}
  topic: {topic}
  tracks: [step1, plab1]
  difficulty: 2
  stem: "{stem}"
  options:
    A: "Sodium only"
    B: "Potassium"
    C: "Phosphate"
    D: "Bicarbonate"
  answer: {answer}
  explanation: "{explanation}"
  reviewer: "Test reviewer"
  review_by: {review_by}
  source: "StatPearls, Loop diuretics (2024)"
  locale: intl
"""


# Each question() is 16 lines: item n (from 0) starts on line 16*n + 1, and its fields
# sit at these offsets from that line.
QUESTION_LINES = 16
FIELD_OFFSET = {
    "id": 0,
    "topic": 1,
    "tracks": 2,
    "difficulty": 3,
    "stem": 4,
    "options": 5,
    "A": 6,
    "B": 7,
    "C": 8,
    "D": 9,
    "answer": 10,
    "explanation": 11,
    "reviewer": 12,
    "review_by": 13,
    "source": 14,
    "locale": 15,
}

RESOURCES = """\
- id: statpearls
  title: "StatPearls"
  url: "https://www.ncbi.nlm.nih.gov/books/NBK430685/"
  topics: [general]
  kind: reference
  languages: [en]
  note: ""
  locale: us
  tags: [review articles]
  checked: 2026-11-20
  checked_how: "well-known stable URL; recalled, not fetched"
- id: kidney-basics
  title: "Kidney basics"
  url: "https://example.org/kidney"
  topics: [renal]
  kind: textbook
  languages: [en, fr]
  locale: intl
  tags: [kidney function, acute kidney injury]
  checked: 2026-11-20
  checked_how: "opened in a browser; the page title matches"
"""

CATALOG_EN = """\
help: "Rounds: A-D answer, Q question, SCORE, RES topic, STOP to end."
welcome: "Welcome to Rounds, {name}! Your first question comes at {time}."
score: "Streak {streak}, accuracy {accuracy}%."
"""

CATALOG_FR = """\
help: "Rounds : A-D repondre, Q question, SCORE, RES sujet, STOP pour arreter."
welcome: "Bienvenue sur Rounds, {name} ! Premiere question a {time}."
score: "Serie {streak}, precision {accuracy} %."
"""


def translation(ident: int, language: str = "fr", **changes: str) -> str:
    """One translation item (7 lines; its fields at TRANSLATION_OFFSET), the sample's A-D letters."""
    text = dict(TRANSLATION_TEXT[language], id=str(ident))
    text.update(changes)
    return f"""\
- id: {text["id"]}
  stem: "{text["stem"]}"
  options: {{A: "{text["A"]}", B: "{text["B"]}", C: "{text["C"]}", D: "{text["D"]}"}}
  explanation: "{text["explanation"]}"
  translated_by: "{text["translated_by"]}"
"""


TRANSLATION_OFFSET = {"id": 0, "stem": 1, "options": 2, "explanation": 3, "translated_by": 4}
TRANSLATION_LINES = 5
# Accents GSM-7 lacks (ê, î, ó, á) on purpose: SMS folds them, so they cost nothing.
TRANSLATION_TEXT = {
    "fr": {
        "stem": "Quel ion un diurétique de l'anse fait-il le plus perdre ? Quelle conséquence surveiller ?",
        "A": "Sodium seul",
        "B": "Potassium",
        "C": "Phosphate",
        "D": "Bicarbonate",
        "explanation": "Le diurétique de l'anse bloque NKCC2 et fait perdre le K ; "
        "le bicarbonate est gardé, même à forte dose.",
        "translated_by": "Équipe test",
    },
    "es": {
        "stem": "¿Qué ion hace perder más un diurético de asa? ¿Qué consecuencia vigilar?",
        "A": "Solo sodio",
        "B": "Potasio",
        "C": "Fosfato",
        "D": "Bicarbonato",
        "explanation": "El diurético de asa bloquea NKCC2 y hace perder K; "
        "el bicarbonato se conserva aún a dosis altas.",
        "translated_by": "Equipo de prueba",
    },
}


def write_translations(root: Path, *texts: str) -> None:
    """French and Spanish versions of every question id in `texts` (translations/<lang>/sample.yaml)."""
    ids = sorted({int(found) for text in texts for found in re.findall(r"^- id: (\d+)$", text, re.M)})
    for language in TRANSLATION_TEXT:
        folder = root / "translations" / language
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sample.yaml").write_text("".join(translation(i, language) for i in ids), encoding="utf-8")


def write_content(root: Path, renal: str | None = None, cardiology: str | None = None) -> Path:
    """Write a valid content folder under `root` (questions overridable), with a French and a
    Spanish version of each question, and return it."""
    (root / "questions").mkdir(parents=True, exist_ok=True)
    (root / "catalog").mkdir(exist_ok=True)
    (root / "taxonomy.yaml").write_text(TAXONOMY)
    if renal is None:
        renal = question(201) + question(202)
    if cardiology is None:
        cardiology = question(101, topic="cardiology")
    (root / "questions" / "renal.yaml").write_text(renal)
    (root / "questions" / "cardiology.yaml").write_text(cardiology)
    (root / "resources.yaml").write_text(RESOURCES)
    (root / "catalog" / "en.yaml").write_text(CATALOG_EN)
    (root / "catalog" / "fr.yaml").write_text(CATALOG_FR)
    write_translations(root, renal, cardiology)
    return root
