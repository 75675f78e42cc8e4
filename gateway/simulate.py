"""`rounds simulate`: text the service from the terminal as a phone would.

Each line is posted as a properly signed Twilio webhook, to a running web process
(`--url`) or to an app in this process; the TwiML answer is printed, and so is anything
pushed to the number later (questions, relays) as it appears in the message log.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from flask import Flask
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from store.db import session_factory
from store.models import OUTBOUND, Message
from store.settings import Settings


class SimulatorError(Exception):
    """The service could not be texted; the message says why."""


# Numbers set aside for fiction, which no real phone can text from: NANP 555-0100 to 555-0199
# in any US/Canada area code, and Ofcom's drama range for UK mobiles, 07700 900000 to 900999.
FICTIONAL_RANGES = {
    "+1 NPA 555 0100 to 0199 (US and Canada, any area code)": re.compile(r"\+1[2-9]\d{2}55501\d{2}"),
    "+44 7700 900000 to 900999 (UK mobile drama range)": re.compile(r"\+447700900\d{3}"),
}


def is_fictional(phone: str) -> bool:
    """True for an E.164 number in a range reserved for fiction, the only ones the console may text as."""
    return any(pattern.fullmatch(phone) for pattern in FICTIONAL_RANGES.values())


def webhook_form(phone: str, text: str, whatsapp: bool, to: str) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex
    sender = f"whatsapp:{phone}" if whatsapp else phone
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": to,
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    if whatsapp:
        form.update({"WaId": phone.lstrip("+"), "ProfileName": "Simulator", "MessageType": "text"})
    return form


def replies_from(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)
    return [(element.text or "") for element in root.iter("Message")]


class Simulator:
    def __init__(
        self,
        settings: Settings,
        phone: str,
        whatsapp: bool,
        post: Callable[[str, dict, dict], str],
        base_url: str = "http://localhost",
    ):
        self.settings = settings
        # The server checks the signature against PUBLIC_URL when it has one.
        self.url = (settings.public_url or base_url.rstrip("/")) + "/twilio/messages"
        self.phone = phone
        self.whatsapp = whatsapp
        self.post = post
        self.last_seen = self._latest_id()
        self.last_sid = ""  # the MessageSid of the last text sent

    def send(self, text: str) -> list[str]:
        to = self.settings.whatsapp_from if self.whatsapp else (self.settings.sms_from or "+15005550006")
        form = webhook_form(self.phone, text, self.whatsapp, to)
        self.last_sid = form["MessageSid"]
        signature = RequestValidator(self.settings.webhook_token).compute_signature(self.url, form)
        return replies_from(self.post(self.url, form, {"X-Twilio-Signature": signature}))

    def pushed(self) -> list[str]:
        """Messages queued or sent to this phone (not replies) since the last look."""
        session = session_factory(self.settings.database_url)()
        try:
            rows = session.execute(
                select(Message.id, Message.body)
                .where(
                    Message.phone == self.phone,
                    Message.direction == OUTBOUND,
                    Message.kind != "reply",
                    Message.id > self.last_seen,
                )
                .order_by(Message.id)
            ).all()
        finally:
            session.close()
        if rows:
            self.last_seen = rows[-1][0]
        return [body for _, body in rows]

    def _latest_id(self) -> int:
        session = session_factory(self.settings.database_url)()
        try:
            return session.execute(select(Message.id).order_by(Message.id.desc()).limit(1)).scalar() or 0
        finally:
            session.close()


def http_poster(base_url: str) -> Callable[[str, dict, dict], str]:
    """Post to a running web process; the signature is computed over its own URL."""

    def post(_signed_url: str, form: dict, headers: dict) -> str:
        url = base_url.rstrip("/") + "/twilio/messages"
        request = Request(url, data=urlencode(form).encode(), headers=headers)
        try:
            with urlopen(request, timeout=15) as response:  # noqa: S310 - the operator's own URL
                return response.read().decode()
        except HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise SimulatorError(f"the web process answered {exc.code}: {detail}") from exc
        except URLError as exc:
            raise SimulatorError(f"could not reach {url} ({exc.reason}); is `make run` running?") from exc

    return post


def app_poster(app: Flask) -> Callable[[str, dict, dict], str]:
    client = app.test_client()

    def post(url: str, form: dict, headers: dict) -> str:
        response = client.post(url, data=form, headers=headers)
        if response.status_code != 200:
            raise SimulatorError(
                f"the webhook answered {response.status_code}: {response.get_data(as_text=True)}"
            )
        return response.get_data(as_text=True)

    return post


def run(simulator: Simulator, lines: Iterable[str], echo: Callable[[str], None]) -> None:
    for line in lines:
        text = line.rstrip("\n")
        if text.strip().lower() in {"/quit", "/exit"}:
            break
        for reply in simulator.send(text):
            echo(f"< {reply}")
        for pushed in simulator.pushed():
            echo(f"<< {pushed}")
