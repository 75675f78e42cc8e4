"""The soak: one simulated day, time-compressed, against the processes of the Procfile.

gunicorn (web, 3 sync workers as in the Procfile), two RQ workers and the clock run as separate
processes on a private PostgreSQL cluster and the run's Redis, all reading one ScaledClock
(ROUNDS_CLOCK_*); the Twilio stand-in takes the sends. Students spread over zones and daily times
like a real population answer their questions through signed webhooks; a broadcast goes out in
the morning peak.
CPU comes from /proc/<pid>/stat of each process tree, so every figure is per process.
"""

from __future__ import annotations

import heapq
import http.client
import math
import os
import pwd
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from bench import fanout, population, send, services
from bench.report import Figure, Results
from bench.webhook import Gunicorn
from store.clock import SYSTEM_CLOCK, ScaledClock
from store.settings import Settings
from workers import runtime

# A Tuesday (no weekly or check-in messages); the replay starts at its midnight UTC.
DAY = datetime(2026, 12, 1, tzinfo=UTC)
# Where students live, by weight: most in UTC+0..+3 and UTC+5..+6, a tail elsewhere.
ZONES = {
    "Africa/Lagos": 24,
    "Africa/Accra": 8,
    "Africa/Cairo": 9,
    "Africa/Johannesburg": 5,
    "Africa/Nairobi": 12,
    "Asia/Karachi": 10,
    "Asia/Kolkata": 14,
    "Asia/Dhaka": 6,
    "Europe/London": 4,
    "America/New_York": 3,
    "Asia/Manila": 5,
}
# Daily times: three in ten at 08:00 sharp (the default), a quarter elsewhere in 07:00-09:00,
# the rest spread over 09:00-21:00 (quiet hours are 21:00-07:00).
AT_EIGHT, IN_RUSH = 0.30, 0.25
# What a student does with a question: answer it (A-D) or not; afterwards, now and then,
# SCORE, RES, MENTOR (and a line to the mentor) or STOP.
ANSWER_SHARE = 0.75
FOLLOW_UPS = (("SCORE", 0.10), ("RES heart failure", 0.06), ("MENTOR", 0.03), ("STOP", 0.005))
MENTOR_LINE = "I keep failing the cardiology questions, any advice?"
# Minutes from receiving a question to answering it: log-normal, median 4 min, capped at 2 h.
ANSWER_MEDIAN_MINUTES, ANSWER_SIGMA = 4.0, 1.1
# A 100,000-student broadcast for 1,000,000 students: one in ten, at 06:45 UTC (08:45 in Cairo).
BROADCAST_SHARE, BROADCAST_AT = 0.10, timedelta(hours=6, minutes=45)
# Targets (issue 17) and the headroom the server keeps.
REPLY_P99_MS, LATENESS_P99_S, HEADROOM, CORES = 50.0, 60.0, 0.30, 2
HARNESS = "harness"  # the replay's own CPU, sampled beside the server's processes
PEAK_WINDOW = timedelta(minutes=15)  # the busiest quarter-hour is "the peak"
WARM_UP = 20  # HELP texts before the replay starts, not measured
SEND_RATE = 500.0  # segments/s per sender at the stand-in: the carrier's share is reported apart


def draw_student(rng: random.Random) -> tuple[str, int]:
    zone = rng.choices(list(ZONES), weights=list(ZONES.values()))[0]
    pick = rng.random()
    if pick < AT_EIGHT:
        minute = 8 * 60
    elif pick < AT_EIGHT + IN_RUSH:
        minute = rng.randrange(7 * 60, 9 * 60)
    else:
        minute = rng.randrange(9 * 60, 21 * 60)
    return zone, minute


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# --- processes: CPU and memory from /proc ---------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            stack += services.children(current)
        except OSError:
            continue
        found.append(current)
    return found


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process and of the children it has reaped (cutime+cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


def tree_rss(pid: int) -> dict[int, int]:
    rss: dict[int, int] = {}
    for p in tree(pid):
        try:
            rss[p] = services.rss_kib(p)
        except OSError:
            pass
    return rss


class PrivatePostgres:
    """An initdb'd PostgreSQL cluster of our own, so its process tree is this run's alone."""

    def __init__(self, statements: bool = False) -> None:
        """`statements`: load pg_stat_statements, to name the statements the database spent its time on."""
        binary = shutil.which("initdb")
        if binary is None:
            raise services.Unavailable("initdb is not installed (Debian: apt-get install postgresql)")
        bindir = Path(os.path.realpath(binary)).parent
        self.folder = Path(tempfile.mkdtemp(prefix="rounds-soak-pg-"))
        user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            user = "postgres"
            owner = pwd.getpwnam(user)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        data = self.folder / "data"
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user=user,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder,
            env=services.machine_clock_env(),
        )
        self.port = services.free_port()
        self.log = (self.folder / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.folder)]
            + ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
            + (["-c", "shared_preload_libraries=pg_stat_statements"] if statements else []),
            user=user,
            stdout=self.log,
            stderr=self.log,
            cwd=self.folder,
            env=services.machine_clock_env(),
        )
        services.wait_for_port(self.port, self.process)
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + 20
        while True:
            try:
                with admin.connect() as conn:
                    conn.execute(text("CREATE DATABASE soak"))
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        admin.dispose()
        self.statements = statements
        if statements:
            self._execute("CREATE EXTENSION pg_stat_statements")

    def _execute(self, sql: str) -> list:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            rows = result.all() if result.returns_rows else []
        engine.dispose()
        return rows

    def reset_statements(self) -> None:
        if self.statements:
            self._execute("SELECT pg_stat_statements_reset()")

    def top_statements(self, count: int = 12) -> list[str]:
        """The statements that took the most time since the reset, one line each."""
        if not self.statements:
            return []
        rows = self._execute(
            "SELECT calls, total_exec_time, mean_exec_time, regexp_replace(query, '\\s+', ' ', 'g') "
            f"FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT {int(count)}"
        )
        return [
            f"PostgreSQL statement: {total / 1000:.1f} s in {calls:,} calls ({mean:.2f} ms each): "
            + _shortened(query)
            for calls, total, mean, query in rows
        ]

    def url(self, name: str = "soak") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def size(self) -> int:
        engine = create_engine(self.url())
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            value = conn.execute(text("SELECT pg_database_size('soak')")).scalar_one()
        engine.dispose()
        return int(value)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _shortened(query: str) -> str:
    """A statement's start and, for a long column list, what follows its first FROM."""
    cut = query.find(" FROM ")
    if len(query) <= 240 or cut < 80:
        return query[:240]
    return f"{query[:60]} ... {query[cut : cut + 180]}"


# --- the students' side ------------------------------------------------------------------


@dataclass
class Inbound:
    at: datetime  # simulated instant it was posted
    body: str
    latency_ms: float
    status: int


class Texter:
    """Posts signed webhooks to gunicorn from a few threads, each over its own keep-alive connection."""

    def __init__(self, port: int, threads: int = 6) -> None:
        self.port = port
        self.validator = RequestValidator(services.AUTH_TOKEN)
        self.url = services.PUBLIC_URL + "/twilio/messages"
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()
        self.done: list[Inbound] = []
        self.lock = threading.Lock()

    def post(self, phone: str, body: str, at: datetime) -> None:
        sid = "SM" + uuid.uuid4().hex  # never one of the stand-in's SIDs (SM + a counter)
        form = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": services.SMS_FROM,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": services.ACCOUNT_SID,
            "From": phone,
            "ApiVersion": "2010-04-01",
        }
        signature = self.validator.compute_signature(self.url, form)
        self.pool.submit(self._send, urlencode(form), signature, body, at)

    def _send(self, payload: str, signature: str, body: str, at: datetime) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        began = time.perf_counter()
        try:
            conn.request("POST", "/twilio/messages", payload, headers)
            answer = conn.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            status = 0
        elapsed = (time.perf_counter() - began) * 1000
        with self.lock:
            self.done.append(Inbound(at, body.split()[0], elapsed, status))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class DeliveredQuestions:
    """The questions the stand-in has accepted since the last poll, each once.

    Workers send out of id order, so "ids above the last one seen" would skip a question sent
    after a newer one. Every question at or below `low` is known to be sent; those above it
    already reported are remembered until `low` passes them. `low` is read before the sent rows,
    so a question sent between the two reads is found by the next poll, not lost.
    """

    QUESTIONS = "FROM messages WHERE direction = 'out' AND kind = 'question' AND id > :low"

    def __init__(self) -> None:
        self.low = 0
        self.reported: set[int] = set()

    def poll(self, conn) -> list[tuple[int, datetime]]:
        unsent, newest = conn.execute(
            text(f"SELECT min(CASE WHEN sent_at IS NULL THEN id END), max(id) {self.QUESTIONS}"),
            {"low": self.low},
        ).one()
        rows = conn.execute(
            text(f"SELECT id, person_id, sent_at {self.QUESTIONS} AND sent_at IS NOT NULL ORDER BY id"),
            {"low": self.low},
        ).all()
        new = [(person, sent_at) for message_id, person, sent_at in rows if message_id not in self.reported]
        self.reported.update(message_id for message_id, _, _ in rows)
        # Everything up to the first question unsent at the first read was sent; with none unsent,
        # everything up to the newest then (later ones may be unsent yet).
        if unsent is not None:
            self.low = unsent - 1
        elif newest is not None:
            self.low = newest
        self.reported = {message_id for message_id in self.reported if message_id > self.low}
        return new


@dataclass
class Soak:
    """What one replay measured; `figures()` turns it into the report."""

    learners: int
    rate: float
    simulated: timedelta
    worker_nice: int = 0  # ROUNDS_WORKER_NICE of the `rounds worker` processes
    web_workers: int = 3  # gunicorn's sync workers (the Procfile's WEB_CONCURRENCY)
    wall_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU-seconds per process tree, whole run
    cpu_series: list[tuple[datetime, dict[str, float]]] = field(default_factory=list)
    # KiB per process tree, the most seen at one moment: (whole tree, its largest process, processes)
    rss: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    inbound: list[Inbound] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)  # s, per question, tick enqueue -> rows queued
    replay_lateness: list[float] = field(default_factory=list)  # simulated s, queued - scheduled
    carrier_wait: list[float] = field(default_factory=list)  # s (wall), queued -> accepted by the stand-in
    questions: int = 0
    sends: int = 0
    broadcast: int = 0
    failed_jobs: int = 0  # RQ jobs that raised, every queue
    passes: list[tuple[int, float]] = field(default_factory=list)  # (questions, seconds) per tick job
    harvested: set[str] = field(default_factory=set)  # tick job ids already read
    peak_minute_share: float = 0.0  # of the population due in the busiest minute
    disk_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def run_soak(
    redis: services.RedisServer,
    learners: int,
    rate: float,
    start: timedelta = timedelta(0),
    end: timedelta = timedelta(days=1),
    workers: int = 2,
    seed: int = 17,
    worker_nice: int = 0,
    web_workers: int = 3,
    statements: bool = False,
) -> Soak:
    """Replay `start`..`end` of DAY (offsets from its midnight UTC) at `rate` simulated seconds per second."""
    if not services.executable("gunicorn").exists():
        raise services.Unavailable("gunicorn is not installed in this environment")
    result = Soak(learners, rate, end - start, worker_nice=worker_nice, web_workers=web_workers)
    pg = PrivatePostgres(statements)
    folder = services.run_dir()
    processes: dict[str, subprocess.Popen] = {}
    gunicorn: Gunicorn | None = None
    standin: subprocess.Popen | None = None
    texter: Texter | None = None
    try:
        url = pg.url()
        services.prepare_database(url)
        replay_start = DAY + start
        population.load_students(url, learners, replay_start, list(ZONES), seed=seed, draw=draw_student)
        engine = create_engine(url)
        with engine.connect() as conn:
            scheduled: dict[int, datetime] = dict(
                conn.execute(text("SELECT id, next_push_at FROM people")).all()
            )
            phones: dict[int, str] = dict(conn.execute(text("SELECT id, phone FROM people")).all())
        by_minute = Counter(v.replace(second=0) for v in scheduled.values() if v is not None)
        result.peak_minute_share = max(by_minute.values()) / learners if by_minute else 0.0
        size_before = pg.size()

        standin, standin_port = send.start_standin()
        origin = SYSTEM_CLOCK.now() + timedelta(seconds=12)  # the replay's start: once all are up
        clock = ScaledClock(replay_start, rate, origin)
        env = services.child_env(
            DATABASE_URL=url,
            REDIS_URL=redis.url,
            TWILIO_API_BASE=f"http://127.0.0.1:{standin_port}",
            ROUNDS_SEND_RATE=str(SEND_RATE),
            ROUNDS_CLOCK_START=replay_start.isoformat(),
            ROUNDS_CLOCK_ORIGIN=origin.isoformat(),
            ROUNDS_CLOCK_RATE=str(rate),
            ROUNDS_WORKER_NICE=str(worker_nice),
        )
        gunicorn = Gunicorn("gateway.wsgi:app", env, folder, workers=web_workers)
        log = (folder / "processes.log").open("ab")
        rounds = str(services.executable("rounds"))
        for n in range(workers):
            command = [rounds, "worker"] + (["--without-scheduler"] if n else [])
            processes[f"worker{n + 1}"] = subprocess.Popen(
                command, env=env, cwd=folder, stdout=log, stderr=log
            )
        processes["clock"] = subprocess.Popen([rounds, "clock"], env=env, cwd=folder, stdout=log, stderr=log)
        roots = {"web": gunicorn.process.pid, "postgresql": pg.process.pid, "redis": redis.process.pid}
        roots |= {name: p.pid for name, p in processes.items()}

        def sample() -> dict[str, float]:
            # HARNESS: this process, the load generator, on the same cores (not counted as the server's)
            return {name: tree_cpu(pid) for name, pid in roots.items()} | {HARNESS: time.process_time()}

        texter = Texter(gunicorn.port)
        for person_id in list(phones)[:WARM_UP]:  # both web workers past their first requests
            texter.post(phones[person_id], "HELP", replay_start)
        while SYSTEM_CLOCK.now() < origin:
            time.sleep(0.1)
        with texter.lock:
            texter.done.clear()
        settings = Settings(database_url=url, redis_url=redis.url, sms_from=services.SMS_FROM, clock=clock)
        rng = random.Random(seed)
        pending: list[tuple[datetime, int, str]] = []  # (simulated due, person id, body)
        delivered = DeliveredQuestions()
        jobs = Redis.from_url(redis.url)  # the scheduling passes' records, read as they finish
        broadcast_done = not (start <= BROADCAST_AT < end)
        pg.reset_statements()
        cpu_start, began = sample(), time.perf_counter()
        result.cpu_series.append((clock.now(), cpu_start))
        last_sample = began
        replay_end = DAY + end
        while clock.now() < replay_end:
            now = clock.now()
            with engine.connect() as conn:
                rows = delivered.poll(conn)
            for person_id, sent_at in rows:
                received = sent_at.replace(tzinfo=UTC)
                if rng.random() < ANSWER_SHARE:
                    delay = min(120.0, rng.lognormvariate(math.log(ANSWER_MEDIAN_MINUTES), ANSWER_SIGMA))
                    answered = received + timedelta(minutes=delay)
                    heapq.heappush(pending, (answered, person_id, rng.choice("ABCD")))
                else:
                    answered = received + timedelta(minutes=rng.uniform(1, 60))
                for body, share in FOLLOW_UPS:
                    if rng.random() < share:
                        later = answered + timedelta(minutes=rng.uniform(0.5, 5))
                        heapq.heappush(pending, (later, person_id, body))
                        if body == "MENTOR":
                            heapq.heappush(pending, (later + timedelta(minutes=1), person_id, MENTOR_LINE))
                        break
            while pending and pending[0][0] <= now:
                due, person_id, body = heapq.heappop(pending)
                texter.post(phones[person_id], body, due)
            if not broadcast_done and now >= DAY + BROADCAST_AT:
                result.broadcast = start_broadcast(settings, now)
                broadcast_done = True
            if time.perf_counter() - last_sample >= 1.0:
                last_sample = time.perf_counter()
                result.cpu_series.append((clock.now(), sample()))
                harvest_ticks(result, jobs)
                for name, pid in roots.items():
                    now_rss = list(tree_rss(pid).values())
                    total, largest, count = result.rss.get(name, (0, 0, 0))
                    result.rss[name] = (
                        max(total, sum(now_rss)),
                        max(largest, max(now_rss, default=0)),
                        max(count, len(now_rss)),
                    )
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited ({process.returncode}); see {folder}/processes.log"
                        )
            time.sleep(0.05)
        texter.close()
        jobs.close()
        cpu_end = sample()
        result.cpu_series.append((clock.now(), cpu_end))
        result.wall_seconds = time.perf_counter() - began
        result.cpu = {name: cpu_end[name] - cpu_start[name] for name in roots}
        result.inbound = texter.done
        measure_outbox(result, engine, scheduled, clock, redis, replay_end)
        result.notes += pg.top_statements()
        result.disk_bytes = pg.size() - size_before
        engine.dispose()
    finally:
        if texter is not None:
            texter.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            services.stop(process)
        if gunicorn is not None:
            gunicorn.close()
        if standin is not None:
            services.stop(standin)
        from store.db import dispose_all

        dispose_all()
        pg.close()
        if os.environ.get("ROUNDS_SOAK_KEEP"):  # the processes' logs, to read after a failed run
            print(f"soak logs kept in {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def start_broadcast(settings: Settings, now: datetime) -> int:
    """One broadcast to one country (one student in ten), confirmed as the console does."""
    from store.db import session_scope
    from workers.broadcasts import Audience, Schedule, create_broadcast
    from workers.broadcasts.fanout import start_broadcast as hand_over

    with session_scope(settings.database_url) as session:
        created, shown = create_broadcast(
            session, fanout.TEXT, Audience.parse(["country=NG"]), Schedule(), settings, now, (None, "soak")
        )
        broadcast_id, recipients = created.id, shown.recipients
    if not hand_over(settings, broadcast_id):
        raise RuntimeError("Redis did not take the broadcast's fan-out job")
    return recipients


def measure_outbox(
    result: Soak, engine, scheduled: dict, clock: ScaledClock, redis: services.RedisServer, until: datetime
) -> None:
    """Question lateness (the tick's share and the replay's), the carrier-rate wait, the tick's speed."""
    with engine.connect() as conn:
        questions = conn.execute(
            text(
                "SELECT person_id, created_at, sent_at FROM messages "
                "WHERE direction = 'out' AND kind = 'question'"
            )
        ).all()
        result.sends = conn.execute(
            text("SELECT count(*) FROM messages WHERE sent_at IS NOT NULL")
        ).scalar_one()
    result.questions = len(questions)
    for person_id, created_at, sent_at in questions:
        due = scheduled.get(person_id)
        if due is not None:
            result.replay_lateness.append((created_at - due).total_seconds())
        if sent_at is not None:
            result.carrier_wait.append((sent_at - created_at).total_seconds() / clock.rate)
    # In production each minute's pass is enqueued on the minute: its questions are late by the
    # time from that enqueue to the pass's end (rows queued), which the RQ job records in wall time.
    connection = Redis.from_url(redis.url)
    result.failed_jobs = sum(
        FailedJobRegistry(name, connection=connection).count for name in runtime.QUEUE_NAMES
    )
    harvest_ticks(result, connection)
    connection.close()


def harvest_ticks(result: Soak, connection: Redis) -> None:
    """Record the scheduling passes that finished since the last harvest. Called through the
    replay, not only at its end: RQ forgets a finished job after its result's TTL (minutes), so
    a long replay read once at the end kept only its last passes."""
    queue = Queue(runtime.DEFAULT, connection=connection)
    ids = [
        i
        for i in FinishedJobRegistry(queue=queue).get_job_ids()
        if i.startswith("rounds-tick-") and i not in result.harvested
    ]
    for job in Job.fetch_many(ids, connection=connection):
        if job is None or not job.enqueued_at or not job.ended_at or not job.started_at:
            continue
        result.harvested.add(job.id)
        report = job.return_value() or {}
        count = int(report.get("questions", 0))
        if count:
            late = (job.ended_at - job.enqueued_at).total_seconds()
            result.lateness += [late] * count
            result.passes.append((count, (job.ended_at - job.started_at).total_seconds()))


def tick_cost(passes: list[tuple[int, float]]) -> tuple[float, float]:
    """(fixed seconds, seconds per student) of a scheduling pass: a least-squares line through the
    replay's passes, so a minute's fixed work (check-ins, digests, corrections) is not charged to
    every student as an average over small minutes would. Where the line cannot tell (one size of
    pass, or noise tilting it down), every second is charged to the students: (0, total / students).
    (nan, nan) when no pass queued anyone."""
    counts = [float(count) for count, _ in passes]
    seconds = [float(spent) for _, spent in passes]
    if not passes or sum(counts) == 0:
        return float("nan"), float("nan")
    if len(set(counts)) >= 2:
        per_student, fixed = statistics.linear_regression(counts, seconds)
        if per_student > 0:  # a negative intercept is noise: dropping it only adds time
            return max(0.0, fixed), per_student
    return 0.0, sum(seconds) / sum(counts)


def peak_window(result: Soak) -> tuple[datetime, datetime]:
    """The busiest PEAK_WINDOW of inbound texts (simulated time)."""
    if not result.inbound:
        return DAY, DAY + PEAK_WINDOW
    counts = Counter(i.at.replace(second=0, microsecond=0) for i in result.inbound)
    best, most = DAY, -1
    for first in counts:
        total = sum(c for minute, c in counts.items() if first <= minute < first + PEAK_WINDOW)
        if total > most:
            best, most = first, total
    return best, best + PEAK_WINDOW


def peak_cpu(result: Soak, first: datetime, last: datetime) -> dict[str, float]:
    """CPU-seconds each process spent while the simulated clock was inside [first, last)."""
    inside = [(at, cpu) for at, cpu in result.cpu_series if first <= at <= last]
    before = [(at, cpu) for at, cpu in result.cpu_series if at < first]
    after = [(at, cpu) for at, cpu in result.cpu_series if at > last]
    a = (before[-1] if before else result.cpu_series[0])[1]
    b = (after[0] if after else (inside[-1] if inside else result.cpu_series[-1]))[1]
    return {name: b[name] - a[name] for name in a}


def derive(result: Soak) -> tuple[dict[str, float], list[str]]:
    """Every figure of the report, and the arithmetic behind learners per 2-core server."""
    n = result.learners
    # A learner-day is one daily question: a replay of part of the day counts the days it held.
    learner_days = max(1, result.questions)
    first, last = peak_window(result)
    peak = [i for i in result.inbound if first <= i.at < last]
    ok = [i.latency_ms for i in peak if i.status == 200]
    minutes = Counter(i.at.replace(second=0, microsecond=0) for i in result.inbound)
    peak_minute = max(minutes.values()) if minutes else 0
    figures: dict[str, float] = {}
    for name, seconds in sorted(result.cpu.items()):
        figures[f"cpu_ms_per_learner_day.{name}"] = seconds * 1000 / learner_days
    figures["cpu_ms_per_learner_day.total"] = sum(result.cpu.values()) * 1000 / learner_days
    figures["inbound_peak_per_s_wall"] = peak_minute / (60 / result.rate)
    figures["inbound_peak_per_minute_simulated"] = float(peak_minute)
    figures["reply_p50_ms"] = percentile(ok, 0.50)
    figures["reply_p99_ms"] = percentile(ok, 0.99)
    figures["reply_errors"] = float(sum(1 for i in result.inbound if i.status != 200))
    figures["lateness_p50_s"] = percentile(result.lateness, 0.50)
    figures["lateness_p99_s"] = percentile(result.lateness, 0.99)
    figures["replay_lateness_p99_s_simulated"] = percentile(result.replay_lateness, 0.99)
    figures["carrier_wait_p50_s"] = percentile(result.carrier_wait, 0.50)
    figures["carrier_wait_p99_s"] = percentile(result.carrier_wait, 0.99)
    for name, (total, _, _) in sorted(result.rss.items()):
        figures[f"rss_mib.{name}"] = total / 1024
    figures["disk_bytes_per_learner_day"] = result.disk_bytes / learner_days
    figures["questions"] = float(result.questions)
    figures["inbound"] = float(len(result.inbound))
    figures["broadcast_recipients"] = float(result.broadcast)

    # Learners per server. The peak quarter-hour's CPU, at real speed, spread over 900 s:
    used = peak_cpu(result, first, last)
    harness = used.pop(HARNESS, 0.0)
    peak_cpu_seconds = sum(used.values())
    window = PEAK_WINDOW.total_seconds()
    budget = CORES * (1 - HEADROOM) * window
    by_cpu = n * budget / peak_cpu_seconds if peak_cpu_seconds else float("inf")
    # The busiest minute's students must all be queued within LATENESS_P99_S by one pass.
    fixed, per_student = tick_cost(result.passes)
    by_tick = (
        (LATENESS_P99_S - fixed) / (per_student * result.peak_minute_share)
        if result.peak_minute_share and per_student == per_student
        else float("inf")
    )
    met = figures["reply_p99_ms"] < REPLY_P99_MS and figures["lateness_p99_s"] < LATENESS_P99_S
    # Compressed x rate, n learners arrive as fast as n x rate would in real time: the latency
    # targets are proven up to that load and no further.
    equivalent = n * result.rate
    capacity = min(by_cpu, by_tick, equivalent) if met else 0.0
    figures["peak_cpu_seconds"] = peak_cpu_seconds
    figures["peak_harness_cpu_seconds"] = harness
    figures["learners_by_cpu"] = by_cpu
    figures["learners_by_tick"] = by_tick
    figures["learners_real_time_equivalent"] = equivalent
    figures["learners_per_2_core_server"] = capacity
    arithmetic = [
        f"peak quarter-hour (simulated {first:%H:%M}-{last:%H:%M} UTC): {len(peak):,} texts in; "
        f"CPU {peak_cpu_seconds:.1f} s for {n:,} learners ("
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(used.items()))
        + f"); the replay itself, posting the texts from the same 2 cores, {harness:.1f} CPU-s more "
        f"({harness * result.rate / window:.2f} of a core through the peak), counted nowhere else",
        f"by CPU: {n:,} x ({CORES} cores x {1 - HEADROOM:.0%} x {window:.0f} s = {budget:.0f} CPU-s) "
        f"/ {peak_cpu_seconds:.1f} CPU-s = {by_cpu:,.0f} learners",
        f"by the tick: busiest minute holds {result.peak_minute_share:.2%} of learners; over "
        f"{len(result.passes):,} passes (up to {max((c for c, _ in result.passes), default=0):,} "
        f"students) a pass costs {fixed:.2f} s + {per_student * 1000:.2f} ms a student, so one pass "
        f"queues ({LATENESS_P99_S:.0f} - {fixed:.2f}) s / {per_student * 1000:.2f} ms / "
        f"{result.peak_minute_share:.4f} = {by_tick:,.0f} learners' busiest minute in time",
        f"load held: {n:,} learners at x{result.rate:g} arrive like {equivalent:,.0f} in real time; "
        f"targets at that load: reply p99 {figures['reply_p99_ms']:.1f} ms (< {REPLY_P99_MS:.0f}), "
        f"lateness p99 {figures['lateness_p99_s']:.2f} s (< {LATENESS_P99_S:.0f}): "
        + ("met" if met else "NOT met, so no capacity is claimed"),
        f"learners per 2-core server = min({by_cpu:,.0f}, {by_tick:,.0f}, {equivalent:,.0f})"
        f" = {capacity:,.0f}" + ("" if met else " (targets not met)"),
    ]
    return figures, arithmetic


def report(results: Results, result: Soak, figures: dict[str, float], arithmetic: list[str]) -> None:
    name = "soak"
    size = f"{result.learners:,} learners"
    for key, value in figures.items():
        if key.startswith("cpu_ms_per_learner_day."):
            results.add(Figure(name, f"CPU per learner-day: {key.split('.', 1)[1]}", "CPU-ms", [value], "ms"))
        elif key.startswith("rss_mib."):
            _, largest, count = result.rss.get(key.split(".", 1)[1], (0, 0, 0))
            results.add(
                Figure(
                    name,
                    f"RSS {key.split('.', 1)[1]} (up to {count} processes, largest {largest / 1024:.0f} MiB)",
                    "MiB",
                    [value],
                    "MiB",
                )
            )
    results.add(
        Figure(
            name,
            "peak inbound held (busiest simulated minute)",
            "texts/s",
            [figures["inbound_peak_per_s_wall"]],
            "/s",
        )
    )
    results.add(
        Figure(
            name,
            "reply latency p50 in the peak quarter-hour",
            "p50",
            [figures["reply_p50_ms"]],
            "ms",
        )
    )
    results.add(
        Figure(
            name,
            "reply latency p99 in the peak quarter-hour",
            "p99",
            [figures["reply_p99_ms"]],
            "ms",
            target=f"< {REPLY_P99_MS:.0f} ms",
            met=figures["reply_p99_ms"] < REPLY_P99_MS,
        )
    )
    results.add(
        Figure(
            name,
            "question lateness p50 (minute's pass enqueued -> queued)",
            "p50",
            [figures["lateness_p50_s"]],
            "s",
        )
    )
    results.add(
        Figure(
            name,
            "question lateness p99 (minute's pass enqueued -> queued)",
            "p99",
            [figures["lateness_p99_s"]],
            "s",
            target=f"< {LATENESS_P99_S:.0f} s",
            met=figures["lateness_p99_s"] < LATENESS_P99_S,
        )
    )
    results.add(
        Figure(
            name,
            "carrier-rate wait p50 (queued -> accepted, wall)",
            "p50",
            [figures["carrier_wait_p50_s"]],
            "s",
        )
    )
    results.add(
        Figure(
            name,
            "carrier-rate wait p99 (queued -> accepted, wall)",
            "p99",
            [figures["carrier_wait_p99_s"]],
            "s",
        )
    )
    results.add(
        Figure(
            name,
            "disk growth per learner-day (pg_database_size)",
            "bytes",
            [figures["disk_bytes_per_learner_day"]],
            "B",
        )
    )
    results.add(
        Figure(
            name,
            f"learners per 2-core server (from {size})",
            "learners",
            [figures["learners_per_2_core_server"]],
            target=">= 1,000,000",
            met=figures["learners_per_2_core_server"] >= 1_000_000,
        )
    )
    for line in arithmetic + result.notes:
        results.note(name, line)
    results.note(
        name,
        f"{size}, simulated {result.simulated} at x{result.rate:g} in {result.wall_seconds:.0f} s, "
        f"{result.web_workers} gunicorn workers, RQ workers at ROUNDS_WORKER_NICE={result.worker_nice}; "
        f"{result.questions:,} questions, {len(result.inbound):,} texts in "
        f"({figures['reply_errors']:.0f} not 200), "
        f"broadcast to {result.broadcast:,}, {result.sends:,} sends, {result.failed_jobs} failed jobs; "
        "replay lateness p99 "
        f"{figures['replay_lateness_p99_s_simulated']:.0f} simulated s (the x{result.rate:g} compression "
        "included)",
    )


def run(results: Results, quick: bool, redis: services.RedisServer, readings: dict[str, int]) -> None:
    """The morning (00:00-10:00 UTC, every zone's rush but New York's) at x60 for 17,000 learners,
    who then arrive as fast as 1,020,000 would in real time: about ten minutes.

    ROUNDS_SOAK_LEARNERS, ROUNDS_SOAK_RATE and ROUNDS_SOAK_HOURS (`0-24` for the whole day, 25
    minutes) change it; the RQ workers run at the single server's recommended ROUNDS_WORKER_NICE=10
    unless ROUNDS_SOAK_WORKER_NICE says otherwise, gunicorn with ROUNDS_SOAK_WEB_WORKERS sync
    workers (3, the Procfile's default)."""
    learners = int(os.environ.get("ROUNDS_SOAK_LEARNERS", 1_000 if quick else 17_000))
    rate = float(os.environ.get("ROUNDS_SOAK_RATE", 60))
    first, _, last = os.environ.get("ROUNDS_SOAK_HOURS", "5-8" if quick else "0-10").partition("-")
    nice = int(os.environ.get("ROUNDS_SOAK_WORKER_NICE", 10))
    web = int(os.environ.get("ROUNDS_SOAK_WEB_WORKERS", 3))
    statements = os.environ.get("ROUNDS_SOAK_PG_STATEMENTS") == "1"  # the database's costliest statements
    result = run_soak(
        redis,
        learners,
        rate,
        timedelta(hours=float(first)),
        timedelta(hours=float(last)),
        worker_nice=nice,
        web_workers=web,
        statements=statements,
    )
    figures, arithmetic = derive(result)
    report(results, result, figures, arithmetic)
