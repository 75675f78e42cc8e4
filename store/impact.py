"""Impact rollups: who Rounds reaches, whether they stay and learn, and what it costs, kept by the
clock each night so that no page view scans attempts or messages.

- `impact_days`: additive counts per UTC day and group (country, channel, track, language, join
  month): answers and right answers, texts in and out, SMS segments, what Twilio charged,
  check-in replies and certificates. A date range sums its days.
- `learner_summary`: one row per student who was ever in touch: their group, the day they joined,
  their first and last day in touch, a mask of the days they texted (bit i: `mask_day` minus i
  days), a mask of the weeks since joining in which they texted (retention), their first 20 and
  latest 20 answers (counts, and the latest as a mask of right answers), and the mean FSRS
  retrievability of their reviewed cards. The figures that count learners read it: one row per
  learner, however long the range.

The day rollup is set-wise (a handful of statements per day, whatever the population) and
idempotent: `impact_days` is rebuilt for the day, and a learner's summary takes a day once
(`rolled_day`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Integer,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from store.costs import BILLED_STATUSES
from store.links import LinkClick, ShortLink
from store.mentoring import PAIR_ACTIVE, CheckIn, Pair
from store.models import INBOUND, OUTBOUND, STUDENT, Attempt, Base, BigId, Card, Message, Person, utcnow
from store.programs import Certificate, Enrolment
from store.text import CleanString
from store.weekly import days_between

# Bits kept in a mask: 62 leave the sign bit of a 64-bit integer alone on both backends.
MASK_BITS = 62
MASK = (1 << MASK_BITS) - 1
# Answers a learner's first and latest accuracy are each taken over.
GAIN_ANSWERS = 20
LAST_MASK = (1 << GAIN_ANSWERS) - 1
# The dimensions a figure can be broken down by, and the group columns they read.
DIMENSIONS = ("country", "channel", "track", "language", "cohort")


class ImpactDay(Base):
    """Additive counts for one UTC day and one group of students."""

    __tablename__ = "impact_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "" where a student has no country or track yet (NULLs would not group as one key).
    country: Mapped[str] = mapped_column(CleanString(2), primary_key=True)
    channel: Mapped[str] = mapped_column(CleanString(10), primary_key=True)
    track: Mapped[str] = mapped_column(CleanString(16), primary_key=True)
    language: Mapped[str] = mapped_column(CleanString(8), primary_key=True)
    cohort: Mapped[str] = mapped_column(CleanString(7), primary_key=True)  # join month, YYYY-MM
    answered: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    outbound: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=0)
    actual_cost: Mapped[float] = mapped_column(Float, default=0.0)
    priced: Mapped[int] = mapped_column(Integer, default=0)  # outbound messages whose price is known
    checkin_replies: Mapped[int] = mapped_column(Integer, default=0)
    certificates: Mapped[int] = mapped_column(Integer, default=0)


class LearnerSummary(Base):
    """One student's standing, updated by each day's rollup that saw them."""

    __tablename__ = "learner_summary"

    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(CleanString(2), default="")
    channel: Mapped[str] = mapped_column(CleanString(10))
    track: Mapped[str] = mapped_column(CleanString(16), default="")
    language: Mapped[str] = mapped_column(CleanString(8))
    cohort: Mapped[str] = mapped_column(CleanString(7))
    joined: Mapped[date] = mapped_column(Date)
    first_day: Mapped[date] = mapped_column(Date, index=True)
    last_day: Mapped[date] = mapped_column(Date, index=True)
    active_mask: Mapped[int] = mapped_column(BigInteger, default=0)  # bit i: texted on mask_day - i
    mask_day: Mapped[date | None] = mapped_column(Date)
    weeks_mask: Mapped[int] = mapped_column(BigInteger, default=0)  # bit k: texted in week k since joining
    answered: Mapped[int] = mapped_column(Integer, default=0)
    first_n: Mapped[int] = mapped_column(Integer, default=0)
    first_correct: Mapped[int] = mapped_column(Integer, default=0)
    last_n: Mapped[int] = mapped_column(Integer, default=0)
    last_bits: Mapped[int] = mapped_column(Integer, default=0)  # bit 0: the latest answer was right
    last_correct: Mapped[int] = mapped_column(Integer, default=0)
    cards: Mapped[int] = mapped_column(Integer, default=0)  # reviewed FSRS cards
    retrievability: Mapped[float | None] = mapped_column(Float)  # their mean, at the end of rolled_day
    rolled_day: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImpactRollup(Base):
    """A day the rollup has taken, and what it wrote: the figures say how fresh they are."""

    __tablename__ = "impact_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    group_rows: Mapped[int] = mapped_column(Integer, default=0)
    learners: Mapped[int] = mapped_column(Integer, default=0)
    rolled_at: Mapped[datetime] = mapped_column(default=utcnow)


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _month(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), column)


def _groups(session: Session) -> list[ColumnElement[Any]]:
    """A student's group columns, read from `people`, labelled as impact_days names them (constants
    written inline: PostgreSQL must see the same expression in SELECT and GROUP BY, and two bound
    parameters are two expressions to it)."""
    return [
        func.coalesce(Person.country, literal_column("''")).label("country"),
        Person.channel.label("channel"),
        func.coalesce(Person.track, literal_column("''")).label("track"),
        Person.language.label("language"),
        _month(session, Person.created_at).label("cohort"),
    ]


MEASURES = (
    "answered",
    "correct",
    "inbound",
    "outbound",
    "segments",
    "actual_cost",
    "priced",
    "checkin_replies",
    "certificates",
)


def _measured(session: Session, values: dict[str, Any]) -> list[ColumnElement[Any]]:
    """The group columns and every measure, `values` given and the rest zero, for one UNION part."""
    return [*_groups(session)] + [(values.get(name, literal(0))).label(name) for name in MEASURES]


def _day_parts(session: Session, day: date) -> list[Any]:
    start, end = _bounds(day)
    student = Person.role == STUDENT
    answers = (
        select(
            *_measured(
                session,
                {
                    "answered": func.count(),
                    "correct": func.sum(case((Attempt.correct.is_(True), 1), else_=0)),
                },
            )
        )
        .select_from(Attempt)
        .join(Person, Person.id == Attempt.person_id)
        .where(student, Attempt.answered_at >= start, Attempt.answered_at < end)
        .group_by(*_groups(session))
    )
    outbound = and_(Message.direction == OUTBOUND, Message.status.in_(BILLED_STATUSES))
    texts = (
        select(
            *_measured(
                session,
                {
                    "inbound": func.sum(case((Message.direction == INBOUND, 1), else_=0)),
                    "outbound": func.sum(case((outbound, 1), else_=0)),
                    "segments": func.sum(case((outbound, Message.segments), else_=0)),
                    "actual_cost": func.coalesce(
                        func.sum(case((outbound, Message.actual_cost), else_=None)), 0.0
                    ),
                    "priced": func.sum(case((and_(outbound, Message.actual_cost.is_not(None)), 1), else_=0)),
                },
            )
        )
        .select_from(Message)
        .join(Person, Person.id == Message.person_id)
        .where(student, Message.created_at >= start, Message.created_at < end)
        .group_by(*_groups(session))
    )
    replies = (
        select(*_measured(session, {"checkin_replies": func.count()}))
        .select_from(CheckIn)
        .join(Person, Person.id == CheckIn.student_id)
        .where(CheckIn.answered_at >= start, CheckIn.answered_at < end)
        .group_by(*_groups(session))
    )
    certificates = (
        select(*_measured(session, {"certificates": func.count()}))
        .select_from(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .join(Person, Person.id == Enrolment.person_id)
        .where(Certificate.issued_on == day, Certificate.revoked_at.is_(None))
        .group_by(*_groups(session))
    )
    return [answers, texts, replies, certificates]


def roll_up_days(session: Session, day: date) -> int:
    """Rebuild `impact_days` for one UTC day from attempts, messages, check-ins and certificates;
    the number of group rows written. Run again for a day whose late prices have come in."""
    parts = union_all(*_day_parts(session, day)).subquery()
    keys = [parts.c[name] for name in ("country", "channel", "track", "language", "cohort")]
    summed = select(
        literal(day).label("day"),
        *keys,
        *[func.sum(parts.c[name]).label(name) for name in MEASURES],
    ).group_by(*keys)
    session.execute(delete(ImpactDay).where(ImpactDay.day == day))
    columns = ["day", "country", "channel", "track", "language", "cohort", *MEASURES]
    session.execute(ImpactDay.__table__.insert().from_select(columns, summed))
    # SQLite reports no row count for INSERT ... SELECT: count them.
    return int(session.scalar(select(func.count()).where(ImpactDay.day == day)) or 0)


def _touched(day: date) -> Any:
    """Students in touch on `day`: a text either way, or an answer."""
    start, end = _bounds(day)
    texted = select(Message.person_id).where(Message.created_at >= start, Message.created_at < end)
    answered = select(Attempt.person_id).where(Attempt.answered_at >= start, Attempt.answered_at < end)
    return union_all(texted, answered).subquery()


def roll_up_learners(session: Session, day: date, factor: float, decay: float) -> int:
    """Fold one UTC day into the learner summaries of everyone in touch that day who has not had
    it yet (days are taken in order; an older day than a learner's last is skipped); the number
    of summaries that took it.

    One UPDATE writes each learner's row once, whatever they did that day (a row rewritten per
    step cost five writes per learner: bench/FINDINGS.md, impact). `factor` and `decay` are the
    FSRS scheduler's forgetting-curve constants (retrievability is
    (1 + factor * days / stability) ** decay); fsrs computes it a card at a time in Python, this
    does it in SQL for all of a day's learners at once."""
    dialect = session.get_bind().dialect.name
    start, end = _bounds(day)
    touched = select(_touched(day).c.person_id).distinct().subquery()
    s = LearnerSummary
    fresh = or_(s.rolled_day.is_(None), s.rolled_day < day)
    # 1. A row for each student new to the summaries, as yet without any day.
    groups = _groups(session)
    joined = func.date(Person.created_at) if dialect == "sqlite" else cast(Person.created_at, Date)
    rows = select(
        Person.id.label("person_id"),
        *groups,
        joined.label("joined"),
        literal(day).label("first_day"),
        literal(day).label("last_day"),
    ).where(
        Person.id.in_(select(touched.c.person_id)),
        Person.role == STUDENT,
        ~exists().where(s.person_id == Person.id),  # skips the conflict check for those who have one
    )
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(LearnerSummary)
        .from_select(
            [
                "person_id",
                "country",
                "channel",
                "track",
                "language",
                "cohort",
                "joined",
                "first_day",
                "last_day",
            ],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["person_id"])
    )
    taken = int(
        session.scalar(select(func.count()).where(s.person_id.in_(select(touched.c.person_id)), fresh)) or 0
    )

    # 2. What each did that day: texted in, and their answers (how many, the latest 20 as a mask
    # of right ones, the right ones among their first 20 ever).
    texts = (
        select(Message.person_id, func.count().label("texts"))
        .where(Message.direction == INBOUND, Message.created_at >= start, Message.created_at < end)
        .group_by(Message.person_id)
        .subquery()
    )
    ranked = (
        select(
            Attempt.person_id,
            Attempt.correct,
            func.row_number()
            .over(partition_by=Attempt.person_id, order_by=(Attempt.answered_at, Attempt.id))
            .label("rn"),
            func.count().over(partition_by=Attempt.person_id).label("n"),
        )
        .where(Attempt.answered_at >= start, Attempt.answered_at < end)
        .subquery()
    )
    right = ranked.c.correct.is_(True)
    so_far = select(s.first_n).where(s.person_id == ranked.c.person_id).scalar_subquery()
    today = (
        select(
            ranked.c.person_id,
            func.max(ranked.c.n).label("n"),
            func.sum(
                case(
                    (
                        and_(right, ranked.c.rn > ranked.c.n - GAIN_ANSWERS),
                        literal(1).op("<<")(cast(ranked.c.n - ranked.c.rn, Integer)),
                    ),
                    else_=0,
                )
            ).label("bits"),
            func.sum(case((and_(right, ranked.c.rn <= GAIN_ANSWERS - so_far), 1), else_=0)).label(
                "first_right"
            ),
        )
        .group_by(ranked.c.person_id)
        .subquery()
    )
    # The mean retrievability of their reviewed cards at the end of the day (FSRS's own formula,
    # in SQL: fsrs computes it one card at a time in Python).
    review = func.substr(Card.state["last_review"].as_string(), 1, 10)
    stability = Card.state["stability"].as_float()
    if dialect == "postgresql":
        elapsed = func.greatest(days_between(dialect, day + timedelta(days=1), cast(review, Date)), 0)
        recall = func.power(1 + factor * elapsed / stability, decay)
    else:
        elapsed = func.max(days_between(dialect, day + timedelta(days=1), review), 0)
        recall = func.pow(1 + factor * elapsed / stability, decay)
    answered_today = select(Attempt.person_id).where(Attempt.answered_at >= start, Attempt.answered_at < end)
    # Each card read once, grouped (two scalar subqueries per learner read them twice).
    cards = (
        select(Card.person_id, func.count().label("cards"), func.avg(recall).label("recall"))
        .where(Card.person_id.in_(answered_today), Card.reviews > 0, stability > 0)
        .group_by(Card.person_id)
        .subquery()
    )
    facts = (
        select(
            touched.c.person_id,
            *groups,
            texts.c.texts,
            today.c.n,
            today.c.bits,
            today.c.first_right,
            cards.c.cards,
            cards.c.recall,
        )
        .select_from(touched)
        .join(Person, Person.id == touched.c.person_id)
        .outerjoin(texts, texts.c.person_id == touched.c.person_id)
        .outerjoin(today, today.c.person_id == touched.c.person_id)
        .outerjoin(cards, cards.c.person_id == touched.c.person_id)
        .where(Person.role == STUDENT)
        .subquery()
    )

    # 3. The row, once: the group as it is now and the last day in touch for every one of them;
    # for those the day is new, the days and weeks they texted, their answers and their cards.
    texted = and_(fresh, facts.c.texts.is_not(None))
    answered = and_(fresh, facts.c.n.is_not(None))

    def when(condition: Any, value: Any, column: Any) -> Any:
        return case((condition, value), else_=column)

    gap = days_between(dialect, day, s.mask_day)
    week = days_between(dialect, day, s.joined) // 7
    shifted = case((facts.c.n >= GAIN_ANSWERS, 0), else_=s.last_bits.op("<<")(cast(facts.c.n, Integer)))
    bits = shifted.op("|")(facts.c.bits).op("&")(LAST_MASK)
    # The popcount of the new mask, written out: neither backend has one for integers.
    popcount = sum(
        (bits.op(">>")(literal(i, Integer)).op("&")(1) for i in range(1, GAIN_ANSWERS)), bits.op("&")(1)
    )
    capped = func.min if dialect == "sqlite" else func.least
    session.execute(
        update(LearnerSummary)
        .where(s.person_id == facts.c.person_id)
        .values(
            {name: facts.c[name] for name in ("country", "channel", "track", "language", "cohort")}
            | {
                "last_day": case((s.last_day < day, day), else_=s.last_day),
                "updated_at": utcnow(),
                "active_mask": when(
                    texted,
                    case(
                        (or_(s.mask_day.is_(None), gap >= MASK_BITS), 1),
                        else_=(s.active_mask.op("<<")(gap).op("|")(1)).op("&")(MASK),
                    ),
                    s.active_mask,
                ),
                "mask_day": when(texted, day, s.mask_day),
                "weeks_mask": when(
                    texted,
                    s.weeks_mask.op("|")(
                        cast(literal(1), BigInteger).op("<<")(
                            case((week >= MASK_BITS, MASK_BITS - 1), (week < 0, 0), else_=week)
                        )
                    ),
                    s.weeks_mask,
                ),
                "answered": when(answered, s.answered + facts.c.n, s.answered),
                "first_correct": when(answered, s.first_correct + facts.c.first_right, s.first_correct),
                "first_n": when(answered, capped(s.first_n + facts.c.n, GAIN_ANSWERS), s.first_n),
                "last_bits": when(answered, bits, s.last_bits),
                "last_n": when(answered, capped(s.last_n + facts.c.n, GAIN_ANSWERS), s.last_n),
                "last_correct": when(answered, popcount, s.last_correct),
                "cards": when(answered, func.coalesce(facts.c.cards, 0), s.cards),
                "retrievability": when(answered, facts.c.recall, s.retrievability),
                "rolled_day": when(fresh, day, s.rolled_day),
            }
        ),
        execution_options={"synchronize_session": False},
    )
    return taken


def roll_up(session: Session, day: date, factor: float, decay: float) -> tuple[int, int]:
    """The nightly rollup of one UTC day: (group rows, learners)."""
    rows, learners = roll_up_days(session, day), roll_up_learners(session, day, factor, decay)
    session.execute(delete(ImpactRollup).where(ImpactRollup.day == day))
    session.add(ImpactRollup(day=day, group_rows=rows, learners=learners, rolled_at=utcnow()))
    session.flush()
    return rows, learners


# --- reading the figures ------------------------------------------------------------------------

# Weeks since joining shown in the retention table.
RETENTION_WEEKS = 13
# A learner's first and latest accuracy are compared once they have this many answers (so that the
# two sets of 20 do not overlap).
GAIN_MIN_ANSWERED = 2 * GAIN_ANSWERS


def _column_days(dialect: str, later: Any, earlier: Any) -> ColumnElement[int]:
    """`later - earlier` in days, both dates (columns or literals)."""
    if dialect == "postgresql":
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _window(dialect: str, end: date, days: int) -> ColumnElement[int]:
    """The bits of `active_mask` for the `days` days up to `end`, bit 0 being `end` itself; 0 when
    the mask does not reach back to them."""
    offset = days_between(dialect, end, LearnerSummary.mask_day)  # end - mask_day
    wanted = (1 << days) - 1
    return case(
        (LearnerSummary.mask_day.is_(None), 0),
        (offset <= -(MASK_BITS - days), 0),  # the mask is too new to see back to `end`
        (offset < 0, LearnerSummary.active_mask.op(">>")(-offset).op("&")(wanted)),
        (offset >= days, 0),  # nothing texted in the window since the mask's day
        else_=LearnerSummary.active_mask.op("<<")(offset).op("&")(wanted),
    )


def learner_figures(session: Session, by: str, start: date, end: date) -> list[dict[str, Any]]:
    """Per group of `by`, over the learners in touch between `start` and `end` (inclusive): how many,
    how many texted in the last 7 and 30 days to `end`, first and latest accuracy, retrievability,
    learner-months in touch, and for each week since joining how many texted in it out of how many
    had reached it by `end`.

    Grouped by the join day as well, and summed here: whether a learner has reached a week depends
    on that day alone, so the database adds up one bit per week per learner instead of testing the
    join day 26 times (half the work of the query that reads every learner of the range)."""
    dialect = session.get_bind().dialect.name
    s = LearnerSummary
    group = getattr(s, by)
    gain = s.answered >= GAIN_MIN_ANSWERED
    reviewed = s.cards > 0
    first_in = case((s.first_day > start, s.first_day), else_=literal(start))
    last_in = case((s.last_day < end, s.last_day), else_=literal(end))
    columns: list[Any] = [
        group.label("grp"),
        s.joined,
        func.count().label("learners"),
        func.sum(case((_window(dialect, end, 7) != 0, 1), else_=0)).label("active_7"),
        func.sum(case((_window(dialect, end, 30) != 0, 1), else_=0)).label("active_30"),
        func.sum(case((gain, 1), else_=0)).label("gain_learners"),
        func.sum(case((gain, s.first_correct * 1.0 / s.first_n), else_=None)).label("first_sum"),
        func.sum(case((gain, s.last_correct * 1.0 / s.last_n), else_=None)).label("latest_sum"),
        func.sum(case((reviewed, 1), else_=0)).label("reviewed_learners"),
        func.count(case((reviewed, s.retrievability), else_=None)).label("retrievability_n"),
        func.sum(case((reviewed, s.retrievability), else_=None)).label("retrievability_sum"),
        func.sum(_column_days(dialect, last_in, first_in) + 1).label("days_in_touch"),
    ]
    # Learners who texted in week k: the sum of bit k of their weeks masks, over 2**k.
    columns += [
        func.sum(cast(s.weeks_mask.op("&")(literal(1 << week, BigInteger)), Integer)).label(f"bit_{week}")
        for week in range(RETENTION_WEEKS)
    ]
    rows = session.execute(
        select(*columns).where(s.first_day <= end, s.last_day >= start).group_by(group, s.joined)
    )
    return [_combined(key, parts, end) for key, parts in _by_group(rows).items()]


def _by_group(rows: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.grp, []).append(row)
    return dict(sorted(grouped.items()))


def _combined(key: str, parts: list[Any], end: date) -> dict[str, Any]:
    """One group's figures from its rows per join day."""

    def total(name: str) -> Any:
        return sum(getattr(part, name) or 0 for part in parts)

    def mean(name: str, count: int) -> float | None:
        return float(total(name)) / count if count else None

    gain_learners, scored = total("gain_learners"), total("retrievability_n")
    out: dict[str, Any] = {
        "grp": key,
        "learners": total("learners"),
        "active_7": total("active_7"),
        "active_30": total("active_30"),
        "gain_learners": gain_learners,
        "first_accuracy": mean("first_sum", gain_learners),
        "latest_accuracy": mean("latest_sum", gain_learners),
        "reviewed_learners": total("reviewed_learners"),
        "retrievability": mean("retrievability_sum", scored),
        "days_in_touch": total("days_in_touch"),
    }
    for week in range(RETENTION_WEEKS):
        reached = [part for part in parts if _as_date(part.joined) <= end - timedelta(days=7 * week)]
        out[f"week_{week}"] = sum(int(getattr(part, f"bit_{week}") or 0) >> week for part in reached)
        out[f"of_{week}"] = sum(part.learners for part in reached)
    return out


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def day_sums(session: Session, by: str, start: date, end: date) -> list[Any]:
    """The additive counts per group of `by` and per country and channel (what a price depends on)."""
    d = ImpactDay
    group = getattr(d, by)
    keys = {group.key, "country", "channel"}
    grouping = [group.label("grp")] + [getattr(d, key) for key in ("country", "channel") if key != by]
    return list(
        session.execute(
            select(
                *grouping,
                *[func.sum(getattr(d, name)).label(name) for name in MEASURES],
            )
            .where(d.day >= start, d.day <= end)
            .group_by(*[getattr(d, key) for key in keys])
        )
    )


def mentor_pairs(session: Session, by: str) -> dict[str, int]:
    """Active mentor pairs per group of `by`, as the students' groups are now."""
    group = _groups(session)[DIMENSIONS.index(by)]
    rows = session.execute(
        select(group, func.count())
        .select_from(Pair)
        .join(Person, Person.id == Pair.student_id)
        .where(Pair.status == PAIR_ACTIVE)
        .group_by(group)
    )
    return {str(key): int(count) for key, count in rows}


def clicks(session: Session, by: str, start: date, end: date) -> dict[tuple[str, str], int] | None:
    """(group, kind) -> clicks on short links in the dates; None for a dimension clicks do not carry
    (they are counted by channel and country only, never by person)."""
    if by not in ("country", "channel"):
        return None
    group = getattr(ShortLink, by)
    rows = session.execute(
        select(group, ShortLink.kind, func.sum(LinkClick.clicks))
        .join(LinkClick, LinkClick.link_id == ShortLink.id)
        .where(LinkClick.day >= start, LinkClick.day <= end)
        .group_by(group, ShortLink.kind)
    )
    return {(str(key), str(kind)): int(count or 0) for key, kind, count in rows}


def last_rolled(session: Session) -> date | None:
    """The latest day the rollup has taken."""
    return session.scalar(select(func.max(ImpactRollup.day)))
