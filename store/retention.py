"""Bounded storage: message rows older than the retention period are folded into daily counts and
deleted, in short primary-key-range batches, keeping safeguarding-flagged conversations.

What survives a pruned row is its `message_days` line (UTC day, channel, direction, kind, status:
messages, segments, opt-out words); attempts, cards, flags, people and broadcasts are not touched.
Each run is recorded in `prune_runs` for the console.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Float,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import get_engine, session_scope
from store.mentoring import Flag
from store.models import Base, BigId, Message, MessageStatus
from store.text import CleanString

# Rows in flight belong to the outbox, however old: the send path settles them, not the prune.
IN_FLIGHT = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNCERTAIN)
# Ids per batch: each batch is one short transaction (bench/prune.py measures how short).
BATCH_IDS = 20_000
# The nightly pass halves its ranges when a batch takes longer than this (a busy server).
SLOW_BATCH_MS = 400.0


class MessageDay(Base):
    """What the statistics keep of pruned message rows: counts per UTC day and kind of message."""

    __tablename__ = "message_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(CleanString(10), primary_key=True)
    direction: Mapped[str] = mapped_column(CleanString(3), primary_key=True)
    kind: Mapped[str] = mapped_column(CleanString(16), primary_key=True)
    status: Mapped[str] = mapped_column(CleanString(16), primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    segments: Mapped[int] = mapped_column(BigInteger, default=0)
    # Inbound opt-out words (STOP...), which the dashboard otherwise reads from the bodies.
    opt_outs: Mapped[int] = mapped_column(BigInteger, default=0)


class PruneRun(Base):
    """One prune pass, for admins: when, how far back, how many rows and how long."""

    __tablename__ = "prune_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    cutoff: Mapped[datetime]
    retention_days: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    # People whose messages were held back for a safeguarding flag.
    held_people: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    longest_batch_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # False while running, and for a pass that stopped at its time budget or failed.
    complete: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass
class PruneReport:
    cutoff: datetime
    dry_run: bool
    deleted: int = 0  # or, in a dry run, would be deleted
    batches: int = 0
    held_people: int = 0
    held_messages: int = 0
    seconds: float = 0.0
    batch_ms: list[float] = field(default_factory=list)
    complete: bool = True

    @property
    def longest_batch_ms(self) -> float:
        return max(self.batch_ms, default=0.0)

    def __str__(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {self.deleted:,} messages older than {self.cutoff:%Y-%m-%d %H:%M} UTC in "
            f"{self.batches} batches ({self.seconds:.1f} s, longest batch {self.longest_batch_ms:.0f} ms); "
            f"held for safeguarding flags: {self.held_people} people, {self.held_messages} flagged messages"
            + ("" if self.complete else "; stopped at the time budget, the next run carries on")
        )


@dataclass(frozen=True)
class Held:
    """What a safeguarding flag keeps: its person's messages and the conversation it points at."""

    people: frozenset[int]
    messages: frozenset[int]


def held_by_flags(conn: Connection, now: datetime, days: int) -> Held:
    """Flags still open, or resolved less than `days` ago, hold their conversations."""
    since = now - timedelta(days=days)
    rows = conn.execute(
        select(Flag.person_id, Flag.message_ids).where(
            or_(Flag.resolved.is_(False), Flag.resolved_at.is_(None), Flag.resolved_at >= since)
        )
    )
    people: set[int] = set()
    messages: set[int] = set()
    for person_id, message_ids in rows:
        if person_id is not None:
            people.add(int(person_id))
        messages.update(int(i) for i in message_ids or [])
    return Held(frozenset(people), frozenset(messages))


def _prunable(lo: int, hi: int, cutoff: datetime, held: Held) -> ColumnElement[bool]:
    clauses = [
        Message.id >= lo,
        Message.id < hi,
        Message.created_at < cutoff,
        Message.status.not_in(IN_FLIGHT),
    ]
    if held.people:
        clauses.append(or_(Message.person_id.is_(None), not_(Message.person_id.in_(sorted(held.people)))))
    if held.messages:
        clauses.append(not_(Message.id.in_(sorted(held.messages))))
    return and_(*clauses)


def _rollup_columns(dialect: str, rows: Any, opt_out_words: Iterable[str]) -> list[Any]:
    day = cast(rows.c.created_at, Date) if dialect == "postgresql" else func.date(rows.c.created_at)
    opt_out = case(
        (and_(rows.c.direction == "in", func.upper(func.trim(rows.c.body)).in_(sorted(opt_out_words))), 1),
        else_=0,
    )
    return [
        day.label("day"),
        rows.c.channel,
        rows.c.direction,
        rows.c.kind,
        rows.c.status,
        func.count().label("messages"),
        func.coalesce(func.sum(rows.c.segments), 0).label("segments"),
        func.sum(opt_out).label("opt_outs"),
    ]


def _fold_and_delete(conn: Connection, condition: ColumnElement[bool], opt_out_words: Iterable[str]) -> int:
    """Add the rows' counts to message_days and delete them, in the caller's transaction."""
    dialect = conn.dialect.name
    keys = ["day", "channel", "direction", "kind", "status"]
    names = [*keys, "messages", "segments", "opt_outs"]
    table = MessageDay.__table__
    if dialect == "postgresql":
        # One pass over the range: the DELETE hands its rows to the INSERT (a data-modifying CTE).
        gone = (
            delete(Message)
            .where(condition)
            .returning(
                Message.created_at,
                Message.channel,
                Message.direction,
                Message.kind,
                Message.status,
                Message.segments,
                Message.body,
            )
            .cte("gone")
        )
        columns = _rollup_columns(dialect, gone, opt_out_words)
        fold: Any = postgresql.insert(table).from_select(names, select(*columns).group_by(*columns[:5]))
        fold = _add_on_conflict(fold, keys).returning(table.c.day).cte("folded")
        # PostgreSQL runs a data-modifying CTE whether or not the query reads it.
        return int(conn.execute(select(func.count()).select_from(gone).add_cte(fold)).scalar_one())
    source = select(Message).where(condition).subquery()
    columns = _rollup_columns(dialect, source, opt_out_words)
    # `WHERE true`: SQLite needs it to read ON CONFLICT after an INSERT ... SELECT.
    upsert = sqlite.insert(table).from_select(
        names, select(*columns).where(text("true")).group_by(*columns[:5])
    )
    conn.execute(_add_on_conflict(upsert, keys))
    return conn.execute(delete(Message).where(condition)).rowcount or 0


def _add_on_conflict(upsert: Any, keys: list[str]) -> Any:
    table = MessageDay.__table__
    return upsert.on_conflict_do_update(
        index_elements=keys,
        set_={
            "messages": table.c.messages + upsert.excluded.messages,
            "segments": table.c.segments + upsert.excluded.segments,
            "opt_outs": table.c.opt_outs + upsert.excluded.opt_outs,
        },
    )


def _count(conn: Connection, condition: ColumnElement[bool], opt_out_words: Iterable[str]) -> int:
    return int(conn.execute(select(func.count()).select_from(Message).where(condition)).scalar_one())


def _next_id(conn: Connection, at_least: int) -> int | None:
    return conn.execute(select(func.min(Message.id)).where(Message.id >= at_least)).scalar()


def _oldest_in(conn: Connection, lo: int, hi: int) -> datetime | None:
    return conn.execute(
        select(func.min(Message.created_at)).where(Message.id >= lo, Message.id < hi)
    ).scalar()


def prune_messages(
    url: str,
    now: datetime,
    days: int,
    opt_out_words: Iterable[str] = (),
    dry_run: bool = False,
    batch_ids: int = BATCH_IDS,
    budget_seconds: float | None = None,
    max_batches: int | None = None,
    slow_batch_ms: float | None = None,
    elapsed: Callable[[], float] = time.perf_counter,
) -> PruneReport:
    """Delete (or, with `dry_run`, count) messages older than `days` before `now`.

    Walks ids upwards from the oldest row in ranges of `batch_ids`, one transaction each, so a
    pass stopped at any point (a crash, the time budget, `max_batches`) loses nothing and the
    next pass carries on: every batch folds its rows into message_days in the same transaction
    as it deletes them. The walk ends at the first range with nothing to prune whose oldest row
    is newer than the cutoff (ids grow with created_at). With `slow_batch_ms`, a batch slower than
    that halves the next range and a batch under a quarter of it doubles it again, up to
    `batch_ids`: on a busy server the transactions stay short instead of the ranges fixed.
    """
    if days <= 0:
        raise ValueError("retention is off (0 days): nothing is pruned")
    cutoff = now - timedelta(days=days)
    words = frozenset(w.upper() for w in opt_out_words)
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    engine = get_engine(url)
    started = elapsed()
    with engine.connect() as conn:
        held = held_by_flags(conn, now, days)
        conn.rollback()
    report.held_people, report.held_messages = len(held.people), len(held.messages)
    run_id = None if dry_run else _start_run(url, now, cutoff, days, report)
    step = _count if dry_run else _fold_and_delete
    size = batch_ids
    with engine.connect() as conn:
        lo = _next_id(conn, 0)
        conn.rollback()
        while lo is not None:
            if max_batches is not None and report.batches >= max_batches:
                report.complete = False
                break
            if budget_seconds is not None and elapsed() - started > budget_seconds:
                report.complete = False
                break
            hi = lo + size
            began = elapsed()
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    # Never queue behind another lock for long: fail the batch; the next pass retries.
                    # No wait for the WAL flush either: a batch lost in a crash is simply redone.
                    conn.execute(text("SET LOCAL lock_timeout = '1s'; SET LOCAL synchronous_commit = off"))
                done = step(conn, _prunable(lo, hi, cutoff, held), words)
            took_ms = (elapsed() - began) * 1000
            report.batch_ms.append(took_ms)
            report.batches += 1
            if slow_batch_ms is not None:
                if took_ms > slow_batch_ms:
                    size = max(1, size // 2)
                elif took_ms < slow_batch_ms / 4:
                    size = min(batch_ids, size * 2)
            report.deleted += done
            if done == 0:
                oldest = _oldest_in(conn, lo, hi)
                conn.rollback()
                if oldest is not None and oldest >= cutoff:
                    break
            lo = _next_id(conn, hi)
            conn.rollback()
    report.seconds = elapsed() - started
    if run_id is not None:
        _finish_run(url, run_id, now, report)
    return report


def _start_run(url: str, now: datetime, cutoff: datetime, days: int, report: PruneReport) -> int:
    with session_scope(url) as session:
        run = PruneRun(
            started_at=now, cutoff=cutoff, retention_days=days, held_people=report.held_people, complete=False
        )
        session.add(run)
        session.flush()
        return run.id


def _finish_run(url: str, run_id: int, now: datetime, report: PruneReport) -> None:
    with session_scope(url) as session:
        run = session.get(PruneRun, run_id)
        assert run is not None
        run.finished_at = now + timedelta(seconds=report.seconds)
        run.deleted = report.deleted
        run.batches = report.batches
        run.seconds = round(report.seconds, 3)
        run.longest_batch_ms = round(report.longest_batch_ms, 1)
        run.complete = report.complete


def latest_run(session: Session) -> PruneRun | None:
    """The most recent prune pass, for the console."""
    return session.scalars(select(PruneRun).order_by(PruneRun.id.desc()).limit(1)).first()
