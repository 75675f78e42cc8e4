"""Send pipeline: messages/s one RQ worker process pushes from the outbox into a Twilio stand-in.

Rate limit lifted; the baseline is the same worker class running one no-op job per message.
Measured from the first job's start to the last job's end (RQ's own timestamps).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import func, insert, select

from bench import services
from bench.report import Figure, Results
from store.db import session_scope
from store.models import Message, Person, utcnow
from store.settings import Settings
from workers import runtime
from workers.outbox import enqueue_send, message_row

# A daily question as students receive it: two GSM-7 segments.
BODY = (
    "Q101 A 24-year-old man has sudden pleuritic chest pain and breathlessness after a long flight. "
    "Which test is best first?\nA) D-dimer\nB) CT pulmonary angiogram\nC) Chest X-ray\nD) ECG\n"
    "Reply A-D"
)
STUDENTS = 1000


def seed(url: str, messages: int) -> list[int]:
    """`messages` queued outbox rows spread over STUDENTS people; returns their ids."""
    services.truncate(url, "messages", "people")
    now = utcnow()
    with session_scope(url) as session:
        session.execute(
            insert(Person),
            [
                {
                    "phone": f"+234803{n:07d}",
                    "channel": "sms",
                    "language": "en",
                    "timezone": "Africa/Lagos",
                    "role": "student",
                    "status": "active",
                    "flow_state": {},
                    "unreachable": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(2_000_000, 2_000_000 + STUDENTS)
            ],
        )
        people = list(session.scalars(select(Person).order_by(Person.id)))
        template = message_row(people[0], BODY, "question", now=now - timedelta(seconds=1))
        rows = [
            template | {"person_id": p.id, "phone": p.phone}
            for p in (people[i % len(people)] for i in range(messages))
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Message), rows[start : start + 5000])
        return list(session.scalars(select(Message.id).order_by(Message.id)))


def worker_command(simple: bool) -> list[str]:
    command = [str(services.executable("rounds")), "worker", "--without-scheduler"]
    return command + (["--simple"] if simple else [])


def drain(
    redis_url: str, env: dict[str, str], simple: bool, folder, memory: dict | None = None, label: str = ""
) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Start a worker, wait until every queued job has run, return (seconds first start to last end, jobs)."""
    connection = Redis.from_url(redis_url)
    queue = Queue(runtime.BULK, connection=connection)
    job_ids = queue.get_job_ids()
    log = (folder / "worker.log").open("ab")
    process = subprocess.Popen(worker_command(simple), env=env, cwd=folder, stdout=log, stderr=log)
    try:
        finished, failed = FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)
        deadline = time.monotonic() + 600
        while finished.count + failed.count < len(job_ids):
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited early ({process.returncode}); see {folder}/worker.log")
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not finish within 10 minutes")
            time.sleep(0.05)
        if memory is not None:
            memory[label] = services.rss_kib(process.pid)
    finally:
        services.stop(process)
        log.close()
    if failed.count:
        raise RuntimeError(f"{failed.count} job(s) failed; see {folder}/worker.log")
    jobs = [j for j in Job.fetch_many(job_ids, connection=connection) if j is not None]
    started = min(j.started_at for j in jobs if j.started_at)
    ended = max(j.ended_at for j in jobs if j.ended_at)
    return (ended - started).total_seconds(), len(jobs)


def standin_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count") as answer:
        return int(json.load(answer)["created"])


# (worker class, messages per job): the default batch, and the forking worker with a bigger one.
CASES = ((True, 100), (False, 100), (False, 500))


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    messages = 3_000 if quick else 10_000
    noop_jobs = {True: 600 if quick else 2_000, False: 200 if quick else 600}
    folder = services.run_dir()
    port = services.free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "bench.standin", str(port), services.ACCOUNT_SID], cwd=services.ROOT
    )
    services.wait_for_port(port, standin)
    try:
        with services.database("postgresql", "send") as url:
            baselines: dict[bool, Figure] = {}
            for simple, batch in CASES:
                name = "SimpleWorker" if simple else "forking Worker"
                runtime.configure(Settings(database_url=url, redis_url=redis.url, send_batch_size=batch))
                env = services.child_env(
                    DATABASE_URL=url,
                    REDIS_URL=redis.url,
                    TWILIO_API_BASE=f"http://127.0.0.1:{port}",
                    ROUNDS_SEND_RATE="1000000",
                    ROUNDS_SEND_BATCH=str(batch),
                )
                if simple not in baselines:
                    noops = [_noops(redis, env, simple, folder, noop_jobs[simple]) for _ in range(REPEATS)]
                    baselines[simple] = results.add(
                        Figure("send", f"RQ {name}: no-op jobs (1 per message)", "jobs/s", noops, "jobs/s")
                    )
                label = f"RQ {name} after sending {messages:,} messages, {batch} a job"
                sends = []
                for attempt in range(REPEATS):
                    redis.flush()
                    ids = seed(url, messages)
                    before = standin_count(port)
                    enqueue_send(ids)
                    seconds, _ = drain(redis.url, env, simple, folder, memory, label)
                    sent = _sent(url)
                    if sent != messages or standin_count(port) - before != messages:
                        results.note("send", f"{name} run {attempt + 1}: {sent} of {messages} rows sent")
                    sends.append(sent / seconds)
                figure = results.add(
                    Figure(
                        "send",
                        f"RQ {name}: outbox -> Twilio stand-in, {batch} a job",
                        "messages/s",
                        sends,
                        "msg/s",
                        target=">= 1,000 msg/s",
                    )
                )
                figure.compare(baselines[simple], "no-op jobs")
                figure.met = figure.value >= 1000
    finally:
        services.stop(standin)
        runtime.configure(Settings())
    results.note(
        "send",
        f"{messages:,} queued two-segment SMS per run to {STUDENTS:,} students on PostgreSQL; "
        "ROUNDS_SEND_BATCH messages a job (100 is the default); ROUNDS_SEND_RATE=1000000, so the GCRA "
        "limiter still runs but never waits; stand-in = bench/standin.py (asyncio, keep-alive); worker = "
        "`rounds worker --without-scheduler [--simple]`, logging at INFO as in production; messages/s "
        "from the first job's start to the last job's end (RQ's timestamps).",
    )


REPEATS = 3


def _noops(redis: services.RedisServer, env: dict[str, str], simple: bool, folder, count: int) -> float:  # type: ignore[no-untyped-def]
    redis.flush()
    queue = Queue(runtime.BULK, connection=Redis.from_url(redis.url))
    queue.enqueue_many([queue.prepare_data("bench.jobs.noop", result_ttl=60, failure_ttl=86400)] * count)
    seconds, jobs = drain(redis.url, env, simple, folder)
    return jobs / seconds


def _sent(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).where(Message.status == "sent")) or 0
