"""The mentor relay, as two phones see it: matching, both directions, several mentees, the
mentor's commands, STOP on either side, the rate limit and patient data.
"""

from __future__ import annotations

import pytest

from content.segments import segment_count
from store.mentoring import PAIR_ACTIVE, PAIR_ENDED
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, Phone, drain
from tests.mentoring_support import (
    MENTOR_PHONE,
    STUDENTS,
    add_student,
    assert_numbers_stay_hidden,
    make_mentor,
    make_pair,
    outbox,
    pairs,
    person,
    queued,
    waiting,
)
from tests.twilio_standin import TwilioStandIn


@pytest.fixture
def mentor_phone(client):
    return Phone(client, MENTOR_PHONE)


def student_phone(client, name: str) -> Phone:
    return Phone(client, STUDENTS[name])


def test_student_is_matched_and_the_relay_works_both_ways(client, settings, mentor_phone):
    make_mentor(settings, tracks=("step1",), languages=("en",))
    add_student(settings, "Amina")
    amina = student_phone(client, "Amina")

    assert amina.text("MENTOR") == [
        "You now have a mentor: Dr O. Text MENTOR and your message to write to them. "
        "Your phone numbers stay private."
    ]
    assert outbox(settings, MENTOR_PHONE, "mentor_notice") == [
        "New mentee: Amina #11 (USMLE Step 1). Reply 11 and a message to say hello. "
        "LIST shows all your mentees."
    ]

    assert amina.text("MENTOR How should I plan for Step 1?") == ["Sent to your mentor Dr O."]
    assert outbox(settings, MENTOR_PHONE, "relay") == ["[Amina #11] How should I plan for Step 1?"]

    assert mentor_phone.text("11 Start with a weekly schedule") == ["Sent to Amina #11."]
    assert mentor_phone.text("And do 20 questions a day") == ["Sent to Amina #11."]
    assert outbox(settings, STUDENTS["Amina"], "relay") == [
        "[Mentor Dr O] Start with a weekly schedule",
        "[Mentor Dr O] And do 20 questions a day",
    ]
    # Relays are outbox rows, queued for the workers, in the log with kind "relay".
    assert [m.status for m in queued(settings, MENTOR_PHONE, "relay")] == ["queued"]
    assert assert_numbers_stay_hidden(settings) >= 7


def test_mentor_with_the_same_student_twice_is_idempotent(client, settings):
    make_mentor(settings)
    add_student(settings, "Amina")
    assert make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"]) == 11
    assert make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"]) == 11
    assert [(p.number, p.status) for p in pairs(settings)] == [(11, PAIR_ACTIVE)]


def test_no_free_mentor_puts_the_student_on_the_waiting_list(client, settings):
    make_mentor(settings, capacity=1)
    add_student(settings, "Amina")
    add_student(settings, "Bola")
    assert student_phone(client, "Amina").text("MENTOR")[0].startswith("You now have a mentor")
    bola = student_phone(client, "Bola")
    waiting_reply = (
        "All our mentors are busy right now. You're on the waiting list, and we'll text you "
        "as soon as one is free."
    )
    assert bola.text("MENTOR hello?") == [waiting_reply]
    assert bola.text("MENTOR") == [waiting_reply]  # asking again keeps one place in the list
    assert [w.student_id for w in waiting(settings)] == [person(settings, STUDENTS["Bola"]).id]
    assert outbox(settings, MENTOR_PHONE, "relay") == []


def test_matching_respects_track_language_and_capacity(client, settings):
    make_mentor(settings, "+447700900001", "Dr Plab", tracks=("plab1",), languages=("en",), capacity=3)
    make_mentor(settings, "+447700900002", "Dr Fr", tracks=("step1",), languages=("fr",), capacity=3)
    make_mentor(settings, "+447700900003", "Dr Any", capacity=1)
    add_student(settings, "Amina", track="step1", language="en")
    add_student(settings, "Bola", track="step1", language="fr")
    add_student(settings, "Chidi", track="plab1", language="en")
    add_student(settings, "Dayo", track="step2ck", language="en")

    replies = {name: student_phone(client, name).text("MENTOR")[0] for name in STUDENTS}

    assert replies["Amina"].startswith("You now have a mentor: Dr Any")
    assert replies["Bola"].startswith("Vous avez un mentor : Dr Fr.")  # in her own language
    assert replies["Chidi"].startswith("You now have a mentor: Dr Plab")
    assert replies["Dayo"].startswith("All our mentors are busy")  # Dr Any is full


def test_several_mentees_replies_by_number_and_out_of_order(client, settings, mentor_phone):
    make_mentor(settings)
    for name in ("Amina", "Bola", "Chidi"):
        add_student(settings, name)
        make_pair(settings, MENTOR_PHONE, STUDENTS[name])
    amina, bola = student_phone(client, "Amina"), student_phone(client, "Bola")

    # Nobody has written yet: a bare reply has no obvious mentee.
    assert mentor_phone.text("Hello all") == [
        "Which mentee is this for? Start with their number, e.g. 11 Hello. LIST shows them."
    ]
    bola.text("MENTOR Renal is hard")
    amina.text("MENTOR Is UWorld enough?")
    assert outbox(settings, MENTOR_PHONE, "relay") == [
        "[Bola #12] Renal is hard",
        "[Amina #11] Is UWorld enough?",
    ]

    # Out of order: Bola first, by number, then Amina; then a bare reply goes to the last who wrote.
    assert mentor_phone.text("12 Start with acid-base") == ["Sent to Bola #12."]
    assert mentor_phone.text("#11: Mostly, add NBMEs") == ["Sent to Amina #11."]
    assert mentor_phone.text("5 tips coming tomorrow") == ["Sent to Amina #11."]
    assert mentor_phone.text("13 Hi Chidi, how are you?") == ["Sent to Chidi #13."]
    assert outbox(settings, STUDENTS["Bola"], "relay") == ["[Mentor Dr O] Start with acid-base"]
    assert outbox(settings, STUDENTS["Amina"], "relay") == [
        "[Mentor Dr O] Mostly, add NBMEs",
        "[Mentor Dr O] 5 tips coming tomorrow",
    ]
    assert outbox(settings, STUDENTS["Chidi"], "relay") == ["[Mentor Dr O] Hi Chidi, how are you?"]
    assert mentor_phone.text("12") == ["Add your message after the number, e.g. 12 Hello."]
    assert_numbers_stay_hidden(settings)


@pytest.mark.parametrize("text", ["13 hello", "99 are you free tomorrow?", "#40: see you"])
def test_a_number_that_is_no_mentee_answers_with_the_list(client, settings, mentor_phone, text):
    make_mentor(settings)
    for name in ("Amina", "Bola"):
        add_student(settings, name)
        make_pair(settings, MENTOR_PHONE, STUDENTS[name])
    student_phone(client, "Bola").text("MENTOR renal is hard")  # Bola wrote last

    number = text.strip("#").split()[0].rstrip(":")
    assert mentor_phone.text(text) == [
        f"You have no mentee #{number}, so this wasn't sent. Your mentees: 11 Amina, 12 Bola. "
        "Start with one of these numbers."
    ]
    assert outbox(settings, STUDENTS["Bola"], "relay") == []
    assert outbox(settings, STUDENTS["Amina"], "relay") == []


def test_list_and_done(client, settings, mentor_phone):
    make_mentor(settings)
    assert mentor_phone.text("LIST") == [
        "You have no mentees yet. We'll text you when you're paired with one."
    ]
    for name in ("Amina", "Bola"):
        add_student(settings, name)
        make_pair(settings, MENTOR_PHONE, STUDENTS[name])
    assert mentor_phone.text("list") == [
        "Your mentees: 11 Amina, 12 Bola. Write with the number first, e.g. 11 Hello."
    ]

    student_phone(client, "Bola").text("MENTOR thanks for today")
    assert mentor_phone.text("DONE") == ["Closed your chat with Bola #12."]  # the last who wrote
    assert outbox(settings, STUDENTS["Bola"], "mentor_notice") == [
        "Dr O has closed this chat. Text MENTOR and a message any time to write again."
    ]
    # With that thread closed, a bare reply no longer goes to Bola.
    assert mentor_phone.text("see you")[0].startswith("Which mentee is this for?")
    assert mentor_phone.text("DONE 11") == ["Closed your chat with Amina #11."]
    assert mentor_phone.text("DONE 14") == ["You have no mentee #14 now. Text LIST to see your mentees."]
    # DONE ends a conversation, not the pairing.
    assert [p.status for p in pairs(settings)] == [PAIR_ACTIVE, PAIR_ACTIVE]
    student_phone(client, "Bola").text("MENTOR one more question")
    assert mentor_phone.text("sure, go ahead") == ["Sent to Bola #12."]


def test_ended_pair_number_never_reaches_anyone(client, settings, mentor_phone, runner):
    make_mentor(settings)
    for name in ("Amina", "Bola"):
        add_student(settings, name)
        make_pair(settings, MENTOR_PHONE, STUDENTS[name])
    assert runner.invoke(args=["mentor", "unpair", STUDENTS["Amina"]]).exit_code == 0
    assert mentor_phone.text("11 are you there?") == [
        "You have no mentee #11, so this wasn't sent. Your mentees: 12 Bola. Start with one of these numbers."
    ]
    assert outbox(settings, STUDENTS["Amina"], "relay") == []
    assert [p.status for p in pairs(settings)] == [PAIR_ENDED, PAIR_ACTIVE]


def test_mentor_help_pause_and_resume(client, settings, mentor_phone):
    make_mentor(settings, capacity=5)
    add_student(settings, "Amina")
    add_student(settings, "Bola")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])

    (help_text,) = mentor_phone.text("HELP")
    assert help_text.startswith("Rounds mentor: 12 msg writes to mentee 12") and segment_count(help_text) == 1
    assert student_phone(client, "Amina").text("HELP")[0].startswith("Rounds: A-D answer")

    assert mentor_phone.text("PAUSE")[0].startswith("You're away")
    assert student_phone(client, "Amina").text("MENTOR are you around?") == [
        "Your mentor Dr O can't get messages right now, so this wasn't sent. Please try again in a few days."
    ]
    assert student_phone(client, "Bola").text("MENTOR")[0].startswith("All our mentors are busy")
    assert outbox(settings, MENTOR_PHONE, "relay") == []

    assert mentor_phone.text("RESUME") == [
        "Welcome back! Mentees can write to you again. Text LIST to see them."
    ]
    assert student_phone(client, "Amina").text("MENTOR back now?") == ["Sent to your mentor Dr O."]
    assert outbox(settings, MENTOR_PHONE, "relay") == ["[Amina #11] back now?"]


def test_stop_on_the_student_side(client, settings, mentor_phone):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    amina = student_phone(client, "Amina")

    assert amina.text("STOP")[0].startswith("You're unsubscribed")
    assert mentor_phone.text("11 how was the exam?") == [
        "Amina #11 has stopped Rounds messages, so this wasn't sent."
    ]
    assert mentor_phone.text("LIST")[0].startswith("Your mentees: 11 Amina (stopped).")
    assert outbox(settings, STUDENTS["Amina"]) == []  # nothing at all is queued to a STOPped number

    amina.text("START")
    assert mentor_phone.text("11 welcome back") == ["Sent to Amina #11."]
    assert outbox(settings, STUDENTS["Amina"], "relay") == ["[Mentor Dr O] welcome back"]


def test_stop_on_the_mentor_side(client, settings, mentor_phone):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    amina = student_phone(client, "Amina")

    assert mentor_phone.text("STOP")[0].startswith("You're unsubscribed")
    assert amina.text("MENTOR hello?") == [
        "Your mentor Dr O can't get messages right now, so this wasn't sent. Please try again in a few days."
    ]
    assert mentor_phone.text("11 hello") == []  # opted out: the engine answers nothing until START
    assert outbox(settings, MENTOR_PHONE) == []
    assert outbox(settings, STUDENTS["Amina"]) == []

    mentor_phone.text("START")
    assert amina.text("MENTOR hello again") == ["Sent to your mentor Dr O."]


def test_relayed_text_is_rate_limited_per_pair_and_direction(client, settings, mentor_phone):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    amina = student_phone(client, "Amina")

    for n in range(10):
        assert amina.text(f"MENTOR question {n}") == ["Sent to your mentor Dr O."]
    (notice,) = amina.text("MENTOR question 10")
    assert notice == (
        "That's a lot of messages this hour. Please wait a little before writing to your mentor again."
    )
    assert segment_count(notice) == 1
    assert len(outbox(settings, MENTOR_PHONE, "relay")) == 10

    # The other direction has its own budget.
    for n in range(10):
        assert mentor_phone.text(f"11 answer {n}") == ["Sent to Amina #11."]
    (notice,) = mentor_phone.text("11 answer 10")
    assert notice.startswith("That's a lot of messages to Amina #11 this hour") and segment_count(notice) == 1
    assert len(outbox(settings, STUDENTS["Amina"], "relay")) == 10


def test_long_relay_is_cut_to_three_segments_and_numbers_are_hidden(client, settings, mentor_phone):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    amina = student_phone(client, "Amina")

    amina.text("MENTOR " + "I keep failing cardio blocks. " * 40)
    (long_relay,) = outbox(settings, MENTOR_PHONE, "relay")
    assert long_relay.startswith("[Amina #11] I keep failing") and long_relay.endswith("...")
    assert segment_count(long_relay) == 3

    assert amina.text("MENTOR call me on 0803 111 0022 or +234 803 111 0022") == [
        "Sent to your mentor Dr O, with a phone number taken out: Rounds keeps numbers private."
    ]
    assert outbox(settings, MENTOR_PHONE, "relay")[-1] == (
        "[Amina #11] call me on (number hidden) or (number hidden)"
    )
    assert mentor_phone.text("11 text me on +2348039990011")[0].startswith("Sent to Amina #11, with a phone")
    assert outbox(settings, STUDENTS["Amina"], "relay") == ["[Mentor Dr O] text me on (number hidden)"]
    assert_numbers_stay_hidden(settings)


SEPARATED_NUMBERS = ["0803/111/0022", "0803_111_0022", "0803 , 111 , 0022", "0803 . 999 . 0011"]


@pytest.mark.parametrize("number", SEPARATED_NUMBERS)
def test_numbers_with_other_separators_are_hidden_both_ways(client, settings, mentor_phone, number):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])

    assert student_phone(client, "Amina").text(f"MENTOR call me on {number} ok") == [
        "Sent to your mentor Dr O, with a phone number taken out: Rounds keeps numbers private."
    ]
    assert outbox(settings, MENTOR_PHONE, "relay") == ["[Amina #11] call me on (number hidden) ok"]
    assert mentor_phone.text(f"11 mine is {number}") == [
        "Sent to Amina #11, with a phone number taken out: Rounds keeps numbers private."
    ]
    assert outbox(settings, STUDENTS["Amina"], "relay") == ["[Mentor Dr O] mine is (number hidden)"]


@pytest.mark.parametrize(
    "text",
    [
        "MENTOR Mrs Jane Doe 12/03/1961 came in with chest pain, what would you do?",
        "MENTOR my patient DOB 1961 has a murmur",
        "MENTOR MRN 00123456 has low sodium",
        "MENTOR paciente Juan, fecha de nacimiento 3/4/1970",
    ],
)
def test_patient_identifiers_are_not_relayed(client, settings, text):
    make_mentor(settings)
    add_student(settings, "Amina")
    (warning,) = student_phone(client, "Amina").text(text)
    assert warning.startswith("Please don't send patient details")
    assert outbox(settings, MENTOR_PHONE, "relay") == []
    assert pairs(settings) == []  # a first MENTOR text with patient data is not even matched


def test_an_exam_date_is_not_patient_data(client, settings):
    make_mentor(settings)
    add_student(settings, "Amina")
    make_pair(settings, MENTOR_PHONE, STUDENTS["Amina"])
    student_phone(client, "Amina").text("MENTOR My Step 1 is on 12/06/2027 with Prometric Lagos")
    assert outbox(settings, MENTOR_PHONE, "relay") == [
        "[Amina #11] My Step 1 is on 12/06/2027 with Prometric Lagos"
    ]


# --- the real send path -------------------------------------------------------------------


@pytest.fixture
def twilio(client, app_settings):
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


def test_relays_really_go_out_through_rq_and_twilio(client, app_settings, twilio, mentor_phone):
    settings = app_settings
    make_mentor(settings)
    add_student(settings, "Amina")
    amina = student_phone(client, "Amina")

    amina.text("MENTOR Hello Dr O, I'm Amina")
    mentor_phone.text("11 Welcome Amina!")
    # The worker posts to the stand-in.
    drain(settings.with_(twilio_api_base=twilio.url, send_rate=1000.0))

    assert twilio.bodies_to(MENTOR_PHONE) == [
        "New mentee: Amina #11 (USMLE Step 1). Reply 11 and a message to say hello. "
        "LIST shows all your mentees.",
        "[Amina #11] Hello Dr O, I'm Amina",
    ]
    assert twilio.bodies_to(STUDENTS["Amina"]) == ["[Mentor Dr O] Welcome Amina!"]
    assert {m["From"] for m in twilio.sent} == {settings.sms_from}
    for sent in twilio.sent:
        other = STUDENTS["Amina"] if sent["To"] == MENTOR_PHONE else MENTOR_PHONE
        assert other.lstrip("+")[-8:] not in sent["Body"]
    assert {m.status for m in queued(settings, MENTOR_PHONE)} == set()  # all left the outbox
