"""Item statistics (store/itemstats.py) over 1,000,000 attempts in PostgreSQL, loaded with COPY.

20,000 students of spread ability answer 50 of the bundled questions each; a few questions are
given a wrong key on purpose so the flags have something to find. The baseline in the same run is
the cheapest one-pass figure there is: answered and correct per question version, one GROUP BY.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy import select, text

from bench import population, services
from bench.report import Figure, Results
from store.db import get_engine, session_scope
from store.itemstats import DISTRACTOR, NEGATIVE, item_stats
from store.models import Person, Question

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PER_STUDENT = 50
# Questions whose stored key is wrong: strong students choose another letter (the "real" key).
MISKEYED = 5
BASELINE = text(
    "SELECT question_id, COALESCE(question_version, 1), COUNT(*), SUM(CASE WHEN correct THEN 1 ELSE 0 END) "
    "FROM attempts WHERE answered_at IS NOT NULL AND choice IS NOT NULL "
    "GROUP BY question_id, COALESCE(question_version, 1)"
)


def load_attempts(url: str, students: int) -> tuple[int, list[int]]:
    """COPY PER_STUDENT answered attempts per student; (rows, the questions keyed wrong on purpose)."""
    rng = random.Random(13)
    with session_scope(url) as session:
        people = list(session.scalars(select(Person.id).order_by(Person.id)))[:students]
        keys = dict(session.execute(select(Question.id, Question.answer)).all())
    questions = sorted(keys)
    miskeyed = questions[:MISKEYED]
    letters = "ABCD"
    rows = 0
    with psycopg.connect(population.libpq_url(url)) as conn, conn.cursor() as cursor:
        columns = (
            "person_id, question_id, question_version, source, local_date, asked_at, answered_at, "
            "choice, correct, skipped, response_seconds"
        )
        with cursor.copy(f"COPY attempts ({columns}) FROM STDIN") as copy:
            for person_id in people:
                ability = rng.random()
                for day, question_id in enumerate(rng.sample(questions, PER_STUDENT), start=1):
                    key = keys[question_id]
                    truth = letters[(letters.index(key) + 1) % 4] if question_id in miskeyed else key
                    choice = truth if rng.random() < 0.25 + 0.7 * ability else rng.choice(letters)
                    asked = START - timedelta(days=day, minutes=rng.randrange(600))
                    copy.write_row(
                        (
                            person_id,
                            question_id,
                            1,
                            "daily",
                            date.fromordinal(asked.toordinal()),
                            asked.replace(tzinfo=None),
                            (asked + timedelta(seconds=30)).replace(tzinfo=None),
                            choice,
                            choice == key,
                            False,
                            float(rng.randrange(5, 600)),
                        )
                    )
                    rows += 1
        cursor.execute("ANALYZE attempts")
    return rows, miskeyed


def _timed(call):
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    students = 2_000 if quick else 20_000
    with services.database("postgresql", "itemstats") as url:
        population.load_students(url, students, START, population.spread_zones(50))
        started = time.perf_counter()
        rows, miskeyed = load_attempts(url, students)
        loaded = time.perf_counter() - started
        results.note(
            "itemstats",
            f"{rows:,} answered attempts ({students:,} students x {PER_STUDENT} of the bundled questions) "
            f"loaded with COPY in {loaded:.0f} s; {MISKEYED} questions keyed wrong on purpose.",
        )
        engine = get_engine(url)
        baseline, full = [], []
        found = []
        for _ in range(3):
            with engine.connect() as conn:
                baseline.append(_timed(lambda conn=conn: conn.execute(BASELINE).all())[0])
            with session_scope(url) as session:
                seconds, found = _timed(lambda session=session: item_stats(session))
                full.append(seconds)
        base = results.add(
            Figure(
                "itemstats", f"answered and correct per version ({rows:,} attempts)", "seconds", baseline, "s"
            )
        )
        figure = results.add(
            Figure(
                "itemstats",
                f"item_stats, every figure for every version ({rows:,} attempts)",
                "seconds",
                full,
                "s",
                target="< 5 s",
            )
        )
        figure.met = figure.value < 5
        figure.compare(base, "answered and correct per version")
        caught = {s.question_id for s in found if DISTRACTOR in s.flags or NEGATIVE in s.flags}
        results.add(
            Figure(
                "itemstats",
                f"questions keyed wrong on purpose that are flagged (of {MISKEYED})",
                "questions",
                [float(len(caught & set(miskeyed)))],
                target=f"{MISKEYED}",
                met=set(miskeyed) <= caught,
            )
        )
        results.note(
            "itemstats",
            f"{len(found)} versions; flagged: "
            + ", ".join(f"{name} {sum(name in s.flags for s in found)}" for name in (NEGATIVE, DISTRACTOR))
            + f"; flagged but keyed right: {len(caught - set(miskeyed))}",
        )
