"""A fast local stand-in for Twilio's create-message endpoint, for the send benchmark.

One asyncio process, HTTP/1.1 keep-alive, a 201 JSON resource per POST and a running count
at GET /count: quick enough that the worker under test, not this server, sets the pace.
With DELAY_MS each create is answered that many milliseconds after it arrived (without holding
up other connections), as a distant Twilio would; /count also reports the most creates it was
answering at one moment.
Run: python -m bench.standin PORT ACCOUNT_SID [DELAY_MS]
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from urllib.parse import parse_qs


class StandIn(asyncio.Protocol):
    created = 0
    in_flight = 0
    max_in_flight = 0

    def __init__(self, account_sid: str, delay: float = 0.0):
        self.account_sid = account_sid
        self.delay = delay
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server's is a Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, path = head.split(" ", 2)[:2]
            status, payload = self._route(method, path, body)
            if self.delay and status == 201:
                # A client sends its next request on this connection only after this answer.
                StandIn.in_flight += 1
                StandIn.max_in_flight = max(StandIn.max_in_flight, StandIn.in_flight)
                asyncio.get_running_loop().call_later(self.delay, self._answer_later, status, payload)
            else:
                self._answer(status, payload)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        if method == "POST" and path.endswith("/Messages.json"):
            StandIn.created += 1
            form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
            sid = f"SM{StandIn.created:032x}"
            now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
            return 201, {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "messaging_service_sid": None,
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "num_media": "0",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
                },
            }
        if method == "GET" and path == "/count":
            return 200, {"created": StandIn.created, "max_in_flight": StandIn.max_in_flight}
        if method == "POST" and path == "/reset":
            StandIn.max_in_flight = 0
            return 200, {"created": StandIn.created}
        return 404, {"code": 20404, "message": "Not found", "status": 404}

    def _answer_later(self, status: int, payload: dict) -> None:
        StandIn.in_flight -= 1
        if self.transport is not None and not self.transport.is_closing():
            self._answer(status, payload)

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        reason = {200: "OK", 201: "Created", 404: "Not Found"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.write(head.encode() + body)


async def serve(port: int, account_sid: str, delay: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StandIn(account_sid, delay), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0))
