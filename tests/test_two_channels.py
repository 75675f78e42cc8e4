"""One person, two channels: WHATSAPP and SMS, one learner whichever channel they write on, the
opt-out that ends both, the cheapest route for a push, and the merge of rows that were one number.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, create_engine, func, insert, select, text

from content.load import load_content
from flows.channels import FREE_FORM, TEMPLATE, Reach, push_route, wa_me_link
from flows.schedule import reschedule
from store import migrate
from store.db import get_engine, session_scope
from store.identity import Merge, merge_duplicates, merge_people
from store.mentoring import MentorProfile, Pair
from store.models import OPTED_OUT, SMS, Attempt, Card, Message, Person
from store.schema import metadata
from tests.conftest import NOW, PG_ADMIN_URL, Phone, _postgres_answers, drain, payload, sign
from workers.outbox import enqueue_send, queue_message
from workers.schedule import run_tick

NUMBER = "+2348031234111"  # Nigeria: a WhatsApp template (0.05) is cheaper than an SMS (0.10 a segment)
US_NUMBER = "+12025550123"  # the US: an SMS (0.01) is cheaper than a template (0.03)
BSUID = "US.13491208655302741918"


# --- the routing decision, without a database ---------------------------------------------------


def reach(**fields) -> Reach:
    values = {"status": "active", "has_number": True, "on_whatsapp": True, "whatsapp_inbound_at": None}
    return Reach(**{**values, **fields})


HOUR = timedelta(hours=1)
# (case, reach, SMS cost, template cost, route)
ROUTES = [
    ("SMS only", reach(on_whatsapp=False), 0.1, 0.05, SMS),
    ("WhatsApp in the window", reach(whatsapp_inbound_at=NOW - 23 * HOUR), 0.1, 0.05, FREE_FORM),
    ("in the window, no template", reach(whatsapp_inbound_at=NOW - HOUR), 0.1, None, FREE_FORM),
    ("window closed, template cheaper", reach(whatsapp_inbound_at=NOW - 25 * HOUR), 0.1, 0.05, TEMPLATE),
    ("window closed, SMS cheaper", reach(whatsapp_inbound_at=NOW - 25 * HOUR), 0.01, 0.03, SMS),
    ("window closed, no template", reach(whatsapp_inbound_at=NOW - 25 * HOUR), 0.1, None, SMS),
    (
        "no number, window closed",
        reach(has_number=False, whatsapp_inbound_at=NOW - 25 * HOUR),
        0.01,
        0.03,
        TEMPLATE,
    ),
    ("no number, no template", reach(has_number=False), 0.1, None, None),
    ("prefers SMS, in the window", reach(prefers_sms=True, whatsapp_inbound_at=NOW - HOUR), 0.1, 0.05, SMS),
    (
        "prefers SMS, SMS stopped",
        reach(prefers_sms=True, sms_blocked=True, whatsapp_inbound_at=NOW),
        0.1,
        0.05,
        FREE_FORM,
    ),
    ("WhatsApp stopped", reach(whatsapp_blocked=True, whatsapp_inbound_at=NOW - HOUR), 0.1, 0.05, SMS),
    (
        "SMS stopped, window closed",
        reach(sms_blocked=True, whatsapp_inbound_at=NOW - 25 * HOUR),
        0.01,
        0.03,
        TEMPLATE,
    ),
    (
        "both stopped",
        reach(sms_blocked=True, whatsapp_blocked=True, whatsapp_inbound_at=NOW),
        0.1,
        0.05,
        None,
    ),
    ("opted out", reach(status=OPTED_OUT, whatsapp_inbound_at=NOW - HOUR), 0.1, 0.05, None),
]


@pytest.mark.parametrize(
    ("case", "who", "sms_cost", "template_cost", "route"), ROUTES, ids=[r[0] for r in ROUTES]
)
def test_a_push_goes_by_the_cheapest_channel_that_reaches_them_now(case, who, sms_cost, template_cost, route):
    assert push_route(who, NOW, sms_cost=sms_cost, template_cost=template_cost) == route


def test_no_sms_sender_means_no_sms_route():
    assert (
        push_route(reach(on_whatsapp=False), NOW, sms_cost=0.1, template_cost=None, sms_ready=False) is None
    )


def test_the_wa_me_link_has_digits_only():
    assert wa_me_link("whatsapp:+1 (415) 523-8886") == "wa.me/14155238886"
    assert wa_me_link("") == ""


# --- through the webhook, the tick and the send path ---------------------------------------------


@pytest.fixture
def two_settings(send_settings):
    with session_scope(send_settings.database_url) as session:
        load_content(session, None, send_settings.clock.now().date())
    return send_settings.with_(whatsapp_templates={"question": "HX0123456789abcdef0123456789abcdef"})


@pytest.fixture
def web(two_settings):
    from gateway import create_app

    return create_app(two_settings).test_client()


def person_rows(settings) -> list[Person]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Person).order_by(Person.id)))


def onboard(phone: Phone) -> None:
    for text_ in ("hi", "Amina", "1", "08:00"):
        phone.text(text_)


def daily_questions(settings) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Message).where(Message.kind == "question").order_by(Message.id)))


def test_whatsapp_by_sms_gives_the_link_and_on_whatsapp_says_they_are_there(web, two_settings):
    sms, whatsapp = Phone(web, NUMBER), Phone(web, NUMBER, whatsapp=True)
    onboard(sms)
    (answer,) = sms.text("whatsapp")
    assert "wa.me/14155238886" in answer and answer.startswith("Rounds is on WhatsApp too")
    (answer,) = whatsapp.text("WHATSAPP")
    assert answer.startswith("You're on WhatsApp with Rounds already")
    (answer,) = whatsapp.text("SMS")
    assert answer.startswith("OK: your daily questions and other messages now come by SMS")
    (person,) = person_rows(two_settings)
    assert person.prefers_sms is True
    whatsapp.text("WHATSAPP")
    assert person_rows(two_settings)[0].prefers_sms is False


def test_whatsapp_without_a_whatsapp_sender_says_so(two_settings):
    from gateway import create_app

    phone = Phone(create_app(two_settings.with_(whatsapp_from="")).test_client(), NUMBER)
    onboard(phone)
    assert phone.text("WHATSAPP") == ["Rounds is not on WhatsApp yet. Your questions keep coming by SMS."]


def test_history_streak_and_cards_are_kept_and_no_second_daily_question(web, two_settings):
    sms, whatsapp = Phone(web, NUMBER), Phone(web, NUMBER, whatsapp=True)
    onboard(sms)
    # 08:00 in Lagos on the 27th: the daily question, answered by SMS.
    at = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    two_settings.clock.set(at)
    assert run_tick(two_settings, at).questions == 1
    score_by_sms = sms.text("SCORE")
    sms.text("A")
    # The same number now writes on WhatsApp: the same learner, with the same answers and cards.
    (score,) = whatsapp.text("SCORE")
    (person,) = person_rows(two_settings)
    assert person.channel == "whatsapp" and person.whatsapp_inbound_at is not None
    assert score != score_by_sms[0]  # the answer given by SMS counts on WhatsApp
    with session_scope(two_settings.database_url) as session:
        answered = session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.answered_at.is_not(None))
        )
        cards = session.scalar(select(func.count()).select_from(Card).where(Card.person_id == person.id))
    assert answered == 1 and cards == 1
    # Later that day the pass runs again: no second daily question on the new channel.
    two_settings.clock.set(at + timedelta(hours=3))
    assert run_tick(two_settings, at + timedelta(hours=3)).questions == 0
    assert len(daily_questions(two_settings)) == 1
    assert run_tick(two_settings, at + timedelta(days=1)).questions == 1


@pytest.mark.parametrize(("stop_on", "start_on"), [("whatsapp", "sms"), ("sms", "whatsapp")])
def test_stop_on_either_channel_ends_both_and_start_on_either_restores(
    web, two_settings, twilio, stop_on, start_on
):
    sms, whatsapp = Phone(web, NUMBER), Phone(web, NUMBER, whatsapp=True)
    by = {"sms": sms, "whatsapp": whatsapp}
    onboard(sms)
    whatsapp.text("SCORE")
    # A push is waiting in the outbox when STOP arrives on WhatsApp.
    with session_scope(two_settings.database_url) as session:
        waiting = queue_message(session, session.get(Person, 1), "A push", "question", now=NOW)
    (stopped,) = by[stop_on].text("STOP")
    assert "SMS and WhatsApp" in stopped and "STOP SMS" in stopped
    (person,) = person_rows(two_settings)
    assert (person.status, person.sms_blocked, person.whatsapp_blocked, person.next_push_at) == (
        OPTED_OUT,
        True,
        True,
        None,
    )
    enqueue_send(two_settings, [waiting])
    drain(two_settings)
    assert twilio.sent == []  # suppressed, on both channels
    # Nothing more, on either channel: no answer to texts, no daily question on any day.
    assert sms.text("SCORE") == [] and whatsapp.text("Q") == [] and sms.text("WHATSAPP") == []
    for day in range(1, 4):
        assert run_tick(two_settings, datetime(2026, 11, 26 + day, 7, 0, tzinfo=UTC)).questions == 0
    with session_scope(two_settings.database_url) as session:
        for person_ in session.scalars(select(Person)):
            person_.next_push_at = NOW  # even a due time written by mistake sends nothing
        queued = queue_message(session, session.get(Person, 1), "Another push", "checkin", now=NOW)
    enqueue_send(two_settings, [queued])
    drain(two_settings)
    assert twilio.sent == []
    assert {
        m.status for m in person_messages(two_settings) if m.direction == "out" and m.kind != "reply"
    } == {"suppressed"}
    # START on either channel restores both.
    (restarted,) = by[start_on].text("START")
    assert restarted.startswith("Welcome back to Rounds")
    (person,) = person_rows(two_settings)
    assert (person.status, person.sms_blocked, person.whatsapp_blocked) == ("active", False, False)
    assert person.next_push_at is not None
    with session_scope(two_settings.database_url) as session:
        again = queue_message(session, session.get(Person, 1), "Back again", "question", now=NOW)
    enqueue_send(two_settings, [again])
    drain(two_settings)
    (sent,) = twilio.sent
    assert sent["Body"] == "Back again" and sent["To"] == f"whatsapp:{NUMBER}"  # in the window: free


def person_messages(settings) -> list[Message]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def test_stop_on_sms_then_stop_whatsapp_keeps_sms_only(web, two_settings):
    sms, whatsapp = Phone(web, NUMBER), Phone(web, NUMBER, whatsapp=True)
    onboard(sms)
    whatsapp.text("SCORE")
    sms.text("STOP")
    assert person_rows(two_settings)[0].status == OPTED_OUT
    (kept,) = whatsapp.text("STOP WHATSAPP")
    assert kept == "Rounds stopped on WhatsApp; it goes on by SMS. STOP ends both, START turns both back on."
    (person,) = person_rows(two_settings)
    assert (person.status, person.sms_blocked, person.whatsapp_blocked) == ("active", False, True)


def test_stop_one_channel_with_no_other_channel_is_a_stop(web, two_settings):
    sms = Phone(web, NUMBER)
    onboard(sms)
    (answer,) = sms.text("STOP SMS")  # never on WhatsApp: nothing would reach them
    assert answer.startswith("You're unsubscribed from Rounds")
    assert person_rows(two_settings)[0].status == OPTED_OUT


def add(settings, phone: str, **fields) -> int:
    with session_scope(settings.database_url) as session:
        person = Person(phone=phone, status="active", flow_state={}, name="Amina", **fields)
        session.add(person)
        session.flush()
        return person.id


@pytest.mark.parametrize(
    ("case", "phone", "fields", "to", "template"),
    [
        ("in the window", NUMBER, {"whatsapp_inbound_at": NOW - HOUR}, f"whatsapp:{NUMBER}", False),
        ("prefers SMS", NUMBER, {"whatsapp_inbound_at": NOW - HOUR, "prefers_sms": True}, NUMBER, False),
        (
            "closed, NG template",
            NUMBER,
            {"whatsapp_inbound_at": NOW - 30 * HOUR, "country": "NG"},
            f"whatsapp:{NUMBER}",
            True,
        ),
        (
            "closed, US SMS",
            US_NUMBER,
            {"whatsapp_inbound_at": NOW - 30 * HOUR, "country": "US"},
            US_NUMBER,
            False,
        ),
        ("SMS only", NUMBER, {}, NUMBER, False),
        (
            "WhatsApp stopped",
            NUMBER,
            {"whatsapp_inbound_at": NOW - HOUR, "whatsapp_blocked": True},
            NUMBER,
            False,
        ),
    ],
)
def test_the_send_path_applies_the_route(two_settings, twilio, case, phone, fields, to, template):
    pid = add(two_settings, phone, channel="sms", **fields)
    with session_scope(two_settings.database_url) as session:
        message_id = queue_message(session, session.get(Person, pid), "Q101 Which drug?", "question", now=NOW)
    enqueue_send(two_settings, [message_id])
    drain(two_settings)
    (sent,) = twilio.sent
    assert sent["To"] == to
    assert ("ContentSid" in sent) is template
    (row,) = [m for m in person_messages(two_settings) if m.id == message_id]
    assert row.status == "sent" and row.channel == ("whatsapp" if to.startswith("whatsapp:") else "sms")


def test_both_channels_stopped_suppresses(two_settings, twilio):
    pid = add(
        two_settings,
        NUMBER,
        channel="whatsapp",
        whatsapp_inbound_at=NOW,
        sms_blocked=True,
        whatsapp_blocked=True,
    )
    with session_scope(two_settings.database_url) as session:
        message_id = queue_message(session, session.get(Person, pid), "Q101", "question", now=NOW)
    enqueue_send(two_settings, [message_id])
    drain(two_settings)
    assert twilio.sent == []
    assert person_messages(two_settings)[0].status == "suppressed"


# --- merging rows that were one number ------------------------------------------------------------


def test_a_whatsapp_id_with_the_number_of_an_sms_learner_is_that_learner(web, two_settings):
    onboard(Phone(web, "+233201234444"))
    response = web.post(
        "/twilio/messages",
        data=(form := payload("whatsapp_bsuid_with_waid", Body="SCORE")),
        headers={"X-Twilio-Signature": sign(form, "/twilio/messages")},
    )
    assert response.status_code == 200
    (person,) = person_rows(two_settings)
    assert (person.phone, person.bsuid, person.channel) == ("+233201234444", BSUID, "whatsapp")
    assert person.whatsapp_inbound_at is not None and person.name == "Amina"


def duplicate_pair(db, now) -> tuple[Person, Person]:
    """An SMS learner, and the same number as a WhatsApp business-scoped id, a day younger."""
    older = Person(
        phone="+233201234444",
        phone_number="+233201234444",
        channel="sms",
        name="Kofi",
        status="active",
        flow_state={},
        created_at=now - timedelta(days=30),
        country="GH",
        timezone="Africa/Accra",
        daily_time="08:00",
        track="step1",
    )
    younger = Person(
        phone=BSUID,
        bsuid=BSUID,
        phone_number="+233201234444",
        channel="whatsapp",
        status="active",
        flow_state={},
        created_at=now - timedelta(days=29),
        last_inbound_at=now - timedelta(hours=2),
        whatsapp_inbound_at=now - timedelta(hours=2),
        timezone="Africa/Accra",
        daily_time="08:00",
        track="step1",
    )
    db.add_all([older, younger])
    db.flush()
    return older, younger


def test_merge_keeps_the_older_row_and_moves_everything(db, now):
    load_content(db, None, now.date())
    mentor = Person(phone="+2348030000001", role="mentor", status="active", flow_state={})
    db.add(mentor)
    older, younger = duplicate_pair(db, now)
    db.flush()
    db.add(MentorProfile(person_id=mentor.id, display_name="Dr A"))
    today = now.date()
    db.add_all(
        [
            # Both got today's daily question (one per row): one stays.
            Attempt(person_id=older.id, question_id=101, source="daily", local_date=today, asked_at=now),
            Attempt(person_id=younger.id, question_id=102, source="daily", local_date=today, asked_at=now),
            Attempt(
                person_id=younger.id,
                question_id=103,
                source="q",
                local_date=today,
                asked_at=now,
                answered_at=now,
                choice="A",
                correct=True,
            ),
            Card(person_id=older.id, question_id=101, due=now, state={}),
            Card(person_id=younger.id, question_id=101, due=now, state={}),  # the kept one wins
            Card(person_id=younger.id, question_id=103, due=now, state={}),
            # A mentor pair that ended on the older row does not stop the active one moving.
            Pair(mentor_id=mentor.id, student_id=older.id, number=10, status="ended"),
            Pair(mentor_id=mentor.id, student_id=younger.id, number=11),
        ]
    )
    db.add(
        Message(
            person_id=younger.id,
            direction="in",
            channel="whatsapp",
            phone=BSUID,
            body="hi",
            status="received",
        )
    )
    reschedule(older, now - timedelta(days=1))  # due today
    younger.next_push_at = now + timedelta(days=1)  # already had today's
    db.commit()
    older_id, younger_id = older.id, younger.id

    assert merge_duplicates(db.connection(), metadata) == 1
    db.commit()
    db.expire_all()
    (kept,) = db.scalars(select(Person).where(Person.role == "student")).all()
    assert kept.id == older_id and db.get(Person, younger_id) is None
    assert (kept.phone, kept.bsuid, kept.channel, kept.name) == ("+233201234444", BSUID, "sms", "Kofi")
    assert kept.whatsapp_inbound_at == now - timedelta(hours=2)
    assert kept.next_push_at == now + timedelta(days=1)  # no second daily question today
    attempts = db.scalars(select(Attempt).order_by(Attempt.id)).all()
    assert {(a.person_id, a.question_id, a.source) for a in attempts} == {
        (older_id, 101, "daily"),
        (older_id, 103, "q"),
    }
    assert sorted(c.question_id for c in db.scalars(select(Card).where(Card.person_id == older_id))) == [
        101,
        103,
    ]
    assert db.scalar(select(func.count()).select_from(Card)) == 2
    pairs = db.scalars(select(Pair).order_by(Pair.number)).all()
    assert [(p.student_id, p.number, p.status) for p in pairs] == [
        (older_id, 10, "ended"),
        (older_id, 11, "active"),
    ]
    (message,) = db.scalars(select(Message)).all()
    assert message.person_id == older_id
    assert merge_duplicates(db.connection(), metadata) == 0  # nothing left to merge


def test_merge_keeps_one_active_mentor(db, now):
    mentor = Person(phone="+2348030000001", role="mentor", status="active", flow_state={})
    db.add(mentor)
    older, younger = duplicate_pair(db, now)
    db.add_all(
        [
            Pair(mentor_id=mentor.id, student_id=older.id, number=10),
            Pair(mentor_id=mentor.id, student_id=younger.id, number=11),
        ]
    )
    db.commit()
    merge_people(db.connection(), metadata, [Merge(older.id, younger.id)])
    db.commit()
    (pair,) = db.scalars(select(Pair)).all()
    assert (pair.student_id, pair.number) == (older.id, 10)


def test_merge_keeps_every_opt_out(db, now):
    older, younger = duplicate_pair(db, now)
    younger.opt_out()
    db.commit()
    merge_people(db.connection(), metadata, [Merge(older.id, younger.id)])
    db.commit()
    db.expire_all()
    (kept,) = db.scalars(select(Person)).all()
    assert (kept.status, kept.sms_blocked, kept.whatsapp_blocked, kept.next_push_at) == (
        OPTED_OUT,
        True,
        True,
        None,
    )


# --- the migration from 0019, with duplicates present ---------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database of its own: migrated by the test, step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if not _postgres_answers():
        pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432")
    name = f"rounds_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    get_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}").dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_migration_merges_duplicates_present_at_0019(fresh_url):
    migrate.upgrade(fresh_url, "0019")
    engine = create_engine(fresh_url)
    stamp = datetime(2026, 11, 1, 9, 0)
    base = {
        "bsuid": None,
        "last_inbound_at": None,
        "language": "en",
        "role": "student",
        "status": "active",
        "flow_state": "{}",
        "unreachable": False,
        "updated_at": stamp,
    }
    people = [
        {
            **base,
            "id": 1,
            "phone": "+233201234444",
            "phone_number": "+233201234444",
            "channel": "sms",
            "created_at": stamp,
            "last_inbound_at": stamp,
        },
        {
            **base,
            "id": 2,
            "phone": BSUID,
            "bsuid": BSUID,
            "phone_number": "+233201234444",
            "channel": "whatsapp",
            "created_at": stamp + timedelta(days=1),
            "last_inbound_at": stamp + timedelta(days=2),
        },
        {
            **base,
            "id": 3,
            "phone": "+2348031234111",
            "phone_number": "+2348031234111",
            "channel": "whatsapp",
            "created_at": stamp,
            "last_inbound_at": stamp,
            "status": "opted_out",
        },
        {
            **base,
            "id": 4,
            "phone": "+2348030000001",
            "phone_number": "+2348030000001",
            "channel": "sms",
            "created_at": stamp,
            "role": "mentor",
        },
    ]
    message = {
        "direction": "in",
        "channel": "whatsapp",
        "phone": BSUID,
        "body": "hi",
        "kind": "inbound",
        "status": "received",
        "segments": 1,
        "encoding": "GSM-7",
        "num_media": 0,
        "attempts": 0,
        "created_at": stamp,
        "updated_at": stamp,
    }
    with engine.begin() as conn:
        tables = MetaData()
        tables.reflect(conn)
        conn.execute(insert(tables.tables["people"]), people)
        conn.execute(insert(tables.tables["messages"]), [{**message, "person_id": 2}])
        conn.execute(
            insert(tables.tables["mentor_pairs"]),
            [
                {
                    "mentor_id": 4,
                    "student_id": 2,
                    "number": 11,
                    "status": "active",
                    "thread_open": True,
                    "created_at": stamp,
                }
            ],
        )
    migrate.upgrade(fresh_url)
    with engine.connect() as conn:
        after = MetaData()
        after.reflect(conn)
        people_ = after.tables["people"]
        rows = conn.execute(
            select(
                people_.c.id,
                people_.c.phone,
                people_.c.bsuid,
                people_.c.whatsapp_inbound_at,
                people_.c.sms_blocked,
                people_.c.whatsapp_blocked,
            ).order_by(people_.c.id)
        ).all()
        assert [(*r[:4], bool(r[4]), bool(r[5])) for r in rows] == [
            (1, "+233201234444", BSUID, stamp + timedelta(days=2), False, False),
            (3, "+2348031234111", None, stamp, True, True),
            (4, "+2348030000001", None, None, False, False),
        ]
        assert conn.execute(text("SELECT person_id FROM messages")).scalar_one() == 1
        assert conn.execute(text("SELECT student_id FROM mentor_pairs")).scalar_one() == 1
    engine.dispose()
