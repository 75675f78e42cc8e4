"""OPP transcripts: eligibility by country and track, pages, details, reminders, the digest
switch and the answers to bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from content.segments import for_channel, is_gsm7, segment_count
from store.opportunities import DRAFT, EXPIRED, OpportunitySave, OpportunitySubscription
from tests.flows_support import Phone, content_folder
from tests.opportunities_support import opportunity

NIGERIA = "+2348031234567"
HELP = (
    "Text OPP to list opportunities, OPP 1 for details, OPP SAVE 1 for a reminder, "
    "OPP ON for a weekly digest."
)


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    # Without PUBLIC_URL links go out as they are: these transcripts read the real ones
    # (tests/test_short_links.py reads the short ones).
    folder = str(content_folder(tmp_path_factory.getbasetemp()))
    return settings.with_(content_path=folder, public_url="")


@pytest.fixture
def student(db, chat_settings, now):
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.onboard()  # track 1: step1, 08:00
    phone.person.country = "NG"
    db.flush()
    return phone


def test_opp_lists_only_what_the_student_is_eligible_for_nearest_deadline_first(db, student):
    opportunity(db, "Late Grant", date(2027, 3, 1))
    opportunity(
        db, "Lagos Observership", date(2027, 1, 12), org="LUTH", kind="observership", countries=["NG"]
    )
    opportunity(db, "Delhi Elective", date(2026, 12, 20), countries=["IN"])  # another country
    opportunity(db, "PLAB Waiver", date(2026, 12, 10), tracks=["plab1"])  # another track
    opportunity(
        db, "Step Prep Course", date(2027, 2, 3), org="AMSA", tracks=["step1"], countries=["NG", "GH"]
    )
    opportunity(db, "Draft Thing", date(2026, 12, 5), status=DRAFT)  # never approved
    opportunity(db, "Old Thing", date(2026, 11, 25))  # deadline passed yesterday
    opportunity(db, "Marked Expired", date(2027, 1, 1), status=EXPIRED)

    text = student.say("OPP")
    assert text == (
        "Opportunities for you:\n"
        "1) Lagos Observership, LUTH, by 12 Jan, https://ex.org/lagos-observership\n"
        "2) Step Prep Course, AMSA, by 3 Feb, https://ex.org/step-prep-course\n"
        "3) Late Grant, WHO, by 1 Mar, https://ex.org/late-grant\n"
        "OPP 1 for details, OPP SAVE 1 for a reminder."
    )
    assert is_gsm7(text) and segment_count(text) <= 3


def test_unknown_country_sees_only_what_is_open_to_every_country(db, student):
    student.person.country = None
    opportunity(db, "Lagos Observership", date(2027, 1, 12), countries=["NG"])
    opportunity(db, "Open Grant", date(2027, 3, 1))
    assert "Lagos" not in student.say("OPP") and "1) Open Grant" in student.say("OPP")


def test_opp_more_pages_and_numbers_carry_on(db, student):
    for n in range(1, 8):
        opportunity(db, f"Grant {n}", date(2027, 1, n))
    first = student.say("opp")
    assert "1) Grant 1," in first and "3) Grant 3," in first and "Grant 4" not in first
    assert first.endswith("OPP MORE for more, OPP 1 for details.")
    second = student.say("OPP MORE")
    assert "4) Grant 4," in second and "6) Grant 6," in second and second.endswith("OPP 4 for details.")
    third = student.say("OPP MORE")
    assert "7) Grant 7," in third and "OPP MORE" not in third
    assert (
        student.say("OPP MORE")
        == "That's all the open opportunities for you. Text OPP to see the list again."
    )
    # The numbers stay those of the list: OPP 5 is Grant 5.
    assert student.say("OPP 5").startswith("Grant 5 (scholarship), WHO. Deadline 5 Jan.")


def test_opp_n_gives_the_details(db, student):
    opportunity(
        db,
        "Lagos Observership",
        date(2027, 1, 12),
        org="LUTH",
        kind="fee waiver",
        countries=["NG", "GH"],
        tracks=["step1"],
    )
    student.say("OPP")
    detail = student.say("OPP 1")
    assert detail == (
        "Lagos Observership (fee waiver), LUTH. Deadline 12 Jan. For: NG, GH, Step 1. "
        "Apply: https://ex.org/lagos-observership OPP SAVE 1 for a reminder."
    )
    assert segment_count(detail) <= 2


def test_details_in_the_students_language(db, student):
    opportunity(db, "Bourse Dakar", date(2027, 1, 12), org="UCAD")
    student.say("LANG fr")
    listing = student.say("OPP")
    assert listing.startswith("Opportunités pour vous :\n1) Bourse Dakar, UCAD, avant le 12 janv.")
    assert student.say("OPP 1").startswith("Bourse Dakar (bourse), UCAD. Date limite : 12 janv.")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("OPP 99", "There's no opportunity 99. Text OPP and a number from 1 to 2, or OPP for the list."),
        (
            "OPP SAVE",
            "Text OPP SAVE and a number from 1 to 2, e.g. OPP SAVE 1, "
            "for a reminder a week before the deadline.",
        ),
        ("OPP SAVE 9", "There's no opportunity 9. Text OPP and a number from 1 to 2, or OPP for the list."),
        (
            "OPP please",
            HELP,
        ),
        (
            "OPP SAVE x",
            HELP,
        ),
    ],
)
def test_bad_input_after_a_list_gets_one_segment_that_helps(db, student, text, answer):
    opportunity(db, "Grant A", date(2027, 1, 5))
    opportunity(db, "Grant B", date(2027, 1, 6))
    student.say("OPP")
    reply = student.say(text)
    assert reply == answer and segment_count(reply) == 1 and is_gsm7(reply)


@pytest.mark.parametrize("text", ["OPP 1", "OPP SAVE", "OPP SAVE 1"])
def test_numbers_with_nothing_listed_say_to_list_first(student, text):
    reply = student.say(text)
    assert reply == "Text OPP to list the opportunities for you first, then OPP and a number for details."
    assert segment_count(reply) == 1


def test_nothing_eligible_says_so_in_one_segment(db, student):
    opportunity(db, "Delhi Elective", date(2026, 12, 20), countries=["IN"])
    reply = student.say("OPP")
    assert reply == "No open opportunities match you right now. Text OPP ON to hear of new ones once a week."
    assert segment_count(reply) == 1


def test_an_opportunity_that_closed_since_the_list_is_not_shown(db, student):
    opportunity(db, "Closing Soon", date(2026, 11, 27))
    student.say("OPP")
    student.later(days=2)  # 28 Nov: the deadline has passed
    assert student.say("OPP 1") == "That opportunity has closed. Text OPP for the open ones."
    assert student.say("OPP SAVE 1") == "That opportunity has closed. Text OPP for the open ones."


def test_opp_save_queues_one_reminder_a_week_before(db, student):
    row = opportunity(db, "Lagos Observership", date(2027, 1, 12), countries=["NG"])
    student.say("OPP")
    assert student.say("OPP SAVE 1") == "Saved. I'll remind you on 5 Jan, a week before the 12 Jan deadline."
    assert student.say("OPP SAVE 1") == "Saved. I'll remind you on 5 Jan, a week before the 12 Jan deadline."
    (saved,) = db.scalars(select(OpportunitySave)).all()
    assert saved.opportunity_id == row.id and saved.person_id == student.person.id
    # 08:00 in Lagos on 5 January is 07:00 UTC.
    assert saved.remind_at == datetime(2027, 1, 5, 7, 0, tzinfo=UTC) and saved.reminded_at is None


def test_opp_save_within_the_last_week_says_apply_now(db, student):
    opportunity(db, "Soon Grant", date(2026, 12, 1))
    student.say("OPP")
    reply = student.say("OPP SAVE 1")
    assert reply == "Soon Grant closes on 1 Dec, in less than a week, so apply now: https://ex.org/soon-grant"
    assert db.scalars(select(OpportunitySave)).all() == []


def test_opp_on_and_off(db, student):
    on = student.say("OPP ON")
    assert on == (
        "Weekly opportunities on: new ones that match you come at 08:00, at most once a week. "
        "OPP OFF stops them."
    )
    assert segment_count(on) == 1
    subscription = db.get(OpportunitySubscription, student.person.id)
    # Now is 10:00 in Lagos: the next check is tomorrow's 08:00 (07:00 UTC).
    assert subscription.digest and subscription.next_check_at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert student.say("opp off") == "Weekly opportunities off. Text OPP any time to see what's open."
    assert not subscription.digest and subscription.next_check_at is None


def test_every_opp_text_fits_its_budget_in_every_language(db, student):
    opportunity(
        db,
        "T" * 80,
        date(2027, 1, 12),
        org="O" * 60,
        kind="fee waiver",
        countries=["NG", "GH", "KE"],
        tracks=["step1", "plab1"],
        link="https://example.org/" + "x" * 60,
    )
    for language in ("en", "fr", "es"):
        student.say(f"LANG {language}")
        for text in ("OPP", "OPP 1", "OPP 5", "OPP SAVE", "OPP nonsense", "OPP ON", "OPP OFF"):
            reply = student.say(text)
            assert segment_count(reply) <= 3, (language, text, reply)


def test_through_the_webhook_the_country_comes_from_the_number(app_settings):
    from gateway import create_app
    from store.clock import FixedClock
    from store.db import session_scope
    from tests.conftest import Phone as WebhookPhone

    settings = app_settings.with_(clock=FixedClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC)))
    with session_scope(settings.database_url) as session:
        opportunity(session, "Lagos Observership", date(2027, 1, 12), countries=["NG"])
        opportunity(session, "Delhi Elective", date(2027, 1, 10), countries=["IN"])
    nigerian = WebhookPhone(create_app(settings).test_client(), "+2348031234111")
    for text in ("JOIN", "Ada", "1", "08:00"):
        nigerian.text(text)
    (listing,) = nigerian.text("OPP")
    assert "1) Lagos Observership, WHO, by 12 Jan" in listing and "Delhi" not in listing


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_answers_to_bad_input_are_one_gsm7_segment_in_every_language(db, student, language):
    student.say(f"LANG {language}")
    answers = [student.say("OPP"), student.say("OPP 1")]  # nothing eligible, nothing listed
    opportunity(db, "Grant A", date(2027, 1, 5))
    student.say("OPP")
    answers += [student.say(text) for text in ("OPP 99", "OPP SAVE", "OPP nonsense", "OPP ON", "OPP OFF")]
    for answer in answers:
        sent = for_channel(answer, "sms")
        assert segment_count(sent) == 1 and is_gsm7(sent), (language, answer)


def test_a_list_by_sms_is_fitted_as_sent_with_the_letters_gsm7_lacks_folded(db, student):
    for n in range(1, 4):
        opportunity(db, f"Beca {n}", date(2027, 1, n), org="Fundación")
    student.say("LANG es")
    listing = student.say("OPP")
    assert "1) Beca 1, Fundacion, hasta el 1 ene" in listing and "3) Beca 3" in listing
    assert is_gsm7(listing) and segment_count(listing) <= 3
    assert student.say("OPP 1").startswith("Beca 1 (beca), Fundacion. Fecha limite: 1 ene.")
