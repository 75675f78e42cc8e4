"""WhatsApp users without a visible phone number: a business-scoped user id (BSUID) is their
address. Payloads as Twilio sends them (tests/payloads/whatsapp_bsuid_*.json).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from flows.phones import mask
from gateway.simulate import replies_from
from store.db import session_scope
from store.models import OPTED_OUT, Message, Person
from tests.conftest import NOW, Phone, drain, payload, sign
from tests.test_send_path import add_person, messages, queue
from workers.outbox import enqueue_send

BSUID = "US.13491208655302741918"


def post(client, form: dict[str, str]):
    return client.post(
        "/twilio/messages", data=form, headers={"X-Twilio-Signature": sign(form, "/twilio/messages")}
    )


def people(settings) -> list[Person]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Person).order_by(Person.id)))


# payload, changes, then the person stored: (address, bsuid, phone number, username, country)
CASES = [
    ("whatsapp_bsuid_help", {}, (BSUID, BSUID, None, None, None)),
    (
        "whatsapp_bsuid_with_waid",
        {},
        (BSUID, BSUID, "+233201234444", "kofi.med", "GH"),
    ),
    (
        "whatsapp_bsuid_help",
        {"From": "whatsapp:US.ENT.11815799212886844830"},
        ("US.ENT.11815799212886844830",) * 2 + (None,) * 3,
    ),
    # A From that is no address at all, but a WaId: the number is the address.
    ("whatsapp_help", {"From": "whatsapp:???"}, ("+2348031234222", None, "+2348031234222", None, "NG")),
]


@pytest.mark.parametrize(("name", "changes", "stored"), CASES)
def test_a_whatsapp_identity_without_a_number_is_a_person(client, app_settings, name, changes, stored):
    response = post(client, payload(name, **changes))
    assert response.status_code == 200
    (reply,) = replies_from(response.get_data(as_text=True))
    assert reply.startswith("Rounds")  # HELP answered, on the same address (the TwiML reply)
    (person,) = people(app_settings)
    assert (person.phone, person.bsuid, person.phone_number, person.username, person.country) == stored
    assert person.channel == "whatsapp" and person.address == f"whatsapp:{stored[0]}"
    with session_scope(app_settings.database_url) as session:
        kinds = {(m.kind, m.channel, m.phone) for m in session.scalars(select(Message))}
    assert kinds == {("inbound", "whatsapp", stored[0]), ("reply", "whatsapp", stored[0])}


def test_stop_from_a_bsuid_is_honoured(client, app_settings):
    post(client, payload("whatsapp_bsuid_help", Body="STOP"))
    (person,) = people(app_settings)
    assert person.phone == BSUID and person.status == OPTED_OUT


def test_the_same_bsuid_is_one_person_and_a_later_waid_is_kept(client, app_settings):
    post(client, payload("whatsapp_bsuid_help"))
    post(client, payload("whatsapp_bsuid_with_waid"))
    (person,) = people(app_settings)
    assert (person.phone, person.phone_number, person.username) == (BSUID, "+233201234444", "kofi.med")


def test_onboarding_asks_the_time_zone_of_a_bsuid(client):
    kofi = Phone(client, BSUID, whatsapp=True)
    assert kofi.text("JOIN")[0].startswith("Welcome to Rounds")
    kofi.text("Kofi")
    kofi.text("1")
    assert kofi.text("19:00") == [
        "Which city's time do you keep? Reply a city, e.g. Lagos or London, or OK for UTC."
    ]
    assert kofi.text("Accra")[0].startswith("All set! Your daily question comes at 19:00 (Africa/Accra)")


def test_a_bsuid_is_masked_in_logs(client, caplog):
    with caplog.at_level(logging.INFO, logger="rounds.webhooks"):
        post(client, payload("whatsapp_bsuid_help"))
    assert BSUID not in caplog.text and mask(BSUID) in caplog.text
    assert mask("US.1234") == "US*****"


def test_pushes_go_to_the_bsuid_address(send_settings, twilio):
    person_id = add_person(
        send_settings, phone=BSUID, channel="whatsapp", last_inbound_at=NOW - timedelta(hours=1)
    )
    enqueue_send(send_settings, [queue(send_settings, person_id, "Q101 A 60yo man...")])
    drain(send_settings)
    (sent,) = twilio.sent
    assert sent["To"] == f"whatsapp:{BSUID}" and sent["From"] == "whatsapp:+14155238886"


def test_no_sms_fallback_for_a_bsuid_without_a_number(send_settings, twilio):
    settings = send_settings.with_(whatsapp_templates={}, whatsapp_fallback="sms")
    old = NOW - timedelta(hours=30)
    person_id = add_person(settings, phone=BSUID, channel="whatsapp", last_inbound_at=old)
    enqueue_send(settings, [queue(settings, person_id, "Q101 A 60yo man...")])
    drain(settings)
    assert twilio.sent == []  # never an SMS to "US.1349..."
    (row,) = messages(settings)
    assert (row.status, row.error_code) == ("failed", 63016)
    with session_scope(settings.database_url) as session:
        assert session.get(Person, person_id).unreachable is False


def test_export_and_erase_of_a_bsuid(client, app_settings, runner, tmp_path):
    post(client, payload("whatsapp_bsuid_with_waid"))
    out = tmp_path / "person.json"
    exported = runner.invoke(args=["admin", "export-person", f"whatsapp:{BSUID}", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    person = __import__("json").loads(out.read_text())["person"]
    assert (person["phone"], person["bsuid"], person["phone_number"], person["username"]) == (
        BSUID,
        BSUID,
        "+233201234444",
        "kofi.med",
    )
    assert runner.invoke(args=["admin", "erase", BSUID, "--yes"]).exit_code == 0
    (erased,) = people(app_settings)
    assert (erased.bsuid, erased.phone_number, erased.username) == (None, None, None)
    assert BSUID not in erased.phone


def test_a_broadcast_country_segment_treats_a_bsuid_as_unknown(client, app_settings):
    from workers import broadcasts
    from workers.broadcasts import Audience, Schedule

    post(client, payload("whatsapp_bsuid_help"))  # "US." is the id's prefix, not the person's country

    def preview(*keys: str):
        with session_scope(app_settings.database_url) as session:
            return broadcasts.preview(
                session,
                "Hello",
                Audience.parse(keys),
                Schedule(),
                app_settings,
                broadcasts.load_prices(app_settings),
                NOW,
                None,
            )

    assert preview("country=US").matched == 0
    everyone = preview("channel=whatsapp")
    assert everyone.matched == 1
    assert [line.country for line in everyone.countries] in ([], ["??"])


@pytest.mark.parametrize("name", ["whatsapp_bsuid_help", "whatsapp_bsuid_with_waid"])
def test_the_student_page_shows_a_bsuid_for_what_it_is(client, app_settings, name):
    from tests.admin_support import make_admin, sign_in

    post(client, payload(name))
    (person,) = people(app_settings)
    make_admin(app_settings, role="viewer")
    sign_in(client)
    page = client.get(f"/admin/students/{person.id}").get_data(as_text=True)
    assert f"<dt>WhatsApp id</dt><dd>{BSUID}</dd>" in page
    number = "+233201234444" if person.phone_number else "not shown by WhatsApp"
    assert f"<dt>Number</dt><dd>{number}</dd>" in page
