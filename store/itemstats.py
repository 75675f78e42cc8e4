"""Item statistics per question version, computed by the database in one statement over attempts.

For each (question, version): how many answered and the share correct (difficulty), the
point-biserial discrimination against each student's accuracy on the other items (the rest
score), the share choosing each option, the median response time, and the option shares among
the top and bottom quartiles of students by accuracy. `flags` reads them the way the large exam
boards do; nothing is read per item in Python, only the grouped rows are turned into figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.models import Question

LETTERS = ("A", "B", "C", "D", "E")
# Below this many answers the shares swing too much to accuse an item: 30 answers put a 50 % share
# within about +/- 18 points (95 %), enough to tell > 95 % or < 20 % apart from an ordinary item.
MIN_ANSWERED_FOR_FLAGS = 30
TOO_EASY, TOO_HARD = 0.95, 0.20
# Figures of fewer answers than this are never shown (the project's rule for groups of learners):
# a share of three answers, or a top quartile of one student, would show what individuals chose.
MIN_GROUP = 10
WITHHELD = f"fewer than {MIN_GROUP} answers: groups that small are never shown"
# Flag names
EASY, HARD, NEGATIVE, DISTRACTOR = "too_easy", "too_hard", "negative_discrimination", "distractor_beats_key"


def _letter_sums(prefix: str, condition: str) -> str:
    when = f"{condition} AND " if condition else ""
    return ",\n  ".join(
        f"COUNT(*) FILTER (WHERE {when}choice = '{letter}') AS {prefix}_{letter.lower()}"
        for letter in LETTERS
    )


# The attempts are read once (`answered`). Each answer carries its student's totals and their
# totals on that question as window sums (one sort by student and question, cheaper than grouping
# and joining back a million pairs); the students' quartiles are grouped apart and joined; every
# figure is then one GROUP BY.
_COMMON = """
WITH answered AS (
  SELECT person_id, question_id, COALESCE(question_version, 1) AS version, choice,
         CASE WHEN correct THEN 1 ELSE 0 END AS c, response_seconds AS rs
  FROM attempts
  WHERE answered_at IS NOT NULL AND choice IS NOT NULL
),
students AS (
  SELECT person_id, COUNT(*) AS n, SUM(c) AS k FROM answered GROUP BY person_id
),
ranked AS (
  SELECT person_id, NTILE(4) OVER (ORDER BY CAST(k AS DOUBLE PRECISION) / n DESC, person_id) AS quartile
  FROM students
),
with_totals AS (
  SELECT person_id, question_id, version, choice, c, rs,
         COUNT(*) OVER (PARTITION BY person_id) AS student_n,
         SUM(c) OVER (PARTITION BY person_id) AS student_k,
         COUNT(*) OVER (PARTITION BY person_id, question_id) AS item_n,
         SUM(c) OVER (PARTITION BY person_id, question_id) AS item_k
  FROM answered
),
observed AS (
  SELECT a.question_id, a.version, a.choice, a.c, a.rs, r.quartile,
         CASE WHEN a.student_n > a.item_n
              THEN CAST(a.student_k - a.item_k AS DOUBLE PRECISION) / (a.student_n - a.item_n) END AS rest
  FROM with_totals a
  JOIN ranked r ON r.person_id = a.person_id
)"""

_FIGURES = f"""
  question_id, version, COUNT(*) AS answered, SUM(c) AS correct,
  COUNT(rest) AS m, SUM(rest) AS sx, SUM(rest * rest) AS sxx,
  COALESCE(SUM(c) FILTER (WHERE rest IS NOT NULL), 0) AS sy, SUM(c * rest) AS sxy,
  MAX(choice) FILTER (WHERE c = 1) AS answered_key,
  COUNT(*) FILTER (WHERE quartile = 1) AS top_n,
  COUNT(*) FILTER (WHERE quartile = 4) AS bottom_n,
  {_letter_sums("all", "")},
  {_letter_sums("top", "quartile = 1")},
  {_letter_sums("bottom", "quartile = 4")}"""

# The median of each version's times: PostgreSQL's ordered-set aggregate; SQLite has none, so
# the middle row(s) of each version's times by their rank, still set-wise.
_MEDIANS = {
    "postgresql": """
medians AS (
  SELECT question_id, version, percentile_cont(0.5) WITHIN GROUP (ORDER BY rs) AS median_seconds
  FROM answered WHERE rs IS NOT NULL GROUP BY question_id, version
)""",
    "sqlite": """
timed AS (
  SELECT question_id, version, rs,
         ROW_NUMBER() OVER (PARTITION BY question_id, version ORDER BY rs) AS place,
         COUNT(*) OVER (PARTITION BY question_id, version) AS total
  FROM answered WHERE rs IS NOT NULL
),
medians AS (
  SELECT question_id, version, AVG(rs) AS median_seconds FROM timed
  WHERE place IN ((total + 1) / 2, (total + 2) / 2)
  GROUP BY question_id, version
)""",
}


def statement_for(dialect: str) -> str:
    """The one statement: the figures grouped apart from the median, whose ordered aggregate would
    otherwise make PostgreSQL sort every observation instead of hashing 1 row per version."""
    return f"""{_COMMON},{_MEDIANS["postgresql" if dialect == "postgresql" else "sqlite"]},
figures AS (
  SELECT {_FIGURES}
  FROM observed
  WHERE CAST(:question_id AS INTEGER) IS NULL OR question_id = :question_id
  GROUP BY question_id, version
)
SELECT figures.*, medians.median_seconds FROM figures
LEFT JOIN medians ON medians.question_id = figures.question_id AND medians.version = figures.version
ORDER BY figures.question_id, figures.version"""


@dataclass
class ItemStats:
    """One version's figures; shares are fractions (0..1), None where nothing was counted."""

    question_id: int
    version: int
    answered: int
    difficulty: float
    discrimination: float | None
    median_seconds: float | None
    key: str | None
    options: dict[str, float]
    top: dict[str, float]
    bottom: dict[str, float]
    top_answered: int
    bottom_answered: int
    flags: list[str] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return self.answered >= MIN_GROUP

    @property
    def top_shown(self) -> bool:
        return self.top_answered >= MIN_GROUP

    @property
    def bottom_shown(self) -> bool:
        return self.bottom_answered >= MIN_GROUP

    def as_dict(self) -> dict[str, Any]:
        """The figures as the API shows them: a group under MIN_GROUP answers is withheld."""
        head = {"question_id": self.question_id, "version": self.version, "answered": self.answered}
        if not self.shown:
            return head | {"withheld": WITHHELD, "flags": []}
        return head | {
            "difficulty": _round(self.difficulty),
            "discrimination": _round(self.discrimination),
            "median_seconds": _round(self.median_seconds),
            "key": self.key,
            "options": _rounded(self.options),
            "top_quartile": _quartile(self.top_answered, self.top),
            "bottom_quartile": _quartile(self.bottom_answered, self.bottom),
            "flags": self.flags,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _rounded(shares: dict[str, float]) -> dict[str, float | None]:
    return {k: _round(v) for k, v in shares.items()}


def _quartile(answered: int, shares: dict[str, float]) -> dict[str, Any]:
    if answered < MIN_GROUP:
        return {"answered": answered, "withheld": WITHHELD}
    return {"answered": answered, "options": _rounded(shares)}


def point_biserial(m: int, sx: float, sxx: float, sy: float, sxy: float) -> float | None:
    """Pearson's r between a 0/1 item score (sums sy, sxy) and the rest score x, from the sums;
    None when either side does not vary (everyone right, or the same rest score)."""
    if m < 2:
        return None
    spread = (m * sxx - sx * sx) * (m * sy - sy * sy)  # y*y == y for a 0/1 score
    if spread <= 1e-12:
        return None
    return (m * sxy - sx * sy) / math.sqrt(spread)


def flags(stats: ItemStats, min_answered: int = MIN_ANSWERED_FOR_FLAGS) -> list[str]:
    """What points to a bad item, once enough students answered it."""
    if stats.answered < min_answered:
        return []
    found = []
    if stats.difficulty > TOO_EASY:
        found.append(EASY)
    if stats.difficulty < TOO_HARD:
        found.append(HARD)
    if stats.discrimination is not None and stats.discrimination < 0:
        found.append(NEGATIVE)
    if stats.key is not None and stats.top_answered:
        key_share = stats.top.get(stats.key, 0.0)
        if any(share > key_share for letter, share in stats.top.items() if letter != stats.key):
            found.append(DISTRACTOR)
    return found


def _shares(row: Any, prefix: str, total: int, letters: list[str]) -> dict[str, float]:
    if not total:
        return {}
    return {letter: (getattr(row, f"{prefix}_{letter.lower()}") or 0) / total for letter in letters}


def item_stats(session: Session, question_id: int | None = None) -> list[ItemStats]:
    """Every answered version's figures (or one question's), in one statement over attempts."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Compiling this one statement to machine code costs PostgreSQL more (0.4-1 s) than it saves.
        session.execute(text("SET LOCAL jit = off"))
    statement = text(statement_for(dialect))
    rows = session.execute(statement, {"question_id": question_id}).all()
    current = {
        qid: (version, answer, sorted(options or {}))
        for qid, version, answer, options in session.execute(
            select(Question.id, Question.version, Question.answer, Question.options).where(
                Question.id.in_({row.question_id for row in rows})
            )
        )
    }
    found = []
    for row in rows:
        version, answer, letters = current.get(row.question_id, (None, None, list(LETTERS[:4])))
        letters = letters or list(LETTERS[:4])
        # The version's own key (a re-keyed old version was marked against its old key).
        key = row.answered_key or (answer if version == row.version else None)
        answered = int(row.answered)
        stats = ItemStats(
            question_id=int(row.question_id),
            version=int(row.version),
            answered=answered,
            difficulty=int(row.correct or 0) / answered,
            discrimination=point_biserial(
                int(row.m), float(row.sx or 0), float(row.sxx or 0), float(row.sy or 0), float(row.sxy or 0)
            ),
            median_seconds=None if row.median_seconds is None else float(row.median_seconds),
            key=key,
            options=_shares(row, "all", answered, letters),
            top=_shares(row, "top", int(row.top_n), letters),
            bottom=_shares(row, "bottom", int(row.bottom_n), letters),
            top_answered=int(row.top_n),
            bottom_answered=int(row.bottom_n),
        )
        stats.flags = flags(stats)
        found.append(stats)
    return found
