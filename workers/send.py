"""The send job: claim queued rows, pace them per sender, hand each to Twilio, record the answer.

A row is claimed by moving it from `queued` to `sending` in one statement, so two workers
given the same id never both send it. A row a dead worker left in `sending` is never
resent blindly: Twilio's message list is asked first and a sid that went out is adopted.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session, load_only

from content import segments
from content.prices import PriceTable, load_prices
from flows.channels import TEMPLATE, Reach, push_route
from flows.phones import mask
from store.db import session_factory
from store.models import OPTED_OUT, OUTBOUND, SMS, WHATSAPP, Message, MessageStatus, Person
from store.settings import Settings
from workers import runtime
from workers.outbox import enqueue_send, enqueue_send_later, within_whatsapp_window
from workers.ratelimit import BatchAllowance, SenderLimiter
from workers.transport import (
    OPTED_OUT_CODES,
    OUTSIDE_WINDOW_CODES,
    UNREACHABLE_CODES,
    Accepted,
    Outgoing,
    SendFailed,
    Transport,
    make_transport,
)

log = logging.getLogger("rounds.send")

MAX_ATTEMPTS = 6
MAX_INLINE_WAIT = 1.0  # wait this long for the rate limit in the job; longer waits reschedule
# A job paced by a slow sender (a long code's one segment a second) hands what it has not sent to a
# new job after this long: well inside SEND_JOB_TIMEOUT and ROUNDS_SENDING_TIMEOUT, and the worker
# gets to look at the urgent queue in between.
SEND_JOB_BUDGET = 60.0
# A job claims its rows (queued -> sending) this many at a time, just before sending them: a worker
# that dies leaves at most this many claimed, whatever the job's size; the rest are still queued.
CLAIM_EVERY = 100
# A request answered slower than this (Twilio's API is tens to hundreds of milliseconds away) makes
# the job keep up to `send_concurrency` requests in flight; see InFlight.
NEAR_SECONDS = 0.01
# Sends are recorded (sid and state `sent`) with one statement and one commit per this many, or
# sooner: within RECORD_WITHIN seconds, before any wait for the rate and at the end of the job.
# A worker that dies in between leaves those rows (and the up to `send_concurrency` requests still
# in flight) in `sending`; reconcile_sending adopts them.
RECORD_EVERY = 50
RECORD_WITHIN = 0.1

_transport: tuple[Settings, Transport] | None = None


def transport_for(settings: Settings) -> Transport:
    """One transport (and its pooled HTTP connections) per process and settings."""
    global _transport
    # Held, not keyed by id(): a freed Settings' id can be reused by a different one.
    if _transport is None or _transport[0] is not settings:
        _transport = (settings, make_transport(settings))
    return _transport[1]


def status_callback_url(settings: Settings) -> str | None:
    return f"{settings.public_url}/twilio/status" if settings.public_url else None


class OutsideWindow(Exception):
    """A WhatsApp push outside the 24 h window with no template and no SMS fallback."""


class NoChannel(Exception):
    """A push to someone who stopped every channel that could reach them (STOP SMS and STOP WHATSAPP)."""


# What the send path reads of a person: their state and what routing needs, not their whole row.
ROUTING_COLUMNS = (
    Person.status,
    Person.phone,
    Person.channel,
    Person.country,
    Person.last_inbound_at,
    Person.whatsapp_inbound_at,
    Person.prefers_sms,
    Person.sms_blocked,
    Person.whatsapp_blocked,
)


def reach_of(person: Person) -> Reach:
    """What routing needs to know of a person (their last text, if on WhatsApp, opened the window)."""
    opened = person.whatsapp_inbound_at
    if person.channel == WHATSAPP and person.last_inbound_at is not None:
        opened = max(opened or person.last_inbound_at, person.last_inbound_at)
    return Reach(
        status=person.status,
        has_number=person.phone.startswith("+"),
        on_whatsapp=person.channel == WHATSAPP or opened is not None,
        whatsapp_inbound_at=opened,
        prefers_sms=bool(person.prefers_sms),
        sms_blocked=bool(person.sms_blocked),
        whatsapp_blocked=bool(person.whatsapp_blocked),
    )


@dataclass(frozen=True)
class Route:
    outgoing: Outgoing
    channel: str
    rate_key: str  # the sender whose rate the send counts against


def route_for(
    message: Message,
    last_inbound_at: datetime | None,
    settings: Settings,
    now: datetime,
    force_template: bool = False,
    reach: Reach | None = None,
    prices: Callable[[], PriceTable] | None = None,
    country: str | None = None,
) -> Route:
    """How `message` leaves: free-form, a WhatsApp template, or SMS instead of WhatsApp.

    A push to a person (`reach` given) goes by the cheapest channel that reaches them now
    (`flows.channels.push_route`); a reply goes back on the channel the text came in on."""
    callback = status_callback_url(settings)
    sms_sender = settings.sms_from or settings.messaging_service_sid
    # A WhatsApp row that falls back to SMS was rendered in full: fold it as SMS would be.
    sms_body = segments.for_channel(message.body, SMS)
    sms = Route(
        Outgoing(message.phone, sms_body, settings.sms_from, settings.messaging_service_sid, callback),
        SMS,
        sms_sender,
    )
    address = f"whatsapp:{message.phone}"
    template = message.content_sid or settings.whatsapp_templates.get(message.kind)
    if reach is not None and message.kind != "reply":
        if force_template or message.error_code in OUTSIDE_WINDOW_CODES:
            reach = replace(reach, whatsapp_inbound_at=None)  # Twilio said the window is closed
        table = prices() if prices is not None and template else None
        way = push_route(
            reach,
            now,
            sms_cost=table.price(SMS, country) * segments.count(sms_body).segments if table else 0.0,
            template_cost=table.price(WHATSAPP, country) if table else None,
            sms_ready=bool(sms_sender)
            and (message.channel == SMS or reach.prefers_sms or settings.whatsapp_fallback == "sms"),
        )
        if way == SMS:
            return sms
        if way == TEMPLATE and template:
            variables = json.dumps({"1": message.body})
            return Route(
                Outgoing(address, message.body, settings.whatsapp_from, "", callback, template, variables),
                WHATSAPP,
                settings.whatsapp_from,
            )
        if way is not None:
            return Route(
                Outgoing(address, message.body, settings.whatsapp_from, "", callback),
                WHATSAPP,
                settings.whatsapp_from,
            )
        if reach.whatsapp_blocked and (reach.sms_blocked or not reach.has_number):
            raise NoChannel("every channel that reaches this person was stopped")
        raise OutsideWindow("outside the WhatsApp 24-hour window and no template or SMS fallback configured")
    if message.channel != WHATSAPP:
        return sms
    in_window = message.kind == "reply" or within_whatsapp_window(last_inbound_at, now)
    # Twilio already answered this row's free-form send with 63016 (in a status callback): the
    # window is closed, whatever Rounds noted.
    refused = message.error_code in OUTSIDE_WINDOW_CODES
    if in_window and not force_template and not refused:
        return Route(
            Outgoing(address, message.body, settings.whatsapp_from, "", callback),
            WHATSAPP,
            settings.whatsapp_from,
        )
    if template:
        variables = json.dumps({"1": message.body})
        return Route(
            Outgoing(address, message.body, settings.whatsapp_from, "", callback, template, variables),
            WHATSAPP,
            settings.whatsapp_from,
        )
    # A WhatsApp user known only by their business-scoped id has no number to text.
    if settings.whatsapp_fallback == "sms" and sms_sender and message.phone.startswith("+"):
        return sms
    raise OutsideWindow("outside the WhatsApp 24-hour window and no template or SMS fallback configured")


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8 ... seconds, capped at 5 minutes."""
    return random.uniform(0.5, 1.0) * min(300.0, 2.0**attempt)


def claim(session: Session, ids: list[int], now: datetime) -> list[int]:
    """Move the given rows from queued to sending; return the ids this worker now owns."""
    claimed = (
        session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                Message.direction == OUTBOUND,
                Message.status == MessageStatus.QUEUED,
                or_(Message.send_after.is_(None), Message.send_after <= now),
            )
            .values(status=MessageStatus.SENDING, attempts=Message.attempts + 1, updated_at=now)
            .returning(Message.id)
        )
        .scalars()
        .all()
    )
    session.commit()
    return sorted(claimed)


def release(session: Session, ids: list[int], send_after: datetime, now: datetime) -> None:
    """Hand claimed but unsent rows back to the outbox (the attempt did not happen)."""
    if ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.status == MessageStatus.SENDING)
            .values(
                status=MessageStatus.QUEUED,
                send_after=send_after,
                attempts=Message.attempts - 1,
                updated_at=now,
            )
        )
        session.commit()


_messages = Message.__table__
# Only move forward: a fast status callback may already have landed.
_RECORD_SENT = (
    update(_messages)
    .where(_messages.c.id == bindparam("sent_id"), _messages.c.status == MessageStatus.SENDING)
    .values(
        status=MessageStatus.SENT,
        twilio_sid=bindparam("sent_sid"),
        sent_at=bindparam("sent_at"),
        updated_at=bindparam("sent_at"),
        channel=bindparam("sent_channel"),
        error_code=None,
        error_message=None,
    )
)


class SentRows:
    """Sends not yet recorded: written with one executemany UPDATE and one commit for many."""

    def __init__(self, session: Session):
        self.session = session
        self.rows: list[dict] = []
        self.since = 0.0

    def add(self, message_id: int, sid: str, channel: str, at: datetime) -> None:
        if not self.rows:
            self.since = time.monotonic()
        self.rows.append({"sent_id": message_id, "sent_sid": sid, "sent_channel": channel, "sent_at": at})
        if len(self.rows) >= RECORD_EVERY:
            self.record()
        else:
            self.record_if_due()

    def record_if_due(self) -> None:
        if self.rows and time.monotonic() - self.since >= RECORD_WITHIN:
            self.record()

    def record(self) -> None:
        """Write the waiting sends and commit the session (and whatever else it holds)."""
        if self.rows:
            self.session.execute(_RECORD_SENT, self.rows)
            self.rows = []
        self.session.commit()


@dataclass(frozen=True)
class Request:
    """One create-message request: what a sending thread needs, and nothing from the database."""

    message_id: int
    route: Route
    # Where Twilio's 63016 (outside the window) sends the message instead, worked out beforehand:
    # a template or SMS route, the reason there is none, or None when the route is not free-form WhatsApp.
    fallback: Route | OutsideWindow | None
    at: datetime


def deliver(transport: Transport, request: Request) -> tuple[Route, Accepted]:
    """Make the request (and Twilio's window fallback); runs on a sending thread, so no database here."""
    try:
        return request.route, transport.send(request.route.outgoing)
    except SendFailed as failure:
        if request.fallback is None or failure.code not in OUTSIDE_WINDOW_CODES:
            raise
        # Twilio knows the window better than we do: fall back once, now.
        if isinstance(request.fallback, OutsideWindow):
            raise SendFailed(str(request.fallback), 63016, retryable=False) from failure
        try:
            return request.fallback, transport.send(request.fallback.outgoing)
        except SendFailed as second:
            raise SendFailed(str(second), second.code, retryable=False) from second


class InFlight:
    """Requests to Twilio under way, at most `limit` at once, each on a sending thread of its own.

    Only the HTTP exchange runs on those threads (over the transport's pooled keep-alive
    connections); the answers are settled on the job's thread, which alone uses the database
    session. Requests run on the job's thread, one at a time as they always did, until one takes
    longer than NEAR_SECONDS: Twilio is far away, and the job starts overlapping them (never with a
    limit of 1). Answers that come back sooner (a stand-in or proxy next door) leave the worker's
    CPU as the limit, and handing requests between threads would only add to it.
    """

    def __init__(self, transport: Transport, limit: int):
        self.transport = transport
        self.limit = max(1, limit)
        self.pool: ThreadPoolExecutor | None = None
        self.requests: dict[Future, tuple[Request, Message]] = {}
        self.answers: SimpleQueue[Future] = SimpleQueue()  # requests as they are answered

    @property
    def full(self) -> bool:
        return len(self.requests) >= (self.limit if self.pool is not None else 1)

    def start(self, request: Request, message: Message) -> None:
        if self.pool is not None:
            future = self.pool.submit(deliver, self.transport, request)
        else:
            future = Future()
            began = time.monotonic()
            try:
                future.set_result(deliver(self.transport, request))
            except SendFailed as failure:
                future.set_exception(failure)
            if self.limit > 1 and time.monotonic() - began > NEAR_SECONDS:
                self.pool = ThreadPoolExecutor(self.limit, thread_name_prefix="rounds-send")
        self.requests[future] = (request, message)
        future.add_done_callback(self.answers.put)

    def answered(self, timeout: float) -> list[Future]:
        """Requests answered within `timeout` seconds (at least one, unless the time ran out)."""
        try:
            done = [self.answers.get(timeout=timeout)]
        except Empty:
            return []
        with suppress(Empty):
            while True:
                done.append(self.answers.get_nowait())
        return done

    def take(self, future: Future) -> tuple[Request, Message]:
        return self.requests.pop(future)

    def finish(self) -> list[tuple[Request, Route, Accepted]]:
        """Wait for every request still under way; the ones Twilio accepted (the rest are dropped)."""
        accepted = []
        for future, (request, _) in list(self.requests.items()):
            with suppress(Exception):
                route, answer = future.result()
                accepted.append((request, route, answer))
        self.requests.clear()
        return accepted

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class SendJob:
    """One send job's state: claims, rate grants and database writes stay on the job's thread."""

    def __init__(self, settings: Settings, session: Session, transport: Transport, limiter: BatchAllowance):
        self.settings = settings
        self.session = session
        self.limiter = limiter
        self.sent = SentRows(session)
        self.in_flight = InFlight(transport, settings.send_concurrency)
        self.tally = {"sent": 0, "failed": 0, "suppressed": 0, "retry": 0, "skipped": 0, "deferred": 0}
        self._prices: PriceTable | None = None

    def prices(self) -> PriceTable:
        """The price table, read once per job and only when a push could go as a template."""
        if self._prices is None:
            self._prices = load_prices(self.settings)
        return self._prices

    def run(self, ids: list[int]) -> dict[str, int]:
        session, sent = self.session, self.sent
        deadline = time.monotonic() + SEND_JOB_BUDGET
        try:
            for start in range(0, len(ids), CLAIM_EVERY):
                unclaimed = ids[start + CLAIM_EVERY :]
                rows = self.claim(ids[start : start + CLAIM_EVERY])
                for index, (message, person) in enumerate(rows):
                    if time.monotonic() >= deadline:
                        # A slow sender has kept this job long enough: the rest go to a new job,
                        # behind whatever else (urgent replies first) waits for this worker.
                        self.hand_back([m.id for m, _ in rows[index:]], unclaimed, 0.0)
                        return self.settle_all()
                    while self.in_flight.full:
                        self.settle(RECORD_WITHIN)
                    outcome = self.start(message, person, upcoming=len(ids) - start - index)
                    if isinstance(outcome, float):
                        # The sender is busy for a while: give the rest back and come back later.
                        self.hand_back([m.id for m, _ in rows[index:]], unclaimed, outcome)
                        return self.settle_all()
                    if outcome:
                        self.tally[outcome] += 1
                        sent.record()  # failures and suppressions are committed at once
            return self.settle_all()
        except BaseException:
            # Giving up (a job timeout, say): drop the half-done work, as a rollback always did,
            # but record every send that went out, the ones still under way included.
            with suppress(Exception):
                session.rollback()
            with suppress(Exception):
                for request, route, accepted in self.in_flight.finish():
                    sent.add(request.message_id, accepted.sid, route.channel, request.at)
            with suppress(Exception):
                sent.record()
            raise
        finally:
            self.in_flight.close()

    def claim(self, ids: list[int]) -> list:
        """Claim these rows (a chunk of the job at a time) and load them with their person."""
        owned = claim(self.session, ids, self.settings.clock.now())
        self.tally["skipped"] += len(ids) - len(owned)
        return list(
            self.session.execute(
                select(Message, Person)
                .options(load_only(*ROUTING_COLUMNS))
                .outerjoin(Person, Person.id == Message.person_id)
                .where(Message.id.in_(owned))
                .order_by(Message.id)
            ).all()
        )

    def hand_back(self, claimed: list[int], unclaimed: list[int], seconds: float) -> None:
        """Give rows back to the outbox and signal them again in `seconds` (their attempt did not happen)."""
        self.sent.record()
        now = self.settings.clock.now()
        release(self.session, claimed, now + timedelta(seconds=seconds), now)
        rest = claimed + unclaimed
        enqueue_send_later(self.settings, rest, seconds)
        self.tally["deferred"] += len(rest)

    def settle_all(self) -> dict[str, int]:
        """Wait for every request under way and record the answers; the job's tally."""
        while self.in_flight.requests:
            self.settle(RECORD_WITHIN)
        self.sent.record()
        return self.tally

    def start(self, message: Message, person: Person | None, upcoming: int) -> str | float | None:
        """Start the message's request (None); else how it ended without one, or how long its
        sender is busy for."""
        now = self.settings.clock.now()
        if person is not None and person.status == OPTED_OUT:
            # Checked again at the last moment: a STOP may have arrived after queuing.
            message.status = MessageStatus.SUPPRESSED
            message.updated_at = now
            return "suppressed"
        last_inbound_at = person.last_inbound_at if person is not None else None
        reach = reach_of(person) if person is not None else None
        country = person.country if person is not None else None
        try:
            route = route_for(
                message, last_inbound_at, self.settings, now, reach=reach, prices=self.prices, country=country
            )
        except NoChannel:
            message.status = MessageStatus.SUPPRESSED
            message.updated_at = now
            return "suppressed"
        except OutsideWindow as exc:
            return _record_failure(
                self.settings, self.session, message, SendFailed(str(exc), 63016, retryable=False), now
            )
        wait = _wait_for_rate(self.limiter, route, message.segments, self.pause, upcoming)
        if wait:
            return wait
        fallback: Route | OutsideWindow | None = None
        if route.channel == WHATSAPP and not route.outgoing.content_sid:
            try:
                fallback = route_for(
                    message,
                    last_inbound_at,
                    self.settings,
                    now,
                    force_template=True,
                    reach=reach,
                    prices=self.prices,
                    country=country,
                )
            except NoChannel as exc:
                fallback = OutsideWindow(str(exc))
            except OutsideWindow as exc:
                fallback = exc
        self.in_flight.start(Request(message.id, route, fallback, now), message)
        return None

    def settle(self, timeout: float) -> None:
        """Record the answers that arrive within `timeout` seconds (on the job's thread)."""
        for future in self.in_flight.answered(timeout):
            request, message = self.in_flight.take(future)
            try:
                route, accepted = future.result()
            except SendFailed as failure:
                failed = _record_failure(
                    self.settings, self.session, message, failure, self.settings.clock.now()
                )
                self.tally[failed] += 1
                self.sent.record()  # failures and retries are committed at once
                continue
            self.sent.add(request.message_id, accepted.sid, route.channel, request.at)
            # Not at INFO: a line a message cost a write each, about a tenth of a send's CPU. The
            # job logs its tally at INFO, and each row keeps its sid.
            log.debug("sent message %s to %s as %s", request.message_id, mask(message.phone), accepted.sid)
            self.tally["sent"] += 1
        self.sent.record_if_due()

    def pause(self, seconds: float) -> None:
        """Wait for the sender's rate: answers that arrive meanwhile are recorded, and nothing
        sent waits unrecorded while the job sleeps."""
        until = time.monotonic() + seconds
        while self.in_flight.requests and (left := until - time.monotonic()) > 0:
            self.settle(min(left, RECORD_WITHIN))
        self.sent.record()
        left = until - time.monotonic()
        if left > 0:
            time.sleep(left)


def send_messages(ids: list[int]) -> dict[str, int]:
    """RQ job: send each queued message in `ids` at most once, with the worker's settings."""
    return send_batch(runtime.job_settings(), ids)


def send_batch(settings: Settings, ids: list[int]) -> dict[str, int]:
    """Send each queued message in `ids` at most once, within each sender's rate.

    Up to `send_concurrency` requests are in flight at once, so a distant Twilio's round trip
    does not set the pace; the rate grants are taken before each request is made.
    """
    transport = transport_for(settings)
    limiter = BatchAllowance(SenderLimiter(runtime.redis_for(settings), settings))
    session = session_factory(settings.database_url)()
    began = time.monotonic()
    try:
        tally = SendJob(settings, session, transport, limiter).run(ids)
    finally:
        session.close()
    seconds = time.monotonic() - began
    log.info("sent %d of %d message(s) in %.2fs: %s", tally["sent"], len(ids), seconds, tally)
    return tally


def _wait_for_rate(
    limiter: BatchAllowance,
    route: Route,
    segments: int,
    pause: Callable[[float], None],
    upcoming: int = 1,
) -> float:
    """Wait briefly for the sender's rate; return the remaining wait if it is long (0 when clear)."""
    cost = 1 if route.outgoing.content_sid else segments
    while True:
        wait = limiter.wait_seconds(route.rate_key, cost, upcoming)
        if wait <= 0:
            return 0.0
        if wait > MAX_INLINE_WAIT:
            return wait
        pause(wait)


def _record_failure(
    settings: Settings, session: Session, message: Message, failure: SendFailed, now: datetime
) -> str:
    message.updated_at = now
    message.error_code = failure.code
    message.error_message = str(failure)[:255]
    if failure.throttled or (failure.retryable and message.attempts < MAX_ATTEMPTS):
        if failure.throttled:
            # A 429 says nothing about the message, only about the pace: it costs no attempt.
            message.attempts -= 1
            fallback = random.uniform(1.0, 5.0)
        else:
            fallback = backoff_seconds(message.attempts)
        delay = failure.retry_after if failure.retry_after is not None else fallback
        message.status = MessageStatus.QUEUED
        message.send_after = now + timedelta(seconds=delay)
        log.warning("message %s will retry in %.0fs: %s", message.id, delay, failure)
        enqueue_send_later(settings, [message.id], delay)
        return "retry"
    message.status = MessageStatus.FAILED
    if failure.code in OPTED_OUT_CODES and message.person_id:
        person = session.get(Person, message.person_id)
        if person is not None:
            person.opt_out()
    elif failure.code in UNREACHABLE_CODES and message.person_id:
        session.execute(update(Person).where(Person.id == message.person_id).values(unreachable=True))
    log.warning("message %s failed (%s): %s", message.id, failure.code, failure)
    return "failed"


def sweep_outbox(settings: Settings, older_than_seconds: int | None = None) -> int:
    """Re-signal rows still queued and reconcile rows a dead worker left (the clock's job, each minute)."""
    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    now = settings.clock.now()
    reconcile_sending(settings, now)
    session = session_factory(settings.database_url)()
    try:
        ids = (
            session.execute(
                select(Message.id)
                .where(
                    Message.direction == OUTBOUND,
                    Message.status == MessageStatus.QUEUED,
                    or_(
                        and_(
                            Message.send_after.is_(None), Message.created_at <= now - timedelta(seconds=age)
                        ),
                        Message.send_after <= now,
                    ),
                )
                .order_by(Message.id)
                .limit(50_000)
            )
            .scalars()
            .all()
        )
    finally:
        session.close()
    if ids:
        enqueue_send(settings, list(ids))
    return len(ids)


def reconcile_sending(settings: Settings, now: datetime) -> dict[str, int]:
    """Rows stuck in `sending` (or `uncertain`): adopt the sid if Twilio has it, else queue again."""
    tally = {"adopted": 0, "requeued": 0, "uncertain": 0}
    cutoff = now - timedelta(seconds=settings.sending_timeout_seconds)
    session = session_factory(settings.database_url)()
    transport = transport_for(settings)
    try:
        stuck = (
            session.execute(
                select(Message)
                .where(
                    Message.direction == OUTBOUND,
                    Message.status.in_((MessageStatus.SENDING, MessageStatus.UNCERTAIN)),
                    Message.updated_at <= cutoff,
                )
                .order_by(Message.id)
                .limit(1000)
            )
            .scalars()
            .all()
        )
        for message in stuck:
            to = f"whatsapp:{message.phone}" if message.channel == WHATSAPP else message.phone
            try:
                found = transport.find_sent(to, message.created_at - timedelta(days=1))
            except SendFailed as exc:
                message.status = MessageStatus.UNCERTAIN
                message.updated_at = now
                message.error_message = f"could not check with Twilio: {exc}"[:255]
                tally["uncertain"] += 1
                session.commit()
                continue
            taken = set(
                session.execute(
                    select(Message.twilio_sid).where(Message.twilio_sid.in_([sid for sid, _ in found]))
                ).scalars()
            )
            match = next((sid for sid, body in found if sid not in taken and message.body in body), None)
            if match:
                message.status, message.twilio_sid, message.sent_at = MessageStatus.SENT, match, now
                tally["adopted"] += 1
            else:
                message.status, message.send_after = MessageStatus.QUEUED, None
                tally["requeued"] += 1
            message.updated_at = now
            session.commit()
    finally:
        session.close()
    if any(tally.values()):
        log.warning("reconciled rows left by a dead worker: %s", tally)
    return tally
