"""Questions and answers: which question next (due reviews, then the weakest topics of the track),
the daily push the workers plan, tolerant answer parsing, FSRS reviews, SKIP, SCORE and Q/MORE.

Workers call `plan_daily_question` and `advance_schedule`; everything else answers a text.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler
from sqlalchemy import Row, case, func, select
from sqlalchemy.orm import Session, make_transient_to_detached

from content.segments import is_gsm7, segment_count, truncate_to
from flows import onboarding
from flows.engine import Command, Context, Outcome, reply
from flows.resources import topic_name
from flows.schedule import advance_schedule, end_of_local_day, in_quiet_hours, local_date
from store.db import core_connection, insert_many_or_ignore, insert_or_ignore
from store.models import ACTIVE, OPTED_OUT, PAUSED, Attempt, Card, Person, Question

__all__ = [
    "advance_schedule",
    "choose_question",
    "hold_questions",
    "parse_answer",
    "plan_daily_question",
    "plan_daily_questions",
    "render_question",
]

LETTERS = ("A", "B", "C", "D")
DAILY = "daily"
# A bare letter answers a question asked within this window; `Q17 B` reaches further back.
OPEN_WINDOW = timedelta(days=3)
QUESTION_SEGMENTS = 2
FEEDBACK_SEGMENTS = 1
# Text outside GSM-7 (a translated wrapper, say) is allowed up to the contract's ceiling.
MAX_SEGMENTS = 3
# A correct answer this many times slower than the student's own median is rated Hard.
SLOW_FACTOR = 2.0
MIN_HISTORY = 5
# No intra-day learning steps: on a once-a-day channel a card is next due a day or more later.
SCHEDULER = Scheduler(learning_steps=(), relearning_steps=())

_ANSWER = re.compile(
    r"(?:Q\s*(?P<qid>\d++)\s*[:.,)#=-]?\s*)?"
    r"(?:(?:ANSWER|ANSWR|ANS|REPONSE|REP|RESPUESTA|RESP)\s*(?:IS\s*)?[:.=-]?\s*)?"
    r"[(\[]?(?P<choice>[A-D1-4])[)\].:!,]*"
)


@dataclass(frozen=True)
class Answer:
    choice: str  # A-D
    question_id: int | None = None


def parse_answer(text: str) -> Answer | None:
    """`A`, `b`, `B.`, `b)`, ` B `, `ans b`, `answer: c`, `2` (= B), `Q17 B` -> an Answer; else None."""
    decomposed = unicodedata.normalize("NFKD", (text or "")[:40])
    cleaned = "".join(c for c in decomposed if not unicodedata.combining(c)).strip().upper()
    match = _ANSWER.fullmatch(cleaned)
    if not match:
        return None
    choice = match["choice"]
    letter = LETTERS[int(choice) - 1] if choice.isdigit() else choice
    return Answer(letter, int(match["qid"]) if match["qid"] else None)


def _fit(render: Callable[[str], str], value: str, segments: int) -> str:
    """Render with as much of `value` as fits `segments` (cut with an ellipsis when it must be)."""
    text = render(value)
    budget = segments if is_gsm7(text) else MAX_SEGMENTS
    if segment_count(text) <= budget:
        return text
    low, high = 0, len(value)
    while low < high:
        middle = (low + high + 1) // 2
        if segment_count(render(value[:middle].rstrip() + "...")) <= budget:
            low = middle
        else:
            high = middle - 1
    return truncate_to(render(value[:low].rstrip() + "..."), budget)


def render_question(ctx: Context, person: Person, question: Question) -> str:
    """`Q{id} {stem}` then `A) ...` lines, within two GSM-7 segments."""
    options = "\n".join(
        f"{letter}) {str(text).strip()}" for letter, text in sorted((question.options or {}).items())
    )
    return _fit(
        lambda stem: ctx.say(person, "question", id=question.id, stem=stem, options=options),
        question.stem.strip(),
        QUESTION_SEGMENTS,
    )


# --- choosing -----------------------------------------------------------------------------


def _spread(*parts: object) -> int:
    """A stable per-person tie-break, so students do not all get the same question."""
    return zlib.crc32(":".join(map(str, parts)).encode())


def topic_stats(session: Session, person: Person) -> dict[str, tuple[int, int]]:
    """topic -> (answered, correct) for the person's answered questions."""
    return topic_stats_of(session, [person.id]).get(person.id, {})


def topic_stats_of(session: Session, person_ids: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """person id -> topic -> (answered, correct), for many people in one query."""
    rows = session.execute(
        select(
            Attempt.person_id,
            Question.topic,
            func.count(Attempt.id),
            func.sum(case((Attempt.correct.is_(True), 1), else_=0)),
        )
        .join(Question, Question.id == Attempt.question_id)
        .where(Attempt.person_id.in_(person_ids), Attempt.answered_at.is_not(None))
        .group_by(Attempt.person_id, Question.topic)
    ).all()
    stats: dict[int, dict[str, tuple[int, int]]] = {}
    for person_id, topic, answered, correct in rows:
        stats.setdefault(person_id, {})[topic] = (int(answered), int(correct or 0))
    return stats


def topic_strength(answered: int, correct: int) -> float:
    """Smoothed accuracy; its prior of 1/3 makes an unseen topic count as a weak one."""
    return (correct + 1) / (answered + 3)


_BANK = "rounds.active_bank"


@dataclass(frozen=True)
class Bank:
    """The active questions (id, topic, tracks, difficulty), with each track's pool worked out once."""

    rows: list[Row]
    pools: dict[str, list[Row]]
    topic_of: dict[int, str]

    def pool(self, track: str) -> list[Row]:
        if track not in self.pools:
            self.pools[track] = [q for q in self.rows if track in (q.tracks or [])]
        return self.pools[track]


def active_bank(session: Session) -> Bank:
    """Every active question, read once per session.

    The scheduling pass asks for it once per due student in one long session; a webhook's
    session lives for one text. Content loads run in sessions of their own.
    """
    bank = session.info.get(_BANK)
    if bank is None:
        rows = list(
            session.execute(
                select(Question.id, Question.topic, Question.tracks, Question.difficulty).where(
                    Question.active.is_(True)
                )
            ).all()
        )
        bank = session.info[_BANK] = Bank(rows, {}, {q.id: q.topic for q in rows})
    return bank


_HELD = "rounds.questions"


def hold_questions(session: Session) -> None:
    """Read every active question into the session at once, for a pass over many students."""
    held: dict[int, Question] = session.info.setdefault(_HELD, {})
    for question in session.scalars(select(Question).where(Question.active.is_(True))):
        held[question.id] = question


def _question(session: Session, question_id: int) -> Question | None:
    """A question, held for the session: the identity map alone is weak and re-reads it each time."""
    held: dict[int, Question] = session.info.setdefault(_HELD, {})
    if question_id not in held:
        question = session.get(Question, question_id)
        if question is None:
            return None
        held[question_id] = question
    return held[question_id]


@dataclass
class History:
    """What choosing a question needs to know of one student."""

    asked: dict[int, datetime] = field(default_factory=dict)  # question id -> last asked
    due: list[tuple[int, dict | None]] = field(
        default_factory=list
    )  # (question id, FSRS state), soonest first
    stats: dict[str, tuple[int, int]] | None = None  # topic_stats, when read with the rest


def histories(
    session: Session, people: list[Person], now: datetime, stats: bool = True
) -> dict[int, History]:
    """Each person's History, in two or three queries however many people there are."""
    ids = [person.id for person in people]
    found = {person_id: History(stats={} if stats else None) for person_id in ids}
    asked = session.execute(
        select(Attempt.person_id, Attempt.question_id, func.max(Attempt.asked_at))
        .where(Attempt.person_id.in_(ids))
        .group_by(Attempt.person_id, Attempt.question_id)
    )
    for person_id, question_id, last in asked:
        found[person_id].asked[question_id] = last
    # Once a day is the rhythm, so a card due at any time of the person's today is due now.
    ends = {person.id: end_of_local_day(person, now) for person in people}
    due = session.execute(
        select(Card.person_id, Card.question_id, Card.state, Card.due)
        .join(Question, Question.id == Card.question_id)
        .where(Card.person_id.in_(ids), Card.due < max(ends.values()), Question.active.is_(True))
        .order_by(Card.person_id, Card.due, Card.id)
    )
    for person_id, question_id, state, when in due:
        if when < ends[person_id]:
            found[person_id].due.append((question_id, state))
    if stats:
        for person_id, topics in topic_stats_of(session, ids).items():
            found[person_id].stats = topics
    return found


def pick_question(
    bank: Bank,
    person: Person,
    now: datetime,
    history: History,
    read_stats: Callable[[], dict[str, tuple[int, int]]],
) -> int | None:
    """Due reviews first, then an unasked question from the track's weakest topic, then repeats."""
    asked = history.asked
    for question_id, state in history.due:
        last_asked, reviewed = asked.get(question_id), (state or {}).get("last_review")
        # Put again since its last review and still unanswered: a few days' grace, not a loop.
        waiting = last_asked is not None and reviewed and last_asked > datetime.fromisoformat(reviewed)
        if not waiting or last_asked < now - OPEN_WINDOW:
            return question_id

    pool, general = bank.pool(person.track or "general"), bank.pool("general")
    fresh = [q for q in pool if q.id not in asked] or [q for q in general if q.id not in asked]
    if fresh:
        stats = history.stats if history.stats is not None else read_stats()
        asked_in = Counter(bank.topic_of.get(qid) for qid in asked)

        # The weakest topic first (least asked, then a per-person tie-break), then within it
        # the easiest question, ties broken per person so students do not all get the same one.
        def weakness(topic: str) -> tuple[float, int, int]:
            return (topic_strength(*stats.get(topic, (0, 0))), asked_in[topic], _spread(person.id, topic))

        ranked = {topic: weakness(topic) for topic in {q.topic for q in fresh}}
        weakest = min(ranked.values())
        return min(
            (q for q in fresh if ranked[q.topic] == weakest),
            key=lambda q: (q.difficulty, _spread(person.id, q.id)),
        ).id
    repeats = pool or general or bank.rows
    if not repeats:
        return None
    return min(repeats, key=lambda q: (asked.get(q.id) or now, q.id)).id


def choose_question(session: Session, person: Person, now: datetime) -> Question | None:
    """The question `pick_question` chooses for one person now (topic stats read only if needed)."""
    history = histories(session, [person], now, stats=False)[person.id]
    chosen = pick_question(active_bank(session), person, now, history, lambda: topic_stats(session, person))
    return None if chosen is None else _question(session, chosen)


# --- the daily push -----------------------------------------------------------------------


def _ready_for_push(person: Person, at: datetime) -> bool:
    if person.status == OPTED_OUT or onboarding.in_progress(person) or not person.daily_time:
        return False
    if person.status == PAUSED:
        if person.paused_until is None or person.paused_until > at:
            return False
        person.status, person.paused_until = ACTIVE, None  # the pause has run out
    return True


@dataclass(frozen=True)
class Planned:
    """A daily question written for one person: the Attempt row's id and the text to send."""

    person: Person
    attempt_id: int
    question: Question
    day: date
    text: str


def plan_daily_questions(ctx: Context, people: list[Person], at: datetime) -> list[Planned]:
    """Create today's daily Attempt for each due person, for a whole batch at once.

    A few queries per batch, not per person: their histories, one INSERT for the attempts.
    Skipped: people who already have this local date's daily question (the (person, local
    date, 'daily') key makes the INSERT yield, so two passes cannot both ask), who are not
    active (opted out, paused, onboarding), whose quiet hours it is (unless it is their chosen
    time), or when the bank is empty. Does not commit; call `advance_schedule(person, at,
    settings)` for each person afterwards either way.
    """
    session = ctx.session
    ready = [p for p in people if _ready_for_push(p, at) and not in_quiet_hours(p, at, ctx.settings)]
    if not ready:
        return []
    found = histories(session, ready, at)
    bank = active_bank(session)
    chosen: list[tuple[Person, Question, date]] = []
    for person in ready:
        question_id = pick_question(bank, person, at, found[person.id], dict)  # stats already read
        question = None if question_id is None else _question(session, question_id)
        if question is not None:
            chosen.append((person, question, local_date(person, at)))
    rows = [_attempt_values(person, question, day, DAILY, at) for person, question, day in chosen]
    inserted = dict(
        (person_id, attempt_id)
        for attempt_id, person_id in insert_many_or_ignore(
            session, Attempt, rows, ["person_id", "local_date", "source"], ("id", "person_id")
        )
    )
    texts: dict[tuple[int, str], str] = {}  # the same question reads the same in one language
    planned = []
    for person, question, day in chosen:
        if person.id not in inserted:
            continue  # already asked today (by this pass earlier or a concurrent one)
        text = texts.get((question.id, person.language or "en"))
        if text is None:
            text = texts[question.id, person.language or "en"] = render_question(ctx, person, question)
        planned.append(Planned(person, inserted[person.id], question, day, text))
    return planned


def plan_daily_question(ctx: Context, person: Person, at: datetime) -> tuple[Attempt, str] | None:
    """`plan_daily_questions` for one person: their new Attempt and its text, or None."""
    planned = plan_daily_questions(ctx, [person], at)
    if not planned:
        return None
    (one,) = planned
    values = _attempt_values(person, one.question, one.day, DAILY, at)
    return _held_attempt(ctx.session, one.attempt_id, values), one.text


def _attempt_values(person: Person, question: Question, day: date, source: str, at: datetime) -> dict:
    return {
        "person_id": person.id,
        "question_id": question.id,
        "source": source,
        "local_date": day,
        "asked_at": at,
        "skipped": False,
    }


def _held_attempt(session: Session, attempt_id: int, values: dict) -> Attempt:
    # Every column is known: hand the row to the session as loaded instead of reading it back
    # (merge, not add: SQLite may reuse the id of a row a rolled-back savepoint left in the session).
    attempt = Attempt(
        id=attempt_id, answered_at=None, choice=None, correct=None, response_seconds=None, **values
    )
    make_transient_to_detached(attempt)
    return session.merge(attempt, load=False)


def _insert_attempt(
    session: Session, person: Person, question: Question, day: date, source: str, at: datetime
) -> Attempt | None:
    # One statement that yields on the (person, local date, source) key, so two passes cannot both send.
    values = _attempt_values(person, question, day, source, at)
    new_id = insert_or_ignore(session, Attempt, values, ["person_id", "local_date", "source"])
    return None if new_id is None else _held_attempt(session, new_id, values)


# --- answers ------------------------------------------------------------------------------

# Answering runs on every text, so its statements are built once per database dialect and run as
# Core statements on the session's connection: ORM loading and unit-of-work flushes cost several
# times as much a statement here, and every round trip to the database counts (bench/FINDINGS.md).
# `_forget` keeps any copy of a written row the session holds in step.

# Answer days read with the question for the streak; only a longer streak reads them all.
STREAK_FIRST_READ = 16
STREAK_MOST_DAYS = 3700
ANSWER_COLUMNS = ("choice", "correct", "skipped", "answered_at", "response_seconds")
CARD_COLUMNS = ("due", "state", "reviews", "lapses")


def _answer_statements(dialect: str) -> dict:
    from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, insert, null, union_all, update

    attempts, questions, cards = Attempt.__table__, Question.__table__, Card.__table__
    person_id, asked_at = bindparam("person_id"), attempts.c.asked_at
    if dialect == "postgresql":
        next_card_id: ColumnElement[int] = func.nextval(f"{cards.name}_id_seq")
    else:
        # SQLite's own choice of id; no other writer can add a card in between under BEGIN IMMEDIATE.
        every_card = cards.alias("every_card")
        next_card_id = select(func.coalesce(func.max(every_card.c.id), 0) + 1).scalar_subquery()

    def answer_days(most: int | ColumnElement[int]) -> Select:
        """The person's latest `most` distinct local days with an answer, newest first."""
        return (
            select(attempts.c.local_date)
            .where(attempts.c.person_id == person_id, attempts.c.answered_at.is_not(None))
            .distinct()
            .order_by(attempts.c.local_date.desc())
            .limit(most)
        )

    def asking(*where: ColumnElement[bool], answering: bool) -> Select:
        """The latest matching asking, with its question and the person's card for it.

        For an answer it also brings the id a new card will take and, one row a day with the
        other columns empty, the person's latest answer days: everything in one round trip.
        """
        columns = [
            attempts.c.id,
            attempts.c.question_id,
            attempts.c.source,
            attempts.c.local_date,
            asked_at,
            attempts.c.answered_at,
            questions.c.id.label("found"),
            questions.c.answer,
            questions.c.options,
            questions.c.explanation,
            cards.c.id.label("card_id"),
            cards.c.state,
            cards.c.reviews,
            cards.c.lapses,
        ]
        if answering:
            columns.append(case((cards.c.id.is_(None), next_card_id)).label("new_card_id"))
        latest = (
            select(*columns)
            .select_from(
                attempts.outerjoin(questions, questions.c.id == attempts.c.question_id).outerjoin(
                    cards,
                    and_(
                        cards.c.person_id == attempts.c.person_id,
                        cards.c.question_id == attempts.c.question_id,
                    ),
                )
            )
            .where(attempts.c.person_id == person_id, *where)
            .order_by(asked_at.desc(), attempts.c.id.desc())
            .limit(1)
        )
        if not answering:
            return latest
        first, days = latest.subquery(), answer_days(STREAK_FIRST_READ).subquery()
        return union_all(
            select(first),
            select(*(days.c.local_date if c.name == "local_date" else null().label(c.name) for c in first.c)),
        )

    def response_times(same_kind: ColumnElement[bool]) -> Select:
        return (
            select(attempts.c.response_seconds)
            .where(
                attempts.c.person_id == person_id,
                attempts.c.answered_at.is_not(None),
                attempts.c.response_seconds.is_not(None),
                same_kind,
            )
            .order_by(attempts.c.answered_at.desc())
            .limit(50)
        )

    def values(table: Table, prefix: str, names: tuple[str, ...]) -> dict:
        return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names}

    is_open = (
        attempts.c.answered_at.is_(None),
        attempts.c.skipped.is_(False),
        asked_at >= bindparam("since", type_=asked_at.type),
    )
    by_question = attempts.c.question_id == bindparam("question_id")
    answered = (
        update(attempts)
        .where(attempts.c.id == bindparam("attempt_id"))
        .values(values(attempts, "answer", ANSWER_COLUMNS))
    )
    new_card = insert(cards).values(values(cards, "card", ("id", "person_id", "question_id", *CARD_COLUMNS)))
    card = (
        update(cards).where(cards.c.id == bindparam("card_row")).values(values(cards, "card", CARD_COLUMNS))
    )
    if dialect == "postgresql":
        # The answer and the card in one statement (the attempt's UPDATE a writable CTE): a round trip less.
        new_card, card = new_card.add_cte(answered.cte("answered")), card.add_cte(answered.cte("answered"))
        answered = None
    return {
        "open": asking(*is_open, answering=False),
        "open_answering": asking(*is_open, answering=True),
        "by_question_answering": asking(by_question, answering=True),
        "days": answer_days(bindparam("most")),
        "daily_times": response_times(attempts.c.source == DAILY),
        "asked_times": response_times(attempts.c.source != DAILY),
        "answered": answered,
        "new_card": new_card,
        "card": card,
    }


_STATEMENTS: dict[str, dict] = {}


def _statement(connection, name: str):  # type: ignore[no-untyped-def]
    dialect = connection.dialect.name
    statements = _STATEMENTS.get(dialect)
    if statements is None:
        statements = _STATEMENTS[dialect] = _answer_statements(dialect)
    return statements[name]


def _run(connection, name: str, params: dict | None = None):  # type: ignore[no-untyped-def]
    return connection.execute(_statement(connection, name), params)


def _forget(session: Session, model: type[Attempt] | type[Card], row_id: int, names: list[str]) -> None:
    """A copy of a row written by a Core statement, if the session holds one, is read again when used."""
    held = session.identity_map.get(Session.identity_key(model, row_id))
    if held is not None:
        session.expire(held, names)


def _save(session: Session, connection, person: Person, asking: Row, answered: dict, card: dict) -> None:  # type: ignore[no-untyped-def]
    """The answer on the attempt and the reviewed card (created on first review)."""
    new = asking.card_id is None
    card_id = asking.new_card_id if new else asking.card_id
    params = {f"answer_{name}": answered[name] for name in ANSWER_COLUMNS}
    params.update(
        {f"card_{name}": value for name, value in card.items()}, attempt_id=asking.id, card_row=card_id
    )
    params.update(card_id=card_id, card_person_id=person.id, card_question_id=asking.question_id)
    if _statement(connection, "answered") is not None:  # else the card's statement writes the answer too
        _run(connection, "answered", params)
    _run(connection, "new_card" if new else "card", params)
    _forget(session, Attempt, asking.id, list(ANSWER_COLUMNS))
    _forget(session, Card, card_id, ["person_id", "question_id", *CARD_COLUMNS])


def open_attempt(session: Session, person: Person, now: datetime) -> Attempt | None:
    """The latest question still waiting for an answer (not skipped, asked within three days)."""
    return session.scalars(
        select(Attempt)
        .where(
            Attempt.person_id == person.id,
            Attempt.answered_at.is_(None),
            Attempt.skipped.is_(False),
            Attempt.asked_at >= now - OPEN_WINDOW,
        )
        .order_by(Attempt.asked_at.desc(), Attempt.id.desc())
        .limit(1)
    ).first()


def _asking(session: Session, name: str, params: dict) -> tuple[Row | None, set[date]]:
    """The asking a statement finds (None if none), and the answer days read with it."""
    found, days = None, set()
    for row in _run(core_connection(session), name, params):
        if row.id is None:
            days.add(row.local_date)
        else:
            found = row
    return found, days


def _answer_days(session: Session, person: Person, most: int) -> set[date]:
    return set(_run(core_connection(session), "days", {"person_id": person.id, "most": most}).scalars())


def _run_up_to(today: date, days: set[date]) -> tuple[int, date]:
    """The run of consecutive `days` up to today (or yesterday), and the day that ended it."""
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak, day


def streak_days(
    session: Session,
    person: Person,
    now: datetime,
    latest: set[date] | None = None,
    answered_on: date | None = None,
) -> int:
    """Consecutive local days, up to today (or yesterday), with at least one answer.

    `latest`: the newest STREAK_FIRST_READ answer days (all of them if fewer), if the caller read them
    already, before it recorded an answer on the local date `answered_on`. Every day is read only when
    the run reaches past the oldest of them.
    """
    if latest is None:
        latest = _answer_days(session, person, STREAK_FIRST_READ)
    today = local_date(person, now)
    streak, ended = _run_up_to(today, latest | {answered_on} if answered_on else latest)
    if len(latest) >= STREAK_FIRST_READ and ended < min(latest):
        streak, _ = _run_up_to(today, _answer_days(session, person, STREAK_MOST_DAYS))
    return streak


def _slow(connection, person: Person, source: str, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    """Much slower than this student's own median (once there are enough answers to know it).

    A pushed question waits in the inbox for hours while an asked-for one is answered at once,
    so each is compared with its own kind.
    """
    times = "daily_times" if source == DAILY else "asked_times"
    history = _run(connection, times, {"person_id": person.id}).scalars().all()
    if len(history) < MIN_HISTORY:
        return False
    return seconds > SLOW_FACTOR * statistics.median(history)


def review_card(asking: Row, rating: Rating, now: datetime) -> dict:
    """One FSRS review of the person's card for the asking's question: the card's new columns.

    `asking` carries the card's columns (None when there is no card yet) and the id a new card takes.
    """
    if asking.card_id is None:
        card, reviews, lapses = FsrsCard(card_id=asking.new_card_id, due=now), 0, 0
    else:
        card = FsrsCard.from_dict(asking.state) if asking.state else FsrsCard(card_id=asking.card_id, due=now)
        reviews, lapses = asking.reviews, asking.lapses
    card, _log = SCHEDULER.review_card(card, rating, review_datetime=now)
    if rating == Rating.Again and reviews:
        lapses += 1
    return {"state": dict(card.to_dict()), "due": card.due, "reviews": reviews + 1, "lapses": lapses}


def _answer(ctx: Context, person: Person, asking: Row, letter: str, latest_days: set[date]) -> Outcome:
    """Record `letter` as the answer to `asking` (a row of an "answering" statement) and give feedback."""
    if asking.found is None or letter not in (asking.options or {}):
        return reply(ctx.say(person, "answer_unclear", id=asking.question_id))
    now = ctx.now.astimezone(UTC)
    seconds = max((now - asking.asked_at).total_seconds(), 0.0)
    answer = asking.answer
    correct = letter == answer.strip().upper()
    connection = core_connection(ctx.session)
    if not correct:
        rating = Rating.Again
    else:
        rating = Rating.Hard if _slow(connection, person, asking.source, seconds) else Rating.Good
    answered = {
        "choice": letter,
        "correct": correct,
        "skipped": False,
        "answered_at": now,
        "response_seconds": seconds,
    }
    _save(ctx.session, connection, person, asking, answered, review_card(asking, rating, now))
    streak = streak_days(ctx.session, person, now, latest_days, asking.local_date)
    key = "feedback_correct" if correct else "feedback_wrong"
    return reply(
        _fit(
            lambda why: ctx.say(person, key, answer=answer, explanation=why, streak=streak),
            asking.explanation.strip(),
            FEEDBACK_SEGMENTS,
        )
    )


def _answer_by_id(ctx: Context, person: Person, answer: Answer) -> Outcome:
    """`Q17 B`: the person's latest asking of question 17, however many came after it."""
    params = {"person_id": person.id, "question_id": answer.question_id}
    asking, days = _asking(ctx.session, "by_question_answering", params)
    if asking is None:
        return reply(ctx.say(person, "unknown_question", id=answer.question_id))
    if asking.answered_at is not None:
        right = asking.answer if asking.found is not None else "?"
        return reply(ctx.say(person, "already_answered", id=asking.question_id, answer=right))
    return _answer(ctx, person, asking, answer.choice, days)


def answer_or_hint(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """An answer goes to its question; anything else while a question is open gets a hint."""
    answer = parse_answer(command.raw)
    if answer is not None and answer.question_id is not None:
        return _answer_by_id(ctx, person, answer)
    params = {"person_id": person.id, "since": ctx.now - OPEN_WINDOW}
    asking, days = _asking(ctx.session, "open" if answer is None else "open_answering", params)
    if asking is None and not onboarding.is_onboarded(person):
        return None  # never signed up (their first text was HELP, say): onboarding takes it
    if answer is not None:
        if asking is None:
            return reply(ctx.say(person, "no_open_question"))
        return _answer(ctx, person, asking, answer.choice, days)
    if asking is not None:
        return reply(ctx.say(person, "answer_unclear", id=asking.question_id))
    return None


# --- keywords -----------------------------------------------------------------------------


def question_now(ctx: Context, person: Person, command: Command) -> Outcome:
    answer = parse_answer(command.raw)
    if answer is not None and answer.question_id is not None:
        return _answer_by_id(ctx, person, answer)  # "Q 17 B", with a space after the Q
    if onboarding.in_progress(person):
        return reply(onboarding.prompt(ctx, person))
    session, cap = ctx.session, ctx.settings.daily_question_cap
    day = local_date(person, ctx.now)
    sources = list(
        session.scalars(
            select(Attempt.source).where(Attempt.person_id == person.id, Attempt.local_date == day)
        )
    )
    if len(sources) >= cap:
        return reply(ctx.say(person, "daily_cap", cap=cap))
    question = choose_question(session, person, ctx.now)
    if question is None:
        return reply(ctx.say(person, "no_questions"))
    extras = sum(1 for source in sources if source != DAILY)
    for number in range(extras + 1, extras + cap + 2):
        if _insert_attempt(session, person, question, day, f"more:{number}", ctx.now) is not None:
            break
    return reply(render_question(ctx, person, question))


def skip(ctx: Context, person: Person, command: Command) -> Outcome:
    if onboarding.in_progress(person):
        return reply(onboarding.prompt(ctx, person))
    attempt = open_attempt(ctx.session, person, ctx.now)
    if attempt is None:
        return reply(ctx.say(person, "no_open_question"))
    attempt.skipped = True
    return reply(ctx.say(person, "skipped", id=attempt.question_id))


def score(ctx: Context, person: Person, command: Command) -> Outcome:
    stats = topic_stats(ctx.session, person)
    answered = sum(n for n, _ in stats.values())
    if not answered:
        return reply(ctx.say(person, "score_empty"))
    correct = sum(c for _, c in stats.values())
    weakest = min(stats, key=lambda topic: (topic_strength(*stats[topic]), topic))
    return reply(
        ctx.say(
            person,
            "score",
            streak=streak_days(ctx.session, person, ctx.now),
            answered=answered,
            accuracy=round(100 * correct / answered),
            weakest=topic_name(ctx, weakest),
            topic_key=weakest,
        )
    )
