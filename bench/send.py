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
from workers.send import NEAR_SECONDS

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
) -> tuple[float, int]:
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


def standin_count(port: int, field: str = "created") -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count") as answer:
        return int(json.load(answer)[field])


def start_standin(delay_ms: int = 0) -> tuple[subprocess.Popen, int]:
    port = services.free_port()
    command = [sys.executable, "-m", "bench.standin", str(port), services.ACCOUNT_SID]
    standin = subprocess.Popen(command + ([str(delay_ms)] if delay_ms else []), cwd=services.ROOT)
    services.wait_for_port(port, standin)
    return standin, port


DEFAULT_CONCURRENCY = Settings().send_concurrency
DEFAULT_BATCH = Settings().send_batch_size
# (worker class, messages per job) against the stand-in next door, at the default concurrency: the
# default batch and the smaller one that was the default before.
CASES = ((True, DEFAULT_BATCH), (True, 100), (False, DEFAULT_BATCH), (False, 100))
# The stand-in answering each create ROUND_TRIP_MS after it arrived, as Twilio does for a worker
# far from it: one request at a time against the default number in flight, both worker classes.
ROUND_TRIP_MS = 200
ROUND_TRIP_CASES = ((True, 1), (True, DEFAULT_CONCURRENCY), (False, 1), (False, DEFAULT_CONCURRENCY))


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    messages = 3_000 if quick else 10_000
    distant_messages = 50 if quick else 200
    noop_jobs = {True: 600 if quick else 2_000, False: 200 if quick else 600}
    folder = services.run_dir()
    standin, port = start_standin()
    distant, distant_port = start_standin(ROUND_TRIP_MS)
    try:
        with services.database("postgresql", "send") as url:
            baselines: dict[bool, Figure] = {}
            for simple, batch in CASES:
                if simple not in baselines:
                    env = _env(url, redis, port, batch, DEFAULT_CONCURRENCY)
                    name = _name(simple)
                    noops = [_noops(redis, env, simple, folder, noop_jobs[simple]) for _ in range(REPEATS)]
                    baselines[simple] = results.add(
                        Figure("send", f"RQ {name}: no-op jobs (1 per message)", "jobs/s", noops, "jobs/s")
                    )
                figure = _sends(
                    results,
                    f"RQ {_name(simple)}: outbox -> Twilio stand-in, {batch} a job",
                    url,
                    redis,
                    folder,
                    port,
                    simple,
                    batch,
                    DEFAULT_CONCURRENCY,
                    messages,
                    memory,
                )
                figure.target = ">= 1,000 msg/s"
                figure.compare(baselines[simple], "no-op jobs")
                figure.met = figure.value >= 1000
            one_at_a_time: dict[bool, Figure] = {}
            for simple, concurrency in ROUND_TRIP_CASES:
                figure = _sends(
                    results,
                    f"RQ {_name(simple)}: stand-in {ROUND_TRIP_MS} ms away, {concurrency} in flight",
                    url,
                    redis,
                    folder,
                    distant_port,
                    simple,
                    DEFAULT_BATCH,
                    concurrency,
                    distant_messages,
                )
                if concurrency == 1:
                    one_at_a_time[simple] = figure
                else:
                    figure.compare(one_at_a_time[simple], "1 in flight")
                    # The most it could be: every request slot busy for one round trip each.
                    figure.target = f"~{concurrency * 1000 / ROUND_TRIP_MS:.0f} msg/s"
            overlapped = standin_count(distant_port, "max_in_flight")
    finally:
        services.stop(standin)
        services.stop(distant)
    results.note(
        "send",
        f"{messages:,} queued two-segment SMS per run to {STUDENTS:,} students on PostgreSQL; "
        f"ROUNDS_SEND_BATCH messages a job ({DEFAULT_BATCH} is the default); ROUNDS_SEND_RATE=1000000, so "
        "the GCRA limiter still runs but never waits; ROUNDS_SEND_CONCURRENCY requests in flight at most "
        f"({DEFAULT_CONCURRENCY}, the default, unless the case says otherwise; a job overlaps them only "
        f"once an answer takes over {NEAR_SECONDS * 1000:.0f} ms, so next door they go one at a time); "
        "stand-in = bench/standin.py (asyncio, keep-alive); worker = `rounds worker --without-scheduler "
        "[--simple]`, logging at INFO as in production; messages/s from the first job's start to the last "
        "job's end (RQ's timestamps).",
    )
    results.note(
        "send",
        f"'{ROUND_TRIP_MS} ms away': {distant_messages} messages a run ({DEFAULT_BATCH} a job) to a second "
        f"stand-in that answers each create {ROUND_TRIP_MS} ms after it arrives (plain HTTP: no TLS "
        "handshake, which a fresh connection to api.twilio.com adds, two or three round trips); the most "
        f"creates it was answering at once: {overlapped}. The target column is the ceiling, requests in "
        "flight / round trip; a job's first request goes alone (it shows how far Twilio is).",
    )


def _name(simple: bool) -> str:
    return "SimpleWorker" if simple else "forking Worker"


def _env(url: str, redis: services.RedisServer, port: int, batch: int, concurrency: int) -> dict[str, str]:
    return services.child_env(
        DATABASE_URL=url,
        REDIS_URL=redis.url,
        TWILIO_API_BASE=f"http://127.0.0.1:{port}",
        ROUNDS_SEND_RATE="1000000",
        ROUNDS_SEND_BATCH=str(batch),
        ROUNDS_SEND_CONCURRENCY=str(concurrency),
    )


def _sends(
    results: Results,
    case: str,
    url: str,
    redis: services.RedisServer,
    folder,
    port: int,
    simple: bool,
    batch: int,
    concurrency: int,
    messages: int,
    memory: dict[str, int] | None = None,
) -> Figure:
    """Messages/s over REPEATS runs of `messages` queued rows drained by one worker process."""
    settings = Settings(database_url=url, redis_url=redis.url, send_batch_size=batch)
    env = _env(url, redis, port, batch, concurrency)
    label = f"RQ {_name(simple)} after sending {messages:,} messages, {batch} a job"
    sends = []
    for attempt in range(REPEATS):
        redis.flush()
        ids = seed(url, messages)
        before = standin_count(port)
        enqueue_send(settings, ids)
        seconds, _ = drain(redis.url, env, simple, folder, memory, label)
        sent = _sent(url)
        if sent != messages or standin_count(port) - before != messages:
            results.note("send", f"{case} run {attempt + 1}: {sent} of {messages} rows sent")
        sends.append(sent / seconds)
    return results.add(Figure("send", case, "messages/s", sends, "msg/s"))


REPEATS = 3


def _noops(redis: services.RedisServer, env: dict[str, str], simple: bool, folder, count: int) -> float:
    redis.flush()
    queue = Queue(runtime.BULK, connection=Redis.from_url(redis.url))
    queue.enqueue_many([queue.prepare_data("bench.jobs.noop", result_ttl=60, failure_ttl=86400)] * count)
    seconds, jobs = drain(redis.url, env, simple, folder)
    return jobs / seconds


def _sent(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).where(Message.status == "sent")) or 0
