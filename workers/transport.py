"""How a message leaves: Twilio's REST API through the twilio package, or the console.

Without Twilio credentials (a newcomer's `make run`) the console transport logs what
would have been sent, so every other part of the path runs for real.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flows.phones import mask
from store.settings import Settings

log = logging.getLogger("rounds.send")
# twilio's HTTP client logs every request and response at INFO (eight lines a message, with
# each body): too costly and too noisy for a worker sending hundreds a second.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

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


def _retry_after(headers: Any) -> float | None:
    raw = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _pairs(values: dict[str, object]) -> list[tuple[str, object]]:
    """Form or query pairs as requests would send them: lists repeat the key, None is left out."""
    return [
        (key, value)
        for key, many in values.items()
        for value in (many if isinstance(many, list | tuple) else [many])
        if value is not None
    ]


class PooledHttpClient(HttpClient):
    """twilio's HttpClient over a urllib3 pool: keep-alive connections, Retry-After kept (per thread).

    The same exchange twilio's requests-based client makes, without requests' preparation work
    (about 0.3 ms a message; see bench/FINDINGS.md).
    """

    def __init__(self, timeout: float, ca_certs: str | None = None, connections: int = 4):
        super().__init__(logging.getLogger("twilio.http_client"), is_async=False, timeout=timeout)
        self._local = threading.local()
        # urllib3 is thread-safe; the pool keeps a connection for each request a send job has in
        # flight (beyond `maxsize` it would open extra ones and close them after one use).
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=max(4, connections),
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            ca_certs=ca_certs or certifi.where(),
        )

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth:
            headers.update(urllib3.util.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        if params:
            uri = f"{uri}?{urlencode(_pairs(params))}"
        body = None
        if data:
            if headers.get("Content-Type") in ("application/json", "application/scim+json"):
                body = json.dumps(data).encode()
            else:
                body = urlencode(_pairs(data)).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        answer = self.pool.request(
            method.upper(),
            uri,
            body=body,
            headers=headers,
            redirect=allow_redirects,
            timeout=urllib3.Timeout(connect=timeout, read=timeout) if timeout else None,
        )
        self._local.headers = answer.headers
        return Response(answer.status, answer.data.decode("utf-8"), answer.headers)

    def last_retry_after(self) -> float | None:
        return _retry_after(getattr(self._local, "headers", None))


class HeaderKeepingHttpClient(TwilioHttpClient):
    """twilio's requests-based client (used behind a proxy), keeping Retry-After (per thread)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        response = super().request(*args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    def last_retry_after(self) -> float | None:
        return _retry_after(getattr(self._local, "headers", None))


def make_http_client(
    base_url: str, timeout: float, connections: int = 4
) -> PooledHttpClient | HeaderKeepingHttpClient:
    """The pooled urllib3 client; twilio's requests-based one when the environment sets a proxy.

    Proxy and CA-bundle settings are read from the environment once, as requests would read
    them on every request (every request goes to the one base URL). `connections`: keep-alive
    connections to hold, one for each request in flight at once.
    """
    resolved = requests.Session().merge_environment_settings(base_url, {}, None, None, None)
    verify = resolved["verify"]
    if not resolved["proxies"]:
        return PooledHttpClient(
            timeout, ca_certs=verify if isinstance(verify, str) else None, connections=connections
        )
    client = HeaderKeepingHttpClient(timeout=timeout, pool_connections=True, proxy=resolved["proxies"])
    assert client.session is not None
    if connections > 4:
        adapter = HTTPAdapter(pool_maxsize=connections)
        client.session.mount("https://", adapter)
        client.session.mount("http://", adapter)
    client.session.verify = verify
    client.session.trust_env = False
    return client


class TwilioTransport:
    """The twilio package's own REST client, pointed at `TWILIO_API_BASE`."""

    def __init__(self, settings: Settings):
        base_url = settings.twilio_api_base.rstrip("/")
        # A timeout matters: the client has none by default and a hung socket stalls a worker.
        self.http = make_http_client(
            base_url, settings.twilio_timeout_seconds, connections=max(1, settings.send_concurrency)
        )
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http)
        self.client.api.base_url = base_url
        # Resolved once here: twilio builds its API objects lazily, and sends run on several threads.
        self.messages = self.client.messages

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
            created = self.messages.create(**fields)
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
            rows = self.messages.list(to=to, date_sent_after=since, limit=100)
        except TwilioRestException as exc:
            raise SendFailed(exc.msg or str(exc), exc.code, retryable=True) from exc
        except Exception as exc:
            raise SendFailed(f"could not reach Twilio: {exc}", None, retryable=True) from exc
        return [(row.sid or "", row.body or "") for row in rows]


def make_transport(settings: Settings) -> Transport:
    return TwilioTransport(settings) if settings.twilio_configured else ConsoleTransport()
