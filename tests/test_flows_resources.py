"""RES transcripts: the topic menu, forgiving topic names, pages of links and RES MORE."""

from __future__ import annotations

import pytest

from content.segments import is_gsm7, segment_count
from flows.resources import load_taxonomy
from tests.flows_support import Phone, content_folder, seed_library

NIGERIA = "+2348031234567"


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    # Without PUBLIC_URL links go out as they are: these transcripts read the real ones
    # (tests/test_short_links.py reads the short ones).
    folder = str(content_folder(tmp_path_factory.getbasetemp()))
    return settings.with_(content_path=folder, public_url="")


@pytest.fixture
def student(db, chat_settings, now):
    seed_library(db)
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.onboard()
    return phone


@pytest.mark.parametrize("text", ["RES", "res", "RESOURCES", "Resources."])
def test_res_alone_is_the_topic_menu(student, text):
    menu = student.say(text)
    assert menu == (
        "Free study links: text RES and a topic, e.g. RES cardio. Topics: Cardiology, Renal, General"
    )
    assert segment_count(menu) <= 2


@pytest.mark.parametrize("topic", ["cardio", "cardiolgy", "Cardiology", "CARDIAC", "cardiol"])
def test_res_topic_forgives_typos_and_synonyms(student, topic):
    page = student.say(f"RES {topic}")
    assert page == (
        "Cardiology:\n"
        "Heart Book https://example.org/heart-a\n"
        "ECG Basics https://example.org/ecg-b\n"
        "Murmurs Made Easy https://example.org/murmurs-c\n"
        "Text RES MORE for more."
    )
    assert is_gsm7(page) and segment_count(page) <= 3


def test_a_topic_word_that_titles_hold_puts_those_links_first(student):
    # "heart" names Cardiology, and two of its links have it in their titles.
    assert student.say("RES heart") == (
        "Cardiology:\n"
        "Heart Book https://example.org/heart-a\n"
        "Heart Failure Notes https://example.org/hf-d\n"
        "ECG Basics https://example.org/ecg-b\n"
        "Text RES MORE for more."
    )


def test_res_more_pages_on_then_ends(student):
    student.say("RES cardio")
    second = student.say("RES MORE")
    # The topic's own links first, then the ones for every topic.
    assert second == (
        "Cardiology:\nHeart Failure Notes https://example.org/hf-d\nOpen Medicine Text https://example.org/general"
    )
    assert student.say("RES MORE") == "That's all the links for Cardiology. Text RES for other topics."
    assert student.say("RES MORE").startswith("Free study links")


def test_res_more_without_a_topic_shows_the_menu(student):
    assert student.say("res more").startswith("Free study links")


def test_unknown_topic_gets_the_menu_with_a_hint(student):
    assert (
        student.say("RES astrology")
        == "I don't know that topic. Text RES and one of: Cardiology, Renal, General"
    )


def test_known_topic_without_links(student):
    assert student.say("RES psych") == "No links for Psychiatry yet. Text RES for other topics."


def test_res_with_an_empty_library(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.onboard()
    assert phone.say("RES") == "No study links are available yet. Please try again later."


def test_res_in_french_keeps_links_in_one_cheap_encoding(student):
    student.say("LANG fr")
    page = student.say("RES kidney")
    assert page.startswith("Renal :\nKidney Primer https://example.org/kidney-a")
    assert is_gsm7(page)


def test_taxonomy_loader_reads_the_content_folder(chat_settings, tmp_path):
    topics = load_taxonomy(chat_settings.content_path)
    assert [t.key for t in topics] == ["cardiology", "renal", "pulmonology", "psychiatry"]
    assert "heart" in topics[0].synonyms
    assert load_taxonomy(str(tmp_path / "missing")) == ()
