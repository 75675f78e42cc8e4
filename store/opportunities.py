"""Opportunities (observerships, scholarships, fee waivers...), who saved which one, who gets the
weekly digest, and `Opportunities`, the queries the flows and the scheduling pass ask for through
`ctx.opportunities`.

An opportunity is open while it is approved and its deadline (a date) has not passed; the
flows never list one that is not open, whatever its stored status, so expiry needs no job to
be right. The scheduling pass still marks passed ones `expired` for the console and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, BigId, Person, utcnow
from store.text import CleanString

# Opportunity.status values: added from the console or the API as a draft, approved by an admin
# (the CLI approves at once), expired once the deadline has passed.
DRAFT, APPROVED, EXPIRED = "draft", "approved", "expired"
STATUSES = (DRAFT, APPROVED, EXPIRED)
KINDS = ("observership", "research", "scholarship", "fee waiver", "conference", "course")
# Message.kind values
DIGEST, REMINDER = "opp_digest", "opp_reminder"


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (Index("ix_opportunities_status_deadline", "status", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(CleanString(80))
    org: Mapped[str] = mapped_column(CleanString(60))
    kind: Mapped[str] = mapped_column(CleanString(16))
    deadline: Mapped[date] = mapped_column(Date)
    # ISO 3166 alpha-2 codes and track keys; empty means everyone.
    countries: Mapped[list[str]] = mapped_column(default=list)
    tracks: Mapped[list[str]] = mapped_column(default=list)
    link: Mapped[str] = mapped_column(CleanString(400))
    status: Mapped[str] = mapped_column(CleanString(10), default=DRAFT)
    created_by: Mapped[str | None] = mapped_column(CleanString(254))
    approved_by: Mapped[str | None] = mapped_column(CleanString(254))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def status_on(self, day: date) -> str:
        """The status as people should see it on `day`: approved turns expired after the deadline."""
        if self.status == APPROVED and self.deadline < day:
            return EXPIRED
        return self.status

    def is_open(self, day: date) -> bool:
        return self.status_on(day) == APPROVED


class OpportunitySubscription(Base):
    """A student who texted `OPP ON`: the digest is considered at `next_check_at` (their daily time)."""

    __tablename__ = "opportunity_subscriptions"

    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only opportunities approved after this are new to the student (set at `OPP ON`, moved at each digest).
    seen_until: Mapped[datetime]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OpportunitySave(Base):
    """`OPP SAVE <n>`: one reminder, at `remind_at`, a week before the deadline."""

    __tablename__ = "opportunity_saves"
    __table_args__ = (UniqueConstraint("person_id", "opportunity_id", name="uq_opportunity_saves"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    remind_at: Mapped[datetime] = mapped_column(index=True)
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass
class Opportunities:
    """Opportunity queries on one session; the flows and the pass decide, this only reads and writes."""

    session: Session

    def get(self, opportunity_id: int) -> Opportunity | None:
        return self.session.get(Opportunity, opportunity_id)

    def open_on(self, day: date) -> list[Opportunity]:
        """Approved opportunities whose deadline is `day` or later, nearest deadline first."""
        return list(
            self.session.scalars(
                select(Opportunity)
                .where(Opportunity.status == APPROVED, Opportunity.deadline >= day)
                .order_by(Opportunity.deadline, Opportunity.id)
            )
        )

    def listing(self, status: str | None = None) -> list[Opportunity]:
        statement = select(Opportunity).order_by(Opportunity.deadline, Opportunity.id)
        if status:
            statement = statement.where(Opportunity.status == status)
        return list(self.session.scalars(statement))

    def add(self, **values: object) -> Opportunity:
        opportunity = Opportunity(**values)
        self.session.add(opportunity)
        self.session.flush()
        return opportunity

    def approve(self, opportunity: Opportunity, by: str | None, now: datetime) -> None:
        """Approve a draft (an expired or approved one stays as it is)."""
        if opportunity.status == DRAFT:
            opportunity.status, opportunity.approved_by, opportunity.approved_at = APPROVED, by, now
            self.session.flush()

    def expire(self, before: date, now: datetime) -> int:
        """Mark approved opportunities whose deadline is before `before` expired; how many."""
        result = self.session.execute(
            update(Opportunity)
            .where(Opportunity.status == APPROVED, Opportunity.deadline < before)
            .values(status=EXPIRED, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- the digest -----------------------------------------------------------------------

    def subscription(self, person_id: int) -> OpportunitySubscription | None:
        return self.session.get(OpportunitySubscription, person_id)

    def subscribe(
        self, person_id: int, now: datetime, next_check_at: datetime | None
    ) -> OpportunitySubscription:
        row = self.subscription(person_id)
        if row is None:
            row = OpportunitySubscription(person_id=person_id, seen_until=now)
            self.session.add(row)
        elif not row.digest:
            row.seen_until = now  # what was approved while it was off is not news now
        row.digest = True
        row.next_check_at = next_check_at
        self.session.flush()
        return row

    def unsubscribe(self, person_id: int) -> None:
        row = self.subscription(person_id)
        if row is not None:
            row.digest, row.next_check_at = False, None
            self.session.flush()

    def digests_due(self, at: datetime, limit: int) -> list[tuple[OpportunitySubscription, Person]]:
        rows = self.session.execute(
            select(OpportunitySubscription, Person)
            .join(Person, Person.id == OpportunitySubscription.person_id)
            .where(OpportunitySubscription.digest.is_(True), OpportunitySubscription.next_check_at <= at)
            .order_by(OpportunitySubscription.next_check_at, OpportunitySubscription.person_id)
            .limit(limit)
        ).all()
        return [(sub, person) for sub, person in rows]

    def forget(self, person_id: int) -> None:
        """Erasure: the person's digest subscription and saved reminders go."""
        self.session.execute(delete(OpportunitySave).where(OpportunitySave.person_id == person_id))
        self.session.execute(
            delete(OpportunitySubscription).where(OpportunitySubscription.person_id == person_id)
        )

    # --- reminders ------------------------------------------------------------------------

    def saved(self, person_id: int, opportunity_id: int) -> OpportunitySave | None:
        return self.session.scalars(
            select(OpportunitySave).where(
                OpportunitySave.person_id == person_id, OpportunitySave.opportunity_id == opportunity_id
            )
        ).first()

    def save(self, person_id: int, opportunity_id: int, remind_at: datetime) -> OpportunitySave:
        """The person's reminder for this opportunity, added once (a second save keeps the first)."""
        row = self.saved(person_id, opportunity_id)
        if row is None:
            row = OpportunitySave(person_id=person_id, opportunity_id=opportunity_id, remind_at=remind_at)
            self.session.add(row)
            self.session.flush()
        return row

    def reminders_due(self, at: datetime, limit: int) -> list[tuple[OpportunitySave, Opportunity, Person]]:
        rows = self.session.execute(
            select(OpportunitySave, Opportunity, Person)
            .join(Opportunity, Opportunity.id == OpportunitySave.opportunity_id)
            .join(Person, Person.id == OpportunitySave.person_id)
            .where(OpportunitySave.reminded_at.is_(None), OpportunitySave.remind_at <= at)
            .order_by(OpportunitySave.remind_at, OpportunitySave.id)
            .limit(limit)
        ).all()
        return [(save, opportunity, person) for save, opportunity, person in rows]
