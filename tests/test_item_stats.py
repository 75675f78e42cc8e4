"""Item statistics against a fixture of attempts whose figures are worked out by hand below."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from store.itemstats import DISTRACTOR, EASY, HARD, NEGATIVE, ItemStats, flags, item_stats, point_biserial
from store.models import Attempt, Person, Question

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
OPTIONS = {"A": "one", "B": "two", "C": "three", "D": "four"}

# (student, question, choice, correct, response seconds). Keys: Q1 A, Q2 B, Q3 C.
FIXTURE = [
    ("s1", 1, "A", True, 10.0),
    ("s1", 1, "A", True, 30.0),  # Q1 asked again (a spaced repeat): two observations
    ("s1", 2, "B", True, 8.0),
    ("s1", 3, "D", False, 12.0),
    ("s2", 1, "A", True, 20.0),
    ("s2", 2, "B", True, 6.0),
    ("s2", 3, "D", False, 7.0),
    ("s3", 1, "B", False, 40.0),
    ("s3", 2, "B", True, 5.0),
    ("s4", 1, "C", False, None),  # no time recorded: not in the median
    ("s4", 2, "A", False, 7.0),
    ("s4", 3, "C", True, 50.0),
]
# Accuracy: s1 3/4 = .75, s2 2/3, s3 1/2, s4 1/3. Four students, so NTILE(4) puts one in each
# quartile: top = s1, bottom = s4.


def seed(db, copies: int = 1) -> None:
    """The fixture; `copies` repeats every student (and their answers) that many times, which
    leaves every share, the correlations and the medians as they are."""
    for qid, key in ((1, "A"), (2, "B"), (3, "C")):
        db.add(
            Question(
                id=qid,
                topic="cardiology",
                tracks=["step1"],
                stem=f"Q{qid}?",
                options=dict(OPTIONS),
                answer=key,
                explanation="because",
            )
        )
    for copy in range(copies):
        _students(db, copy)
    db.flush()


def _students(db, copy: int) -> None:
    people = {}
    for n, name in enumerate(("s1", "s2", "s3", "s4"), 1):
        people[name] = Person(
            phone=f"+2348031{copy:03d}{n:03d}", channel="sms", status="active", flow_state={}
        )
        db.add(people[name])
    db.flush()
    for n, (name, qid, choice, correct, seconds) in enumerate(FIXTURE):
        at = T0 + timedelta(minutes=n)
        db.add(
            Attempt(
                person_id=people[name].id,
                question_id=qid,
                question_version=1,
                source=f"more:{n}",
                local_date=date(2026, 11, 2),
                asked_at=at,
                answered_at=at,
                choice=choice,
                correct=correct,
                skipped=False,
                response_seconds=seconds,
            )
        )
    # Neither an open asking nor a skipped one is an answer.
    db.add(
        Attempt(
            person_id=people["s3"].id,
            question_id=3,
            question_version=1,
            source="more:90",
            local_date=date(2026, 11, 2),
            asked_at=T0,
            skipped=False,
        )
    )
    db.add(
        Attempt(
            person_id=people["s3"].id,
            question_id=3,
            question_version=1,
            source="more:91",
            local_date=date(2026, 11, 2),
            asked_at=T0,
            skipped=True,
        )
    )
    db.flush()


def by_question(db) -> dict[int, ItemStats]:
    return {s.question_id: s for s in item_stats(db)}


def test_difficulty_options_quartiles_and_median_by_hand(db):
    seed(db)
    q1, q2, q3 = (by_question(db)[q] for q in (1, 2, 3))
    # Q1: s1 A, A; s2 A; s3 B; s4 C -> 5 answered, 3 right.
    assert (q1.version, q1.answered, q1.key) == (1, 5, "A")
    assert q1.difficulty == pytest.approx(3 / 5)
    assert q1.options == pytest.approx({"A": 3 / 5, "B": 1 / 5, "C": 1 / 5, "D": 0.0})
    assert (q1.top_answered, q1.bottom_answered) == (2, 1)  # s1's two answers; s4's one
    assert q1.top == pytest.approx({"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0})
    assert q1.bottom == pytest.approx({"A": 0.0, "B": 0.0, "C": 1.0, "D": 0.0})
    assert q1.median_seconds == pytest.approx((20 + 30) / 2)  # 10 20 30 40
    # Q2: B B B A -> .75; times 5 6 7 8.
    assert q2.difficulty == pytest.approx(0.75) and q2.median_seconds == pytest.approx(6.5)
    assert q2.options == pytest.approx({"A": 0.25, "B": 0.75, "C": 0.0, "D": 0.0})
    # Q3: D D C -> 1/3, the key C known from s4's right answer; times 7 12 50.
    assert q3.key == "C" and q3.answered == 3 and q3.difficulty == pytest.approx(1 / 3)
    assert q3.median_seconds == pytest.approx(12.0)
    assert q3.top == pytest.approx({"A": 0.0, "B": 0.0, "C": 0.0, "D": 1.0})  # s1 chose D
    assert q3.bottom == pytest.approx({"A": 0.0, "B": 0.0, "C": 1.0, "D": 0.0})


def test_point_biserial_against_the_rest_score_by_hand(db):
    seed(db)
    stats = by_question(db)
    # r = (m*Sxy - Sx*Sy) / sqrt((m*Sxx - Sx^2) * (m*Sy - Sy^2)), x the rest score (accuracy on the
    # other questions), y 1 for right.
    # Q1: rest s1 (3-2)/(4-2)=.5 (twice, right), s2 (2-1)/(3-1)=.5 right, s3 (1-0)/(2-1)=1 wrong,
    # s4 (1-0)/(3-1)=.5 wrong: m=5, Sx=3, Sxx=2, Sy=3, Sxy=1.5 -> (7.5-9)/sqrt(1*6).
    assert stats[1].discrimination == pytest.approx(-1.5 / math.sqrt(6))
    # Q2: rest s1 (3-1)/(4-1)=2/3 right, s2 (2-1)/(3-1)=.5 right, s3 (1-1)/(2-1)=0 right,
    # s4 (1-0)/(3-1)=.5 wrong: m=4, Sx=5/3, Sxx=17/18, Sy=3, Sxy=7/6
    # -> (14/3 - 5)/sqrt((34/9 - 25/9) * 3) = (-1/3)/sqrt(3).
    assert stats[2].discrimination == pytest.approx((-1 / 3) / math.sqrt(3))
    # Q3: rest s1 3/3=1 wrong, s2 2/2=1 wrong, s4 0/2=0 right: m=3, Sx=2, Sxx=2, Sy=1, Sxy=0
    # -> (0-2)/sqrt((6-4)*(3-1)) = -1.
    assert stats[3].discrimination == pytest.approx(-1.0)


def test_flags_wait_for_enough_answers_then_name_what_is_wrong(db):
    seed(db)
    stats = by_question(db)
    assert all(s.flags == [] for s in stats.values())  # 3 to 5 answers: too few to accuse anyone
    assert flags(stats[1], min_answered=1) == [NEGATIVE]
    assert flags(stats[3], min_answered=1) == [NEGATIVE, DISTRACTOR]  # the top student chose D over C


def test_one_question_alone_has_the_same_figures(db):
    seed(db)
    (alone,) = item_stats(db, 3)
    assert alone.as_dict() == by_question(db)[3].as_dict()
    assert item_stats(db, 99) == []


def _item(**changes) -> ItemStats:
    values = dict(
        question_id=1,
        version=1,
        answered=40,
        difficulty=0.5,
        discrimination=0.3,
        median_seconds=20.0,
        key="A",
        options={},
        top={"A": 0.6, "B": 0.4},
        bottom={},
        top_answered=10,
        bottom_answered=10,
    )
    values.update(changes)
    return ItemStats(**values)


def test_the_flags_thresholds():
    assert flags(_item()) == []
    assert flags(_item(difficulty=0.96)) == [EASY]
    assert flags(_item(difficulty=0.95)) == []
    assert flags(_item(difficulty=0.19)) == [HARD]
    assert flags(_item(discrimination=-0.01)) == [NEGATIVE]
    assert flags(_item(top={"A": 0.4, "B": 0.5})) == [DISTRACTOR]
    assert flags(_item(top={"A": 0.5, "B": 0.5})) == []  # a tie does not point to a wrong key
    assert flags(_item(answered=29, difficulty=0.99)) == []


def test_point_biserial_is_none_without_spread():
    assert point_biserial(3, 3.0, 3.0, 3.0, 3.0) is None  # everyone the same rest score
    assert point_biserial(1, 1.0, 1.0, 1.0, 1.0) is None


def test_ten_copies_of_the_fixture_keep_the_figures_and_are_shown(db):
    seed(db, copies=10)
    q3 = by_question(db)[3]
    # Every observation ten times: the same shares, r and medians; 30 answers now, so flags too.
    assert (q3.answered, q3.top_answered, q3.bottom_answered) == (30, 10, 10)
    assert q3.difficulty == pytest.approx(1 / 3) and q3.discrimination == pytest.approx(-1.0)
    assert q3.median_seconds == pytest.approx(12.0)
    assert q3.flags == [NEGATIVE, DISTRACTOR]
    assert by_question(db)[1].median_seconds == pytest.approx(25.0)
    shown = q3.as_dict()
    assert shown["options"] == {"A": 0.0, "B": 0.0, "C": 0.3333, "D": 0.6667}
    assert shown["top_quartile"] == {"answered": 10, "options": {"A": 0.0, "B": 0.0, "C": 0.0, "D": 1.0}}


def test_groups_under_ten_are_withheld_when_shown(db):
    seed(db)
    assert by_question(db)[3].as_dict() == {
        "question_id": 3,
        "version": 1,
        "answered": 3,
        "withheld": "fewer than 10 answers: groups that small are never shown",
        "flags": [],
    }
