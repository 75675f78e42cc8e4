"""The waiting list at each tick: students waiting for a mentor are paired, oldest first, as
mentors get room, and a long list costs the same few reads while every mentor is full.

The soak found the old pass reading every mentor (a scan of all people) once per waiting
student per minute: 56,000 reads and 100 s of PostgreSQL in a ten-minute replay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from content.catalog import get_catalog
from flows.checkins import plan_waiting_matches
from flows.mentors import join_waitlist
from store.db import get_engine, session_scope
from store.mentoring import MENTOR_NOTICE, Mentoring, available_mentors_query
from store.models import Person
from tests.db_support import recorded_statements
from tests.mentoring_support import MENTOR_PHONE, add_student, make_mentor, pairs, person, waiting

MONDAY_NOON = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # 12:00 in Lagos: nobody in quiet hours


def students_waiting(settings, count: int, first: int = 0) -> list[int]:
    """`count` students who asked for a mentor one minute apart, oldest first."""
    ids = []
    for n in range(first, first + count):
        student_id = add_student(settings, f"Student {n}", phone=f"+23480500{n:05d}")
        asked = MONDAY_NOON - timedelta(hours=2) + timedelta(minutes=n)
        with session_scope(settings.database_url) as session:
            join_waitlist(session, session.get(Person, student_id), asked)
        ids.append(student_id)
    return ids


def run_pass(settings) -> list:
    with session_scope(settings.database_url) as session:
        return plan_waiting_matches(session, get_catalog(settings.content_path), settings, MONDAY_NOON)


def statements(settings):
    return recorded_statements(get_engine(settings.database_url))


def test_waiting_students_are_paired_oldest_first_up_to_each_mentors_room(settings):
    make_mentor(settings, capacity=2)
    oldest, second, third = students_waiting(settings, 3)

    planned = run_pass(settings)

    assert sorted(p.student_id for p in pairs(settings)) == [oldest, second]
    assert [w.student_id for w in waiting(settings)] == [third]
    mentor_id = person(settings, MENTOR_PHONE).id
    # Each pair tells the student and the mentor, once.
    assert sorted(p[0] for p in planned) == sorted([oldest, second, mentor_id, mentor_id])
    assert {p[2] for p in planned} == {MENTOR_NOTICE}
    assert run_pass(settings) == []  # the mentor is full: the third keeps waiting
    assert [w.student_id for w in waiting(settings)] == [third]


def test_a_second_mentor_takes_who_the_first_had_no_room_for(settings):
    make_mentor(settings, capacity=1)
    make_mentor(settings, "+2348039990022", "Dr T", capacity=1)
    first, second, third = students_waiting(settings, 3)

    run_pass(settings)

    by_student = {p.student_id: p.mentor_id for p in pairs(settings)}
    assert sorted(by_student) == [first, second]
    assert len(set(by_student.values())) == 2  # one each: the count moved on after the first pair
    assert [w.student_id for w in waiting(settings)] == [third]


def test_a_long_waiting_list_with_every_mentor_full_costs_the_same_reads_as_a_short_one(settings):
    make_mentor(settings, capacity=0)
    students_waiting(settings, 3)
    with statements(settings) as short:
        assert run_pass(settings) == []
    students_waiting(settings, 40, first=3)
    with statements(settings) as long:
        assert run_pass(settings) == []
    assert len(waiting(settings)) == 43
    assert len(long) == len(short) <= 4, long


def test_nobody_waiting_reads_no_mentors(settings):
    make_mentor(settings)
    with statements(settings) as seen:
        assert run_pass(settings) == []
    assert not [s for s in seen if "mentor_profiles" in s]


def test_finding_a_free_mentor_reads_the_mentors_alone(settings, database_url):
    """The partial index on the mentors: the plan does not read every person."""
    make_mentor(settings)
    for n in range(300):
        add_student(settings, f"Student {n}", phone=f"+23480600{n:05d}")
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    query = available_mentors_query().compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    with engine.connect() as conn:
        plan = "\n".join(str(row[-1]) for row in conn.execute(text(f"{explain} {query}")))
    assert "ix_people_mentors" in plan, plan
    with session_scope(database_url) as session:
        assert [m.phone for m, _, _ in Mentoring(session).available_mentors()] == [MENTOR_PHONE]


@pytest.fixture(autouse=True)
def _clock(settings):
    settings.clock.set(MONDAY_NOON)
