"""The message prune on PostgreSQL: rows loaded with COPY (a push, an answer and a reply per
learner-day), nine in ten older than the 90-day cutoff; one `prune_messages` pass over them.

Sizes: 3M and 10M rows (300k with --quick; ROUNDS_BENCH_PRUNE_ROWS=30000000 for the full 30M).
Baseline in the same command: clearing bodies with UPDATE in id-range batches (the earlier
approach), on 1M rows of its own. Also bytes per learner-month, before and after.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text

from bench import population, services
from bench.report import Figure, Results
from flows.engine import OPT_OUT_WORDS
from store.db import get_engine
from store.retention import BATCH_IDS, SLOW_BATCH_MS, prune_messages

NOW = datetime(2026, 12, 1, 2, 17, tzinfo=UTC)
DAYS = 90
OLD_DAYS, NEW_DAYS = 27, 3  # days of history before and after the cutoff: 90% of rows go
PUSH = "Q112 STEP1: A 24-year-old has fever and a stiff neck. Next step? A) CT B) LP C) MRI D) EEG Reply A-D"
REPLY = "Right: B. LP after ruling out raised ICP; start antibiotics without delay. Streak 5. Q tomorrow."
COLUMNS = (
    "person_id, direction, channel, phone, body, kind, status, twilio_sid, idempotency_key, "
    "segments, encoding, num_media, attempts, created_at, sent_at, updated_at"
)


def load_messages(url: str, learners: int, first_person: int, first_day: int = 0, days: int = 0) -> int:
    """Three rows per learner-day over OLD_DAYS + NEW_DAYS days (or `days` from `first_day`), in
    time order (ids grow with time)."""
    cutoff = (NOW - timedelta(days=DAYS)).replace(tzinfo=None)
    start = cutoff - timedelta(days=OLD_DAYS)
    rows = 0
    sid = first_day * learners * 3
    with psycopg.connect(population.libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY messages ({COLUMNS}) FROM STDIN") as copy:
            for day in range(first_day, first_day + (days or OLD_DAYS + NEW_DAYS)):
                base = start + timedelta(days=day)
                for n in range(learners):
                    at = base + timedelta(seconds=(n * 86_400) // learners)
                    phone = f"+2349{n:09d}"
                    person = first_person + n
                    sid += 3
                    copy.write_row(
                        (person, "out", "sms", phone, PUSH, "daily", "delivered", f"SM{sid:032x}",
                         f"daily:{person}:{base:%Y-%m-%d}", 1, "GSM-7", 0, 1, at, at, at)
                    )  # fmt: skip
                    answered = at + timedelta(minutes=20)
                    copy.write_row(
                        (person, "in", "sms", phone, "B", "inbound", "received", f"SM{sid + 1:032x}",
                         None, 1, "GSM-7", 0, 0, answered, None, answered)
                    )  # fmt: skip
                    copy.write_row(
                        (person, "out", "sms", phone, REPLY, "reply", "replied", f"SM{sid + 2:032x}",
                         None, 1, "GSM-7", 0, 0, answered, answered, answered)
                    )  # fmt: skip
                    rows += 3
        cursor.execute("ANALYZE messages")
    return rows


def first_person_id(url: str) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(text("select min(id) from people")).scalar_one())


def relation_bytes(url: str, table: str = "messages") -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(text(f"select pg_total_relation_size('{table}')")).scalar_one())


def vacuum(url: str) -> float:
    began = time.perf_counter()
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM messages"))
    return time.perf_counter() - began


def clear_bodies_by_update(url: str, batch_ids: int = BATCH_IDS) -> tuple[int, float, list[float]]:
    """The earlier approach: UPDATE ... SET body = '' over id ranges of old rows (the baseline)."""
    cutoff = (NOW - timedelta(days=DAYS)).replace(tzinfo=None)
    engine = get_engine(url)
    cleared, batch_ms = 0, []
    began = time.perf_counter()
    with engine.connect() as conn:
        lo, top = conn.execute(text("select min(id), max(id) from messages")).one()
        conn.rollback()
        while lo <= top:
            started = time.perf_counter()
            with conn.begin():
                cleared += conn.execute(
                    text(
                        "update messages set body = '' where id >= :lo and id < :hi "
                        "and created_at < :cutoff and body <> ''"
                    ),
                    {"lo": lo, "hi": lo + batch_ids, "cutoff": cutoff},
                ).rowcount
            batch_ms.append((time.perf_counter() - started) * 1000)
            lo += batch_ids
    return cleared, time.perf_counter() - began, batch_ms


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    if quick:
        sizes = [300_000]
    elif os.environ.get("ROUNDS_BENCH_PRUNE_ROWS"):
        sizes = [int(n) for n in os.environ["ROUNDS_BENCH_PRUNE_ROWS"].split(",")]
    else:
        sizes = [3_000_000, 10_000_000]
    per_learner_day = 3
    days = OLD_DAYS + NEW_DAYS
    rates: list[Figure] = []

    baseline_rows = 100_000 if quick else 1_000_000
    with services.database("postgresql", "prune") as url:
        learners = baseline_rows // (per_learner_day * days)
        population.load_students(url, learners, NOW, population.spread_zones(50))
        load_messages(url, learners, first_person_id(url))
        cleared, seconds, batch_ms = clear_bodies_by_update(url)
        baseline = results.add(
            Figure("prune", f"baseline: UPDATE body='' by id range, {cleared:,} rows", "rows/s",
                   [cleared / seconds], "rows/s")
        )  # fmt: skip
        results.add(Figure("prune", "baseline: longest UPDATE batch", "ms", [max(batch_ms)], "ms"))
        results.note(
            "prune",
            f"baseline (the earlier approach): {cleared:,} bodies cleared in {seconds:.1f} s, "
            f"{BATCH_IDS:,} ids a batch; at that rate 30M rows take {30e6 / (cleared / seconds):,.0f} s",
        )

    for size in sizes:
        with services.database("postgresql", "prune") as url:
            learners = size // (per_learner_day * days)
            started = time.perf_counter()
            population.load_students(url, learners, NOW, population.spread_zones(50))
            rows = load_messages(url, learners, first_person_id(url))
            loaded = time.perf_counter() - started
            before = relation_bytes(url)
            report = prune_messages(url, NOW, DAYS, opt_out_words=OPT_OUT_WORDS, slow_batch_ms=SLOW_BATCH_MS)
            vacuumed = vacuum(url)
            after = relation_bytes(url)
            days_bytes = relation_bytes(url, "message_days")
            # Three more days of traffic into the freed space: does the file grow?
            more = load_messages(url, learners, first_person_id(url), OLD_DAYS + NEW_DAYS, NEW_DAYS)
            grown = relation_bytes(url) - after
            label = f"{size / 1e6:g}M rows"
            rate = results.add(
                Figure("prune", f"prune pass, {label}: delete + fold into message_days", "rows/s",
                       [report.deleted / report.seconds], "rows/s")
            )  # fmt: skip
            rate.compare(baseline, "UPDATE body=''")
            rates.append(rate)
            results.add(Figure("prune", f"prune pass, {label}: wall time", "seconds", [report.seconds], "s"))
            longest = results.add(
                Figure("prune", f"prune pass, {label}: longest batch (locks held)", "ms",
                       [report.longest_batch_ms], "ms", target="< 1,000 ms")
            )  # fmt: skip
            longest.met = report.longest_batch_ms < 1000
            results.add(
                Figure(
                    "prune",
                    f"prune pass, {label}: batch p50",
                    "ms",
                    [statistics.median(report.batch_ms)],
                    "ms",
                )
            )
            results.add(
                Figure("prune", f"prune pass, {label}: batch p99", "ms", [_p99(report.batch_ms)], "ms")
            )
            per_30m = results.add(
                Figure("prune", f"prune pass, {label}: scaled to 30M rows deleted", "seconds",
                       [30e6 / (report.deleted / report.seconds)], "s", target="< 300 s")
            )  # fmt: skip
            per_30m.met = per_30m.value < 300
            bytes_per_row = before / rows
            reuse = results.add(
                Figure("prune", f"{label}: growth for {more / 1e6:g}M new rows after prune + VACUUM", "% of "
                       "the same rows on a full table", [100 * grown / (bytes_per_row * more)], "%")
            )  # fmt: skip
            reuse.note = (
                "heap pages freed by the prune are reused; b-tree pages only once emptied and recycled"
            )
            learner_month = bytes_per_row * per_learner_day * 30
            results.add(
                Figure("prune", f"{label}: messages table + indexes per learner-month", "bytes",
                       [learner_month], "B")
            )  # fmt: skip
            results.note(
                "prune",
                f"{label} ({learners:,} learners x {days} days, {per_learner_day} rows a learner-day: "
                f"a push, the answer, the reply) loaded with COPY in {loaded:.0f} s; the pass deleted "
                f"{report.deleted:,} in {report.batches:,} batches of {BATCH_IDS:,} ids "
                f"({report.seconds:.1f} s); VACUUM afterwards {vacuumed:.1f} s (autovacuum's work, off "
                f"the pass). messages + indexes: {before / 2**20:,.0f} MiB before, {after / 2**20:,.0f} MiB "
                f"after VACUUM (freed pages are reused by new rows, the file does not shrink); "
                f"{bytes_per_row:.0f} bytes a row; message_days {days_bytes / 1024:.0f} KiB for "
                f"{OLD_DAYS} days pruned.",
            )
            results.note(
                "prune",
                f"{label}: bytes per learner-month before: {learner_month:,.0f} B, kept forever "
                f"(x months of history); after: the same {learner_month:,.0f} B for each of the last "
                f"{DAYS // 30} months only, so at most {learner_month * DAYS / 30:,.0f} B per learner "
                f"however long they stay, plus message_days (per day, not per learner: "
                f"{days_bytes / OLD_DAYS:,.0f} B a day here).",
            )
