"""How a message leaves: Twilio's REST API through the twilio package, or the console.

Without Twilio credentials (a newcomer's `make run`) the console transport logs what
would have been sent, so every other part of the path runs for real.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
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
    content_sid: str = ""  # an approved WhatsApp template, sent instead of the body
    content_variables: str = ""  # its variables, as a JSON string


@dataclass(frozen=True)
class Accepted:
    sid: str
    status: str


class SendFailed(Exception):
    """Twilio refused or could not be reached; `retryable` says whether to try again."""

    def __init__(
        self,
        message: str,
        code: int | None,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    @property
    def throttled(self) -> bool:
        """Twilio asked us to slow down: the message itself is fine."""
        return self.status == 429 or self.code == 20429


class Transport(Protocol):
    def send(self, message: Outgoing) -> Accepted: ...

    def find_sent(self, to: str, since: datetime) -> list[tuple[str, str]]: ...


class ConsoleTransport:
    """Logs instead of sending; used when no Twilio credentials are configured."""

    def send(self, message: Outgoing) -> Accepted:
        shown = (
            f"template {message.content_sid} {message.content_variables}"
            if message.content_sid
            else message.body
        )
        log.info("console send to %s: %s", mask(message.to), shown)
        return Accepted(sid="SMconsole" + uuid.uuid4().hex[:23], status="sent")

    def find_sent(self, to: str, since: datetime) -> list[tuple[str, str]]:
        return []  # nothing left the machine, so nothing can have been sent


class HeaderKeepingHttpClient(TwilioHttpClient):
    """Keeps the last response's headers (per thread): twilio-python drops Retry-After."""

    def __init__(self, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._local = threading.local()

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().request(*args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    def last_retry_after(self) -> float | None:
        raw = (getattr(self._local, "headers", None) or {}).get("Retry-After")
        try:
            return max(0.0, float(raw)) if raw is not None else None
        except ValueError:
            return None


class TwilioTransport:
    """The twilio package's own REST client, pointed at `TWILIO_API_BASE`."""

    def __init__(self, settings: Settings):
        # A timeout matters: the client has none by default and a hung socket stalls a worker.
        self.http = HeaderKeepingHttpClient(timeout=settings.twilio_timeout_seconds, pool_connections=True)
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http)
        self.client.api.base_url = settings.twilio_api_base.rstrip("/")

    def send(self, message: Outgoing) -> Accepted:
        fields: dict[str, str] = {"to": message.to}
        if message.content_sid:
            fields["content_sid"] = message.content_sid
            if message.content_variables:
                fields["content_variables"] = message.content_variables
        else:
            fields["body"] = message.body
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
            retry_after = self.http.last_retry_after() if retryable else None
            raise SendFailed(exc.msg or str(exc), exc.code, retryable, retry_after, status) from exc
        except Exception as exc:  # network errors: refused, reset, timed out
            raise SendFailed(f"could not reach Twilio: {exc}", None, retryable=True) from exc
        return Accepted(sid=created.sid or "", status=created.status or "queued")

    def find_sent(self, to: str, since: datetime) -> list[tuple[str, str]]:
        """(sid, body) of messages Twilio holds for `to` sent since `since` (at day precision)."""
        try:
            rows = self.client.messages.list(to=to, date_sent_after=since, limit=100)
        except TwilioRestException as exc:
            raise SendFailed(exc.msg or str(exc), exc.code, retryable=True) from exc
        except Exception as exc:
            raise SendFailed(f"could not reach Twilio: {exc}", None, retryable=True) from exc
        return [(row.sid or "", row.body or "") for row in rows]


def make_transport(settings: Settings) -> Transport:
    return TwilioTransport(settings) if settings.twilio_configured else ConsoleTransport()
