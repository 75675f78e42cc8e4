"""The weekly progress message for 100,000 students due in one scheduling pass, in PostgreSQL.

Students in five zones, each with the daily time that falls on one Sunday instant, and two weeks
of answers loaded with COPY. Measured: the weekly part of the pass alone (workers.weekly, as
run_tick runs it: the due students, their figures, streaks and tracks' spread in a few statements,
the texts, outbox rows 5,000 a COPY and INSERT, the send jobs), with cProfile's split of where its time
goes; and whole `run_tick` passes on that Sunday and on the Saturday before, so the weekly's share
of the real pass shows.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import delete, func, select, text, update

from bench import services
from bench.population import COLUMNS, libpq_url
from bench.report import Figure, Results
from flows.weekly import KIND
from store.db import get_engine, session_scope
from store.models import Message, Person, Question
from store.settings import Settings
from workers.schedule import run_tick
from workers.weekly import run_weekly_progress

SUNDAY = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # ISO week 49
# Zone -> the daily time that is 12:00 UTC there on that Sunday (every one outside quiet hours).
ZONES = {
    "Europe/London": "12:00",
    "Africa/Lagos": "13:00",
    "Africa/Nairobi": "15:00",
    "Asia/Kolkata": "17:30",
    "America/Lima": "07:00",
}
TRACKS = ("step1", "step2ck", "plab1", "general")
LANGUAGES = ("en",) * 7 + ("fr",) * 3 + ("es",) * 2
ANSWER_ODDS = 0.8  # a student answers on a given day with this probability
COMPARED = 10_000  # students in the whole-pass comparison


def load(url: str, students: int, seed: int = 5) -> int:
    """COPY `students` due at SUNDAY and their answers since the Monday a week before; rows of answers."""
    rng = random.Random(seed)
    zones = list(ZONES)
    now = (SUNDAY - timedelta(days=14)).replace(tzinfo=None)
    monday = SUNDAY.date() - timedelta(days=13)
    with session_scope(url) as session:
        questions = list(session.execute(select(Question.id, Question.answer)))
    answers = 0
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY people ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n in range(students):
                zone = zones[n % len(zones)]
                copy.write_row(
                    (
                        f"+2348{n:09d}",
                        "whatsapp" if n % 20 == 0 else "sms",
                        "Student",
                        LANGUAGES[n % len(LANGUAGES)],
                        zone,
                        "NG",
                        "student",
                        "active",
                        TRACKS[n % len(TRACKS)],
                        ZONES[zone],
                        SUNDAY.replace(tzinfo=None),
                        None,
                        "{}",
                        False,
                        now if n % 20 == 0 else None,
                        now,
                        now,
                    )
                )
        cursor.execute("SELECT min(id) FROM people")
        (first,) = cursor.fetchone() or (1,)
        columns = (
            "person_id, question_id, source, local_date, asked_at, answered_at, choice, correct, skipped"
        )
        with cursor.copy(f"COPY attempts ({columns}) FROM STDIN") as copy:
            for person_id in range(first, first + students):
                # Monday of last week to Saturday of this one; asked for (`more:1`), so the daily
                # question of the Saturday pass below is still to be asked.
                for offset in range(13):
                    if rng.random() >= ANSWER_ODDS:
                        continue
                    day = monday + timedelta(days=offset)
                    question_id, key = questions[rng.randrange(len(questions))]
                    asked = datetime.combine(day, datetime.min.time()) + timedelta(hours=12)
                    correct = rng.random() < 0.65
                    choice = key if correct else ("A" if key != "A" else "B")
                    copy.write_row(
                        (
                            person_id,
                            question_id,
                            "more:1",
                            day,
                            asked,
                            asked + timedelta(minutes=20),
                            choice,
                            correct,
                            False,
                        )
                    )
                    answers += 1
        cursor.execute("ANALYZE people; ANALYZE attempts")
    return answers


def weekly_part(settings: Settings, at: datetime) -> int:
    """The weekly part of the pass at `at`, as run_tick runs it before the daily questions."""
    return run_weekly_progress(settings, at)


def backend_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this database (from /proc)."""
    with get_engine(url).connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def cpu_used(url: str, call) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and the database's backends) of `call()`."""
    before, process, started = backend_cpu(url), time.process_time(), time.perf_counter()
    call()
    wall = time.perf_counter() - started
    return wall, time.process_time() - process + backend_cpu(url) - before


def _clear_outbox(url: str, redis: services.RedisServer) -> None:
    with session_scope(url) as session:
        session.execute(delete(Message))
    redis.flush()


def _profile_split(profiler: cProfile.Profile) -> dict[str, float]:
    """Cumulative seconds of the pass's steps, from cProfile's table."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    wanted = {
        ("store/weekly.py", "due_students"): "SQL: due students",
        ("store/weekly.py", "figures"): "SQL: week figures + topics (incl. streaks)",
        ("store/weekly.py", "streaks"): "SQL: streaks",
        ("store/weekly.py", "track_scores"): "SQL: tracks' spread (once)",
        ("flows/weekly.py", "compose"): "texts (templates filled, fitted to 2 segments)",
        ("flows/weekly.py", "_sendable"): "who may be texted (zone, quiet hours, status)",
        ("content/segments.py", "rendered"): "rendering for the channel + segment count",
        ("workers/outbox.py", "queue_many_texts"): "outbox rows: tuples, COPY + INSERT (incl. rendering)",
        ("workers/outbox.py", "enqueue_send"): "send jobs to Redis",
        ("sqlalchemy/orm/session.py", "commit"): "commits",
    }
    split: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for (suffix, function), label in wanted.items():
            if name == function and filename.endswith(suffix):
                split[label] = split.get(label, 0.0) + cumulative
    return split


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    students = 20_000 if quick else 100_000
    with services.database("postgresql", "weekly") as url:
        started = time.perf_counter()
        answers = load(url, students)
        loaded = time.perf_counter() - started
        settings = Settings(database_url=url, redis_url=redis.url, send_batch_size=500)
        results.note(
            "weekly",
            f"{students:,} students due at {SUNDAY.isoformat()} (a Sunday; five zones, each at the daily "
            f"time that falls then; 7 in 12 English, 3 French, 2 Spanish; 5% WhatsApp; four tracks) and "
            f"{answers:,} answers over the 13 days before (each day answered with odds {ANSWER_ODDS}), "
            f"loaded with COPY in {loaded:.0f} s.",
        )
        weekly_part(settings, SUNDAY)  # warm-up: imports, catalog, connections, caches
        _clear_outbox(url, redis)
        passes, cpu, sent = [], [], 0
        for _ in range(3):
            seconds, used = cpu_used(url, lambda: weekly_part(settings, SUNDAY))
            passes.append(seconds)
            cpu.append(used)
            with session_scope(url) as session:
                sent = int(
                    session.scalar(select(func.count()).select_from(Message).where(Message.kind == KIND)) or 0
                )
            _clear_outbox(url, redis)
        figure = results.add(
            Figure(
                "weekly",
                f"weekly part of the pass, {students:,} due",
                "seconds",
                passes,
                "s",
                target="< 10 s" if not quick else "",
            )
        )
        if not quick:
            figure.met = figure.value < 10
        results.add(
            Figure(
                "weekly",
                "the same: CPU of this process + its PostgreSQL backends",
                "CPU-seconds",
                cpu,
                "s",
                note="what the pass costs whatever else the machine runs",
            )
        )
        results.add(Figure("weekly", "weekly messages queued per pass", "messages", [float(sent or 0)]))
        results.add(Figure("weekly", "per due student", "ms", [p / students * 1000 for p in passes], "ms"))
        profiler = cProfile.Profile()
        profiler.enable()
        weekly_part(settings, SUNDAY)
        profiler.disable()
        with session_scope(url) as session:
            spread = session.execute(
                text("SELECT max(segments), avg(segments), count(*) FROM messages WHERE kind = :k"),
                {"k": KIND},
            ).one()
        _clear_outbox(url, redis)
        results.add(
            Figure(
                "weekly",
                "segments per weekly message, at most",
                "segments",
                [float(spread[0])],
                target="<= 2",
                met=spread[0] <= 2,
            )
        )
        results.note(
            "weekly",
            f"segments per weekly message: {float(spread[1]):.2f} on average over {spread[2]:,} "
            f"messages (SMS and WhatsApp, en/fr/es).",
        )
        split = _profile_split(profiler)
        nested = ("SQL: streaks", "rendering for the channel + segment count")  # inside other steps
        total = sum(v for k, v in split.items() if k not in nested)
        results.note(
            "weekly",
            "where one profiled weekly part goes (cProfile, cumulative seconds; profiling slows it): "
            + ", ".join(
                f"{label} {seconds:.2f} s" for label, seconds in sorted(split.items(), key=lambda kv: -kv[1])
            )
            + f" (sum of the disjoint steps {total:.2f} s)",
        )

        # The whole pass, on COMPARED of them (a pass of 100,000 daily questions takes minutes): the
        # Sunday (questions + weekly) against the Saturday before (questions only).
        saturday = SUNDAY - timedelta(days=1)
        first = _first_id(url)
        compared = Person.id < first + COMPARED
        with session_scope(url) as session:
            session.execute(update(Person).values(next_push_at=None))
            session.execute(update(Person).where(compared).values(next_push_at=saturday))
        seconds_saturday, report_saturday = _timed(lambda: run_tick(settings, saturday))
        _clear_outbox(url, redis)
        with session_scope(url) as session:
            session.execute(update(Person).where(compared).values(next_push_at=SUNDAY))
        seconds_sunday, report_sunday = _timed(lambda: run_tick(settings, SUNDAY))
        _clear_outbox(url, redis)
        base = results.add(
            Figure(
                "weekly",
                f"run_tick on the Saturday, {report_saturday.due:,} due: daily questions only",
                "seconds",
                [seconds_saturday],
                "s",
            )
        )
        whole = results.add(
            Figure(
                "weekly",
                f"run_tick on the Sunday, {report_sunday.due:,} due: + {report_sunday.weekly:,} weekly",
                "seconds",
                [seconds_sunday],
                "s",
            )
        )
        whole.compare(base, "Saturday's pass")


def _first_id(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.min(Person.id))) or 0)


def _timed(call):
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value
