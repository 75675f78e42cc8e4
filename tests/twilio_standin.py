"""A local HTTP stand-in for Twilio's Messages REST API and Pricing API, with fault injection.

Speaks enough of 2010-04-01 for the twilio package's own client: create a message
(Basic auth checked, every form field recorded), list messages by recipient, and fetch one
message (its `price` null until `fill_price`, as Twilio fills it some time after the send).
And of the Pricing API v1 (pricing.twilio.com): `GET /v1/Messaging/Countries` (paged, with
Twilio's `meta` block) and `GET /v1/Messaging/Countries/{ISO}` (404 for a country it has no
prices for), in the shape Twilio answers with.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse


class TwilioStandIn:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[dict[str, str]] = []
        self.requests = 0
        self.faults: deque[tuple[int, dict]] = deque()
        self.fail_rate: float = 0.0  # answer 500 to this share of creates, at random
        self._random = random.Random(1234)
        # When > 0: after every this many creates, the next `throttle_burst` get 429, however fast
        # or slow the machine sends (a per-second limit would only bite on a fast one).
        self.throttle_every: int = 0
        self.throttle_burst: int = 5
        self._until_burst = 0
        self._burst_left = 0
        self.delay: float = 0.0  # seconds each create takes, to make a batch slow enough to kill
        self.retry_after: str | None = None  # Retry-After header sent with 429s
        self.throttled = 0  # 429s answered
        self.errors = 0  # 500s answered
        self.opted_out: set[str] = set()
        self.in_flight = 0  # create requests being answered right now
        self.max_in_flight = 0  # the most at any one moment: did the client overlap its requests?
        self.arrivals: list[float] = []  # time.monotonic() of each create request's arrival
        # Creates after the first `hold_after` wait (answered and created only once release() is
        # called), so a sending worker can be caught, and killed, with requests under way.
        self.hold_after: int | None = None
        self.held = 0  # creates that waited at the hold
        self._released = threading.Event()
        self._counter = itertools.count(1)
        # Reads (message fetches, Pricing API): errors to answer next, what was asked, what is known.
        self.read_faults: deque[tuple[int, dict]] = deque()
        self.fetched: list[str] = []  # sids of the messages fetched, in order
        self.pricing_requests: list[str] = []  # paths (with query) asked of the Pricing API
        self.message_prices: dict[str, tuple[str, str]] = {}  # sid -> (price, price_unit)
        self.countries: dict[str, dict] = {}  # ISO -> the Pricing API's country resource
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TwilioStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def inject(self, status: int, code: int, message: str = "injected fault") -> None:
        """Answer the next create request with this error."""
        self.faults.append(
            (
                status,
                {
                    "code": code,
                    "message": message,
                    "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}",
                },
            )
        )

    def inject_read(self, status: int, code: int, message: str = "injected fault") -> None:
        """Answer the next read (a message fetch or a Pricing API request) with this error."""
        self.read_faults.append((status, {"code": code, "message": message, "status": status}))

    def fill_price(self, sid: str, price: str, unit: str = "USD") -> None:
        """Twilio has now priced this message (`price` as Twilio writes it: negative, e.g. "-0.0750")."""
        self.message_prices[sid] = (price, unit)

    def add_country(
        self,
        iso: str,
        name: str,
        carriers: list[tuple[str, str, str, list[tuple[str, str, str]]]],
        unit: str = "USD",
    ) -> None:
        """Prices for a country: carriers as (carrier, mcc, mnc, [(number_type, base, current)])."""
        self.countries[iso] = {
            "country": name,
            "iso_country": iso,
            "outbound_sms_prices": [
                {
                    "carrier": carrier,
                    "mcc": mcc,
                    "mnc": mnc,
                    "prices": [
                        {"number_type": kind, "base_price": base, "current_price": current}
                        for kind, base, current in prices
                    ],
                }
                for carrier, mcc, mnc, prices in carriers
            ],
            "inbound_sms_prices": [
                {"number_type": "local", "base_price": "0.0075", "current_price": "0.0075"}
            ],
            "price_unit": unit,
            "url": f"{self.url}/v1/Messaging/Countries/{iso}",
        }

    def release(self) -> None:
        """Let the held creates (and every later one) through."""
        with self._lock:
            self.hold_after = None
        self._released.set()

    def bodies_to(self, to: str) -> list[str]:
        return [m.get("Body", "") for m in self.sent if m.get("To") == to]

    def add_sent(self, to: str, body: str) -> str:
        """Record a message as if it had been created (a send whose answer was lost)."""
        with self._lock:
            sid = "SM" + f"{next(self._counter):032x}"
            self.sent.append(
                {"To": to, "Body": body, "sid": sid, "date_created": datetime.now(UTC).isoformat()}
            )
        return sid

    def _create(self, form: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            hold = self.hold_after is not None and len(self.arrivals) > self.hold_after
            if hold:
                self.held += 1
        try:
            if hold:
                self._released.wait(60)
            return self._create_now(form)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _create_now(self, form: dict[str, str]) -> tuple[int, dict]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests += 1
            if self.faults:
                return self.faults.popleft()
            if self.fail_rate and self._random.random() < self.fail_rate:
                self.errors += 1
                return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
            if self.throttle_every:
                if self._burst_left:
                    self._burst_left -= 1
                    self.throttled += 1
                    return 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
                self._until_burst += 1
                if self._until_burst >= self.throttle_every:
                    self._until_burst, self._burst_left = 0, self.throttle_burst
            to = form.get("To", "")
            if to in self.opted_out:
                return 400, {
                    "code": 21610,
                    "message": "Attempt to send to unsubscribed recipient",
                    "status": 400,
                }
            sid = "SM" + f"{next(self._counter):032x}"
            record = dict(form, sid=sid, date_created=datetime.now(UTC).isoformat())
            self.sent.append(record)
        return 201, self._resource(record, "queued")

    def _resource(self, record: dict[str, str], status: str) -> dict:
        price, unit = self.message_prices.get(record["sid"], (None, "USD"))
        return {
            "sid": record["sid"],
            "price": price,
            "price_unit": unit,
            "error_code": None,
            "error_message": None,
            "num_media": "0",
            "date_sent": record["date_created"],
            "date_updated": record["date_created"],
            "account_sid": self.account_sid,
            "to": record.get("To"),
            "from": record.get("From"),
            "messaging_service_sid": record.get("MessagingServiceSid"),
            "body": record.get("Body"),
            "status": status,
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": record["date_created"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{record['sid']}.json",
        }

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict]:
        to = (query.get("To") or [None])[0]
        with self._lock:
            rows = [self._resource(r, "sent") for r in self.sent if to is None or r.get("To") == to]
        return 200, {
            "messages": rows,
            "page": 0,
            "page_size": len(rows),
            "next_page_uri": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
        }

    def _fetch_message(self, sid: str) -> tuple[int, dict]:
        with self._lock:
            self.fetched.append(sid)
            if self.read_faults:
                return self.read_faults.popleft()
            record = next((r for r in self.sent if r["sid"] == sid), None)
            if record is None:
                return 404, {
                    "code": 20404,
                    "message": f"The requested resource {sid} was not found",
                    "status": 404,
                }
            return 200, self._resource(record, record.get("status", "delivered"))

    def _pricing(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        base = "/v1/Messaging/Countries"
        with self._lock:
            self.pricing_requests.append(path + ("?" + urlencode(query, doseq=True) if query else ""))
            if self.read_faults:
                return self.read_faults.popleft()
            if path == base:
                size = int((query.get("PageSize") or ["50"])[0])
                page = int((query.get("Page") or ["0"])[0])
                isos = sorted(self.countries)
                rows = [
                    {
                        "country": self.countries[iso]["country"],
                        "iso_country": iso,
                        "url": self.countries[iso]["url"],
                    }
                    for iso in isos[page * size : (page + 1) * size]
                ]

                def page_url(number: int) -> str:
                    return f"{self.url}{base}?PageSize={size}&Page={number}"

                more = (page + 1) * size < len(isos)
                return 200, {
                    "countries": rows,
                    "meta": {
                        "page": page,
                        "page_size": size,
                        "first_page_url": page_url(0),
                        "previous_page_url": page_url(page - 1) if page else None,
                        "url": page_url(page),
                        "next_page_url": page_url(page + 1) if more else None,
                        "key": "countries",
                    },
                }
            iso = path[len(base) + 1 :]
            if path.startswith(base + "/") and iso in self.countries:
                return 200, self.countries[iso]
        return 404, {
            "code": 20404,
            "message": f"The requested resource {path.removeprefix('/v1')} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }

    def _handler_class(self):  # noqa: C901 - one small HTTP handler
        standin = self
        prefix = f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{standin.account_sid}:{standin.auth_token}".encode()).decode()
                return self.headers.get("Authorization") == f"Basic {expected}"

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                if status == 429 and standin.retry_after is not None:
                    self.send_header("Retry-After", standin.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                received = self.rfile.read(length)
                if len(received) < length:
                    # The client went away mid-request (a killed worker): nothing is created.
                    self.close_connection = True
                    return None
                raw = received.decode()
                if not self._authorised():
                    return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if urlparse(self.path).path != prefix:
                    return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                self._answer(*standin._create(form))

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                parsed = urlparse(self.path)
                if parsed.path.startswith("/v1/Messaging/Countries"):
                    return self._answer(*standin._pricing(parsed.path, parse_qs(parsed.query)))
                one = prefix.removesuffix(".json") + "/"
                if parsed.path.startswith(one) and parsed.path.endswith(".json"):
                    return self._answer(*standin._fetch_message(parsed.path[len(one) : -len(".json")]))
                if parsed.path != prefix:
                    return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                self._answer(*standin._list(parse_qs(parsed.query)))

        return Handler
