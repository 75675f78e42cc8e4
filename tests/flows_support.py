"""Helpers for the flow transcripts: a phone that texts through `flows.handle`, and a small bank.

The bank and library are inserted directly, so the tests do not depend on the content files;
only the message catalog (the text under test) is read from the bundled content.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

import flows
from content import BUNDLED
from content.catalog import get_catalog
from content.segments import segment_count
from flows.engine import Context, Inbound
from store.models import Person, Question, Resource
from store.settings import Settings

TAXONOMY = """\
topics:
  - key: cardiology
    name: "Cardiology"
    synonyms: ["cardio", "heart", "cardiac"]
  - key: renal
    name: "Renal"
    synonyms: ["kidney", "nephro"]
  - key: pulmonology
    name: "Pulmonology"
    synonyms: ["lungs", "chest"]
  - key: psychiatry
    name: "Psychiatry"
    synonyms: ["psych"]
tracks:
  - key: step1
    name: "USMLE Step 1"
"""

OPTIONS = {"A": "Option one", "B": "Option two", "C": "Option three", "D": "Option four"}
# id, topic, tracks, answer
BANK = [
    (17, "cardiology", ["step1", "general"], "B"),
    (18, "cardiology", ["step1"], "C"),
    (19, "cardiology", ["step1"], "A"),
    (31, "renal", ["step1"], "D"),
    (32, "renal", ["step1", "plab1"], "A"),
    (41, "pulmonology", ["step1"], "C"),
    (42, "pulmonology", ["plab1"], "B"),
    (51, "cardiology", ["general"], "A"),
]
EXPLANATION = "The reason in one short line."

LIBRARY = [
    ("cardio-a", "Heart Book", "https://example.org/heart-a", ["cardiology"]),
    ("cardio-b", "ECG Basics", "https://example.org/ecg-b", ["cardiology"]),
    ("cardio-c", "Murmurs Made Easy", "https://example.org/murmurs-c", ["cardiology"]),
    ("cardio-d", "Heart Failure Notes", "https://example.org/hf-d", ["cardiology"]),
    ("renal-a", "Kidney Primer", "https://example.org/kidney-a", ["renal"]),
    ("zz-general", "Open Medicine Text", "https://example.org/general", ["general"]),
]


def content_folder(root: Path) -> Path:
    """A content folder with the real catalog and a small test taxonomy."""
    folder = root / "content"
    if not folder.exists():
        shutil.copytree(BUNDLED / "catalog", folder / "catalog")
        (folder / "taxonomy.yaml").write_text(TAXONOMY, encoding="utf-8")
    return folder


def seed_bank(db: Session) -> None:
    for qid, topic, tracks, answer in BANK:
        db.add(
            Question(
                id=qid,
                topic=topic,
                tracks=tracks,
                difficulty=2,
                stem=f"Question {qid} about {topic}: which option is right?",
                options=dict(OPTIONS),
                answer=answer,
                explanation=f"{answer} is right for {qid}. {EXPLANATION}",
                active=True,
            )
        )
    db.flush()


# The small bank in French and Spanish. Written with the accents GSM-7 lacks (ê, î, û; á, í, ó, ú)
# and those it has (é, è, à; ñ, ¿), so SMS folding shows: the first fold, the second stay.
FRENCH_OPTIONS = {"A": "Première réponse", "B": "Deuxième réponse", "C": "Troisième réponse", "D": "Dernière"}
SPANISH_OPTIONS = {"A": "Opción uno", "B": "Opción dos", "C": "Opción tres", "D": "Opción cuatro"}


def french(qid: int, topic: str, answer: str) -> tuple[str, dict[str, str], str]:
    """Question `qid`'s French stem, options and explanation."""
    return (
        f"Question {qid} de {topic} : quelle réponse est la bonne, à votre avis ? Prêt ?",
        dict(FRENCH_OPTIONS),
        f"{answer} est juste pour {qid}. La raison tient en une ligne, c'est sûr et bien connu.",
    )


def spanish(qid: int, topic: str, answer: str) -> tuple[str, dict[str, str], str]:
    """Question `qid`'s Spanish stem, options and explanation."""
    return (
        f"¿Pregunta {qid} de {topic}: qué opción es la correcta según la guía? Señale una.",
        dict(SPANISH_OPTIONS),
        f"{answer} es la correcta para {qid}. La razón cabe en una línea, sin más.",
    )


def seed_translations(db: Session, languages: tuple[str, ...] = ("fr", "es")) -> None:
    """Publish the small bank's French and Spanish text, as the review workflow would."""
    from store.translations import publish_translation

    for qid, topic, _tracks, answer in BANK:
        for language in languages:
            stem, options, explanation = (french if language == "fr" else spanish)(qid, topic, answer)
            publish_translation(db, qid, language, stem, options, explanation, "Test translators", 1)
    db.flush()


def seed_library(db: Session) -> None:
    for rid, title, url, topics in LIBRARY:
        db.add(Resource(id=rid, title=title, url=url, topics=topics, kind="reference", languages=["en"]))
    db.flush()


class Phone:
    """One student's phone: `send` a text, get the replies (and the state left in the person)."""

    def __init__(self, db: Session, settings: Settings, number: str, now: datetime):
        self.db, self.settings, self.number, self.now = db, settings, number, now
        self.person: Person | None = None

    def send(self, text: str, at: datetime | None = None) -> list[str]:
        if at is not None:
            self.now = at
        first = self.person is None
        if first:
            self.person = Person(
                phone=self.number,
                channel="sms",
                language="en",
                status="active",
                role="student",
                flow_state={},
            )
            self.db.add(self.person)
            self.db.flush()
        ctx = Context(self.db, get_catalog(self.settings.content_path), self.settings, self.now)
        outcome = flows.handle(ctx, self.person, Inbound(text, "sms", self.now), first_contact=first)
        self.db.flush()
        for reply in outcome.replies:
            assert reply and segment_count(reply) <= 3, reply
        return outcome.replies

    def say(self, text: str, at: datetime | None = None) -> str:
        """Send and expect exactly one reply."""
        replies = self.send(text, at)
        assert len(replies) == 1, replies
        return replies[0]

    def later(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def onboard(self, name: str = "Ada", track: str = "1", time: str = "08:00") -> str:
        """Go through onboarding (for a one-zone number) and return the final confirmation."""
        self.send("JOIN")
        self.say(name)
        self.say(track)
        return self.say(time)
