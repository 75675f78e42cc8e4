"""Mentoring's decisions, without a database: which mentor a student is matched with, where a
mentor's text goes, when relays stop for the hour, and what a check-in answer is. (Safeguarding's
word list and patient identifiers are tested the same way in test_mentoring_safeguarding.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.checkins import read_checkin_answer
from flows.mentors import RELAY_LIMIT, addressed, best_mentor, over_relay_limit, reply_target
from store.mentoring import MentorProfile, Pair
from store.models import Person

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


# --- matching --------------------------------------------------------------------------------


def _mentor(person_id: int, tracks=(), languages=(), capacity: int = 5, mentees: int = 0):
    profile = MentorProfile(
        person_id=person_id, display_name=f"Dr {person_id}", tracks=list(tracks), languages=list(languages)
    )
    profile.capacity = capacity
    return Person(id=person_id), profile, mentees


def _student(track: str | None = "step1", language: str | None = "en") -> Person:
    return Person(id=99, track=track, language=language)


def _best(student: Person, *mentors) -> int | None:
    chosen = best_mentor(student, list(mentors))
    return None if chosen is None else chosen.id


def test_a_mentor_who_names_the_track_and_language_comes_first():
    anyone = _mentor(1)
    same_track = _mentor(2, tracks=["step1"])
    both = _mentor(3, tracks=["step1"], languages=["en"])
    assert _best(_student(), anyone, same_track, both) == 3
    assert _best(_student(), anyone, same_track) == 2
    assert _best(_student(), anyone) == 1


def test_a_mentor_of_other_tracks_or_languages_is_never_matched():
    plab = _mentor(1, tracks=["plab1"])
    french = _mentor(2, languages=["fr"])
    assert _best(_student(), plab, french) is None
    assert _best(_student(language="fr"), plab, french) == 2
    assert _best(_student(language=None), french) is None  # no language reads as English


def test_a_full_mentor_takes_no_one_and_the_one_with_most_room_does():
    full = _mentor(1, capacity=2, mentees=2)
    closed = _mentor(2, capacity=0)
    busy = _mentor(3, capacity=4, mentees=3)
    roomy = _mentor(4, capacity=10, mentees=3)
    assert _best(_student(), full, closed) is None
    assert _best(_student(), full, closed, busy, roomy) == 4
    assert _best(_student(), _mentor(6), _mentor(5)) == 5  # all equal: the longest-standing mentor


# --- the relay -------------------------------------------------------------------------------


def _pair(number: int, wrote_minutes_ago: int | None = None, thread_open: bool = True) -> Pair:
    wrote = None if wrote_minutes_ago is None else NOW - timedelta(minutes=wrote_minutes_ago)
    return Pair(number=number, thread_open=thread_open, last_student_message_at=wrote)


def test_a_bare_reply_goes_to_the_only_mentee_or_the_last_who_wrote():
    only = _pair(11)
    assert reply_target([only]) is only
    earlier, later, silent = _pair(11, 30), _pair(12, 5), _pair(13)
    assert reply_target([earlier, later, silent]) is later
    closed = _pair(12, 1, thread_open=False)  # the mentor said DONE to #12
    assert reply_target([earlier, closed]) is earlier
    assert reply_target([silent, _pair(14)]) is None  # nobody wrote: the mentor must say who


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("12 see you at 5", (12, "see you at 5")),
        ("#12: ok", (12, "ok")),
        ("12", (12, "")),
        ("12, well done", (12, "well done")),
        ("3 tips for you", (3, "tips for you")),  # a number below 11 is no mentee's: read as a reply
        ("12abc", None),
        ("great work", None),
        ("12345 too long", None),
    ],
)
def test_a_mentor_names_a_mentee_by_number(text, found):
    assert addressed(text) == found


def test_relays_stop_for_the_hour_at_the_limit():
    assert not over_relay_limit(0)
    assert not over_relay_limit(RELAY_LIMIT - 1)
    assert over_relay_limit(RELAY_LIMIT)


# --- check-in answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("4", (4, "")),
        ("4/5", (4, "")),
        ("4 good week", (4, "good week")),
        (" 2 - rough week, exams", (2, "rough week, exams")),
        ("1.", (1, "")),
        ("6", None),
        ("0 nothing", None),
        ("B", None),
        ("42", None),
    ],
)
def test_a_checkin_answer_is_a_score_and_a_note(text, found):
    assert read_checkin_answer(text) == found
