"""The soak's arithmetic (bench/soak.py): what one scheduling pass costs, from the replay's passes."""

from __future__ import annotations

import math

import pytest

from bench.soak import tick_cost


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
