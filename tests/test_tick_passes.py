"""Several scheduling passes over one minute's due students (ROUNDS_TICK_PASSES): on PostgreSQL
each claims its rows with FOR UPDATE SKIP LOCKED, and every student still gets exactly one question;
a Redis lease keeps two ticks for the same minute from overlapping.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select, text

from flows.schedule import reschedule
from store.db import get_engine, session_scope
from store.models import Attempt, Message, Person
from store.settings import Settings
from tests.test_tick import at, tick_settings  # noqa: F401 - the fixture
from workers import runtime
from workers.schedule import _take_minute_lease, due_batch, run_daily_pass, run_tick

pytestmark = pytest.mark.slow

INSTANT = at("2026-11-26T07:00:00+00:00")  # 08:00 in Lagos


def due_students(settings, count: int) -> list[int]:
    """`count` Lagos students whose daily time is 08:00, all due at INSTANT."""
    with session_scope(settings.database_url) as session:
        people = [
            Person(
                phone=f"+2348039{n:06d}",
                channel="sms",
                name="Amina",
                timezone="Africa/Lagos",
                daily_time="08:00",
                track="step1",
                status="active",
                flow_state={},
            )
            for n in range(count)
        ]
        session.add_all(people)
        session.flush()
        for person in people:
            reschedule(person, at("2026-11-25T12:00:00+00:00"))
        return [person.id for person in people]


def questions_each(settings) -> dict[int, int]:
    with session_scope(settings.database_url) as session:
        return dict(
            session.execute(
                select(Message.person_id, func.count())
                .where(Message.kind == "question")
                .group_by(Message.person_id)
            ).all()
        )


def attempts_each(settings) -> dict[int, int]:
    with session_scope(settings.database_url) as session:
        return dict(
            session.execute(select(Attempt.person_id, func.count()).group_by(Attempt.person_id)).all()
        )


def still_due(settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.execute(select(func.count()).where(Person.next_push_at <= INSTANT)).scalar_one()


def on_postgresql(settings) -> None:
    if get_engine(settings.database_url).dialect.name != "postgresql":
        pytest.skip("several passes at once are a PostgreSQL feature; SQLite runs one")


def test_passes_at_once_plan_each_student_exactly_once(tick_settings):  # noqa: F811
    on_postgresql(tick_settings)
    pids = due_students(tick_settings, 240)
    passes = 4
    barrier = threading.Barrier(passes)
    reports, errors = [], []

    def one_pass() -> None:
        barrier.wait()
        try:
            # Small batches, so the passes take turns over the same due rows many times.
            reports.append(run_daily_pass(tick_settings, INSTANT, batch=10))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(passes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    # No student was planned by two passes: the passes' counts add up to the due set exactly.
    assert sum(r.due for r in reports) == 240 and sum(r.questions for r in reports) == 240
    assert sum(r.conflicts for r in reports) == 0
    # The work was shared, not done by one pass while the others waited on its locks.
    assert sum(1 for r in reports if r.due) >= 2, [r.due for r in reports]
    assert questions_each(tick_settings) == {pid: 1 for pid in pids}
    assert attempts_each(tick_settings) == {pid: 1 for pid in pids}
    assert still_due(tick_settings) == 0


def test_a_tick_with_three_passes_shares_the_minute_with_two_worker_processes(tick_settings, start_worker):  # noqa: F811
    on_postgresql(tick_settings)
    pids = due_students(tick_settings, 1500)
    redis = Redis.from_url(tick_settings.redis_url)
    workers = [
        # Tick workers only: the questions' send jobs stay queued for the send workers (none here).
        start_worker(tick_settings, tick_settings.redis_url, "--without-scheduler", "--queue", "default")
        for _ in range(2)
    ]
    # Both workers listening before the tick queues its helpers.
    deadline = time.monotonic() + 60
    while len(runtime_workers(redis)) < 2:
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(w.poll() is None for w in workers)
        time.sleep(0.1)
    report = run_tick(tick_settings.with_(tick_passes=3), INSTANT)
    assert report.passes == 3
    finished = FinishedJobRegistry(runtime.DEFAULT, connection=redis)
    deadline = time.monotonic() + 120
    while len(finished.get_job_ids()) < 2:
        assert time.monotonic() < deadline, "the helper passes did not finish"
        time.sleep(0.1)
    helpers = [job.return_value() for job in Job.fetch_many(finished.get_job_ids(), connection=redis) if job]
    # Every due student counted by exactly one of the three passes.
    assert report.due + sum(h["due"] for h in helpers) == 1500
    assert questions_each(tick_settings) == {pid: 1 for pid in pids}
    assert attempts_each(tick_settings) == {pid: 1 for pid in pids}
    assert still_due(tick_settings) == 0
    # `--queue default` workers left the questions' send jobs (1,500 rows, 500 a job at most) to send workers.
    assert Queue(runtime.BULK, connection=redis).count >= 3


def runtime_workers(redis: Redis) -> list[Worker]:
    return Worker.all(connection=redis)


def test_sqlite_runs_one_pass_whatever_the_setting(tick_settings):  # noqa: F811
    if get_engine(tick_settings.database_url).dialect.name != "sqlite":
        pytest.skip("the SQLite case")
    pids = due_students(tick_settings, 30)
    report = run_tick(tick_settings.with_(tick_passes=3), INSTANT)
    assert report.passes == 1 and report.due == 30
    assert Queue(runtime.DEFAULT, connection=Redis.from_url(tick_settings.redis_url)).count == 0
    assert questions_each(tick_settings) == {pid: 1 for pid in pids}


def test_a_second_tick_for_the_same_minute_does_not_overlap_the_first(tick_settings):  # noqa: F811
    pids = due_students(tick_settings, 5)
    lease = _take_minute_lease(tick_settings, INSTANT)  # a tick for 07:00 under way elsewhere
    assert lease
    try:
        overlapping = run_tick(tick_settings, INSTANT + timedelta(seconds=20))
        assert overlapping.overlapped == 1 and overlapping.due == 0
        assert "still running" in str(overlapping)
        assert questions_each(tick_settings) == {}
        # The next minute has a lease of its own.
        assert run_tick(tick_settings, INSTANT + timedelta(minutes=1)).due == 5
    finally:
        lease.release()
    again = run_tick(
        tick_settings, INSTANT
    )  # once the first has ended, a rerun is let in (and finds nothing)
    assert again.overlapped == 0 and again.questions == 0
    assert questions_each(tick_settings) == {pid: 1 for pid in pids}


def test_the_rounds_tick_passes_setting():
    assert Settings.from_env({}).tick_passes == 1
    assert Settings.from_env({"ROUNDS_TICK_PASSES": "3"}).tick_passes == 3
    with pytest.raises(ValueError, match="ROUNDS_TICK_PASSES must be 1 or more"):
        Settings.from_env({"ROUNDS_TICK_PASSES": "0"})


def test_a_rush_batch_reads_its_own_rows_not_every_due_student(tick_settings):  # noqa: F811
    """When everyone is due at one instant, a batch still stops after its own rows: no sort of the
    whole due set per batch (a tie-break on id made a 100,000-student rush quadratic)."""
    on_postgresql(tick_settings)
    due_students(tick_settings, 300)
    engine = get_engine(tick_settings.database_url)
    statement = due_batch(INSTANT, 20).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        # A tiny table would favour a scan of it all; a million students do not.
        conn.execute(text("SET enable_seqscan = off; SET enable_bitmapscan = off"))
        plan = "\n".join(conn.execute(text(f"EXPLAIN (ANALYZE) {statement}")).scalars())
    assert "ix_people_next_push_at" in plan and "Sort" not in plan, plan
    index_rows = re.search(r"Index Scan .*actual time=\S+ rows=(\d+)", plan)
    assert index_rows and int(index_rows.group(1)) == 20, plan


def test_loading_content_leaves_the_planner_the_bank_size(tick_settings):  # noqa: F811
    """The bank is analyzed as it is loaded: planned against an unanalyzed questions table (autovacuum
    off, or not yet round), the pass's cards query walked a whole index per question, 20x slower."""
    on_postgresql(tick_settings)
    with get_engine(tick_settings.database_url).connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM questions")).scalar_one()
        estimated = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'questions'")
        ).scalar_one()
    assert counted > 100 and estimated == counted
