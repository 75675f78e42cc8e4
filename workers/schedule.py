"""The scheduling pass: every push that is due at an instant, enqueued exactly once.

Due students are found by one index range scan on `people.next_push_at`; each push has an
idempotency key (person + local date), so running the pass twice sends nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError

import flows
from content.catalog import get_catalog
from flows.quiz import hold_questions, plan_daily_question
from flows.schedule import advance_schedule
from store.db import session_factory
from store.models import WHATSAPP, Attempt, Person
from store.settings import Settings
from workers.outbox import WHATSAPP_WINDOW, enqueue_send, queue_message

log = logging.getLogger("rounds.tick")

BATCH = 500
# Nudge a WhatsApp student with an open question when this little of their window is left.
NUDGE_BEFORE_CLOSE = timedelta(hours=1)


@dataclass
class TickReport:
    at: str
    due: int = 0
    questions: int = 0
    checkins: int = 0
    nudges: int = 0
    conflicts: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "at"}

    def __str__(self) -> str:
        return (
            f"tick at {self.at}: {self.due} due, {self.questions} question(s), {self.checkins} check-in(s), "
            f"{self.nudges} nudge(s) queued"
        )


def run_tick(settings: Settings, at: datetime) -> TickReport:
    """One scheduling pass at `at`: daily questions, mentor check-ins and WhatsApp nudges."""
    report = TickReport(at.isoformat())
    _daily_questions(settings, at, report)
    _whatsapp_nudges(settings, at, report)
    report.checkins = _checkins(settings, at)
    log.info("%s", report)
    return report


def _daily_questions(settings: Settings, at: datetime, report: TickReport) -> None:
    catalog = get_catalog(settings.content_path)
    handled: set[int] = set()
    session = session_factory(settings.database_url)()
    try:
        hold_questions(session)
        while True:
            batch = (
                session.execute(
                    select(Person)
                    .where(Person.next_push_at <= at)
                    .order_by(Person.next_push_at, Person.id)
                    .limit(BATCH)
                )
                .scalars()
                .all()
            )
            if not batch:
                break
            ctx = flows.Context(session, catalog, settings, at)
            queued: list[int] = []
            planned: list[Person] = []
            for person in batch:
                if person.id in handled:
                    # advance_schedule should always move past `at`; never loop on a person.
                    log.error("person %s is still due after the pass; unscheduling", person.id)
                    person.next_push_at = None
                    continue
                handled.add(person.id)
                report.due += 1
                done, message_id = _daily_question(ctx, person, at, report)
                if done:
                    planned.append(person)
                if message_id is not None:
                    queued.append(message_id)
            # Moved on together, so the commit writes them in one batched UPDATE, not one per student.
            for person in planned:
                advance_schedule(person, at, settings)
            session.commit()
            enqueue_send(queued)
            report.questions += len(queued)
    finally:
        session.close()


def _daily_question(
    ctx: flows.Context, person: Person, at: datetime, report: TickReport
) -> tuple[bool, int | None]:
    """Plan and queue one person's question: (whether to move their schedule on, message id)."""
    savepoint = ctx.session.begin_nested()
    try:
        message_id = None
        planned = plan_daily_question(ctx, person, at)
        if planned is not None:
            attempt, text = planned
            key = f"daily:{person.id}:{attempt.local_date.isoformat()}"
            message_id = queue_message(ctx.session, person, text, "question", key)
        savepoint.commit()
        return True, message_id
    except IntegrityError:
        # A concurrent pass queued this person's question first; theirs stands.
        savepoint.rollback()
        report.conflicts += 1
        ctx.session.refresh(person)
        return False, None


def _whatsapp_nudges(settings: Settings, at: datetime, report: TickReport) -> None:
    """Remind WhatsApp students with an open question shortly before their 24 h window closes."""
    catalog = get_catalog(settings.content_path)
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
    session = session_factory(settings.database_url)()
    queued: list[int] = []
    try:
        people = (
            session.execute(
                select(Person).where(
                    Person.channel == WHATSAPP,
                    Person.status == "active",
                    Person.last_inbound_at > closes_from,
                    Person.last_inbound_at <= closes_from + NUDGE_BEFORE_CLOSE,
                    open_question,
                )
            )
            .scalars()
            .all()
        )
        for person in people:
            body = catalog.render("whatsapp_nudge", person.language or "en")
            key = f"nudge:{person.id}:{person.last_inbound_at.isoformat()}"
            message_id = queue_message(session, person, body, "nudge", key)
            if message_id is not None:
                queued.append(message_id)
        session.commit()
    finally:
        session.close()
    enqueue_send(queued)
    report.nudges = len(queued)


def _checkins(settings: Settings, at: datetime) -> int:
    from workers.mentoring import run_checkins

    return run_checkins(settings, at)
