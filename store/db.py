"""Engines and sessions: SQLite (WAL, immediate transactions) or PostgreSQL.

One engine per process and URL; a forked child (an RQ job) gets its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, TextClause, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

    from store.models import Base

_engines: dict[tuple[int, str], Engine] = {}
_factories: dict[Engine, sessionmaker[Session]] = {}
READ_ONLY = "rounds_read_only"
_lock = threading.Lock()
BUSY_TIMEOUT_MS = 10_000


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            # A long read (an export) takes a snapshot and never blocks writers in WAL mode.
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        # IMMEDIATE takes the write lock up front, so two writers queue instead of
        # failing when a read lock cannot be upgraded.
        if not _begin_immediate_soon(connection.connection.dbapi_connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # waits on busy_timeout


# SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms between tries for the write lock, long
# beside a webhook's transaction of about a millisecond: a waiting web worker slept on while the
# lock was free, which cost throughput and made the tails (bench/FINDINGS.md, section 2). So the
# lock is first tried every 0.1-0.5 ms for a while; a writer still waiting after that waits on
# busy_timeout as before.
_SOON_TRIES = (0.0001, 0.0001, 0.0002, 0.0002) + (0.0005,) * 96  # about 50 ms in all


def _begin_immediate_soon(dbapi_connection: Any) -> bool:
    """BEGIN IMMEDIATE, tried without SQLite's sleeps; False if the lock stayed busy for ~50 ms."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        for pause in _SOON_TRIES:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    return False  # not the lock: the ordinary BEGIN raises it, as SQLAlchemy's error
            time.sleep(pause)
        return False
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def make_engine(url: str) -> Engine:
    """Create an engine for `url`, creating the SQLite file's folder if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        _prepare_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql" or parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def get_engine(url: str) -> Engine:
    """The process's engine for `url` (a new one after a fork)."""
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        with _lock:
            engine = _engines.get(key)
            if engine is None:
                engine = make_engine(url)
                _engines[key] = engine
    return engine


def dispose_all() -> None:
    """Close every pooled connection this process holds (tests, shutdown)."""
    with _lock:
        for (pid, _url), engine in list(_engines.items()):
            if pid == os.getpid():
                engine.dispose()
        _engines.clear()
        _factories.clear()


def session_factory(url: str) -> sessionmaker[Session]:
    """The process's session factory for `url`.

    Kept, not rebuilt per call: every sessionmaker makes a Session subclass of its own, and
    SQLAlchemy then sets up that class's event dispatch on its first session (about 0.1 ms, once
    per webhook request when it was rebuilt).
    """
    engine = get_engine(url)
    factory = _factories.get(engine)
    if factory is None:
        with _lock:
            factory = _factories.setdefault(engine, sessionmaker(bind=engine, expire_on_commit=False))
    return factory


def read_session(url: str) -> Session:
    """A session for long reads (exports, reports); on SQLite it never holds the write lock."""
    return Session(bind=get_engine(url).execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_or_ignore(
    session: Session, model: type[Base], values: dict[str, Any], conflict: list[str]
) -> int | None:
    """Insert one row unless it collides on `conflict`; return its id, or None if it existed.

    One statement (INSERT .. ON CONFLICT DO NOTHING RETURNING id), so two
    processes racing on the same key cannot both win.
    """
    statement = _insert_ignoring(model, tuple(conflict), session.get_bind().dialect.name)
    return core_connection(session).execute(statement, values).scalar_one_or_none()


def core_connection(session: Session) -> Connection:
    """The session's connection, after flushing what it holds unsaved, as an ORM statement would.

    Core statements run here skip the ORM's execution path around them, which costs more than
    a short statement itself (bench/FINDINGS.md).
    """
    if session.autoflush:
        session.flush()
    return session.connection()


def insert_for(dialect: str) -> Callable[[Table], PostgresInsert | SqliteInsert]:
    """The `insert` construct with ON CONFLICT for this database (PostgreSQL or SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@lru_cache(maxsize=64)
def _insert_ignoring(model: type[Base], conflict: tuple[str, ...], dialect: str) -> ReturningInsert[Any]:
    # Built once and given its values at execution: rebuilding it with .values() per row cost
    # about 0.2 ms a call in SQLAlchemy's statement caching (bench/FINDINGS.md).
    insert = insert_for(dialect)
    table = model.__table__
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(table.c.id)


def insert_many_or_ignore(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """Insert rows that do not collide on `conflict`, in one statement; return `returning` of the new ones.

    Rows skipped by the conflict (a concurrent pass wrote them first) do not come back. Every
    row must have the same keys.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _insert_unnest(session, model, rows, tuple(conflict), returning)
    table = model.__table__
    statement = (
        insert_for(dialect)(table)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(*(table.c[name] for name in returning))
    )
    return [tuple(row) for row in core_connection(session).execute(statement, rows)]


def _insert_unnest(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    # PostgreSQL takes one array per column (INSERT .. SELECT FROM unnest(..)): the statement
    # stays the same size whatever the row count, where a multi-row VALUES grows by a
    # placeholder per value and psycopg re-parses it each time (4x slower at 1,000 rows of
    # `messages`, bench/FINDINGS.md). Values go through each column's own bind processing.
    dialect = session.get_bind().dialect
    table = model.__table__
    names = list(rows[0])
    arrays: dict[str, list[Any]] = {}
    for name in names:
        process = table.c[name].type.bind_processor(dialect)
        values = [row[name] for row in rows]
        arrays[name] = [None if v is None else process(v) for v in values] if process else values
    statement = _unnest_statement(table, tuple(names), conflict, returning, dialect)
    result = core_connection(session).execute(statement, arrays)
    return [tuple(row) for row in result]


@lru_cache(maxsize=64)
def _unnest_statement(
    table: Table,
    names: tuple[str, ...],
    conflict: tuple[str, ...],
    returning: tuple[str, ...],
    dialect: Dialect,
) -> TextClause:
    from sqlalchemy import text

    def array_of(name: str) -> str:
        return f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])"

    return text(
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"SELECT * FROM unnest({', '.join(map(array_of, names))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {', '.join(returning)}"
    )


def copy_many_or_ignore(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """`insert_many_or_ignore` for thousands of rows: on PostgreSQL they go by COPY into a temporary
    table, then one INSERT .. SELECT .. ON CONFLICT DO NOTHING; elsewhere as that function does.

    COPY skips the per-value bind processing and array building of the unnest path (most of the
    time of 100,000 outbox rows, bench/RESULTS.md); strings are still cleaned as the column types
    would, and aware datetimes stored as naive UTC.
    """
    if not rows or session.get_bind().dialect.name != "postgresql":
        return insert_many_or_ignore(session, model, rows, conflict, returning)
    names = list(rows[0])
    stored = [tuple(as_stored(row[name]) for name in names) for row in rows]
    return copy_rows_or_ignore(session, model, names, stored, conflict, returning)


def as_stored(value: Any) -> Any:
    """`value` as a column type would bind it: a string cleaned, an aware datetime as naive UTC."""
    from datetime import UTC, datetime

    from store.text import clean, needs_cleaning

    if isinstance(value, str):
        return clean(value).text if needs_cleaning(value) else value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def copy_rows_or_ignore(
    session: Session,
    model: type[Base],
    names: list[str],
    rows: list[tuple[Any, ...]],
    conflict: list[str],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """`copy_many_or_ignore` for plain tuples of `names`' values already as stored (`as_stored`):
    the caller, who knows which of its values can need cleaning, spares 100,000 rows a check
    of every value. Elsewhere than PostgreSQL, as `insert_many_or_ignore`.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        from datetime import UTC, datetime

        def bound(value: Any) -> Any:  # the column types take aware times; stored ones are naive UTC
            naive = isinstance(value, datetime) and value.tzinfo is None
            return value.replace(tzinfo=UTC) if naive else value

        dicts = [{name: bound(value) for name, value in zip(names, row, strict=True)} for row in rows]
        return insert_many_or_ignore(session, model, dicts, conflict, returning)
    table = model.__table__
    staging = f"copy_{table.name}"
    columns = ", ".join(names)
    connection = core_connection(session)
    # The columns' types without their constraints or defaults; gone at the end of the transaction.
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {staging}")
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {table.name} WITH NO DATA"
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    result = connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {', '.join(returning)}"
    )
    return [tuple(row) for row in result.all()]  # one fetch, not one a row
