"""Broadcast fan-out: 100,000 students in PostgreSQL, from confirmation until every outbox row
exists and its send jobs are queued, through workers.broadcasts as `rounds broadcast --yes` runs it.

Baseline in the same run: one INSERT .. SELECT for all rows plus enqueue_many (the floor).
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime

from redis import Redis
from rq import Queue
from sqlalchemy import func, insert, select, text

from bench import population, services
from bench.report import Figure, Results
from store.db import get_engine, session_scope
from store.models import Message, Person
from store.settings import Settings
from workers import runtime
from workers.outbox import batches, enqueue_send, message_row

# Noon UTC: daytime in every zone below, so no recipient is held back by quiet hours.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ZONES = [
    "Africa/Lagos",
    "Africa/Accra",
    "Africa/Nairobi",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Europe/London",
    "Europe/Paris",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dubai",
]
TEXT = "Rounds: free USMLE Step 1 review webinar Sat 14:00 GMT. Reply RES webinar for the link."


def fan_out(settings: Settings, segment_items: tuple[str, ...] = ()) -> tuple[int, str]:
    """Confirm and fan out one broadcast as the CLI does; returns (rows created, what ran)."""
    try:
        from workers.broadcasts import Audience, Schedule, create_broadcast, run_fan_out
    except ImportError as exc:
        what = f"the equivalent bulk path (workers.broadcasts not importable: {exc})"
        return _bulk_equivalent(settings, segment_items), what
    audience = Audience.parse(segment_items)
    with session_scope(settings.database_url) as session:
        created, _ = create_broadcast(session, TEXT, audience, Schedule(), settings, NOW, (None, "bench"))
        broadcast_id = created.id
    report = run_fan_out(settings, broadcast_id, now=NOW)
    if getattr(report, "waiting", False) or report.deferred:
        raise RuntimeError(f"the fan-out did not finish in one go: {report}")
    return report.created, "workers.broadcasts.create_broadcast + run_fan_out"


def _bulk_equivalent(settings: Settings, segment_items: tuple[str, ...], size: int = 1000) -> int:
    """message_row + one multi-row INSERT per 1,000 recipients + enqueue_send, keyset-paged."""
    filters = [Person.status == "active"]
    for item in segment_items:
        key, _, value = item.partition("=")
        filters.append(getattr(Person, key) == value)
    created, last_id = 0, 0
    with session_scope(settings.database_url) as session:
        while True:
            people = session.execute(
                select(Person.id, Person.channel, Person.phone)
                .where(*filters, Person.id > last_id)
                .order_by(Person.id)
                .limit(size)
            ).all()
            if not people:
                return created
            last_id = people[-1].id
            row = message_row(people[0], TEXT, "broadcast", now=NOW)  # type: ignore[arg-type]  # a Row, read as a Person
            rows = [row | {"person_id": p.id, "channel": p.channel, "phone": p.phone} for p in people]
            ids = session.execute(insert(Message).returning(Message.id), rows).scalars().all()
            session.commit()
            enqueue_send(settings, ids)
            created += len(ids)


def floor(settings: Settings) -> int:
    """The least the database and Redis can do: one INSERT .. SELECT, then enqueue_many."""
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "INSERT INTO messages (person_id, direction, channel, phone, body, kind, status, "
                    "idempotency_key, segments, encoding, num_media, attempts, created_at, updated_at) "
                    "SELECT id, 'out', channel, phone, :body, 'broadcast', 'queued', 'floor:' || id, 1, "
                    "'GSM-7', 0, 0, :now, :now FROM people WHERE status = 'active' RETURNING id"
                ),
                {"body": TEXT, "now": NOW.replace(tzinfo=None)},
            )
            .scalars()
            .all()
        )
    enqueue_send(settings, ids)
    return len(ids)


def _reset(url: str, redis: services.RedisServer) -> None:
    services.truncate(url, "messages", "broadcasts")
    redis.flush()


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    students = 20_000 if quick else 100_000
    with services.database("postgresql", "fanout") as url:
        population.load_students(url, students, NOW, ZONES, whatsapp_share=0.1, seed=3)
        settings = Settings(
            database_url=url, redis_url=redis.url, send_batch_size=100, outbox_limit=10 * students
        )
        connection = Redis.from_url(redis.url)
        timed, floors, what = [], [], ""
        for _ in range(3):
            _reset(url, redis)
            started = time.perf_counter()
            created, what = fan_out(settings)
            timed.append(time.perf_counter() - started)
            _check(results, url, connection, created, students)
            _reset(url, redis)
            started = time.perf_counter()
            floor(settings)
            floors.append(time.perf_counter() - started)
        base = results.add(
            Figure(
                "fanout", f"floor: 1 INSERT..SELECT + enqueue_many, {students:,} rows", "seconds", floors, "s"
            )
        )
        figure = results.add(
            Figure(
                "fanout",
                f"broadcast to {students:,}: confirm -> rows + jobs queued",
                "seconds",
                timed,
                "s",
                target="< 5 s",
            )
        )
        figure.compare(base, "floor")
        figure.met = figure.value < 5
        results.add(Figure("fanout", "fan-out rate", "rows/s", [students / t for t in timed], "rows/s"))
        peaks = {}
        for share, items in ((10, ("country=NG",)), (100, ())):
            _reset(url, redis)
            tracemalloc.start()
            fan_out(settings, items)
            peaks[share] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        small = results.add(
            Figure("fanout", f"Python memory peak, {students // 10:,} recipients", "MiB", [peaks[10]], "MiB")
        )
        big = results.add(
            Figure(
                "fanout",
                f"Python memory peak, {students:,} recipients",
                "MiB",
                [peaks[100]],
                "MiB",
                target="flat (~1x the 10% run)",
            )
        )
        big.compare(small, f"{students // 10:,} recipients")
        big.met = big.ratio is not None and big.ratio < 2
        results.note(
            "fanout",
            f"measured: {what}, in-process as `rounds broadcast --yes` runs it after "
            f"confirmation (batches of 1,000, one INSERT .. SELECT .. ON CONFLICT DO NOTHING RETURNING each, "
            f"enqueue_send per batch, 100 messages a job); ROUNDS_OUTBOX_LIMIT raised to "
            f"{10 * students:,} so the back-pressure pause (default 50,000 queued) does not stop it; "
            "memory is tracemalloc's peak in separate, untimed runs.",
        )
        _reset(url, redis)


def _check(results: Results, url: str, connection: Redis, created: int, students: int) -> None:
    with session_scope(url) as session:
        rows = session.scalar(select(func.count()).select_from(Message)) or 0
    jobs = Queue(runtime.BULK, connection=connection).count
    expected_jobs = len(list(batches(range(students), 100)))
    if rows != students or created != students or jobs < expected_jobs:
        results.note(
            "fanout",
            f"a run ended with {rows:,} rows ({created:,} created) and {jobs:,} jobs queued; "
            f"expected {students:,} and at least {expected_jobs:,}",
        )
