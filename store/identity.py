"""One person on two channels: find the rows that are one learner, and merge them set-wise.

A number that wrote by SMS and, as a WhatsApp business-scoped id with that number, on WhatsApp
could have two rows before Rounds joined them. Merging keeps the older row and moves everything
that points at the other (answers, cards, messages, mentor pairs, ...) with one statement a column.
It works on the models' tables and on tables a migration reflected, so the migration runs it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from store.schema import metadata

# Pairs per statement: an IN list and a CASE of this size stay well inside both databases' limits.
BATCH = 500


@dataclass(frozen=True)
class Merge:
    keep: int
    drop: int


def duplicates(connection: Connection, people: Table) -> list[Merge]:
    """Rows that share one phone number: each younger one merges into the oldest."""
    shared = (
        select(people.c.phone_number)
        .where(people.c.phone_number.is_not(None))
        .group_by(people.c.phone_number)
        .having(func.count() > 1)
        .subquery()
    )
    rows = connection.execute(
        select(people.c.id, people.c.phone_number)
        .where(people.c.phone_number.in_(select(shared.c.phone_number)))
        .order_by(people.c.phone_number, people.c.created_at, people.c.id)
    ).all()
    merges: list[Merge] = []
    keep: dict[str, int] = {}
    for person_id, number in rows:
        if number in keep:
            merges.append(Merge(keep[number], person_id))
        else:
            keep[number] = person_id
    return merges


def merge_duplicates(connection: Connection, tables: MetaData) -> int:
    """Merge every set of rows that share a phone number; how many rows were merged away."""
    merges = duplicates(connection, tables.tables["people"])
    merge_people(connection, tables, merges)
    return len(merges)


def merge_people(connection: Connection, tables: MetaData, merges: Sequence[Merge]) -> None:
    """Fold each `drop` row into its `keep` row: everything pointing at `drop` moves to `keep`,
    unless `keep` already has the same (a card for the same question, a subscription), and `drop`
    is deleted. The kept row takes the other's identity fields it lacks, the later inbound times,
    every opt-out, and the later of the two next pushes, so no one gets a second daily question."""
    people = tables.tables["people"]
    for start in range(0, len(merges), BATCH):
        batch = list(merges[start : start + BATCH])
        mapping = {m.drop: m.keep for m in batch}
        kept = _kept_values(connection, people, batch)
        for table, column in _references(tables, people):
            _move(connection, table, column, mapping)
        connection.execute(delete(people).where(people.c.id.in_(list(mapping))))
        _apply_kept(connection, people, kept)


def _later(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _kept_values(connection: Connection, people: Table, batch: list[Merge]) -> dict[int, dict[str, Any]]:
    """The kept rows' new values, by id (read once for the batch, written in one executemany)."""
    ids = [m.keep for m in batch] + [m.drop for m in batch]
    rows = {row.id: row for row in connection.execute(select(people).where(people.c.id.in_(ids)))}
    kept: dict[int, dict[str, Any]] = {}
    for merge in batch:
        keep, drop = rows[merge.keep], rows[merge.drop]
        opted_out = "opted_out" in (keep.status, drop.status)
        # The E.164 number reaches both channels; a BSUID only WhatsApp.
        phone = keep.phone if keep.phone.startswith("+") or not drop.phone.startswith("+") else drop.phone
        values = {
            "phone": phone,
            "bsuid": keep.bsuid or drop.bsuid,
            "phone_number": keep.phone_number or drop.phone_number,
            "username": keep.username or drop.username,
            "name": keep.name or drop.name,
            "country": keep.country or drop.country,
            "last_inbound_at": _later(keep.last_inbound_at, drop.last_inbound_at),
            "status": "opted_out" if opted_out else keep.status,
            "next_push_at": None if opted_out else _later(keep.next_push_at, drop.next_push_at),
        }
        if "whatsapp_inbound_at" in people.c:
            values["whatsapp_inbound_at"] = _later(keep.whatsapp_inbound_at, drop.whatsapp_inbound_at)
            values["sms_blocked"] = bool(opted_out or keep.sms_blocked or drop.sms_blocked)
            values["whatsapp_blocked"] = bool(opted_out or keep.whatsapp_blocked or drop.whatsapp_blocked)
        kept[merge.keep] = values
    return kept


def _apply_kept(connection: Connection, people: Table, kept: dict[int, dict[str, Any]]) -> None:
    if not kept:
        return
    names = sorted(next(iter(kept.values())))
    statement = (
        update(people)
        .where(people.c.id == bindparam("kept_id"))
        .values({name: bindparam(f"new_{name}", type_=people.c[name].type) for name in names})
    )
    connection.execute(
        statement,
        [{"kept_id": pid, **{f"new_{n}": v for n, v in values.items()}} for pid, values in kept.items()],
    )


def _references(tables: MetaData, people: Table) -> Iterable[tuple[Table, Column[Any]]]:
    for table in tables.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == people.name and fk.column.name == "id" and fk.parent.table is table:
                yield table, fk.parent


# A partial unique index's condition, when it is one column equal to a constant (`status = 'active'`,
# or as PostgreSQL gives it back, `((status)::text = 'active'::text)`).
_EQUALS = re.compile(r"^\(*\s*(\w+)\s*\)?(?:::\w+)?\s*=\s*'([^']*)'(?:::\w+)?\s*\)*$")


def _index_condition(index: Index) -> tuple[str, str] | None | bool:
    """None for a plain unique index; (column, value) for a partial one on `column = 'value'`;
    True for a partial one whose condition is not of that shape (then treated as plain)."""
    for dialect in ("postgresql", "sqlite"):
        options = index.dialect_options.get(dialect) if dialect in index.dialect_options else None
        where = options.get("where") if options is not None else None
        if where is not None:
            found = _EQUALS.match(str(where).strip())
            return (found[1], found[2]) if found else True
    return None


def _unique_sets(table: Table, column: Column[Any]) -> list[tuple[list[Column[Any]], tuple[str, str] | None]]:
    """Column sets `column` is unique in together with others (primary key, constraints, indexes),
    each with the condition of a partial index, if it has one."""
    candidates: list[tuple[Any, tuple[str, str] | None]] = [(table.primary_key.columns, None)]
    candidates += [(c.columns, None) for c in table.constraints if isinstance(c, UniqueConstraint)]
    for index in table.indexes:
        if index.unique:
            condition = _index_condition(index)
            candidates.append((index.columns, condition if isinstance(condition, tuple) else None))
    return [(list(columns), where) for columns, where in candidates if column.name in columns.keys()]


def _move(connection: Connection, table: Table, column: Column[Any], mapping: dict[int, int]) -> None:
    drops = list(mapping)
    kept = case(mapping, value=column)
    clashes = []
    for columns, where in _unique_sets(table, column):
        other = table.alias("kept_side")
        same = [other.c[column.name] == kept]
        same += [other.c[c.name] == c for c in columns if c.name != column.name]
        if where is not None:
            # A partial index clashes only when both rows are in it (two active mentor pairs).
            same += [other.c[where[0]] == where[1], table.c[where[0]] == where[1]]
        clashes.append(exists().where(and_(*same)))
    moving = update(table).where(column.in_(drops)).values({column.name: kept})
    if clashes:
        moving = moving.where(~or_(*clashes))
    connection.execute(moving)
    # What could not move (the kept person already has it) goes with the dropped row.
    if column.nullable:
        connection.execute(update(table).where(column.in_(drops)).values({column.name: None}))
    else:
        connection.execute(delete(table).where(column.in_(drops)))


def person_for_whatsapp_id(session: Session, bsuid: str, number: str | None) -> str | None:
    """The key (`people.phone`) of the person a WhatsApp business-scoped id belongs to: the row
    keyed by it, holding it, or keyed by its phone number. Rows found for both (one per channel,
    from before they were joined) are merged first. None for someone new."""
    people = metadata.tables["people"]
    found = or_(people.c.phone == bsuid, people.c.bsuid == bsuid)
    if number:
        found = or_(found, people.c.phone == number, people.c.phone_number == number)
    ids = list(session.scalars(select(people.c.id).where(found).order_by(people.c.created_at, people.c.id)))
    if not ids:
        return None
    connection = session.connection()
    if len(ids) > 1:
        merge_people(connection, metadata, [Merge(ids[0], other) for other in ids[1:]])
        session.expire_all()
    return connection.execute(select(people.c.phone).where(people.c.id == ids[0])).scalar_one()
