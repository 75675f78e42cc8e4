"""The soak's arithmetic (bench/soak.py): what one scheduling pass costs, from the replay's passes,
and which sent questions the replay answers."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from bench.soak import DeliveredQuestions, tick_cost


def test_a_pass_costs_a_fixed_part_and_a_part_per_student():
    # 0.4 s of fixed work and 2 ms a student, exactly.
    passes = [(count, 0.4 + 0.002 * count) for count in (1, 3, 10, 50, 700)]
    fixed, per_student = tick_cost(passes)
    assert fixed == pytest.approx(0.4)
    assert per_student == pytest.approx(0.002)


def test_noise_below_zero_is_not_taken_off_the_time():
    # Big passes dearer per student than small ones: the line crosses below zero.
    fixed, per_student = tick_cost([(10, 0.01), (100, 0.5), (1000, 5.5)])
    assert fixed == 0.0
    assert per_student == pytest.approx(0.0055, rel=0.05)


def test_one_size_of_pass_or_a_falling_line_charges_everything_to_the_students():
    assert tick_cost([(5, 1.0), (5, 2.0)]) == (0.0, pytest.approx(0.3))
    assert tick_cost([(1, 2.0), (10, 1.0)]) == (0.0, pytest.approx(3.0 / 11))


def test_no_pass_that_queued_anyone_tells_nothing():
    assert all(math.isnan(x) for x in tick_cost([]))


def test_questions_sent_out_of_order_are_each_answered_once():
    """The replay answers every question the stand-in accepted, however out of order the workers
    sent them (it once skipped those sent after a newer one, lightening the load it measured)."""
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, person_id INTEGER, direction TEXT, "
                "kind TEXT, sent_at TIMESTAMP)"
            )
        )
    delivered = DeliveredQuestions()
    at = datetime(2026, 12, 1, 7, 0)

    def insert(*ids: int, kind: str = "question") -> None:
        with engine.begin() as conn:
            for i in ids:
                conn.execute(
                    text("INSERT INTO messages VALUES (:i, :i, 'out', :k, NULL)"), {"i": i, "k": kind}
                )

    def send(*ids: int) -> None:
        with engine.begin() as conn:
            for i in ids:
                conn.execute(text("UPDATE messages SET sent_at = :at WHERE id = :i"), {"i": i, "at": at})

    def poll() -> list[int]:
        with engine.connect() as conn:
            return sorted(person for person, _ in delivered.poll(conn))

    insert(1, 2, 3, 4, 5)
    send(1, 2, 4)
    assert poll() == [1, 2, 4]
    assert poll() == []
    send(3, 5)
    assert poll() == [3, 5]
    insert(6, 7)
    insert(8, kind="reply")
    send(7, 8)
    assert poll() == [7]
    send(6)
    assert poll() == [6]
    assert poll() == []
