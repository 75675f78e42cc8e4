"""Inbound webhook under gunicorn (2 sync workers), loaded by wrk with signed Twilio form posts.

Rounds' full path (gateway.wsgi) against a bare Flask app and the same app plus one INSERT,
same server settings, same load generator, on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import insert, select
from twilio.request_validator import RequestValidator

from bench import services
from bench.report import Figure, Results
from store.db import session_scope
from store.models import Attempt, Person, Question, utcnow

LUA = Path(__file__).with_name("post.lua")
WORKERS = 2
THREADS, CONNECTIONS = 2, 2  # one connection per gunicorn worker, peak and paced runs alike


@dataclass(frozen=True)
class App:
    key: str
    label: str
    spec: str  # what gunicorn serves
    body: str  # what each student texts


APPS = (
    App("bare", "bare Flask: form -> TwiML", "bench.apps:bare_app()", "HELP"),
    App("insert", "bare + 1 INSERT", "bench.apps:insert_app()", "HELP"),
    App("help", "Rounds full path, HELP", "gateway.wsgi:app", "HELP"),
    App("answer", "Rounds full path, answer A", "gateway.wsgi:app", "A"),
)


def phones(count: int) -> list[str]:
    """Distinct valid Nigerian (MTN) mobile numbers."""
    return [f"+234803{n:07d}" for n in range(1_000_000, 1_000_000 + count)]


def seed_students(url: str, numbers: list[str]) -> None:
    """Onboarded students, as the webhook would find them mid-course."""
    now = utcnow()
    rows = [
        {
            "phone": phone,
            "channel": "sms",
            "name": "Ada",
            "language": "en",
            "timezone": "Africa/Lagos",
            "country": "NG",
            "role": "student",
            "status": "active",
            "track": "step1",
            "daily_time": "08:00",
            "next_push_at": now + timedelta(hours=20),
            "flow": None,
            "flow_state": {},
            "unreachable": False,
            "created_at": now - timedelta(days=30),
            "updated_at": now,
        }
        for phone in numbers
    ]
    with session_scope(url) as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Person), rows[start : start + 2000])


def reset(url: str, open_questions: int) -> None:
    """Empty the message log and learning state; give every student `open_questions` to answer."""
    services.truncate(url, "cards", "attempts", "messages")
    if not open_questions:
        return
    now = utcnow()
    with session_scope(url) as session:
        people = list(session.scalars(select(Person.id).order_by(Person.id)))
        questions = list(session.scalars(select(Question.id).order_by(Question.id)))
        rows = [
            {
                "person_id": person_id,
                "question_id": questions[(person_id * 7 + k) % len(questions)],
                "source": f"more:{k + 1}",
                "local_date": date.today(),
                "asked_at": now - timedelta(minutes=open_questions - k),
                "skipped": False,
            }
            for person_id in people
            for k in range(open_questions)
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Attempt), rows[start : start + 5000])


def write_pool(path: Path, numbers: list[str], body: str, rounds: int) -> int:
    """`rounds` texts from every student, interleaved (a student's texts are len(numbers) apart)."""
    validator = RequestValidator(services.AUTH_TOKEN)
    url = services.PUBLIC_URL + "/twilio/messages"
    lines = []
    for _ in range(rounds):
        for phone in numbers:
            sid = "SM" + uuid.uuid4().hex
            form = {
                "ToCountry": "US",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "FromCountry": "NG",
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
            lines.append(f"{validator.compute_signature(url, form)}\t{urlencode(form)}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


class Gunicorn:
    """`gunicorn SPEC` with 2 sync workers (unless told) on a free port; the same flags for every app."""

    def __init__(self, spec: str, env: dict[str, str], folder: Path, workers: int = WORKERS):
        self.port = services.free_port()
        self.log = folder / f"gunicorn-{self.port}.log"
        self.process = subprocess.Popen(
            [
                str(services.executable("gunicorn")),
                spec,
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "--error-logfile",
                str(self.log),
            ],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        services.wait_for_port(self.port, self.process)
        deadline = time.monotonic() + 20
        while len(self.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.05)

    def workers(self) -> list[int]:
        return services.children(self.process.pid)

    def worker_rss_kib(self) -> int:
        return max((services.rss_kib(pid) for pid in self.workers()), default=0)

    def close(self) -> None:
        services.stop(self.process)


def wrk(port: int, pool: Path, seconds: float, rate: float = 0.0) -> dict:
    """One wrk run; `rate` > 0 holds the request rate (the script paces each thread)."""
    command = [
        "wrk",
        "-t",
        str(THREADS),
        "-c",
        str(CONNECTIONS),
        "-d",
        f"{seconds:.0f}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(pool),
        str(THREADS),
    ]
    if rate:
        command.append(f"{rate:.1f}")
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line[6:])
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(figures[k] for k in figures if k.endswith("_errors")) + figures["timeouts"]
    return figures


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise services.Unavailable(
            "wrk is not installed: `apt-get update && apt-get install -y wrk` (Debian), then run again"
        )


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    require_wrk()
    seconds = 4 if quick else 6
    students = 2000 if quick else 6000
    folder = services.run_dir()
    numbers = phones(students)
    # Distinct MessageSids for a whole run of the fastest app (a bare app manages ~5,000/s).
    pools = {body: folder / f"pool-{body}.txt" for body in {a.body for a in APPS}}
    sizes = {body: write_pool(path, numbers, body, POOL_ROUNDS) for body, path in pools.items()}
    try:
        for backend in ("postgresql", "sqlite"):
            try:
                with services.database(backend, "webhook") as url:
                    seed_students(url, numbers)
                    Backend(results, backend, url, redis, folder, pools, sizes, seconds, memory).run()
            except services.Unavailable as exc:
                results.note("webhook", f"{backend} skipped: {exc}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results.note(
        "webhook",
        f"gunicorn --workers {WORKERS} --worker-class sync, access log off, for all apps; wrk -t {THREADS} "
        f"-c {CONNECTIONS} (one connection per gunicorn worker), {seconds} s runs after a 2 s warm-up, "
        f"{REPEATS} runs each, the database emptied before each; {students:,} onboarded students text "
        "from distinct numbers, each request a distinct MessageSid signed for PUBLIC_URL "
        "(bench/post.lua). 'answer A' answers one of two open questions (FSRS review, streak, feedback).",
    )
    results.note(
        "webhook",
        "p99 at half peak: wrk2 is not packaged for Debian 12 (apt-cache policy wrk2 finds nothing), so "
        "the rate is held by bench/post.lua's delay() hook, each wrk thread sending on a fixed schedule at "
        "half the median peak measured just before. wrk times from the moment a request is written (no "
        "coordinated-omission correction), and a sync gunicorn worker that accepts a connection waits "
        "for its request, so these are service latencies at that rate without queueing between clients.",
    )


REPEATS = 3
POOL_ROUNDS = 10  # texts per student in a pool
OPEN_QUESTIONS = 2  # seeded per student before each answer run


class Backend:
    """The four apps, one after another, on one database."""

    def __init__(self, results, backend, url, redis, folder, pools, sizes, seconds, memory):
        self.results, self.url, self.folder = results, url, folder
        self.name = "PostgreSQL" if backend == "postgresql" else "SQLite"
        self.env = services.child_env(DATABASE_URL=url, REDIS_URL=redis.url)
        self.pools, self.sizes, self.seconds, self.memory = pools, sizes, seconds, memory

    def load(self, app: App, port: int, seconds: float, rate: float = 0.0) -> dict:
        reset(self.url, OPEN_QUESTIONS if app.key == "answer" else 0)
        figures = wrk(port, self.pools[app.body], seconds, rate)
        time.sleep(1)  # let the last requests finish before the next reset
        return figures

    def run(self) -> None:
        peaks: dict[str, Figure] = {}
        for app in APPS:
            server = Gunicorn(app.spec, self.env, self.folder)
            try:
                case = f"{self.name}: {app.label}"
                self.load(app, server.port, 2)  # warm-up: imports, pools, first requests
                runs = [self.load(app, server.port, self.seconds) for _ in range(REPEATS)]
                self._check(app, runs)
                peaks[app.key] = self.results.add(
                    Figure("webhook", case, "req/s", _of(runs, "rate"), "req/s")
                )
                self.results.add(Figure("webhook", case, "p50 at peak", _ms(runs, "p50_us"), "ms"))
                self.results.add(Figure("webhook", case, "p99 at peak", _ms(runs, "p99_us"), "ms"))
                if app.spec != "gateway.wsgi:app":
                    continue
                half = peaks[app.key].value / 2
                paced = [self.load(app, server.port, self.seconds, rate=half) for _ in range(REPEATS)]
                self._check(app, paced)
                self.results.add(
                    Figure(
                        "webhook",
                        case,
                        "rate held",
                        _of(paced, "rate"),
                        "req/s",
                        note=f"asked for {half:,.0f} req/s",
                    )
                )
                p99 = self.results.add(
                    Figure("webhook", case, "p99 at half peak", _ms(paced, "p99_us"), "ms", target="< 25 ms")
                )
                p99.met = p99.value < 25
                self.memory[f"gunicorn web worker after the {self.name} full path"] = server.worker_rss_kib()
            finally:
                server.close()
        for key in ("help", "answer"):
            figure = peaks[key].compare(peaks["insert"], "1 INSERT")
            figure.target = ">= 0.5x 1 INSERT"
            figure.met = figure.ratio is not None and figure.ratio >= 0.5
        peaks["insert"].compare(peaks["bare"], "bare")

    def _check(self, app: App, runs: list[dict]) -> None:
        errors = sum(r["errors"] for r in runs)
        if errors:
            self.results.note("webhook", f"{self.name} {app.label}: {errors} error(s) or non-2xx answer(s)")
        if max(r["requests"] for r in runs) > self.sizes[app.body]:
            self.results.note(
                "webhook",
                f"{self.name} {app.label}: a run sent more requests than the pool "
                "holds distinct MessageSids; the rest were replays",
            )


def _of(runs: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in runs]


def _ms(runs: list[dict], key: str) -> list[float]:
    return [r[key] / 1000 for r in runs]
