"""Property: any text, in any state, gets replies that are non-empty and at most three segments
(English ones in GSM-7), and the engine never raises. Opted-out people may get no reply."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from content.segments import is_gsm7, segment_count
from tests.flows_support import Phone, content_folder, seed_bank, seed_library

STATES = [
    "new",
    "onboarding:name",
    "onboarding:track",
    "onboarding:time",
    "onboarding:zone",
    "question_open",
    "onboarded",
    "french",
    "opted_out",
]
WORDS = [
    "Q", "QUIZ", "MORE", "SKIP", "SCORE", "RES", "RES MORE", "TIME", "TZ", "PAUSE", "RESUME", "LANG",
    "JOIN", "HELP", "START", "STOP", "Q17", "ans", "answer:", "A", "b)", "2", "OK",
]  # fmt: skip
TEXTS = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
    st.builds(lambda word, tail: f"{word} {tail}", st.sampled_from(WORDS), st.text(max_size=60)),
    st.sampled_from(WORDS),
    st.text(alphabet="😀🩺🫀مرحبا بالعالم", max_size=30),
    st.integers(0, 6000).map(lambda n: "x" * n),
)
_numbers = itertools.count(1000)


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


@pytest.fixture
def content_rows(db):
    seed_bank(db)
    seed_library(db)


def phone_in(state: str, db, chat_settings, now) -> Phone:
    """A fresh phone (its own number) left in `state`."""
    n = next(_numbers)
    several_zones = state == "onboarding:zone"
    number = f"+1500555{n % 10000:04d}" if several_zones else f"+23480312{n % 100000:05d}"
    phone = Phone(db, chat_settings, number, now)
    if state == "new":
        return phone
    steps = {"onboarding:name": 1, "onboarding:track": 2, "onboarding:time": 3, "onboarding:zone": 4}
    if state in steps:
        for text in ["hi", "Ada", "1", "08:00"][: steps[state]]:
            phone.send(text)
        assert phone.person.flow == state
        return phone
    phone.onboard()
    if state == "question_open":
        phone.say("Q")
    elif state == "french":
        phone.say("LANG fr")
        phone.say("Q")
    elif state == "opted_out":
        phone.say("STOP")
    phone.later(minutes=1)
    return phone


@pytest.mark.parametrize("state", STATES)
@hypothesis_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS)
@example(text="")
@example(text="x" * 5000)
@example(text="Q17 B")
@example(text="RES " + "cardio" * 800)
@example(text="\x00\x00")
@example(text="STOP")
@example(text="JOIN \x1b")
@example(text="VERIFY \x1b\U0001f600")
def test_any_text_in_any_state_gets_a_short_helpful_reply(db, chat_settings, now, content_rows, state, text):
    phone = phone_in(state, db, chat_settings, now)
    replies = phone.send(text, at=now + timedelta(hours=1))
    if state != "opted_out":
        assert replies, f"no reply to {text!r} in {state}"
    for reply in replies:
        assert reply.strip()
        assert segment_count(reply) <= 3, reply
        if phone.person.language == "en":
            assert is_gsm7(reply), reply
