"""The Twilio webhooks, driven with recorded payload shapes and real signatures."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from gateway.simulate import replies_from
from store.db import session_factory
from store.models import INBOUND, OPTED_OUT, OUTBOUND, Message, Person
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Phone, payload, sign


def post(client, path: str, form: dict, signature: str | None = "sign", **kw):
    headers = dict(kw.pop("headers", {}))
    if signature == "sign":
        headers["X-Twilio-Signature"] = sign(form, path)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, data=form, headers=headers, **kw)


def rows(db, model=Message):
    """Read fresh rows, ending the read so the app under test can write (SQLite locks)."""
    db.expire_all()
    result = db.execute(select(model).order_by(model.id)).scalars().all()
    db.commit()
    return result


def count(db, model=Message) -> int:
    db.expire_all()
    result = db.execute(select(func.count()).select_from(model)).scalar_one()
    db.commit()
    return result


# One row per case: the payload, what Twilio must get back, and what must be stored.
CASES = [
    pytest.param("sms_help", {}, "sms", "Rounds: A-D answer", id="sms-help"),
    pytest.param("whatsapp_help", {}, "whatsapp", "Rounds: A-D answer", id="whatsapp-help-profile-waid"),
    pytest.param("mms_photo", {"Body": ""}, "sms", None, id="media-empty-body"),
    pytest.param("sms_help", {"Body": "x" * 1600}, "sms", None, id="body-1600-chars"),
    pytest.param("sms_help", {"Body": "مرحبا 👋🏽"}, "sms", None, id="arabic-emoji"),
]


@pytest.mark.parametrize(("name", "changes", "channel", "reply_starts"), CASES)
def test_inbound_cases(client, db, name, changes, channel, reply_starts):
    form = payload(name, **changes)
    response = post(client, "/twilio/messages", form)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    replies = replies_from(response.get_data(as_text=True))
    assert replies and all(r.strip() for r in replies)
    if reply_starts:
        assert replies[0].startswith(reply_starts)

    stored = rows(db)
    inbound = [m for m in stored if m.direction == INBOUND]
    outbound = [m for m in stored if m.direction == OUTBOUND]
    assert len(inbound) == 1
    assert inbound[0].twilio_sid == form["MessageSid"]
    assert inbound[0].body == form["Body"]
    assert inbound[0].channel == channel
    assert inbound[0].num_media == int(form["NumMedia"])
    assert [m.body for m in outbound] == replies
    assert all(m.reply_to_id == inbound[0].id and m.channel == channel for m in outbound)
    person = rows(db, Person)[0]
    assert person.phone == form["From"].removeprefix("whatsapp:")
    assert person.channel == channel
    assert person.last_inbound_at is not None


def test_forged_signature_is_refused_and_changes_nothing(client, db):
    form = payload("sms_help", Body="STOP")
    forged = sign(form, "/twilio/messages", token="not-the-token")
    for signature in (forged, None, ""):
        response = post(client, "/twilio/messages", form, signature=signature)
        assert response.status_code == 403
    assert count(db) == 0 and count(db, Person) == 0


def test_signature_over_other_fields_is_refused(client, db):
    form = payload("sms_help")
    signature = sign(form, "/twilio/messages")
    tampered = dict(form, Body="STOP")
    assert post(client, "/twilio/messages", tampered, signature=signature).status_code == 403
    assert count(db) == 0


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_signed_request_without_required_field_is_400(client, db, missing):
    form = payload("sms_help")
    del form[missing]
    response = post(client, "/twilio/messages", form)
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)
    assert count(db) == 0


def test_unknown_fields_are_accepted_and_signed_over(client, db):
    form = payload("sms_help", SomeFieldTwilioAddsLater="1", OptOutType="")
    assert post(client, "/twilio/messages", form).status_code == 200
    assert count(db) == 2


def test_sender_that_is_not_a_phone_is_kept_without_a_reply(client, db):
    form = payload("sms_help", From="ACME-ALERT")
    response = post(client, "/twilio/messages", form)
    assert response.status_code == 200
    assert replies_from(response.get_data(as_text=True)) == []
    (message,) = rows(db)
    assert message.kind == "unroutable" and message.person_id is None


def test_twilio_retry_replays_the_answer_without_a_second_effect(client, db):
    form = payload("sms_help")
    first = post(client, "/twilio/messages", form)
    second = post(client, "/twilio/messages", form, headers={"I-Twilio-Idempotency-Token": "retry"})
    assert first.status_code == second.status_code == 200
    assert replies_from(first.get_data(as_text=True)) == replies_from(second.get_data(as_text=True))
    assert count(db) == 2  # one inbound, one reply: nothing recorded twice


def test_two_concurrent_deliveries_of_one_message_sid(app, database_url):
    form = payload("sms_help", Body="SCORE")
    answers: list[tuple[int, str]] = []
    barrier = threading.Barrier(2)

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        response = post(client, "/twilio/messages", form)
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [status for status, _ in answers] == [200, 200]
    assert replies_from(answers[0][1]) == replies_from(answers[1][1])
    session = session_factory(database_url)()
    try:
        inbound = session.execute(select(func.count()).where(Message.direction == INBOUND)).scalar_one()
        replies = session.execute(select(func.count()).where(Message.direction == OUTBOUND)).scalar_one()
        people = session.execute(select(func.count()).select_from(Person)).scalar_one()
    finally:
        session.close()
    assert (inbound, people) == (1, 1)
    assert replies == len(replies_from(answers[0][1]))


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
)
def test_opt_out_words_work_in_any_state(client, db, word):
    phone = Phone(client, "+2348031234111")
    phone.text("hello")  # first contact opens onboarding
    replies = phone.text(word)
    assert "unsubscribed" in replies[0]
    person = rows(db, Person)[0]
    assert person.status == OPTED_OUT and person.next_push_at is None


def test_opted_out_gets_nothing_until_start(client, db):
    phone = Phone(client, "+2348031234111")
    phone.text("STOP")
    assert phone.text("Q") == []
    assert phone.text("A") == []
    assert "START" in phone.text("HELP")[0]
    restarted = phone.text("start")
    assert restarted and "Welcome back" in restarted[0]
    assert rows(db, Person)[0].status == "active"


@pytest.mark.parametrize("word", ["UNSTOP", "YES"])
def test_other_opt_in_words(client, db, word):
    phone = Phone(client, "+2348031234111")
    phone.text("STOP")
    assert phone.text(word)
    assert rows(db, Person)[0].status == "active"


def test_help_and_info_answer_in_one_segment(client):
    from content.segments import segment_count

    phone = Phone(client, "+2348031234111")
    for word in ("HELP", "info", "Help."):
        (reply,) = phone.text(word)
        assert segment_count(reply) == 1
        assert "STOP" in reply


def test_whatsapp_reply_goes_back_on_whatsapp(client, db):
    phone = Phone(client, "+447700900123", whatsapp=True)
    assert phone.text("HELP")
    outbound = [m for m in rows(db) if m.direction == OUTBOUND]
    assert outbound and all(m.channel == "whatsapp" for m in outbound)
    assert rows(db, Person)[0].country == "GB"


def test_public_url_is_used_for_the_signature(client, db):
    # Twilio signed https://rounds.example.org/...; the app sees http://localhost/...
    form = payload("sms_help")
    wrong_base = sign(form, "/twilio/messages", base="http://localhost")
    assert post(client, "/twilio/messages", form, signature=wrong_base).status_code == 403
    assert post(client, "/twilio/messages", form).status_code == 200


def test_forwarded_headers_rebuild_the_url_without_public_url(app_settings, db):
    from gateway import create_app

    client = create_app(app_settings.with_(public_url="", trusted_proxies=1)).test_client()
    form = payload("sms_help")
    signature = sign(form, "/twilio/messages", base="https://sms.example.net")
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.example.net",
        "X-Twilio-Signature": signature,
    }
    assert client.post("/twilio/messages", data=form, headers=headers).status_code == 200
    plain = {"X-Twilio-Signature": signature}
    assert (
        client.post("/twilio/messages", data=dict(form, MessageSid="SMother"), headers=plain).status_code
        == 403
    )


def test_forwarded_headers_are_ignored_without_trusted_proxies(app_settings, db):
    """ROUNDS_TRUSTED_PROXIES=0 (the default): a client cannot choose the URL the signature covers."""
    from gateway import create_app

    client = create_app(app_settings.with_(public_url="")).test_client()
    form = payload("sms_help")
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.example.net",
        "X-Twilio-Signature": sign(form, "/twilio/messages", base="https://sms.example.net"),
    }
    assert client.post("/twilio/messages", data=form, headers=headers).status_code == 403
    assert rows(db) == []


def test_with_public_url_the_host_header_cannot_move_the_signed_url(client, db):
    form = payload("sms_help")
    signature = sign(form, "/twilio/messages", base="https://attacker.example")
    headers = {
        "Host": "attacker.example",
        "X-Forwarded-Host": "attacker.example",
        "X-Twilio-Signature": signature,
    }
    assert client.post("/twilio/messages", data=form, headers=headers).status_code == 403
    assert rows(db) == []


# --- status callbacks ----------------------------------------------------------------------


@pytest.fixture
def sent_message(db):
    person = Person(phone="+2348031234111", channel="sms", flow_state={})
    db.add(person)
    db.flush()
    message = Message(
        person_id=person.id,
        direction=OUTBOUND,
        channel="sms",
        phone=person.phone,
        body="Q101 ...",
        kind="question",
        status="sent",
        twilio_sid="SMSTATUS0000000000000000000000001",
    )
    db.add(message)
    db.commit()
    return message


def _status(client, **changes):
    form = payload("status_delivered", **changes)
    return post(client, "/twilio/status", form)


def test_status_moves_forward_only(client, db, sent_message):
    assert _status(client).status_code in (200, 204)
    assert rows(db)[0].status == "delivered"
    _status(client, MessageStatus="sent", SmsStatus="sent")  # late and out of order
    assert rows(db)[0].status == "delivered"
    _status(client, MessageStatus="read", SmsStatus="read")
    assert rows(db)[0].status == "read"


def test_failed_keeps_error_code_and_21610_opts_out(client, db, sent_message):
    form = payload("status_failed_21610")
    assert post(client, "/twilio/status", form).status_code in (200, 204)
    message = rows(db)[0]
    assert (message.status, message.error_code) == ("failed", 21610)
    person = rows(db, Person)[0]
    assert person.status == OPTED_OUT
    # A duplicate callback changes nothing and still succeeds.
    assert post(client, "/twilio/status", form).status_code in (200, 204)


def test_undelivered_keeps_error_code(client, db, sent_message):
    _status(client, MessageStatus="undelivered", SmsStatus="undelivered", ErrorCode="30003")
    message = rows(db)[0]
    assert (message.status, message.error_code) == ("undelivered", 30003)
    _status(client, MessageStatus="sent", SmsStatus="sent")
    assert rows(db)[0].status == "undelivered"


def test_status_for_unknown_sid_succeeds_so_twilio_stops(client, db):
    response = _status(client, MessageSid="SMunknown", SmsSid="SMunknown")
    assert response.status_code in (200, 204)
    assert count(db) == 0


def test_status_callback_needs_a_signature(client, db, sent_message):
    form = payload("status_delivered")
    assert post(client, "/twilio/status", form, signature=None).status_code == 403
    assert rows(db)[0].status == "sent"


def test_status_without_sid_is_400(client, sent_message):
    form = payload("status_delivered")
    del form["MessageSid"]
    assert post(client, "/twilio/status", form).status_code == 400


def test_auth_token_is_the_signing_key(app_settings):
    assert app_settings.webhook_token == AUTH_TOKEN
    assert PUBLIC_URL.startswith("https://")
