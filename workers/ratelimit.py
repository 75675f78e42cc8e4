"""Per-sender send rate, counted in SMS segments, shared by every worker through Redis.

A GCRA (generic cell rate algorithm) in one Lua script: one key per sender holding the
theoretical arrival time, so any number of worker processes share one budget exactly.
"""

from __future__ import annotations

import re

from redis import Redis

from store.settings import Settings

# KEYS[1] sender key. ARGV: emission interval (ms per segment), burst (segments), cost.
# Returns 0 when the send may go now, else the milliseconds to wait.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = math.max(tonumber(ARGV[2]), tonumber(ARGV[3]))
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 0
"""

_TOLL_FREE = re.compile(r"^\+1(800|833|844|855|866|877|888)\d{7}$")


def default_rate(sender: str) -> float:
    """Twilio's usual segments per second for a kind of sender (FACTS.md, "Rates")."""
    if sender.startswith("whatsapp:"):
        return 10.0
    if sender.isdigit() and len(sender) <= 6:
        return 100.0  # a short code
    if _TOLL_FREE.match(sender):
        return 3.0
    return 1.0  # a long code


def rate_for(sender: str, settings: Settings) -> float:
    if sender in settings.send_rates:
        return settings.send_rates[sender]
    if settings.send_rate and not sender.startswith("whatsapp:"):
        return settings.send_rate
    return default_rate(sender)


class SenderLimiter:
    """Asks Redis whether `sender` may send `segments` now; shared across processes."""

    def __init__(self, connection: Redis, settings: Settings, burst_seconds: float = 1.0):
        self.connection = connection
        self.settings = settings
        self.burst_seconds = burst_seconds
        self._script = connection.register_script(_GCRA)

    def wait_seconds(self, sender: str, segments: int) -> float:
        """0 if the segments may go now (and they are counted), else how long to wait."""
        rate = rate_for(sender, self.settings)
        if rate <= 0:
            return 0.0
        interval_ms = 1000.0 / rate
        burst = max(1.0, rate * self.burst_seconds)
        waited = self._script(keys=[f"rounds:rate:{sender}"], args=[interval_ms, burst, max(1, segments)])
        return float(waited) / 1000.0


class BatchAllowance:
    """Segments granted ahead of use within one send job, per sender.

    At a high rate one script call covers many messages (up to a tenth of the sender's one-second
    burst); at a long code's rate the chunk is a message's own cost, so every send still asks.
    Segments granted but unused when the job ends are forgone: a tenth of a second's worth at most.
    """

    SHARE = 0.1

    def __init__(self, limiter: SenderLimiter):
        self.limiter = limiter
        self.credit: dict[str, int] = {}

    def wait_seconds(self, sender: str, segments: int, upcoming: int = 1) -> float:
        """Like SenderLimiter.wait_seconds; `upcoming` messages of about this cost may follow."""
        cost = max(1, segments)
        held = self.credit.get(sender, 0)
        if held >= cost:
            self.credit[sender] = held - cost
            return 0.0
        chunk = int(rate_for(sender, self.limiter.settings) * self.limiter.burst_seconds * self.SHARE)
        ask = max(cost, min(chunk, cost * max(1, upcoming))) - held
        wait = self.limiter.wait_seconds(sender, ask)
        if wait <= 0:
            self.credit[sender] = held + ask - cost
        return wait
