"""The morning rush: 100,000 students due in one minute among 1,000,000, queued by 1, 2 or 3
scheduling passes (ROUNDS_TICK_PASSES). The tick runs in this process; its helper passes run in
`rounds worker` processes taking only the default queue. Wall time and CPU-seconds by process.

The rush students all chose 08:00 in UTC+1 zones (07:00 UTC). Each configuration takes the next
day's rush: a pass moves a student on to the next morning, so no reset is needed in between.
The other 900,000 are scheduled after the last measured morning, so they only fill the table.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import func, select

from bench import contention, population, services
from bench.report import Figure, Results
from bench.tick import HISTORY, seed_history
from store.db import session_scope
from store.models import Message, Person
from store.settings import Settings
from workers import runtime
from workers.schedule import run_tick

# A Tuesday: no weekly progress (Sunday) and no mentor check-ins (Sunday) in the measured mornings.
FIRST_RUSH = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
RUSH_ZONES = ["Africa/Lagos", "Africa/Douala", "Africa/Kinshasa"]  # UTC+1 all year
PASSES = (1, 2, 3)
TARGET_SECONDS = 30.0


def _cpu(pids: list[int]) -> float:
    table = contention._processes()
    return sum(table[pid][1] for pid in pids if pid in table)


def _postgres_backends(database: str) -> list[int]:
    return [pid for pid, (_, _, command) in contention._processes().items() if database in command]


def _start_workers(count: int, url: str, redis_url: str) -> list[subprocess.Popen]:
    env = services.child_env(DATABASE_URL=url, REDIS_URL=redis_url)
    # --simple: a pass runs in the worker process itself, so its CPU is the worker's.
    command = [sys.executable, "-m", "gateway.cli", "worker", "--simple", "--without-scheduler"]
    return [
        subprocess.Popen(
            [*command, "--queue", "default"],
            env=env,
            cwd=services.run_dir(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _wait_for_workers(connection: Redis, count: int, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=connection)) < count:
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError("the helper workers did not start")
        time.sleep(0.1)


def _questions_on(url: str, day: datetime) -> tuple[int, int]:
    """(question rows, distinct students) keyed for `day` (Lagos date)."""
    pattern = f"daily:%:{day.date().isoformat()}"
    with session_scope(url) as session:
        rows, people = session.execute(
            select(func.count(), func.count(func.distinct(Message.person_id))).where(
                Message.idempotency_key.like(pattern)
            )
        ).one()
    return rows, people


def _still_due(url: str, at: datetime) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).where(Person.next_push_at <= at)).scalar_one()


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    students, rush = (100_000, 10_000) if quick else (1_000_000, 100_000)
    with services.database("postgresql", "rush") as url:
        database = url.rsplit("/", 1)[1]
        started = time.perf_counter()
        population.load_students(
            url, rush, FIRST_RUSH - timedelta(minutes=1), RUSH_ZONES, whatsapp_share=0.05, daily_time="08:00"
        )
        after_rushes = FIRST_RUSH + timedelta(days=len(PASSES) - 1, minutes=1)
        population.load_students(
            url,
            students - rush,
            after_rushes,
            population.spread_zones(300),
            whatsapp_share=0.05,
            seed=8,
            first_number=rush,
        )
        loaded = time.perf_counter() - started
        seeded = seed_history(url, FIRST_RUSH - timedelta(minutes=1), FIRST_RUSH)
        setup = [
            f"{students:,} students loaded with COPY in {loaded:.0f} s",
            f"{rush:,} of them chose 08:00 in UTC+1 zones (due 07:00 UTC; {seeded:,} found due, "
            f"two in three with {HISTORY} answered questions and cards)",
            "the rest are scheduled after the measured mornings",
            "each configuration takes the next morning's rush (Tuesday, Wednesday, Thursday), "
            "in the order 1, 2, 3 passes",
            "the tick runs in the benchmark process, helper passes in two "
            "`rounds worker --simple --queue default` processes started before the first morning",
            "CPU: this process, the workers, the PostgreSQL backends of the bench database and "
            "the Redis server, from /proc",
        ]
        results.note("rush", "; ".join(setup) + ".")
        connection = Redis.from_url(redis.url)
        workers = _start_workers(max(PASSES) - 1, url, redis.url)
        try:
            _wait_for_workers(connection, len(workers), workers)
            settings = Settings(database_url=url, redis_url=redis.url)
            run_tick(settings, FIRST_RUSH - timedelta(hours=1))  # warm-up: imports, catalog, pool; nobody due
            finished = FinishedJobRegistry(runtime.DEFAULT, connection=connection)
            failed = FailedJobRegistry(runtime.DEFAULT, connection=connection)
            for day, passes in enumerate(PASSES):
                at = FIRST_RUSH + timedelta(days=day)
                helpers_before = len(finished.get_job_ids())
                worker_pids = [w.pid for w in workers]
                backends_before = {pid: _cpu([pid]) for pid in _postgres_backends(database)}
                workers_before, redis_before = _cpu(worker_pids), _cpu([redis.process.pid])
                self_before = time.process_time()
                began = time.perf_counter()
                report = run_tick(settings.with_(tick_passes=passes), at)
                tick_done = time.perf_counter() - began
                while len(finished.get_job_ids()) < helpers_before + passes - 1:
                    if failed.count:
                        raise RuntimeError(f"a helper pass failed: {failed.get_job_ids()}")
                    time.sleep(0.02)
                wall = time.perf_counter() - began
                cpu_self = time.process_time() - self_before
                cpu_workers = _cpu(worker_pids) - workers_before
                cpu_pg = sum(
                    _cpu([pid]) - backends_before.get(pid, 0.0) for pid in _postgres_backends(database)
                )
                cpu_redis = _cpu([redis.process.pid]) - redis_before
                rows, people = _questions_on(url, at)
                left = _still_due(url, at)
                case = f"{passes} pass{'es' if passes > 1 else ''}, {rush:,} due of {students:,}"
                results.add(
                    Figure(
                        "rush",
                        f"{case}: wall until all queued",
                        "seconds",
                        [wall],
                        "s",
                        target=f"< {TARGET_SECONDS:.0f} s",
                        met=wall < TARGET_SECONDS and left == 0 and rows == people == rush,
                    )
                )
                total = cpu_self + cpu_workers + cpu_pg + cpu_redis
                results.add(Figure("rush", f"{case}: CPU, all processes", "CPU-seconds", [total], "s"))
                results.add(
                    Figure("rush", f"{case}: CPU per due student", "CPU-ms", [total / rush * 1000], "ms")
                )
                results.note(
                    "rush",
                    f"{passes} pass(es) on {at:%A %Y-%m-%d}: {wall:.1f} s wall (the tick's own pass "
                    f"{tick_done:.1f} s, {report.due:,} of the due students; the helpers the rest); "
                    f"CPU-seconds tick process {cpu_self:.1f}, helper workers {cpu_workers:.1f}, "
                    f"PostgreSQL backends {cpu_pg:.1f}, Redis {cpu_redis:.1f} "
                    f"(total {total:.1f}: {total / wall:.2f} cores busy on average); "
                    f"{rows:,} question rows for {people:,} students, {left} still due.",
                )
        finally:
            for worker in workers:
                services.stop(worker)
