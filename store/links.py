"""Short links (`PUBLIC_URL/r/<code>`) and their click counts.

One code per (target, channel, country), so a click is counted per resource or opportunity, per
UTC day, by channel and country without ever knowing who clicked. Counts are one row per code
per day, upserted; nothing here holds a phone number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import insert_for
from store.models import Base, BigId, utcnow
from store.text import CleanString

# ShortLink.kind values
RESOURCE, OPPORTUNITY = "resource", "opportunity"
KINDS = (RESOURCE, OPPORTUNITY)
# No 0/o, 1/i/l: a code read aloud or retyped from a basic phone's screen stays the same code.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 6  # 31**6, about 887 million codes: a guess finds a live one about never
CODE_MAX = 16
_ATTEMPTS = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


class ShortLink(Base):
    __tablename__ = "short_links"
    __table_args__ = (UniqueConstraint("kind", "target", "channel", "country", name="uq_short_links_target"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(CleanString(CODE_MAX), unique=True)
    kind: Mapped[str] = mapped_column(CleanString(12))
    # A resource's id or an opportunity's id, as text.
    target: Mapped[str] = mapped_column(CleanString(64))
    channel: Mapped[str] = mapped_column(CleanString(10))
    # ISO 3166 alpha-2, or "" when the student's country is unknown (NULLs would not be unique).
    country: Mapped[str] = mapped_column(CleanString(2), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkClick(Base):
    """Clicks on one code on one UTC day."""

    __tablename__ = "link_clicks"

    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("short_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class ClickRow:
    """Clicks on one target from one channel and country on one day."""

    kind: str
    target: str
    channel: str
    country: str
    day: date
    clicks: int


@dataclass
class ShortLinks:
    """Short-link queries on one session, with the codes this session has already looked up."""

    session: Session
    _known: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def code_for(self, kind: str, target: str, channel: str, country: str | None, now: datetime) -> str:
        """The code for this target on this channel and country: made on first use, then reused."""
        key = (kind, str(target), channel, (country or "").upper())
        code = self._known.get(key)
        if code is None:
            code = self._find_code(*key) or self._create(key, now)
            self._known[key] = code
        return code

    def _find_code(self, kind: str, target: str, channel: str, country: str) -> str | None:
        return self.session.scalar(
            select(ShortLink.code).where(
                ShortLink.kind == kind,
                ShortLink.target == target,
                ShortLink.channel == channel,
                ShortLink.country == country,
            )
        )

    def _create(self, key: tuple[str, str, str, str], now: datetime) -> str:
        kind, target, channel, country = key
        for _ in range(_ATTEMPTS):
            code = new_code()
            try:
                # A savepoint: a clash (the same code, or another request making this target's
                # link at the same moment) undoes only this insert, not the caller's work.
                with self.session.begin_nested():
                    self.session.add(
                        ShortLink(
                            code=code,
                            kind=kind,
                            target=target,
                            channel=channel,
                            country=country,
                            created_at=now,
                        )
                    )
            except IntegrityError:
                found = self._find_code(*key)
                if found is not None:
                    return found
                continue
            return code
        raise RuntimeError("no free short-link code after several tries; is the code space full?")

    def find(self, code: str) -> ShortLink | None:
        return self.session.scalar(select(ShortLink).where(ShortLink.code == code))

    def count(self, link_id: int, day: date) -> None:
        """One more click on `link_id` on `day`: an upsert, safe under concurrent clicks."""
        values = {"link_id": link_id, "day": day, "clicks": 1}
        table = LinkClick.__table__
        statement = insert_for(self.session.get_bind().dialect.name)(table).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.link_id, table.c.day], set_={"clicks": table.c.clicks + 1}
        )
        self.session.execute(statement)

    def clicks(
        self,
        kind: str | None = None,
        targets: list[str] | None = None,
        first: date | None = None,
        last: date | None = None,
    ) -> list[ClickRow]:
        """Clicks by target, channel, country and day, within [first, last] when given."""
        statement = (
            select(
                ShortLink.kind,
                ShortLink.target,
                ShortLink.channel,
                ShortLink.country,
                LinkClick.day,
                func.sum(LinkClick.clicks),
            )
            .join(LinkClick, LinkClick.link_id == ShortLink.id)
            .group_by(ShortLink.kind, ShortLink.target, ShortLink.channel, ShortLink.country, LinkClick.day)
            .order_by(ShortLink.kind, ShortLink.target, LinkClick.day)
        )
        if kind:
            statement = statement.where(ShortLink.kind == kind)
        if targets is not None:
            statement = statement.where(ShortLink.target.in_([str(t) for t in targets]))
        if first:
            statement = statement.where(LinkClick.day >= first)
        if last:
            statement = statement.where(LinkClick.day <= last)
        return [ClickRow(k, t, ch, co, d, int(n)) for k, t, ch, co, d, n in self.session.execute(statement)]
