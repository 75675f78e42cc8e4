"""SQLAlchemy models: people, the message log (which is also the outbox) and learning state.

Times are stored as naive UTC and handed back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.text import CleanString, CleanText

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    # Column defaults only: a mapper default has no Settings in reach. Code that knows the time sets it.
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Rounds stores aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        str: CleanString(),  # a `Mapped[str]` without a type is cleaned too
    }

    if TYPE_CHECKING:
        # Each model maps one plain Table, which the Core statements in store/ and workers/ rely on.
        __table__: ClassVar[Table]


# An address: E.164 (at most 16) or a BSUID (a country, `ENT.`, up to 128 letters and digits).
ADDRESS_MAX = 160

# Person.status values
ACTIVE, PAUSED, OPTED_OUT = "active", "paused", "opted_out"
# Person.role values
STUDENT, MENTOR = "student", "mentor"
# Channels
SMS, WHATSAPP = "sms", "whatsapp"


class Person(Base):
    """Someone Rounds talks to, a student or a mentor, keyed by their address on their channel."""

    __tablename__ = "people"
    __table_args__ = (
        # The scheduling pass's WhatsApp nudge looks for windows about to close: a range scan on
        # the WhatsApp students alone, not a scan of everyone.
        Index(
            "ix_people_whatsapp_last_inbound",
            "last_inbound_at",
            postgresql_where=text("channel = 'whatsapp'"),
            sqlite_where=text("channel = 'whatsapp'"),
        ),
        # Finding a free mentor (a MENTOR text, the waiting list at each tick) reads the mentors
        # alone, however many students there are.
        Index(
            "ix_people_mentors",
            "id",
            postgresql_where=text("role = 'mentor'"),
            sqlite_where=text("role = 'mentor'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The address on the channel (`address` adds `whatsapp:`): an E.164 number, or a WhatsApp
    # business-scoped user id (BSUID) for someone whose number WhatsApp does not show.
    phone: Mapped[str] = mapped_column(CleanString(ADDRESS_MAX), unique=True)
    channel: Mapped[str] = mapped_column(CleanString(10), default=SMS)
    # What WhatsApp told us, each on its own: the BSUID, the E.164 number (WaId, or the address
    # itself), the username. Any of them may be missing.
    bsuid: Mapped[str | None] = mapped_column(CleanString(ADDRESS_MAX))
    phone_number: Mapped[str | None] = mapped_column(CleanString(32))
    username: Mapped[str | None] = mapped_column(CleanString(64))
    name: Mapped[str | None] = mapped_column(CleanString(60))
    language: Mapped[str] = mapped_column(CleanString(8), default="en")
    timezone: Mapped[str | None] = mapped_column(CleanString(64))
    country: Mapped[str | None] = mapped_column(CleanString(2))
    role: Mapped[str] = mapped_column(CleanString(10), default=STUDENT)
    status: Mapped[str] = mapped_column(CleanString(12), default=ACTIVE)
    paused_until: Mapped[datetime | None]
    track: Mapped[str | None] = mapped_column(CleanString(16))
    daily_time: Mapped[str | None] = mapped_column(CleanString(5))
    # The next instant a daily question is due, in UTC; NULL while not eligible
    # (onboarding, paused, opted out), so the scheduling pass is one range scan.
    next_push_at: Mapped[datetime | None] = mapped_column(index=True)
    flow: Mapped[str | None] = mapped_column(CleanString(40))
    flow_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    last_inbound_at: Mapped[datetime | None]
    # One person on both channels: their last WhatsApp text (the 24 h window is counted from it),
    # whether they asked for pushes by SMS (`SMS`), and each channel they stopped on its own.
    whatsapp_inbound_at: Mapped[datetime | None]
    prefers_sms: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    sms_blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    whatsapp_blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="person", lazy="raise")

    def opt_out(self) -> None:
        """The one opt-out (STOP, or the carrier's 21610): nothing more is sent to this number,
        scheduled pushes included, until START; queued rows are suppressed when their turn comes."""
        self.status = OPTED_OUT
        self.next_push_at = None
        self.sms_blocked = self.whatsapp_blocked = True

    @property
    def address(self) -> str:
        """The address Twilio uses for this person on their channel."""
        return f"whatsapp:{self.phone}" if self.channel == WHATSAPP else self.phone


# Message.direction values
INBOUND, OUTBOUND = "in", "out"


class MessageStatus(StrEnum):
    """The one set of message states (stored in `messages.status`, compared as plain strings).

    Outbound life: queued -> sending -> sent -> delivered/undelivered/failed (-> read). `replied`
    marks a reply handed to Twilio inside the webhook's TwiML answer; `suppressed` a push that was
    never sent because the person had opted out; `uncertain` a row a dead worker left in `sending`
    that Twilio could not be asked about yet; `canceled` a queued row whose broadcast or person went.
    """

    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    UNCERTAIN = "uncertain"
    REPLIED = "replied"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELED = "canceled"
    READ = "read"


# How far along a state is: a status callback only ever moves a message forward.
STATUS_RANK: dict[str, int] = {
    MessageStatus.RECEIVED: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNCERTAIN: 1,
    MessageStatus.REPLIED: 2,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.SUPPRESSED: 3,
    MessageStatus.CANCELED: 3,
    MessageStatus.READ: 4,
}


class Message(Base):
    """Every text in or out; outbound rows in `queued` are the outbox."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_created", "status", "created_at"),
        Index("ix_messages_person_created", "person_id", "created_at"),
        # The actual-cost fetch scans sent messages whose price is still unknown, recent first:
        # a priced row leaves this index, so it stays the size of a few days' traffic.
        Index(
            "ix_messages_cost_pending",
            "sent_at",
            postgresql_where=text("actual_cost IS NULL AND twilio_sid IS NOT NULL"),
            sqlite_where=text("actual_cost IS NULL AND twilio_sid IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(CleanString(3))
    channel: Mapped[str] = mapped_column(CleanString(10), default=SMS)
    phone: Mapped[str] = mapped_column(CleanString(ADDRESS_MAX))
    body: Mapped[str] = mapped_column(CleanText, default="")
    # What was done to an inbound text before it was kept (store.text.Cleaned.flags): `cleaned`
    # (control characters removed, bad surrogates replaced), `cut` (over 1,600 characters), both,
    # or NULL when it is stored as it came.
    body_flags: Mapped[str | None] = mapped_column(CleanString(16))
    kind: Mapped[str] = mapped_column(CleanString(16), default="reply")
    status: Mapped[str] = mapped_column(CleanString(16))
    twilio_sid: Mapped[str | None] = mapped_column(CleanString(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(CleanString(160), unique=True)
    # The inbound text this row answers. No foreign key: the prune deletes old rows by id range,
    # and a per-row reference check on PostgreSQL would cost more than the delete itself.
    reply_to_id: Mapped[int | None] = mapped_column(BigId, index=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(CleanString(255))
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(CleanString(8), default="GSM-7")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The broadcast a row belongs to (no foreign key: erasing either side never cascades).
    broadcast_id: Mapped[int | None] = mapped_column(BigId, index=True)
    # An approved WhatsApp template to send instead of the body (outside the 24 h window).
    content_sid: Mapped[str | None] = mapped_column(CleanString(64))
    send_after: Mapped[datetime | None]
    # The console account whose phone simulator sent this text (or got this reply); None: a real phone.
    simulated_by: Mapped[str | None] = mapped_column(CleanString(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What Twilio charged (its Message resource's `price`, made positive) and in which currency;
    # NULL until fetched (workers/pricing.py). `cost_checks` counts the fetches that found no
    # price yet, `cost_due_at` is when to ask again.
    actual_cost: Mapped[float | None] = mapped_column(Float)
    price_unit: Mapped[str | None] = mapped_column(CleanString(8))
    cost_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost_due_at: Mapped[datetime | None]

    person: Mapped[Person | None] = relationship(back_populates="messages", lazy="raise")


class Question(Base):
    """A question from the bank, loaded from content (ids are the content's)."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(CleanString(32), index=True)
    tracks: Mapped[list[str]] = mapped_column(default=list)
    difficulty: Mapped[int] = mapped_column(Integer, default=2)
    stem: Mapped[str] = mapped_column(CleanText)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answer: Mapped[str] = mapped_column(CleanString(1))
    explanation: Mapped[str] = mapped_column(CleanText)
    reviewer: Mapped[str | None] = mapped_column(CleanString(80))
    review_by: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The published version students are served; each edit that is published adds one.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # draft, review, published or retired: only an active, published question is served.
    status: Mapped[str] = mapped_column(CleanString(16), default="published", server_default="published")
    # Approvals of the published English version (store/authoring.py); ROUNDS_SERVE_ONLY_REVIEWED
    # serves only questions with enough of them.
    approvals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Resource(Base):
    """A free study resource, loaded from content."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(CleanString(64), primary_key=True)
    title: Mapped[str] = mapped_column(CleanString(80))
    url: Mapped[str] = mapped_column(CleanString(400))
    topics: Mapped[list[str]] = mapped_column(default=list)
    kind: Mapped[str] = mapped_column(CleanString(16), default="reference")
    languages: Mapped[list[str]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(CleanString(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Attempt(Base):
    """One question put to one person, and what they did with it."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_person_asked", "person_id", "asked_at"),
        # The nightly impact rollup reads one UTC day's answers (bench/FINDINGS.md, impact).
        Index("ix_attempts_answered_at", "answered_at"),
        # At most one daily question per person per local date.
        UniqueConstraint("person_id", "local_date", "source", name="uq_attempts_daily"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    # The question's version when it was asked: statistics and corrections are per version.
    question_version: Mapped[int | None] = mapped_column(Integer)
    # 'daily' for the scheduled push; 'more:<n>' for extra ones, so the constraint
    # above binds only the daily push.
    source: Mapped[str] = mapped_column(CleanString(16), default="daily")
    local_date: Mapped[date] = mapped_column(Date)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    choice: Mapped[str | None] = mapped_column(CleanString(1))
    correct: Mapped[bool | None] = mapped_column(Boolean)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    response_seconds: Mapped[float | None]


class Card(Base):
    """Spaced-repetition state (an fsrs Card) for one person and question."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("person_id", "question_id", name="uq_cards_person_question"),
        Index("ix_cards_person_due", "person_id", "due"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    due: Mapped[datetime]
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
