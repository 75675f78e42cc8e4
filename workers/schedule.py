"""The scheduling pass: every push that is due at an instant, enqueued exactly once.

Due students are found by one index range scan on `people.next_push_at`; each push has an
idempotency key (person + local date), so running the pass twice sends nothing twice. A WhatsApp
student whose free 24 h window closes within the hour before their time is sent it early, inside
the window (flows.schedule.window_push_at decides; `window_query` finds the few to ask). On
PostgreSQL several passes can share one minute's due students (ROUNDS_TICK_PASSES): each
claims its batches with `FOR UPDATE SKIP LOCKED`, so no two passes plan the same student.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from sqlalchemy import Select, and_, exists, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import flows
from content.catalog import Catalog, get_catalog
from flows.programs import plan_program_days
from flows.quiz import hold_questions, plan_daily_questions
from flows.schedule import (
    WHATSAPP_WINDOW,
    WINDOW_LEAD,
    WINDOW_MARGIN,
    WINDOW_MIN_MARGIN,
    early_push_due,
    reschedule,
)
from store.db import get_engine, session_factory
from store.models import OPTED_OUT, WHATSAPP, Attempt, Person
from store.programs import PROGRAM_DAY
from store.settings import Settings
from workers import runtime
from workers.corrections import run_corrections
from workers.mentoring import run_checkins
from workers.opportunities import run_opportunities
from workers.outbox import enqueue_send, message_row, queue_message, queue_messages
from workers.weekly import run_weekly_progress

log = logging.getLogger("rounds.tick")

BATCH = 500
# A tick holds its minute's lease this long at most: longer than any pass, short enough that a
# tick whose process died does not keep the next run of that minute out for long.
TICK_LEASE_SECONDS = 600
# The job a helper pass runs (by dotted path: workers.jobs imports this module).
HELPER_PASS_JOB = "workers.jobs.tick_pass"
# Nudge a WhatsApp student with an open question when this little of their window is left.
NUDGE_BEFORE_CLOSE = timedelta(hours=1)


@dataclass
class TickReport:
    at: str
    due: int = 0
    questions: int = 0
    early: int = 0  # of the questions (and program days), sent ahead of time inside the WhatsApp window
    checkins: int = 0
    nudges: int = 0
    weekly: int = 0
    corrections: int = 0
    conflicts: int = 0
    # Scheduling passes over the due students: this one plus the helpers it put on RQ.
    passes: int = 1
    # 1 when another tick for the same minute held the lease, so this one did nothing.
    overlapped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "at"}

    def __str__(self) -> str:
        if self.overlapped:
            return f"tick at {self.at}: another tick for this minute is still running; nothing done"
        helpers = (
            f" ({self.passes} passes: the helpers' questions are not counted here)" if self.passes > 1 else ""
        )
        return (
            f"tick at {self.at}: {self.due} due, {self.questions} question(s) ({self.early} early, in the "
            f"WhatsApp window), {self.checkins} check-in(s), "
            f"{self.nudges} nudge(s), {self.weekly} weekly progress message(s), "
            f"{self.corrections} correction(s) queued{helpers}"
        )


def run_tick(settings: Settings, at: datetime) -> TickReport:
    """One scheduling pass at `at`: weekly progress, daily questions, mentor check-ins, WhatsApp nudges,
    opportunities and corrections. With ROUNDS_TICK_PASSES=N on PostgreSQL, N-1 helper passes on RQ
    share the daily questions with this one."""
    report = TickReport(at.isoformat())
    lease = _take_minute_lease(settings, at)
    if lease is False:
        report.overlapped = 1
        log.info("%s", report)
        return report
    try:
        # Before the daily questions move the due students on: a pass stopped in between finds them again.
        report.weekly = run_weekly_progress(settings, at)
        report.passes = 1 + _start_helper_passes(settings, at, tick_passes(settings) - 1)
        _daily_questions(settings, at, report)
        _whatsapp_nudges(settings, at, report)
        report.checkins = run_checkins(settings, at)
        run_opportunities(settings, at)  # expiry, weekly digests, saved reminders
        report.corrections = run_corrections(settings, at)  # owed after a question was retracted
    finally:
        if lease:
            _release(lease)
    log.info("%s", report)
    return report


def run_daily_pass(settings: Settings, at: datetime, batch: int = BATCH) -> TickReport:
    """One pass over the daily questions due at `at` and nothing else: a helper pass, run beside
    the tick's own, or several at once in tests."""
    report = TickReport(at.isoformat())
    _daily_questions(settings, at, report, batch)
    return report


def tick_passes(settings: Settings) -> int:
    """Passes a tick runs: ROUNDS_TICK_PASSES on PostgreSQL; always 1 on SQLite, which lets one
    writer in at a time, so more passes would only wait for each other."""
    if settings.tick_passes > 1 and get_engine(settings.database_url).dialect.name != "postgresql":
        log.info("ROUNDS_TICK_PASSES=%d ignored: SQLite runs one pass", settings.tick_passes)
        return 1
    return settings.tick_passes


def _start_helper_passes(settings: Settings, at: datetime, count: int) -> int:
    """Put `count` helper passes on RQ (each needs an idle worker to run beside this one); the
    number queued, 0 when Redis is away: then this pass does the whole minute alone."""
    if count < 1 or not settings.redis_url:
        return 0
    queue = runtime.queue(settings, runtime.DEFAULT)
    try:
        queue.enqueue_many(
            [
                queue.prepare_data(
                    HELPER_PASS_JOB, args=(at.isoformat(),), result_ttl=600, timeout=TICK_LEASE_SECONDS
                )
                for _ in range(count)
            ]
        )
    except RedisError:
        log.warning("could not queue %d helper pass(es); this pass runs alone", count, exc_info=True)
        return 0
    return count


def _take_minute_lease(settings: Settings, at: datetime) -> Lock | Literal[False] | None:
    """The Redis lease of `at`'s minute: the lock if taken, False if another tick holds it, None when
    there is no Redis to ask (a tick is idempotent, so it then runs unguarded)."""
    if not settings.redis_url:
        return None
    slot = at.astimezone(UTC).strftime("%Y%m%d%H%M")
    lock = runtime.redis_for(settings).lock(f"rounds:tick:{slot}", timeout=TICK_LEASE_SECONDS)
    try:
        return lock if lock.acquire(blocking=False) else False
    except RedisError:
        log.warning("Redis did not answer for the tick's lease; running unguarded", exc_info=True)
        return None


def _release(lock: Lock) -> None:
    try:
        lock.release()
    except (LockError, RedisError):  # expired, or Redis away: it runs out on its own
        log.warning("the tick's lease was already gone when it ended", exc_info=True)


def due_batch(at: datetime, size: int = BATCH) -> Select:
    """The next `size` students due at `at` that no other pass is planning.

    Ordered by next_push_at alone: in a rush every student shares one instant, and a tie-break on
    id would make PostgreSQL read and sort all of them for every batch. Rows another pass holds are
    skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite ignores the clause and runs one pass).
    """
    return (
        select(Person)
        .where(Person.next_push_at <= at)
        .order_by(Person.next_push_at)
        .limit(size)
        .with_for_update(skip_locked=True)
    )


def _daily_questions(settings: Settings, at: datetime, report: TickReport, batch_size: int = BATCH) -> None:
    catalog = get_catalog(settings.content_path)
    handled: set[int] = set()
    session = session_factory(settings.database_url)()
    try:
        hold_questions(session)
        while True:
            batch = session.execute(due_batch(at, batch_size)).scalars().all()
            if not batch:
                break
            people = []
            for person in batch:
                if person.id in handled:
                    # reschedule always moves past `at`; never loop on a person.
                    log.error("person %s is still due after the pass; unscheduling", person.id)
                    person.next_push_at = None
                    continue
                handled.add(person.id)
                people.append(person)
            report.due += len(people)
            ctx = flows.Context(session, catalog, settings, at)
            queued, planned = _queue_batch(ctx, people, at, report)
            # Moved on together, so the commit writes them in one batched UPDATE, not one per student.
            for person in planned:
                reschedule(person, at)
            session.commit()
            enqueue_send(settings, queued)
            report.questions += len(queued)
        _early_in_window(settings, session, catalog, at, handled, report)
    finally:
        session.close()


def window_query(at: datetime) -> Select:
    """WhatsApp students whose push is due within WINDOW_LEAD and whose 24 h window closes between
    WINDOW_MIN_MARGIN and WINDOW_MARGIN from `at`: the only ones an early push can be due for."""
    return select(Person).where(
        # Written as a literal so both databases match it to the partial index on these rows.
        Person.channel == literal_column(f"'{WHATSAPP}'"),
        Person.last_inbound_at > at - WHATSAPP_WINDOW + WINDOW_MIN_MARGIN,
        Person.last_inbound_at <= at - WHATSAPP_WINDOW + WINDOW_MARGIN,
        Person.status == "active",
        Person.next_push_at > at,
        Person.next_push_at <= at + WINDOW_LEAD,
    )


def _early_in_window(
    settings: Settings,
    session: Session,
    catalog: Catalog,
    at: datetime,
    handled: set[int],
    report: TickReport,
) -> None:
    """Send ahead of time the pushes that would otherwise leave just after the WhatsApp window closes.

    Each moves on past its own chosen time, so the local date still gets exactly one push.
    """
    # Helper passes run this too: rows another pass is planning are skipped, as in due_batch.
    early = window_query(at).order_by(Person.next_push_at, Person.id).with_for_update(skip_locked=True)
    found = session.execute(early).scalars().all()
    people = [p for p in found if p.id not in handled and early_push_due(p, at, settings)]
    if not people:
        return
    handled.update(p.id for p in people)
    report.due += len(people)
    chosen = {person.id: person.next_push_at for person in people}
    ctx = flows.Context(session, catalog, settings, at)
    queued, planned = _queue_batch(ctx, people, at, report)
    for person in planned:
        reschedule(person, chosen[person.id])
    session.commit()
    enqueue_send(settings, queued)
    report.questions += len(queued)
    report.early += len(queued)


def _queue_batch(
    ctx: flows.Context, people: list[Person], at: datetime, report: TickReport
) -> tuple[list[int], list[Person]]:
    """Plan and queue a batch's questions set-wise: (message ids, people whose schedule moves on).

    Should the batch's statements fail (a student erased mid-pass, say), each person is tried
    alone, so one bad row cannot hold back everyone else's question.
    """
    try:
        with ctx.session.begin_nested():
            return _queue_questions(ctx, people, at), people
    except IntegrityError:
        log.warning("the pass's batch of %d failed; planning them one by one", len(people))
    queued: list[int] = []
    planned: list[Person] = []
    for person in people:
        try:
            with ctx.session.begin_nested():
                queued += _queue_questions(ctx, [person], at)
            planned.append(person)
        except IntegrityError:
            # Their schedule stays as it is; the next pass tries again.
            log.warning("could not plan person %s's question", person.id, exc_info=True)
            report.conflicts += 1
    return queued, planned


def _queue_questions(ctx: flows.Context, people: list[Person], at: datetime) -> list[int]:
    now = ctx.now
    # message_row renders and counts each distinct text once per channel
    counted: dict[tuple[str, str], dict] = {}
    rows = []
    # An enrolled student's program day takes the daily question's place (and its key, so a local
    # date never has both); everyone else gets the daily question.
    program_days, others = plan_program_days(ctx, people, at)
    planned_texts = [(p.person, p.text, p.day, PROGRAM_DAY) for p in program_days]
    planned_texts += [(p.person, p.text, p.day, "question") for p in plan_daily_questions(ctx, others, at)]
    for person, text, day, kind in planned_texts:
        if person.status == OPTED_OUT:
            continue
        rendered = (text, person.channel)
        if rendered not in counted:
            counted[rendered] = message_row(person, text, kind, now=now)
        key = f"daily:{person.id}:{day.isoformat()}"
        rows.append(
            counted[rendered]
            | {
                "person_id": person.id,
                "channel": person.channel,
                "phone": person.phone,
                "idempotency_key": key,
            }
        )
    return queue_messages(ctx.session, rows)


def nudge_query(at: datetime) -> Select:
    """WhatsApp students with an open question whose 24 h window closes within the hour."""
    closes_from = at - WHATSAPP_WINDOW
    open_question = exists().where(
        and_(
            Attempt.person_id == Person.id,
            Attempt.answered_at.is_(None),
            Attempt.skipped.is_(False),
            Attempt.asked_at > Person.last_inbound_at,
            # A question pushed moments ago needs no reminder on top of it.
            Attempt.asked_at <= at - NUDGE_BEFORE_CLOSE,
        )
    )
    return select(Person).where(
        # Written as a literal so both databases match it to the partial index on these rows.
        Person.channel == literal_column(f"'{WHATSAPP}'"),
        Person.last_inbound_at > closes_from,
        Person.last_inbound_at <= closes_from + NUDGE_BEFORE_CLOSE,
        # On the WhatsApp channel the last text is the last WhatsApp text (people.whatsapp_inbound_at);
        # someone who asked for SMS, or stopped WhatsApp alone, is not nudged there.
        Person.prefers_sms.is_(False),
        Person.whatsapp_blocked.is_(False),
        Person.status == "active",
        open_question,
    )


def _whatsapp_nudges(settings: Settings, at: datetime, report: TickReport) -> None:
    """Remind WhatsApp students with an open question shortly before their 24 h window closes."""
    catalog = get_catalog(settings.content_path)
    session = session_factory(settings.database_url)()
    queued: list[int] = []
    try:
        people = session.execute(nudge_query(at)).scalars().all()
        for person in people:
            body = catalog.render("whatsapp_nudge", person.language or "en")
            key = f"nudge:{person.id}:{person.last_inbound_at.isoformat()}"
            message_id = queue_message(session, person, body, "nudge", key, now=at)
            if message_id is not None:
                queued.append(message_id)
        session.commit()
    finally:
        session.close()
    enqueue_send(settings, queued)
    report.nudges = len(queued)
