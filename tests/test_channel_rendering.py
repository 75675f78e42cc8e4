"""Text as it leaves for a phone: folded for SMS where GSM-7 lacks a letter, in full on WhatsApp.

Transcripts go through the real webhook and check the exact text Twilio gets back, and the
segments and encoding stored for it; pushes go through the outbox row.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from content import content_root
from content.bank import load_bank
from content.catalog import get_catalog
from content.check_catalog import catalog_segments, segment_table
from content.segments import count
from gateway.simulate import replies_from
from store.models import OUTBOUND, Message, Person
from tests.conftest import Phone
from workers.outbox import queue_message
from workers.send import route_for

FRENCH_WELCOME = (
    "Bienvenue sur Rounds : une question d'examen par jour par {channel}, "
    "à laquelle vous répondez par une lettre. Quel est votre prénom ?"
)
FRENCH_HELP = (
    "Rounds : A-D réponse, Q question, SKIP, SCORE, RES thème, TIME 19:00, TZ ville, PAUSE 7, "
    "LANG en, MENTOR msg, STOP fin, HELP 2 suite. Gratuit ; frais possibles."
)
SPANISH_WELCOME = (
    "Te damos la bienvenida a Rounds: una pregunta de examen al día por {channel}, "
    "que respondes con una letra. ¿Cómo te llamas?"
)
SPANISH_HELP = (
    "Rounds: A-D responder, Q pregunta, SKIP, SCORE, RES tema, TIME 19:00, TZ ciudad, PAUSE 7, "
    "LANG en, MENTOR msj, STOP fin, HELP 2 más. Gratis; puede haber cargos."
)

# language, channel, the welcome and HELP as sent, and their (segments, encoding).
TRANSCRIPTS = [
    pytest.param(
        "fr", False, FRENCH_WELCOME.format(channel="SMS"), (1, "GSM-7"), FRENCH_HELP, id="french-sms"
    ),
    pytest.param(
        "fr", True, FRENCH_WELCOME.format(channel="WhatsApp"), (1, "GSM-7"), FRENCH_HELP, id="french-whatsapp"
    ),
    pytest.param(
        "es",
        False,
        # día and Cómo lose the accent GSM-7 lacks; ¿ stays.
        SPANISH_WELCOME.format(channel="SMS").replace("día", "dia").replace("Cómo", "Como"),
        (1, "GSM-7"),
        SPANISH_HELP.replace("más", "mas"),
        id="spanish-sms",
    ),
    pytest.param(
        "es",
        True,
        SPANISH_WELCOME.format(channel="WhatsApp"),
        (2, "UCS-2"),
        SPANISH_HELP,
        id="spanish-whatsapp",
    ),
]


def outbound(db) -> list[Message]:
    db.expire_all()
    result = list(
        db.execute(select(Message).where(Message.direction == OUTBOUND).order_by(Message.id)).scalars()
    )
    db.commit()
    return result


@pytest.mark.parametrize(("language", "whatsapp", "welcome", "welcome_cost", "help_text"), TRANSCRIPTS)
def test_welcome_and_help_transcript_by_channel(
    client, db, language, whatsapp, welcome, welcome_cost, help_text
):
    phone = Phone(client, "+2348031234111", whatsapp=whatsapp)
    phone.text("hello")
    phone.text(f"LANG {language}")
    assert phone.text("JOIN") == [welcome]
    assert phone.text("HELP") == [help_text]

    sent_welcome, sent_help = outbound(db)[-2:]
    assert sent_welcome.body == welcome and (sent_welcome.segments, sent_welcome.encoding) == welcome_cost
    # One SMS segment; on WhatsApp, which does not charge by segment, "más" keeps its accent.
    help_cost = (3, "UCS-2") if "á" in help_text else (1, "GSM-7")
    assert sent_help.body == help_text and (sent_help.segments, sent_help.encoding) == help_cost
    assert sent_help.channel == ("whatsapp" if whatsapp else "sms")


@pytest.mark.parametrize(("whatsapp", "channel"), [(False, "SMS"), (True, "WhatsApp")])
def test_a_newcomer_is_welcomed_on_the_channel_they_wrote_on(client, whatsapp, channel):
    (welcome,) = Phone(client, "+447700900123", whatsapp=whatsapp).text("hello")
    assert welcome.startswith(f"Welcome to Rounds: one exam question a day by {channel}, answered by letter.")


MEDIA_ONLY = "Rounds reads text only: photos, voice notes and locations don't reach us. What you can text:"
HELP = (
    "Rounds: A-D answer, Q question, SKIP, SCORE, RES topic, TIME 19:00, TZ city, PAUSE 7, "
    "LANG fr, MENTOR msg, STOP ends, HELP 2 more. Free; msg rates may apply."
)
LOCATION = {"MessageType": "location", "Latitude": "6.4541", "Longitude": "3.3947", "Address": "Lagos"}


@pytest.mark.parametrize(
    ("whatsapp", "extra"),
    [
        pytest.param(True, LOCATION, id="whatsapp-location"),
        pytest.param(True, {"Latitude": "6.4541", "Longitude": "3.3947"}, id="coordinates-without-type"),
        pytest.param(True, {"MessageType": "image", "NumMedia": "1"}, id="whatsapp-photo"),
        pytest.param(False, {"NumMedia": "1", "MediaContentType0": "image/jpeg"}, id="mms-photo"),
    ],
)
def test_a_location_or_media_without_text_gets_what_rounds_reads(client, whatsapp, extra):
    phone = Phone(client, "+2348031234111", whatsapp=whatsapp)
    phone.text("hello")  # the first text starts onboarding whatever it is
    response = phone.post(phone.form("", **extra))
    assert replies_from(response.get_data(as_text=True)) == [MEDIA_ONLY, HELP]


def test_an_empty_text_is_still_called_empty(client):
    phone = Phone(client, "+2348031234111", whatsapp=True)
    phone.text("hello")
    assert phone.text("  ") == ["Your message was empty. Text HELP for commands, or Q for a question."]


def test_a_location_in_spanish_over_sms_is_folded_and_over_whatsapp_is_not(client):
    sms = Phone(client, "+2348031234111")
    sms.text("hello")
    sms.text("LANG es")
    response = sms.post(sms.form("", NumMedia="1"))
    first, second = replies_from(response.get_data(as_text=True))
    assert first == (
        "Rounds solo lee texto: no recibimos fotos, notas de voz ni ubicaciones. "
        "Esto es lo que puedes escribir:"
    )
    assert second == SPANISH_HELP.replace("más", "mas")


NUDGE = "Tu pregunta de Rounds sigue abierta: responde A-D. WhatsApp solo nos permite escribirte "


def _person(db, channel: str, language: str) -> Person:
    person = Person(
        phone="+2348031234111" if channel == "sms" else "+447700900123",
        channel=channel,
        language=language,
        status="active",
        role="student",
        flow_state={},
    )
    db.add(person)
    db.flush()
    return person


@pytest.mark.parametrize(
    ("channel", "body", "cost"),
    [
        ("sms", NUDGE + "dentro de las 24 h posteriores a tu ultimo mensaje.", (1, "GSM-7")),
        ("whatsapp", NUDGE + "dentro de las 24 h posteriores a tu último mensaje.", (3, "UCS-2")),
    ],
)  # fmt: skip
def test_a_push_is_rendered_and_counted_for_the_persons_channel(db, channel, body, cost, now):
    person = _person(db, channel, "es")
    text = get_catalog().render("whatsapp_nudge", "es")
    message_id = queue_message(db, person, text, "nudge", now=now)
    db.commit()
    row = db.get(Message, message_id)
    assert row.body == body
    assert (row.segments, row.encoding) == cost


def test_a_whatsapp_push_falling_back_to_sms_is_folded(db, settings, now):
    person = _person(db, "whatsapp", "fr")
    message_id = queue_message(db, person, "Vous êtes à jour ; à bientôt.", "broadcast", now=now)
    db.commit()
    row = db.get(Message, message_id)
    assert row.body == "Vous êtes à jour ; à bientôt."
    route = route_for(row, now - timedelta(days=3), settings.with_(whatsapp_fallback="sms"), now)
    assert route.channel == "sms"
    assert route.outgoing.body == "Vous etes à jour ; à bientot."


@pytest.mark.parametrize(
    ("language", "key", "said", "not_said"),
    [
        # "within 24 h of your last message", not "only 24 h after" it.
        ("fr", "whatsapp_nudge", "que dans les 24 h qui suivent votre dernier message", "apres"),
        ("es", "whatsapp_nudge", "dentro de las 24 h posteriores a tu último mensaje", "despues"),
        ("fr", "onboarding_zone_any", "Quel est votre fuseau horaire ? Répondez par une ville", "suivez"),
        ("es", "onboarding_zone_any", "¿En qué zona horaria estás? Responde con una ciudad", "sigues"),
        ("fr", "onboarding_zone", "Répondez par une ville", "Répondez une"),
        ("fr", "feedback_wrong", "Non, c'est C.", "Raté"),
        ("fr", "mentor_done", "Conversation avec Ada #11 terminée.", "close"),
        ("es", "checkin_ask", "agrega un comentario para tu mentor", "nota"),
        ("es", "checkin_patient_data", "no guardamos tu comentario", "nota"),
        ("es", "already_active", "Tu suscripción a Rounds ya está activa.", "suscrito"),
        ("es", "mentor_support", "Cuentas con nuestro apoyo.", "solo/a"),
    ],
)
def test_translations_say_what_the_english_says(language, key, said, not_said):
    values = {"answer": "C", "explanation": "x", "streak": 1, "name": "Ada", "number": 11, "mentor": "Dr O"}
    values |= {"examples": "Lagos", "default": "Lagos", "helpline": "Call 112."}
    text = get_catalog().render(key, language, **values)
    assert said in text and not_said not in text


def test_content_check_lists_both_renderings_for_every_message(runner):
    bank = load_bank(content_root())
    costs = {(c.language, c.key): c for c in catalog_segments(bank)}
    assert {language for language, _ in costs} == {"en", "es", "fr"}
    assert len(costs) == sum(len(catalog.messages) for catalog in bank.catalogs.values())
    welcome = costs["es", "welcome"]
    assert (welcome.sms.segments, welcome.sms.encoding) == (1, "GSM-7")
    assert (welcome.whatsapp.segments, welcome.whatsapp.encoding) == (2, "UCS-2")
    assert count(FRENCH_HELP).segments == costs["fr", "help"].sms.segments == 1

    result = runner.invoke(args=["content", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == segment_table(catalog_segments(bank))[:2]
    assert lines[1].split() == ["message", "en", "es", "fr"]
    assert "welcome                       1/1     1/2u    1/1" in lines
    assert "help                          1/1     1/3u    1/1" in lines  # es: "más" on WhatsApp
    assert "help_more                     1/1     1/3u    1/1" in lines
