"""The quiz's decisions, without a database: reading an answer, choosing the next question,
rating an answer and reviewing its card. The data they decide on is built here in memory."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from fsrs import Rating

from flows.quiz import OPEN_WINDOW, Answer, parse_answer, pick_question, rating_for, review_card
from store.learning import Bank, BankQuestion, History
from store.models import Person

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


# --- reading an answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("b", Answer("B")),
        ("b)", Answer("B")),
        ("B.", Answer("B")),
        (" B ", Answer("B")),
        ("(c)", Answer("C")),
        ("ans b", Answer("B")),
        ("answer: c", Answer("C")),
        ("Réponse d", Answer("D")),
        ("2", Answer("B")),
        ("4", Answer("D")),
        ("Q17 B", Answer("B", 17)),
        ("q 17: b", Answer("B", 17)),
        ("Q17 ans 1", Answer("A", 17)),
    ],
)
def test_answers_are_read_forgivingly(text, answer):
    assert parse_answer(text) == answer


@pytest.mark.parametrize(
    "text",
    ["", "e", "5", "0", "bb", "hello", "b is my guess", "Q17", "Q B C", "Q" + "9" * 60 + " B", "9" * 5000],
)
def test_anything_else_is_not_an_answer(text):
    assert parse_answer(text) is None


# --- choosing the next question ------------------------------------------------------------


def _bank(*questions: tuple) -> Bank:
    """(id, topic, tracks[, difficulty[, review_by]]) rows."""
    rows = []
    for q in questions:
        qid, topic, tracks, *rest = q
        rows.append(BankQuestion(qid, topic, tracks, *(rest or [2])))
    return Bank(rows)


BANK = _bank(
    (17, "cardiology", ["step1", "general"]),
    (18, "cardiology", ["step1"], 1),
    (31, "renal", ["step1"], 3),
    (32, "renal", ["step1"], 2),
    (51, "pulmonology", ["general"]),
)


def _student(track: str = "step1", timezone: str = "Africa/Lagos") -> Person:
    return Person(id=7, phone="+2348031234567", track=track, timezone=timezone)


def _no_stats() -> dict:
    raise AssertionError("the stats were read with the history")


def test_a_due_review_comes_first():
    history = History(
        asked={31: NOW - timedelta(days=9)},
        due=[(31, {"last_review": "2026-11-17T09:00:00+00:00"})],
        stats={},
    )
    assert pick_question(BANK, _student(), NOW, history, _no_stats) == 31


def test_a_review_put_again_waits_a_few_days_for_its_answer():
    reviewed = (NOW - timedelta(days=9)).isoformat()
    asked_again = History(
        asked={31: NOW - timedelta(days=1)}, due=[(31, {"last_review": reviewed})], stats={}
    )
    assert pick_question(BANK, _student(), NOW, asked_again, _no_stats) != 31
    long_ago = History(
        asked={31: NOW - OPEN_WINDOW - timedelta(hours=1)}, due=[(31, {"last_review": reviewed})], stats={}
    )
    assert pick_question(BANK, _student(), NOW, long_ago, _no_stats) == 31


def test_the_weakest_topic_of_the_track_then_its_easiest_question():
    strong_heart = History(stats={"cardiology": (10, 9)})
    assert pick_question(BANK, _student(), NOW, strong_heart, _no_stats) == 32  # renal, difficulty 2
    weak_heart = History(stats={"cardiology": (10, 1), "renal": (10, 9)})
    assert pick_question(BANK, _student(), NOW, weak_heart, _no_stats) == 18  # difficulty 1


def test_stats_are_read_only_when_an_unasked_question_is_left():
    read: list[int] = []

    def stats() -> dict:
        read.append(1)
        return {}

    assert pick_question(BANK, _student(), NOW, History(), stats) in (17, 18, 31, 32)
    assert read == [1]
    asked_all = History(asked={qid: NOW - timedelta(days=qid) for qid in (17, 18, 31, 32, 51)})
    assert pick_question(BANK, _student(), NOW, asked_all, stats) == 32  # the longest ago of the track
    assert read == [1]


def test_the_general_pool_once_the_track_is_used_up_and_repeats_after_that():
    asked_track = History(asked={qid: NOW - timedelta(days=1) for qid in (17, 18, 31, 32)}, stats={})
    assert pick_question(BANK, _student(), NOW, asked_track, _no_stats) == 51
    assert pick_question(BANK, _student(track="plab1"), NOW, History(stats={}), _no_stats) in (17, 51)


def test_an_empty_bank_chooses_nothing():
    assert pick_question(Bank([]), _student(), NOW, History(stats={}), _no_stats) is None


def test_students_with_the_same_history_spread_over_the_equal_questions():
    bank = _bank(*[(n, "renal", ["step1"]) for n in range(100, 140)])
    chosen = {
        pick_question(bank, Person(id=n, track="step1"), NOW, History(stats={}), _no_stats) for n in range(30)
    }
    assert len(chosen) > 5


# --- an organisation that skips overdue items ---------------------------------------------------

TODAY = date(2026, 11, 26)
OVERDUE_BANK = _bank(
    (17, "cardiology", ["step1"], 1, TODAY - timedelta(days=1)),  # overdue: the easiest
    (18, "cardiology", ["step1"], 2, TODAY),  # due today: still served
    (19, "cardiology", ["step1"], 3, None),  # no review date
)


def test_overdue_items_are_served_unless_the_organisation_opts_out():
    history = History(stats={})
    assert pick_question(OVERDUE_BANK, _student(), NOW, history, _no_stats) == 17
    assert pick_question(OVERDUE_BANK, _student(), NOW, history, _no_stats, skip_overdue=True) == 18
    asked = History(asked={18: NOW - timedelta(days=2), 19: NOW - timedelta(days=1)}, stats={})
    assert pick_question(OVERDUE_BANK, _student(), NOW, asked, _no_stats, skip_overdue=True) == 18


def test_an_overdue_review_is_not_served_when_skipping():
    reviewed = (NOW - timedelta(days=9)).isoformat()
    history = History(asked={17: NOW - timedelta(days=9)}, due=[(17, {"last_review": reviewed})], stats={})
    assert pick_question(OVERDUE_BANK, _student(), NOW, history, _no_stats) == 17
    assert pick_question(OVERDUE_BANK, _student(), NOW, history, _no_stats, skip_overdue=True) == 18


def test_overdue_is_judged_by_the_students_own_date():
    bank = _bank((17, "cardiology", ["step1"], 2, TODAY))
    late = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # already the 27th in Lagos, still the 26th in UTC
    assert pick_question(bank, _student(timezone="UTC"), late, History(stats={}), _no_stats, True) == 17
    assert pick_question(bank, _student(), late, History(stats={}), _no_stats, True) is None


def test_nothing_is_chosen_when_every_item_is_overdue():
    bank = _bank((17, "cardiology", ["step1", "general"], 2, TODAY - timedelta(days=1)))
    asked = History(asked={17: NOW - timedelta(days=3)}, stats={})
    assert pick_question(bank, _student(), NOW, asked, _no_stats, skip_overdue=True) is None


# --- rating an answer and reviewing its card ---------------------------------------------------


def _no_times() -> list[float]:
    raise AssertionError("a wrong answer needs no answer times")


def test_a_wrong_answer_is_again_whatever_its_speed():
    assert rating_for(False, 5.0, _no_times) == Rating.Again


@pytest.mark.parametrize(
    ("seconds", "times", "rating"),
    [
        (30.0, [20.0, 25.0, 30.0, 35.0, 40.0], Rating.Good),
        (61.0, [20.0, 25.0, 30.0, 35.0, 40.0], Rating.Hard),  # more than twice the median of 30
        (60.0, [20.0, 25.0, 30.0, 35.0, 40.0], Rating.Good),
        (600.0, [20.0, 25.0, 30.0, 35.0], Rating.Good),  # too few answers to know their pace
    ],
)
def test_a_right_answer_is_hard_only_when_much_slower_than_usual(seconds, times, rating):
    assert rating_for(True, seconds, lambda: times) == rating


def _asking(**card: object) -> SimpleNamespace:
    values = {"card_id": None, "new_card_id": 41, "state": None, "reviews": 0, "lapses": 0, **card}
    return SimpleNamespace(**values)


def test_a_first_review_makes_the_card_with_its_new_id():
    reviewed = review_card(_asking(), Rating.Good, NOW)
    assert reviewed["reviews"] == 1 and reviewed["lapses"] == 0
    assert reviewed["state"]["card_id"] == 41
    assert reviewed["due"] >= NOW + timedelta(days=1)  # no same-day steps on a daily channel


def test_a_forgotten_card_lapses_and_comes_back_sooner():
    good = review_card(_asking(), Rating.Good, NOW)
    later = good["due"]
    card = _asking(card_id=41, state=good["state"], reviews=1, lapses=0)
    again = review_card(card, Rating.Again, later)
    easy_again = review_card(card, Rating.Good, later)
    assert again["lapses"] == 1 and again["reviews"] == 2
    assert easy_again["lapses"] == 0
    assert again["due"] < easy_again["due"]
