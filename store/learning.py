"""Learning state queries: the active question bank, who was asked what, answers, FSRS cards, and
the study resources.

Flows reach these through `ctx.learning` (a `Learning` over the flow's session) and decide;
nothing here chooses a question or rates an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Connection,
    CursorResult,
    Executable,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached

from store.db import core_connection, insert_many_or_ignore, insert_or_ignore
from store.models import Attempt, Card, Question, Resource
from store.translations import TRANSLATED_LANGUAGES, Translated, translations_for

# Attempt.source of the scheduled push; extra questions are 'more:<n>'.
DAILY = "daily"
ATTEMPT_KEY = ["person_id", "local_date", "source"]


class BankQuestion(NamedTuple):
    """What choosing needs of an active question (the stem and options are read once chosen)."""

    id: int
    topic: str
    tracks: list[str] | None
    difficulty: int
    review_by: date | None = None


@dataclass
class Bank:
    """The active questions, with each track's pool worked out once."""

    rows: list[BankQuestion]
    pools: dict[str, list[BankQuestion]] = field(default_factory=dict)
    # Serving only reviewed items: a track without any is told so, never given another track's.
    track_only: bool = False
    topic_of: dict[int, str] = field(init=False)
    review_by: dict[int, date] = field(init=False)

    def __post_init__(self) -> None:
        self.topic_of = {q.id: q.topic for q in self.rows}
        self.review_by = {q.id: q.review_by for q in self.rows if q.review_by is not None}

    overdue_on: dict[date, frozenset[int]] = field(default_factory=dict)

    def pool(self, track: str, serving_on: date | None = None) -> list[BankQuestion]:
        """The track's questions; with `serving_on`, only those not overdue for review that day."""
        key = track if serving_on is None else f"{track}@{serving_on.isoformat()}"
        if key not in self.pools:
            overdue = self.overdue(serving_on) if serving_on is not None else frozenset()
            self.pools[key] = [q for q in self.rows if track in (q.tracks or []) and q.id not in overdue]
        return self.pools[key]

    def overdue(self, day: date) -> frozenset[int]:
        """The questions whose review_by is before `day` (worked out once a day, not per student)."""
        if day not in self.overdue_on:
            self.overdue_on[day] = frozenset(qid for qid, by in self.review_by.items() if by < day)
        return self.overdue_on[day]


@dataclass
class History:
    """What choosing a question needs to know of one student."""

    asked: dict[int, datetime] = field(default_factory=dict)  # question id -> last asked
    # (question id, FSRS state), soonest first
    due: list[tuple[int, dict | None]] = field(default_factory=list)
    stats: dict[str, tuple[int, int]] | None = None  # topic -> (answered, correct), when read


# Question.status of a question students are served.
PUBLISHED = "published"
_BANK = "rounds.active_bank"
_HELD = "rounds.questions"
_TRANSLATIONS = "rounds.translations"
# Answer days read with the question for the streak; only a longer streak reads them all.
STREAK_FIRST_READ = 16
ANSWER_COLUMNS = ("choice", "correct", "skipped", "answered_at", "response_seconds")
CARD_COLUMNS = ("due", "state", "reviews", "lapses")


def forget_bank(session: Session) -> None:
    """Drop the bank this session read, after a change to which questions are served."""
    for key in [k for k in session.info if str(k).startswith(_BANK)]:
        del session.info[key]
    session.info.pop(_HELD, None)


class Learning:
    """The learning queries over one session (the caller commits).

    `min_approvals` > 0 (ROUNDS_SERVE_ONLY_REVIEWED) leaves questions with fewer approvals of
    their published version out of the bank students are served from.
    """

    def __init__(self, session: Session, min_approvals: int = 0):
        self.session = session
        self.min_approvals = min_approvals

    def _served(self) -> list[ColumnElement[bool]]:
        served = [Question.active.is_(True), Question.status == PUBLISHED]
        if self.min_approvals > 0:
            served.append(Question.approvals >= self.min_approvals)
        return served

    # --- the bank -------------------------------------------------------------------------

    def active_bank(self) -> Bank:
        """Every active question, read once per session.

        The scheduling pass asks for it once per due student in one long session; a webhook's
        session lives for one text. Content loads run in sessions of their own.
        """
        # Kept per approval floor: one session may serve under both settings (tests, the console).
        key = f"{_BANK}:{self.min_approvals}"
        bank = self.session.info.get(key)
        if bank is None:
            rows = self.session.execute(
                select(
                    Question.id, Question.topic, Question.tracks, Question.difficulty, Question.review_by
                ).where(*self._served())
            )
            bank = Bank([BankQuestion(*row) for row in rows], track_only=self.min_approvals > 0)
            self.session.info[key] = bank
        return bank

    def hold_questions(self) -> None:
        """Read every active question into the session at once, for a pass over many students."""
        held: dict[int, Question] = self.session.info.setdefault(_HELD, {})
        for question in self.session.scalars(
            select(Question).where(Question.active.is_(True), Question.status == PUBLISHED)
        ):
            held[question.id] = question

    def question(self, question_id: int) -> Question | None:
        """A question, held for the session: the identity map alone is weak and re-reads it each time."""
        held: dict[int, Question] = self.session.info.setdefault(_HELD, {})
        if question_id not in held:
            question = self.session.get(Question, question_id)
            if question is None:
                return None
            held[question_id] = question
        return held[question_id]

    def hold_translations(self, question_ids: set[int], languages: set[str]) -> None:
        """Read the translations of these questions into these languages at once, for a pass over
        many students (one query, however many students; a missing one is remembered as missing)."""
        held: dict[tuple[int, str], Translated | None] = self.session.info.setdefault(_TRANSLATIONS, {})
        wanted = {language for language in languages if language in TRANSLATED_LANGUAGES}
        pairs = {(qid, language) for qid in question_ids for language in wanted} - held.keys()
        if not pairs:
            return
        found = translations_for(self.session, {qid for qid, _ in pairs}, {lang for _, lang in pairs})
        for pair in pairs:
            held[pair] = found.get(pair)

    def translation(self, question_id: int, language: str | None) -> Translated | None:
        """The question's published text in `language`, held for the session; None for English, or
        when there is none for the version now published (the student then gets the English)."""
        if language not in TRANSLATED_LANGUAGES:
            return None
        self.hold_translations({question_id}, {language})
        return self.session.info[_TRANSLATIONS][question_id, language]

    def resources(self) -> list[Resource]:
        """The active study resources, in id order."""
        return list(
            self.session.scalars(select(Resource).where(Resource.active.is_(True)).order_by(Resource.id))
        )

    def resources_version(self) -> tuple[tuple[Any, ...], ...]:
        """What a search index is built from (id, title, kind, topics, languages of every active
        resource) as plain text: read on each RES to tell whether a cached index is current,
        without building a row object or decoding JSON per resource."""
        rows = self.session.execute(
            select(
                Resource.id,
                Resource.title,
                Resource.kind,
                cast(Resource.topics, String),
                cast(Resource.languages, String),
            )
            .where(Resource.active.is_(True))
            .order_by(Resource.id)
        )
        return tuple(tuple(row) for row in rows)

    def resources_by_id(self, ids: list[str]) -> list[Resource]:
        """These active resources, in the order of `ids` (unknown or retired ones left out)."""
        found = {
            r.id: r
            for r in self.session.scalars(
                select(Resource).where(Resource.id.in_(ids), Resource.active.is_(True))
            )
        }
        return [found[i] for i in ids if i in found]

    # --- history --------------------------------------------------------------------------

    def topic_stats(self, person_ids: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
        """person id -> topic -> (answered, correct), for many people in one query."""
        rows = self.session.execute(
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

    def histories(self, day_ends: dict[int, datetime], stats: bool = True) -> dict[int, History]:
        """Each person's History, in two or three queries however many people there are.

        `day_ends`: person id -> the instant their local day ends; a card due before it is due.
        """
        ids = list(day_ends)
        found = {person_id: History(stats={} if stats else None) for person_id in ids}
        asked = self.session.execute(
            select(Attempt.person_id, Attempt.question_id, func.max(Attempt.asked_at))
            .where(Attempt.person_id.in_(ids))
            .group_by(Attempt.person_id, Attempt.question_id)
        )
        for person_id, question_id, last in asked:
            found[person_id].asked[question_id] = last
        due = self.session.execute(
            select(Card.person_id, Card.question_id, Card.state, Card.due)
            .join(Question, Question.id == Card.question_id)
            .where(
                Card.person_id.in_(ids),
                Card.due < max(day_ends.values()),
                *self._served(),
            )
            .order_by(Card.person_id, Card.due, Card.id)
        )
        for person_id, question_id, state, when in due:
            if when < day_ends[person_id]:
                found[person_id].due.append((question_id, state))
        if stats:
            for person_id, topics in self.topic_stats(ids).items():
                found[person_id].stats = topics
        return found

    def sources_on(self, person_id: int, day: date) -> list[str]:
        """The sources of the questions the person was asked on their local date `day`."""
        return list(
            self.session.scalars(
                select(Attempt.source).where(Attempt.person_id == person_id, Attempt.local_date == day)
            )
        )

    # --- asking ---------------------------------------------------------------------------

    @staticmethod
    def attempt_values(
        person_id: int, question_id: int, day: date, source: str, at: datetime, version: int | None = None
    ) -> dict:
        return {
            "person_id": person_id,
            "question_id": question_id,
            "question_version": version,
            "source": source,
            "local_date": day,
            "asked_at": at,
            "skipped": False,
        }

    def held_attempt(self, attempt_id: int, values: dict) -> Attempt:
        # Every column is known: hand the row to the session as loaded instead of reading it back
        # (merge, not add: SQLite may reuse the id of a row a rolled-back savepoint left in the session).
        attempt = Attempt(
            id=attempt_id, answered_at=None, choice=None, correct=None, response_seconds=None, **values
        )
        make_transient_to_detached(attempt)
        return self.session.merge(attempt, load=False)

    def insert_attempt(
        self,
        person_id: int,
        question_id: int,
        day: date,
        source: str,
        at: datetime,
        version: int | None = None,
    ) -> Attempt | None:
        """One INSERT that yields on the (person, local date, source) key: two passes cannot both send."""
        values = self.attempt_values(person_id, question_id, day, source, at, version)
        new_id = insert_or_ignore(self.session, Attempt, values, ATTEMPT_KEY)
        return None if new_id is None else self.held_attempt(new_id, values)

    def insert_attempts(self, rows: list[dict]) -> dict[int, int]:
        """Attempt rows in one INSERT; person id -> new attempt id for those not already there."""
        inserted = insert_many_or_ignore(self.session, Attempt, rows, ATTEMPT_KEY, ("id", "person_id"))
        return {person_id: attempt_id for attempt_id, person_id in inserted}

    def open_attempt(self, person_id: int, since: datetime) -> Attempt | None:
        """The latest question still waiting for an answer (not skipped, asked since `since`)."""
        return self.session.scalars(
            select(Attempt)
            .where(
                Attempt.person_id == person_id,
                Attempt.answered_at.is_(None),
                Attempt.skipped.is_(False),
                Attempt.asked_at >= since,
            )
            .order_by(Attempt.asked_at.desc(), Attempt.id.desc())
            .limit(1)
        ).first()

    def open_since(self, person_id: int, after: datetime) -> bool:
        """A question asked after `after` is still waiting for its answer."""
        found = self.session.scalar(
            select(Attempt.id)
            .where(
                Attempt.person_id == person_id,
                Attempt.answered_at.is_(None),
                Attempt.skipped.is_(False),
                Attempt.asked_at > after,
            )
            .limit(1)
        )
        return found is not None

    # --- answering ------------------------------------------------------------------------
    # Answering runs on every text, so its statements are built once per database dialect and run
    # as Core statements on the session's connection: ORM loading and unit-of-work flushes cost
    # several times as much a statement here, and every round trip counts (bench/FINDINGS.md).
    # `_forget` keeps any copy of a written row the session holds in step.

    def open_asking(self, person_id: int, since: datetime, answering: bool) -> tuple[Row | None, set[date]]:
        """The latest open asking with its question and card (and, answering, the answer days)."""
        name = "open_answering" if answering else "open"
        return self._asking(name, {"person_id": person_id, "since": since})

    def asking_of(self, person_id: int, question_id: int) -> tuple[Row | None, set[date]]:
        """The person's latest asking of this question, answered or not, with the answer days."""
        return self._asking("by_question_answering", {"person_id": person_id, "question_id": question_id})

    def _asking(self, name: str, params: dict) -> tuple[Row | None, set[date]]:
        """The asking a statement finds (None if none), and the answer days read with it."""
        found, days = None, set()
        for row in _run(core_connection(self.session), name, params):
            if row.id is None:
                days.add(row.local_date)
            else:
                found = row
        return found, days

    def answer_days(self, person_id: int, most: int) -> set[date]:
        """The person's latest `most` distinct local days with an answer."""
        params = {"person_id": person_id, "most": most}
        return set(_run(core_connection(self.session), "days", params).scalars())

    def response_times(self, person_id: int, daily: bool) -> list[float]:
        """The person's latest answer times (seconds), for pushed or for asked-for questions."""
        name = "daily_times" if daily else "asked_times"
        return list(_run(core_connection(self.session), name, {"person_id": person_id}).scalars())

    def save_answer(self, person_id: int, asking: Row, answered: dict, card: dict) -> None:
        """The answer on the attempt and the reviewed card (created on first review)."""
        connection = core_connection(self.session)
        new = asking.card_id is None
        card_id = asking.new_card_id if new else asking.card_id
        params = {f"answer_{name}": answered[name] for name in ANSWER_COLUMNS}
        params.update(
            {f"card_{name}": value for name, value in card.items()}, attempt_id=asking.id, card_row=card_id
        )
        params.update(card_id=card_id, card_person_id=person_id, card_question_id=asking.question_id)
        if _statement(connection, "answered") is not None:  # else the card's statement writes the answer too
            _run(connection, "answered", params)
        _run(connection, "new_card" if new else "card", params)
        self._forget(Attempt, asking.id, list(ANSWER_COLUMNS))
        self._forget(Card, card_id, ["person_id", "question_id", *CARD_COLUMNS])

    def _forget(self, model: type[Attempt] | type[Card], row_id: int, names: list[str]) -> None:
        """A copy of a row written by a Core statement, if the session holds one, is read again when used."""
        held = self.session.identity_map.get(Session.identity_key(model, row_id))
        if held is not None:
            self.session.expire(held, names)


def _answer_statements(dialect: str) -> dict[str, Executable | None]:
    attempts, questions, cards = Attempt.__table__, Question.__table__, Card.__table__
    person_id: BindParameter[int] = bindparam("person_id")
    asked_at = attempts.c.asked_at
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

    def asking(*where: ColumnElement[bool], answering: bool) -> Select | CompoundSelect:
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
    return {
        "open": asking(*is_open, answering=False),
        "open_answering": asking(*is_open, answering=True),
        "by_question_answering": asking(by_question, answering=True),
        "days": answer_days(bindparam("most")),
        "daily_times": response_times(attempts.c.source == DAILY),
        "asked_times": response_times(attempts.c.source != DAILY),
        "answered": None if dialect == "postgresql" else answered,
        "new_card": new_card,
        "card": card,
    }


_STATEMENTS: dict[str, dict[str, Executable | None]] = {}


def _statement(connection: Connection, name: str) -> Executable | None:
    dialect = connection.dialect.name
    statements = _STATEMENTS.get(dialect)
    if statements is None:
        statements = _STATEMENTS[dialect] = _answer_statements(dialect)
    return statements[name]


def _run(connection: Connection, name: str, params: dict[str, Any] | None = None) -> CursorResult[Any]:
    statement = _statement(connection, name)
    assert statement is not None, f"no {name!r} statement on {connection.dialect.name}"
    return connection.execute(statement, params)
