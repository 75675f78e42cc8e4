"""Onboarding transcripts: name, track menu, daily time, time zone (one or several), JOIN."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from content.segments import is_gsm7
from tests.flows_support import Phone, content_folder

NIGERIA = "+2348031234567"
US_SEVERAL_ZONES = "+15005550006"  # a non-geographic US number: every US zone is possible


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


def test_one_zone_country_is_set_without_asking(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    welcome = phone.say("Hello")
    assert "Welcome to Rounds" in welcome and "name" in welcome
    assert phone.person.flow == "onboarding:name"

    track_menu = phone.say("my name is ada obi")
    assert track_menu.startswith("Thanks, Ada Obi!")
    assert "1 USMLE Step 1" in track_menu and "4 General" in track_menu

    assert "What time" in phone.say("3")
    assert phone.person.track == "plab1"

    done = phone.say("7pm")
    assert done.startswith("All set!") and "19:00 (Africa/Lagos)" in done
    assert "Text Q for a question now" in done
    person = phone.person
    assert (person.name, person.daily_time, person.timezone) == ("Ada Obi", "19:00", "Africa/Lagos")
    assert person.flow is None
    # Lagos is UTC+1: 19:00 local on 26 November is 18:00 UTC, still ahead of 09:00 UTC.
    assert person.next_push_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    for text in (welcome, track_menu, done):
        assert is_gsm7(text)


def test_several_zones_are_asked_once(db, chat_settings, now):
    phone = Phone(db, chat_settings, US_SEVERAL_ZONES, now)
    phone.say("JOIN")
    phone.say("Sam")
    phone.say("usmle step 2")
    assert phone.person.track == "step2ck"
    ask = phone.say("7:30 am")
    assert "Which time zone" in ask
    assert "New York, Chicago, Denver, Los Angeles" in ask and "OK for New York" in ask
    assert phone.person.next_push_at is None

    done = phone.say("central")
    assert "07:30 (America/Chicago)" in done
    # 07:30 CST is 13:30 UTC.
    assert phone.person.next_push_at == datetime(2026, 11, 26, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answer", "zone"),
    [("Chicago", "America/Chicago"), ("los angls", "America/Los_Angeles"), ("OK", "America/New_York")],
)
def test_zone_answer_is_fuzzy(db, chat_settings, now, answer, zone):
    phone = Phone(db, chat_settings, US_SEVERAL_ZONES, now)
    phone.send("hi")
    phone.say("Sam")
    phone.say("1")
    phone.say("OK")
    assert phone.person.daily_time == "08:00"
    phone.say(answer)
    assert phone.person.timezone == zone


def test_unplaceable_zone_is_asked_again_then_the_usual_zone_is_taken(db, chat_settings, now):
    phone = Phone(db, chat_settings, US_SEVERAL_ZONES, now)
    for text in ("hi", "Sam", "1", "08:00"):
        phone.send(text)
    assert phone.say("qwxz").startswith("Sorry, I don't know that place")
    assert phone.say("zzzz").startswith("Sorry, I don't know that place")
    assert phone.say("nope nope").startswith("All set!")
    assert phone.person.timezone == "America/New_York"


@pytest.mark.parametrize(
    ("text", "track"),
    [
        ("1", "step1"),
        ("2.", "step2ck"),
        ("Step 1", "step1"),
        ("plab", "plab1"),
        ("genral", "general"),
        ("CK", "step2ck"),
    ],
)
def test_track_menu_accepts_number_or_name(db, chat_settings, now, text, track):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    phone.say("Ada")
    phone.say(text)
    assert phone.person.track == track


def test_bad_track_and_time_get_the_question_again(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    phone.say("Ada")
    assert phone.say("cardiology").startswith("Please reply with a number 1-4")
    assert phone.person.flow == "onboarding:track"
    phone.say("4")
    assert phone.say("25:99").startswith("Sorry, I didn't get that time")
    assert phone.person.flow == "onboarding:time"
    assert "All set!" in phone.say("19h")
    assert phone.person.daily_time == "19:00"


def test_a_name_keeps_its_letters_when_gsm7_lacks_an_accent(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    assert phone.say("Jérôme Ngoué").startswith("Thanks, Jérome Ngoué!")
    assert phone.person.name == "Jérôme Ngoué"


def test_name_without_gsm_letters_gets_a_friendly_stand_in(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    reply = phone.say("محمد 😀")
    assert reply.startswith("Thanks, Doctor!")
    assert phone.person.name == "محمد 😀"


def test_keywords_mid_onboarding_repeat_the_pending_question(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    phone.say("Ada")
    assert phone.say("Q").startswith("Please reply with a number 1-4")
    assert phone.say("SKIP").startswith("Please reply with a number 1-4")
    assert phone.person.flow == "onboarding:track"


def test_join_restarts_unfinished_onboarding_and_greets_a_finished_student(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("hi")
    phone.say("Ada")
    assert "Welcome to Rounds" in phone.say("JOIN")
    assert phone.person.flow == "onboarding:name"
    phone.say("Ada")
    phone.say("1")
    phone.say("08:00")
    assert phone.say("join") == "You're already signed up. Text Q for a question now, or HELP for commands."
    assert phone.person.flow is None


def test_first_text_help_then_anything_starts_onboarding(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    assert phone.say("HELP").startswith("Rounds: A-D answer")
    assert phone.person.flow is None
    assert "Welcome to Rounds" in phone.say("B")
    assert phone.person.flow == "onboarding:name"


def test_lang_during_onboarding_switches_and_asks_again_in_french(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.send("bonjour")
    confirm, again = phone.send("LANG fr")
    assert confirm.startswith("Langue : français")
    assert again == "Terminons d'abord l'inscription. Quel est votre prénom ?"
    assert phone.say("Awa").startswith("Merci, Awa !")


def test_time_and_tz_keywords_answer_the_pending_step(db, chat_settings, now):
    phone = Phone(db, chat_settings, US_SEVERAL_ZONES, now)
    for text in ("hi", "Sam", "1"):
        phone.send(text)
    assert "Which time zone" in phone.say("TIME 6pm")
    assert "(America/Denver)" in phone.say("TZ denver")
    assert phone.person.flow is None
