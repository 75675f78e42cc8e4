"""How a message leaves: Twilio's REST API through the twilio package, or the console.

Without Twilio credentials (a newcomer's `make run`) the console transport logs what
would have been sent, so every other part of the path runs for real.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from flows.phones import mask
from store.settings import Settings

log = logging.getLogger("rounds.send")

# Twilio error codes that will never succeed on retry (FACTS.md, "Sending").
OPTED_OUT_CODES = frozenset({21610})
UNREACHABLE_CODES = frozenset({21211, 21614, 21612, 21408})
OUTSIDE_WINDOW_CODES = frozenset({63016})


@dataclass(frozen=True)
class Outgoing:
    to: str  # the Twilio address: +E164 or whatsapp:+E164
    body: str
    sender: str  # From address, or "" to use the messaging service
    messaging_service_sid: str
    status_callback: str | None


@dataclass(frozen=True)
class Accepted:
    sid: str
    status: str


class SendFailed(Exception):
    """Twilio refused or could not be reached; `retryable` says whether to try again."""

    def __init__(self, message: str, code: int | None, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class Transport(Protocol):
    def send(self, message: Outgoing) -> Accepted: ...


class ConsoleTransport:
    """Logs instead of sending; used when no Twilio credentials are configured."""

    def send(self, message: Outgoing) -> Accepted:
        log.info("console send to %s: %s", mask(message.to), message.body)
        return Accepted(sid="SMconsole" + uuid.uuid4().hex[:23], status="sent")


class TwilioTransport:
    """The twilio package's own REST client, pointed at `TWILIO_API_BASE`."""

    def __init__(self, settings: Settings):
        # A timeout matters: the client has none by default and a hung socket stalls a worker.
        http = TwilioHttpClient(timeout=settings.twilio_timeout_seconds, pool_connections=True)
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
        self.client.api.base_url = settings.twilio_api_base.rstrip("/")

    def send(self, message: Outgoing) -> Accepted:
        fields: dict[str, str] = {"to": message.to, "body": message.body}
        if message.sender:
            fields["from_"] = message.sender
        else:
            fields["messaging_service_sid"] = message.messaging_service_sid
        if message.status_callback:
            fields["status_callback"] = message.status_callback
        try:
            created = self.client.messages.create(**fields)
        except TwilioRestException as exc:
            status = exc.status or 0
            retryable = status == 429 or status >= 500 or status == 0
            raise SendFailed(exc.msg or str(exc), exc.code, retryable) from exc
        except Exception as exc:  # network errors: refused, reset, timed out
            raise SendFailed(f"could not reach Twilio: {exc}", None, retryable=True) from exc
        return Accepted(sid=created.sid or "", status=created.status or "queued")

    def find_sent(self, to: str, since) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        """(sid, body) of messages Twilio holds for `to` created after `since`."""
        rows = self.client.messages.list(to=to, date_sent_after=since, limit=50)
        return [(row.sid, row.body or "") for row in rows]


def make_transport(settings: Settings) -> Transport:
    return TwilioTransport(settings) if settings.twilio_configured else ConsoleTransport()
