"""Safeguarding: the word list (whole words, three languages), patient identifiers, and the
flags, alerts and supportive replies a relayed message raises.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from content import BUNDLED
from content.safeguarding import CATEGORIES, get_word_list, load_word_list, parse_word_list
from flows.safeguarding import hide_numbers, looks_like_patient_data
from gateway import create_app
from store.db import session_scope
from store.mentoring import flag_conversation, in_pair, open_flags
from store.models import Message, Person
from tests.conftest import Phone
from tests.mentoring_support import (
    MENTOR_PHONE,
    STUDENTS,
    add_student,
    assert_numbers_stay_hidden,
    flags,
    make_mentor,
    make_pair,
    outbox,
    person,
    queued,
)

ONCALL_PHONE = "+447700900999"

# --- the word list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to die", "self_harm"),
        ("feeling SUICIDAL lately", "self_harm"),
        ("I can\u2019t go on like this", "crisis"),
        ("my senior keeps harassing me", "abuse"),
        ("totally burnt out after nights", "burnout"),
        ("je n'en peux plus, je suis épuisée", "burnout"),
        ("j'ai envie de mourir", "self_harm"),
        ("il me frappe quand il boit", "abuse"),
        ("ya no puedo más", "crisis"),
        ("a veces quiero morir", "self_harm"),
        ("mi jefe me pega", "abuse"),
    ],
)
def test_words_of_crisis_are_found_in_three_languages(text, category):
    matches = get_word_list().matches(text)
    assert matches and matches[0].category == category


@pytest.mark.parametrize(
    "text",
    [
        "my therapist recommended grape juice",  # rape inside other words
        "drug abuse questions are hard",  # study vocabulary
        "paracetamol overdose management?",
        "a bout of fever after the trip",
        "j'ai battu mon record au quiz",
        "skill myself up on renal",
        "what a great week",
    ],
)
def test_innocent_words_are_not_flagged(text):
    assert get_word_list().matches(text) == []


def test_the_bundled_list_covers_every_category_in_three_languages():
    import yaml

    data = yaml.safe_load((BUNDLED / "safeguarding.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"en", "fr", "es"}
    for language, categories in data.items():
        assert set(categories) == set(CATEGORIES), language
    assert len(load_word_list(BUNDLED).phrases) > 100


def test_an_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown category 'sadness'"):
        parse_word_list({"en": {"sadness": ["blue"]}})


def test_a_content_folder_without_the_list_falls_back_to_the_bundled_one(tmp_path):
    assert get_word_list(str(tmp_path)).matches("I want to die")


@pytest.mark.parametrize(
    "text",
    [
        "Mrs Jane Doe 12/03/1961 chest pain",
        "pt John Smith born 1/2/1950",
        "DOB: 3.4.72, male, fever",
        "d.o.b 1980",
        "MRN 00123456",
        "hospital number: H1234567",
        "NHS number 943 476 5919",
        "Patiente Mme Diallo, date de naissance 1975",
        "numero de dossier 123456",
    ],
)
def test_patient_identifiers(text):
    assert looks_like_patient_data(text, 2026)


@pytest.mark.parametrize(
    "text",
    [
        "My exam is on 12/06/2027",
        "Step 1 on 2026-06-01 with Dr Smith",
        "Q101 answer C, 60 year old man",
        "What's the dose for a 70kg man?",
        "medical records are confusing",
        "Born in Lagos, studying in Kyiv",
    ],
)
def test_not_patient_identifiers(text):
    assert not looks_like_patient_data(text, 2026)


def test_phone_numbers_are_hidden_but_lab_values_are_not():
    assert hide_numbers("call +234 803 111 0022 or 08031110022", "(x)") == ("call (x) or (x)", True)
    assert hide_numbers("Na 135, K 4.5, plt 150000, BP 120/80", "(x)") == (
        "Na 135, K 4.5, plt 150000, BP 120/80",
        False,
    )


@pytest.mark.parametrize(
    "text",
    [
        "0803/111/0022",
        "0803_111_0022",
        "0803 , 111 , 0022",
        "0803 . 999 . 0011",
        "0 8 0 3 1 1 1 0 0 2 2",
        "ring0803111002now",
        "0803:111:0022",
        "08/03/1110022",
        "\uff10\uff18\uff10\uff13\uff11\uff11\uff11\uff10\uff10\uff12\uff12",  # full-width digits
    ],
)
def test_seven_digits_are_hidden_however_they_are_separated(text):
    hidden, hid = hide_numbers(f"my number: {text} thanks", "(x)")
    assert hid and not any(c.isdigit() for c in hidden), hidden


def test_a_date_or_hours_pass_but_a_number_shaped_like_one_does_not():
    for text in ("exam on 12/06/2027", "exam on 2027-06-12", "class 10:30-11:45"):
        assert hide_numbers(text, "(x)") == (text, False)
    assert hide_numbers("exam on 45/31/2027", "(x)") == ("exam on (x)", True)


# --- flags from relayed text ------------------------------------------------------------------


@pytest.fixture
def client(app_settings):
    settings = app_settings.with_(oncall_phone=ONCALL_PHONE)
    return create_app(settings).test_client()


@pytest.fixture
def paired(client, settings):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    return Phone(client, STUDENTS["Amina"]), Phone(client, MENTOR_PHONE)


SUPPORT = (
    "Thank you for telling us. You are not alone. If you are in danger now, call your local "
    "emergency number. Our team has been told and will be in touch."
)


def test_crisis_words_in_a_relay_raise_a_flag_and_still_reach_the_mentor(settings, paired):
    amina, _ = paired
    assert amina.text("MENTOR I can't cope anymore and I want to die") == [SUPPORT]
    assert outbox(settings, MENTOR_PHONE, "relay") == ["[Amina #11] I can't cope anymore and I want to die"]
    (flag,) = flags(settings)
    assert flag.reason == "self_harm"
    assert flag.matched == ["self_harm:want to die", "burnout:can't cope"]
    assert flag.excerpt == "I can't cope anymore and I want to die"
    (alert,) = queued(settings, ONCALL_PHONE, "alert")
    assert (
        alert.body
        == f"Rounds safeguarding alert: flag {flag.id} (self harm). Please check the admin console now."
    )
    assert STUDENTS["Amina"][-8:] not in alert.body and MENTOR_PHONE[-8:] not in alert.body

    # A second worrying text within the hour is flagged too, without paging on-call again.
    assert amina.text("MENTOR je suis épuisée, je n'en peux plus") == [SUPPORT]
    assert len(flags(settings)) == 2
    assert len(queued(settings, ONCALL_PHONE, "alert")) == 1
    assert_numbers_stay_hidden(settings)


def test_the_flag_carries_the_conversation_and_the_pair_history(settings, paired):
    amina, mentor = paired
    amina.text("MENTOR exams are close")
    mentor.text("11 you will do fine")
    amina.text("MENTOR I feel hopeless")
    (flag,) = flags(settings)
    with session_scope(settings.database_url) as session:
        conversation = [m.body for m in flag_conversation(session, flag)]
        history = list(
            session.scalars(select(Message.body).where(in_pair(flag.pair_id)).order_by(Message.id))
        )
        assert [f.id for f in open_flags(session)] == [flag.id]
    assert "MENTOR exams are close" in conversation and "MENTOR I feel hopeless" in conversation
    assert "[Mentor Dr O] you will do fine" in conversation
    assert history == [
        "[Amina #11] exams are close",
        "[Mentor Dr O] you will do fine",
        "[Amina #11] I feel hopeless",
    ]


def test_a_mentors_worrying_words_are_flagged_against_the_mentor(settings, paired):
    _, mentor = paired
    assert mentor.text("11 honestly I am burnt out too") == ["Sent to Amina #11."]
    (flag,) = flags(settings)
    assert flag.person_id == person(settings, MENTOR_PHONE).id and flag.reason == "burnout"


def test_a_spanish_speaker_gets_the_supportive_reply_in_spanish(client, settings):
    make_mentor(settings)
    add_student(settings, "Bola", language="es")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Bola"])
    (reply,) = Phone(client, STUDENTS["Bola"]).text("MENTOR a veces quiero morir")
    assert reply.startswith("Gracias por contarnoslo.")  # by SMS: á, outside GSM-7, is folded
    assert flags(settings)[0].reason == "self_harm"


def test_no_alert_without_an_oncall_number(app_settings, settings):
    client = create_app(app_settings).test_client()
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    Phone(client, STUDENTS["Amina"]).text("MENTOR I want to die")
    (flag,) = flags(settings)
    assert flag.alerted is False
    assert outbox(settings, ONCALL_PHONE) == []


def test_the_oncall_number_is_told_where_to_look(client, settings, paired):
    amina, _ = paired
    amina.text("MENTOR I want to die")
    assert Phone(client, ONCALL_PHONE).text("what happened?") == [
        "This number gets Rounds safeguarding alerts. Please see the admin console for details."
    ]
    with session_scope(settings.database_url) as session:
        assert session.get(Person, person(settings, ONCALL_PHONE).id).role == "oncall"


def test_crisis_words_are_flagged_even_with_no_mentor_free(client, settings):
    add_student(settings, "Amina")
    replies = Phone(client, STUDENTS["Amina"]).text("MENTOR I want to die")
    assert replies[0] == SUPPORT and replies[1].startswith("All our mentors are busy")
    (flag,) = flags(settings)
    assert (flag.reason, flag.pair_id) == ("self_harm", None)
    assert len(queued(settings, ONCALL_PHONE, "alert")) == 1


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_the_numbers_hidden_notices_are_one_sms_segment_in_every_language(language):
    from content.catalog import get_catalog
    from content.segments import for_channel, segment_count

    catalog = get_catalog("")
    longest = {"mentor": "M" * 24, "name": "N" * 15, "number": 9999, "mentees": "11 Amina, 12 Bola"}
    for key in ("mentor_sent_hidden", "mentor_sent_to_mentee_hidden", "mentor_unknown_number"):
        assert segment_count(for_channel(catalog.render(key, language, **longest), "sms")) == 1, key
