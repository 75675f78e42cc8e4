"""The scheduling pass: one `run_tick` over 1,000,000 students in PostgreSQL, ~1/1440 of them due.

Students spread over 300 zones and every minute of the day; the due ones have a learning
history. Also captures the due query's plan (EXPLAIN ANALYZE) and the statements a pass runs.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, select, text

from bench import population, services
from bench.report import Figure, Results
from store.db import get_engine, session_scope
from store.models import Attempt, Card, Person, Question
from store.settings import Settings
from workers.schedule import BATCH, due_batch, nudge_query, run_tick

# A Tuesday noon UTC (check-ins go out on Sundays); the first instant warms the process up.
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HISTORY = 20  # answered questions (and cards) per due student


def due_query(at: datetime):
    """The pass's own due query (workers/schedule.py), for EXPLAIN."""
    return due_batch(at, BATCH)


def explain(url: str, statement) -> str:
    engine = get_engine(url)
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars().all()
    return "\n".join(rows)


def seed_history(url: str, since: datetime, until: datetime) -> int:
    """Twenty answered questions and their cards for two in three students due in (since, until]."""
    rng = random.Random(11)
    with session_scope(url) as session:
        people = list(
            session.scalars(
                select(Person.id).where(Person.next_push_at > since, Person.next_push_at <= until)
            )
        )
        questions = list(session.scalars(select(Question.id)))
        attempts, cards = [], []
        for person_id in people:
            if person_id % 3 == 0:
                continue  # a third are new: their question comes from the weakest-topic path
            for day, question_id in enumerate(rng.sample(questions, HISTORY), start=1):
                asked = since - timedelta(days=day)
                attempts.append(
                    {
                        "person_id": person_id,
                        "question_id": question_id,
                        "source": "daily",
                        "local_date": asked.date(),
                        "asked_at": asked,
                        "answered_at": asked + timedelta(minutes=30),
                        "choice": "A",
                        "correct": rng.random() < 0.6,
                        "skipped": False,
                        "response_seconds": 1800.0,
                    }
                )
                cards.append(
                    {
                        "person_id": person_id,
                        "question_id": question_id,
                        "due": asked + timedelta(days=rng.randint(1, 30)),
                        "state": {"last_review": (asked + timedelta(minutes=30)).isoformat()},
                        "reviews": 1,
                        "lapses": 0,
                    }
                )
        for start in range(0, len(attempts), 5000):
            session.execute(insert(Attempt), attempts[start : start + 5000])
            session.execute(insert(Card), cards[start : start + 5000])
    with get_engine(url).begin() as conn:
        conn.execute(text("ANALYZE attempts; ANALYZE cards"))
    return len(people)


class StatementCounter:
    """Counts the SQL statements an engine runs, by their first words."""

    def __init__(self, url: str):
        self.engine = get_engine(url)
        self.counts: Counter[str] = Counter()

    def _count(self, conn, cursor, statement, *args) -> None:
        words = re.sub(r"sa_savepoint_\d+", "sa_savepoint", statement).split()
        self.counts[" ".join(words[:4])[:60]] += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    students = 100_000 if quick else 1_000_000
    instants = [START + timedelta(minutes=k) for k in range(6)]
    with services.database("postgresql", "tick") as url:
        started = time.perf_counter()
        population.load_students(
            url, students, START - timedelta(minutes=1), population.spread_zones(300), whatsapp_share=0.05
        )
        loaded = time.perf_counter() - started
        seeded = seed_history(url, START - timedelta(minutes=1), instants[-1])
        settings = Settings(database_url=url, redis_url=redis.url, send_batch_size=100)
        results.note(
            "tick",
            f"{students:,} students over 300 zones and every minute of the day loaded with COPY in "
            f"{loaded:.0f} s (next_push_at from flows.schedule.next_push_at); {seeded:,} students due in "
            f"the measured minutes (two in three of them have {HISTORY} answered questions and cards); "
            "5% on WhatsApp.",
        )
        run_tick(settings, instants[0])  # warm-up: imports, catalog, connection pool
        empty, passes, due = [], [], []
        for at in instants[1:4]:
            empty.append(_timed(lambda: run_tick(settings, instants[0]))[0])  # nobody is due any more
            seconds, report = _timed(lambda at=at: run_tick(settings, at))
            passes.append(seconds)
            due.append(report.due)
        query = []
        for at in instants[1:4]:
            with session_scope(url) as session:
                query.append(
                    _timed(lambda at=at: session.scalars(due_query(at + timedelta(days=1))).all())[0]
                )
        base = results.add(
            Figure("tick", f"empty pass ({students:,} students, none due)", "seconds", empty, "s")
        )
        alone = results.add(Figure("tick", "due query alone (500 rows via the index)", "seconds", query, "s"))
        figure = results.add(
            Figure(
                "tick",
                f"run_tick, {statistics_median(due):,.0f} due of {students:,}",
                "seconds",
                passes,
                "s",
                target="< 0.5 s",
            )
        )
        figure.met = figure.value < 0.5
        figure.compare(alone, "due query alone")
        base.compare(alone, "due query alone")
        results.add(Figure("tick", "students due per pass", "students", [float(d) for d in due]))
        results.add(
            Figure(
                "tick",
                "run_tick per due student",
                "ms",
                [p / max(1, d) * 1000 for p, d in zip(passes, due, strict=True)],
                "ms",
            )
        )
        with StatementCounter(url) as counter:
            report = run_tick(settings, instants[4])
        total = sum(counter.counts.values())
        results.note(
            "tick",
            f"one pass with {report.due} due ran {total} SQL statements "
            f"({total / max(1, report.due):.1f} per due student): "
            + ", ".join(f"{n}x {s}" for s, n in counter.counts.most_common(8)),
        )
        profiler = cProfile.Profile()
        profiler.enable()
        run_tick(settings, instants[5])
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"(flows|workers|store)/", 25)
        results.extra["Profile of one scheduling pass (cProfile, cumulative, Rounds' own functions)"] = (
            _trim_profile(out.getvalue())
        )
        plan = explain(url, due_query(instants[5] + timedelta(days=1)))
        results.extra["Query plan: the pass's due query (EXPLAIN ANALYZE, 1M students)"] = plan
        nudge_plan = explain(url, nudge_query(instants[5]))
        results.extra["Query plan: the WhatsApp nudge query (EXPLAIN ANALYZE)"] = nudge_plan
        index_scan = "ix_people_next_push_at" in plan and "Seq Scan" not in plan
        results.add(
            Figure(
                "tick",
                "due query is an index range scan on ix_people_next_push_at",
                "yes/no",
                [1.0 if index_scan else 0.0],
                target="index scan",
                met=index_scan,
            )
        )
        nudge_index = (
            "ix_people_whatsapp_last_inbound" in nudge_plan and "Seq Scan on people" not in nudge_plan
        )
        results.add(
            Figure(
                "tick",
                "WhatsApp nudge query is a range scan on ix_people_whatsapp_last_inbound",
                "yes/no",
                [1.0 if nudge_index else 0.0],
                target="index scan",
                met=nudge_index,
            )
        )


def statistics_median(values: list[int]) -> float:
    ordered = sorted(values)
    return float(ordered[len(ordered) // 2])


def _timed(call):
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def _trim_profile(text_: str) -> str:
    lines = [line for line in text_.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    return "\n".join(head + lines[start:])
