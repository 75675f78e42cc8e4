"""The scheduling pass: every push that is due at an instant, enqueued exactly once.

Due students are found by one index range scan on `people.next_push_at`; each push has an
idempotency key (person + local date), so running the pass twice sends nothing twice. A WhatsApp
student whose free 24 h window closes within the hour before their time is sent it early, inside
the window (flows.schedule.window_push_at decides; `window_query` finds the few to ask).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

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
from store.db import session_factory
from store.models import OPTED_OUT, WHATSAPP, Attempt, Person
from store.programs import PROGRAM_DAY
from store.settings import Settings
from workers.corrections import run_corrections
from workers.mentoring import run_checkins
from workers.opportunities import run_opportunities
from workers.outbox import enqueue_send, message_row, queue_message, queue_messages
from workers.weekly import run_weekly_progress

log = logging.getLogger("rounds.tick")

BATCH = 500
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

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "at"}

    def __str__(self) -> str:
        return (
            f"tick at {self.at}: {self.due} due, {self.questions} question(s) ({self.early} early, in the "
            f"WhatsApp window), {self.checkins} check-in(s), "
            f"{self.nudges} nudge(s), {self.weekly} weekly progress message(s), "
            f"{self.corrections} correction(s) queued"
        )


def run_tick(settings: Settings, at: datetime) -> TickReport:
    """One scheduling pass at `at`: weekly progress, daily questions, mentor check-ins, WhatsApp nudges,
    opportunities and corrections."""
    report = TickReport(at.isoformat())
    # Before the daily questions move the due students on: a pass stopped in between finds them again.
    report.weekly = run_weekly_progress(settings, at)
    _daily_questions(settings, at, report)
    _whatsapp_nudges(settings, at, report)
    report.checkins = run_checkins(settings, at)
    run_opportunities(settings, at)  # expiry, weekly digests, saved reminders
    report.corrections = run_corrections(settings, at)  # owed after a question was retracted
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
    found = session.execute(window_query(at).order_by(Person.next_push_at, Person.id)).scalars().all()
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
