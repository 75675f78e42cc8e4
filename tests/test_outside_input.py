"""Text and numbers from outside, on both backends: NUL and other control characters, lone
surrogates, bodies over 1,600 characters and numbers too big for any column are cleaned, cut or
ignored before they reach the database, and the person gets the answer the cleaned text earns."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from gateway.simulate import replies_from
from store.db import session_scope
from store.models import INBOUND, OUTBOUND, Message, Person
from store.text import MAX_BODY, clean, whole_number
from tests.conftest import Phone, payload, sign


def post(client, path: str, form: dict):
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(form, path)})


def rows(db, model=Message):
    """Read fresh rows, ending the read so the app under test can write (SQLite locks)."""
    db.expire_all()
    result = db.execute(select(model).order_by(model.id)).scalars().all()
    db.commit()
    return result


def inbound_rows(db):
    return [m for m in rows(db) if m.direction == INBOUND]


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept", "changed"),
    [
        ("HELP", "HELP", False),
        ("line one\nline\ttwo", "line one\nline\ttwo", False),
        ("مرحبا 👋🏽", "مرحبا 👋🏽", False),
        ("\x00\x01", "", True),
        ("ST\x00OP\x1b", "STOP", True),
        ("two\r\nlines\rthree", "two\nlines\nthree", True),
        ("bad \ud83d half", "bad \ufffd half", True),
        ("del\x7f", "del", True),
    ],
)
def test_clean_removes_controls_and_replaces_lone_surrogates(raw, kept, changed):
    cleaned = clean(raw)
    assert (cleaned.text, cleaned.changed, cleaned.cut) == (kept, changed, False)
    assert cleaned.flags == ("cleaned" if changed else None)


def test_clean_cuts_to_the_limit_and_says_so():
    cleaned = clean("\x00" + "x" * 2000, MAX_BODY)
    assert cleaned.text == "x" * MAX_BODY
    assert cleaned.flags == "cleaned cut"


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("0", 0),
        ("2147483647", 2147483647),
        ("2147483648", None),
        ("9" * 30, None),
        ("-1", None),
        ("1_000", None),
        ("١٢", None),
        ("", None),
        (None, None),
        ("1e3", None),
    ],
)
def test_whole_number_is_strict_and_bounded(raw, number):
    assert whole_number(raw) == number


def test_every_text_column_is_cleaned_on_the_way_in():
    from sqlalchemy import String

    from store.schema import metadata
    from store.text import CleanString, CleanText

    plain = [
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, String) and not isinstance(column.type, (CleanString, CleanText))
    ]
    assert plain == [], "declare text columns with store.text.CleanString / CleanText"


def test_a_code_path_that_forgets_to_clean_cannot_send_nul_to_the_database(db, database_url):
    db.add(Person(phone="+2348031234111", channel="sms", name="Ada\x00 Obi\ud800", flow_state={}))
    db.commit()
    assert rows(db, Person)[0].name == "Ada Obi\ufffd"
    with session_scope(database_url) as session:
        found = session.scalars(select(Person).where(Person.phone == "+234803123\x004111")).one()
    assert found.name == "Ada Obi\ufffd"


# --- inbound texts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean_text"),
    [
        ("\x00\x01", ""),
        ("HE\x00LP\x07", "HELP"),
        ("SC\x1bORE\r\n", "SCORE\n"),
    ],
)
def test_a_text_with_control_characters_is_answered_as_the_cleaned_text(client, db, dirty, clean_text):
    dirty_phone, clean_phone = Phone(client, "+2348031234111"), Phone(client, "+2348031234222")
    dirty_replies = dirty_phone.text(dirty)
    assert dirty_replies == clean_phone.text(clean_text)
    assert dirty_replies and all(reply.strip() for reply in dirty_replies)
    kept = {m.phone: m for m in inbound_rows(db)}
    assert kept["+2348031234111"].body == clean_text
    assert kept["+2348031234111"].body_flags == "cleaned"
    assert kept["+2348031234222"].body_flags is None


BAD_BODIES = [
    "",
    " ",
    "مرحبا 👋🏽",
    "😀" * 900,
    "x" * 5000,
    "\x00",
    "\x00\x01\x02\x1f\x7f",
    "Q9223372036854775808 B",
    "Q" + "9" * 30 + " B",
    "PAUSE 99999999999999999999",
    "TIME 99999999999999999999",
    "RES \x00cardio",
    "1e309",
]


@pytest.mark.parametrize("onboarded", [False, True], ids=["new", "onboarded"])
def test_any_bad_text_through_the_webhook_gets_a_helpful_reply(client, db, onboarded):
    """The flows' property test, end to end: through the signed webhook into the real database."""
    phone = Phone(client, "+2348031234111")
    if onboarded:
        for step in ("JOIN", "Ada", "1", "08:00"):
            phone.text(step)
    apology = "Sorry, something went wrong"
    for body in BAD_BODIES:
        replies = phone.text(body)
        assert replies and all(reply.strip() for reply in replies), body
        assert not any(reply.startswith(apology) for reply in replies), (body, replies)
    kept = inbound_rows(db)
    assert len(kept) == len(BAD_BODIES) + (4 if onboarded else 0)
    assert all(len(m.body) <= MAX_BODY and "\x00" not in m.body for m in kept)


def test_stop_with_a_nul_still_opts_out(client, db):
    assert "unsubscribed" in Phone(client, "+2348031234111").text("STOP\x00")[0]
    assert rows(db, Person)[0].status == "opted_out"


def test_a_name_with_control_characters_is_kept_clean_at_onboarding(client, db):
    phone = Phone(client, "+2348031234111")
    phone.text("JOIN")
    reply = phone.text("A\x00da\x01 O\x1bbi")
    assert reply and reply[0].startswith("Thanks, Ada Obi")
    assert rows(db, Person)[0].name == "Ada Obi"


def test_a_megabyte_body_is_stored_up_to_1600_characters_and_marked_cut(client, db):
    form = payload("sms_help", Body="x" * 1_000_000)
    response = post(client, "/twilio/messages", form)
    assert response.status_code == 200
    assert replies_from(response.get_data(as_text=True))
    (kept,) = inbound_rows(db)
    assert kept.body == "x" * MAX_BODY
    assert kept.body_flags == "cut"


def test_a_1600_character_body_is_kept_whole(client, db):
    form = payload("sms_help", Body="y" * MAX_BODY)
    assert post(client, "/twilio/messages", form).status_code == 200
    (kept,) = inbound_rows(db)
    assert (kept.body, kept.body_flags) == ("y" * MAX_BODY, None)


def test_a_sender_with_a_nul_is_kept_as_unroutable(client, db):
    form = payload("sms_help", From="ACME\x00ALERT", Body="\x00promo")
    response = post(client, "/twilio/messages", form)
    assert response.status_code == 200
    (kept,) = inbound_rows(db)
    assert (kept.kind, kept.phone) == ("unroutable", "ACMEALERT")
    assert (kept.body, kept.body_flags) == ("promo", "cleaned")


@pytest.mark.parametrize("field", ["NumSegments", "NumMedia"])
@pytest.mark.parametrize("value", ["9" * 30, "-3", "lots", "99999"])
def test_a_bad_number_field_is_ignored_and_logged(client, db, caplog, field, value):
    form = payload("sms_help", **{field: value})
    with caplog.at_level(logging.WARNING, logger="rounds.webhooks"):
        response = post(client, "/twilio/messages", form)
    assert response.status_code == 200
    assert replies_from(response.get_data(as_text=True))[0].startswith("Rounds: A-D answer")
    (kept,) = inbound_rows(db)
    assert (kept.segments, kept.num_media) == (1, 0)
    assert f"ignored {field}" in caplog.text


# --- status callbacks -----------------------------------------------------------------------------


@pytest.fixture
def sent_message(db):
    person = Person(phone="+2348031234111", channel="sms", flow_state={})
    db.add(person)
    db.flush()
    db.add(
        Message(
            person_id=person.id,
            direction=OUTBOUND,
            channel="sms",
            phone=person.phone,
            body="Q101 ...",
            kind="question",
            status="sent",
            twilio_sid="SMSTATUS0000000000000000000000001",
        )
    )
    db.commit()


def test_a_huge_error_code_is_ignored_and_the_status_still_moves(client, db, sent_message, caplog):
    form = payload("status_delivered", MessageStatus="undelivered", SmsStatus="undelivered")
    form["ErrorCode"] = "9" * 30
    with caplog.at_level(logging.WARNING, logger="rounds.webhooks"):
        assert post(client, "/twilio/status", form).status_code == 204
    message = rows(db)[0]
    assert (message.status, message.error_code) == ("undelivered", None)
    assert "ignored ErrorCode" in caplog.text


def test_status_text_fields_are_cleaned(client, db, sent_message):
    form = payload(
        "status_delivered",
        MessageStatus="failed",
        SmsStatus="failed",
        ErrorCode="30003",
        ErrorMessage="Unreachable\x00 handset\x01",
    )
    assert post(client, "/twilio/status", form).status_code == 204
    message = rows(db)[0]
    assert (message.status, message.error_code, message.error_message) == (
        "failed",
        30003,
        "Unreachable handset",
    )


def test_a_status_for_a_sid_with_a_nul_succeeds(client, db, sent_message):
    form = payload("status_delivered", MessageSid="SMSTATUS00000000000000000000000\x0001")
    assert post(client, "/twilio/status", form).status_code == 204


def test_the_database_really_refuses_nul(db):
    """Why all this exists: PostgreSQL text cannot hold NUL (SQLite can)."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("only PostgreSQL refuses NUL")
    from sqlalchemy.exc import DataError

    with pytest.raises(DataError):
        db.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})
    db.rollback()


# --- the JSON API and the console -----------------------------------------------------------------


@pytest.fixture
def editor_token(app_settings, app) -> str:
    from tests.admin_support import make_token

    return make_token(app_settings, "editor")


def api(client, method: str, path: str, token: str, **kwargs):
    from tests.admin_support import bearer

    return client.open(f"/api/v1{path}", method=method, headers=bearer(token), **kwargs)


def test_api_text_is_cleaned_before_it_is_stored(client, db, editor_token):
    # Raw JSON: "\u0000" and a lone "\ud800" are valid escapes that json.loads turns into a NUL
    # and an unencodable surrogate.
    document = '{"phone": "+2348031239999", "name": "Dr\\u0000 O\\u0007\\ud800", "capacity": 3}'
    response = api(client, "POST", "/mentors", editor_token, data=document, content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["mentor"]["name"] == "Dr O\ufffd"
    assert rows(db, Person)[0].name == "Dr O\ufffd"

    draft = '{"text": "Exam\\u0000 week\\u001b", "segment": {}, "draft": true}'
    response = api(client, "POST", "/broadcasts", editor_token, data=draft, content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["broadcast"]["text"] == "Exam week"


@pytest.mark.parametrize("query", ["q=%00", "q=Ada%00%01", "country=N%00G", "status=%1b"])
def test_api_search_with_control_characters_answers(client, editor_token, query):
    response = api(client, "GET", f"/students?{query}", editor_token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["students"] == []


@pytest.mark.parametrize("person_id", ["9223372036854775808", "9" * 30, "9" * 5000])
def test_api_ids_too_big_for_any_row_are_404(client, editor_token, person_id):
    for path in (f"/students/{person_id}", f"/students/{person_id}/messages", f"/broadcasts/{person_id}"):
        response = api(client, "GET", path, editor_token)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert "error" in response.get_json()


def test_api_capacity_infinity_is_a_400(client, editor_token):
    document = '{"phone": "+2348031239999", "name": "Dr O", "capacity": Infinity}'
    response = api(client, "POST", "/mentors", editor_token, data=document, content_type="application/json")
    assert response.status_code == 400
    assert "capacity" in response.get_json()["error"]


def test_console_search_and_paging_with_bad_input_answer(client, app_settings):
    from tests.admin_support import make_admin, sign_in

    make_admin(app_settings)
    sign_in(client)
    for path in (
        "/admin/students?q=%00Ada",
        "/admin/students?page=" + "9" * 30,
        "/admin/broadcasts?page=99999999999999999999",
        "/admin/students/" + "9" * 30,
    ):
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
