"""CSV exports of answers, learners and messages, streamed so memory stays flat at any size.

Rows come through `yield_per` (a server-side cursor on PostgreSQL) a thousand at a time and
leave as CSV text at once; the CLI writes them to a file, the console streams them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from store.db import read_session
from store.models import Attempt, Message, Person, Question

CHUNK = 1000


# What a spreadsheet reads as the start of a formula (or as a line break that hides one).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def spreadsheet_cell(value: Any) -> str:
    """One cell of any export, as text a spreadsheet shows and never evaluates.

    A cell starting (after any spaces) with = + - @ or a tab or line break is a formula to
    Excel, LibreOffice or Sheets: it gets a leading apostrophe, so `=1+2` shows as typed.
    A plain number (`-3`, `12.5`) or an E.164 number (`+2348031234111`) stays as it is.
    """
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    stripped = text.lstrip(" ")
    if stripped.startswith(_FORMULA_START) and not (
        _PLAIN_NUMBER.fullmatch(stripped) or _E164.fullmatch(stripped)
    ):
        return "'" + text
    return text


@dataclass(frozen=True)
class Export:
    name: str
    header: tuple[str, ...]
    statement: Callable[[], Select]
    row: Callable[[Any], list[Any]]  # the cells of one result row, before spreadsheet_cell


def _answers() -> Select:
    return (
        select(
            Attempt.id,
            Attempt.person_id,
            Attempt.question_id,
            Question.topic,
            Attempt.source,
            Attempt.local_date,
            Attempt.asked_at,
            Attempt.answered_at,
            Attempt.choice,
            Attempt.correct,
            Attempt.skipped,
            Attempt.response_seconds,
        )
        .join(Question, Question.id == Attempt.question_id)
        .order_by(Attempt.id)
    )


def _learners() -> Select:
    scores = (
        select(
            Attempt.person_id.label("person_id"),
            func.count(Attempt.answered_at).label("answered"),
            func.sum(case((Attempt.correct.is_(True), 1), else_=0)).label("correct"),
        )
        .group_by(Attempt.person_id)
        .subquery()
    )
    return (
        select(
            Person.id,
            Person.phone,
            Person.name,
            Person.role,
            Person.channel,
            Person.language,
            Person.country,
            Person.timezone,
            Person.track,
            Person.status,
            Person.daily_time,
            Person.created_at,
            Person.last_inbound_at,
            func.coalesce(scores.c.answered, 0),
            func.coalesce(scores.c.correct, 0),
        )
        .outerjoin(scores, scores.c.person_id == Person.id)
        .order_by(Person.id)
    )


def _messages() -> Select:
    return select(
        Message.id,
        Message.person_id,
        Message.direction,
        Message.channel,
        Message.phone,
        Message.kind,
        Message.status,
        Message.segments,
        Message.encoding,
        Message.error_code,
        Message.created_at,
        Message.sent_at,
        Message.body,
        Message.simulated_by,
        Message.actual_cost,
        Message.price_unit,
    ).order_by(Message.id)


EXPORTS: dict[str, Export] = {
    "answers": Export(
        "answers",
        (
            "attempt_id",
            "person_id",
            "question_id",
            "topic",
            "source",
            "local_date",
            "asked_at",
            "answered_at",
            "choice",
            "correct",
            "skipped",
            "response_seconds",
        ),
        _answers,
        list,
    ),
    "learners": Export(
        "learners",
        (
            "id",
            "phone",
            "name",
            "role",
            "channel",
            "language",
            "country",
            "timezone",
            "track",
            "status",
            "daily_time",
            "joined_at",
            "last_active_at",
            "answered",
            "correct",
        ),
        _learners,
        list,
    ),
    "messages": Export(
        "messages",
        (
            "id",
            "person_id",
            "direction",
            "channel",
            "phone",
            "kind",
            "status",
            "segments",
            "encoding",
            "error_code",
            "created_at",
            "sent_at",
            "body",
            "simulated_by",
            "actual_cost",
            "price_unit",
        ),
        _messages,
        list,
    ),
}


def count_rows(session: Session, kind: str) -> int:
    statement = EXPORTS[kind].statement().order_by(None)
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


def iter_csv(database_url: str, kind: str, on_rows: Callable[[int], None] | None = None) -> Iterator[str]:
    """CSV text for export `kind`, one chunk of rows at a time, header first."""
    export = EXPORTS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export.header)
    yield buffer.getvalue()
    session = read_session(database_url)
    try:
        result = session.execute(export.statement().execution_options(yield_per=CHUNK))
        for rows in result.partitions():
            buffer.seek(0)
            buffer.truncate()
            # One rule for every cell of every export: nothing reaches a spreadsheet as a formula.
            writer.writerows([spreadsheet_cell(cell) for cell in export.row(row)] for row in rows)
            yield buffer.getvalue()
            if on_rows:
                on_rows(len(rows))
    finally:
        session.close()


def filename(kind: str, today: date) -> str:
    return f"rounds-{kind}-{today.isoformat()}.csv"
