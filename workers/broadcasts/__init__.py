"""Broadcasts: pick an audience, preview its cost, fan it out to the outbox, follow and cancel it.

One module per concern: `audience` (who), `timing` (when), `prices` and `preview` (what it
costs), `fanout` (writing the outbox rows), `progress` (following it).
"""

from workers.broadcasts.audience import SEGMENT_KEYS, SKIP_REASONS, Audience, skip_reason
from workers.broadcasts.errors import BroadcastError
from workers.broadcasts.fanout import (
    FanOut,
    cancel_broadcast,
    create_broadcast,
    fan_out_broadcast,
    outbox_key,
    resume_stalled,
    run_fan_out,
    send_draft,
    start_broadcast,
)
from workers.broadcasts.preview import Preview, clean_text, preview
from workers.broadcasts.prices import PriceTable, load_prices
from workers.broadcasts.progress import (
    FAILURE_REASONS,
    Progress,
    progress,
    refresh_status,
    stalled_broadcasts,
)
from workers.broadcasts.timing import Schedule, planned_time, schedule_of, send_time

__all__ = [
    "FAILURE_REASONS",
    "SEGMENT_KEYS",
    "SKIP_REASONS",
    "Audience",
    "BroadcastError",
    "FanOut",
    "PriceTable",
    "Preview",
    "Progress",
    "Schedule",
    "cancel_broadcast",
    "clean_text",
    "create_broadcast",
    "fan_out_broadcast",
    "load_prices",
    "outbox_key",
    "planned_time",
    "preview",
    "progress",
    "refresh_status",
    "resume_stalled",
    "run_fan_out",
    "schedule_of",
    "send_draft",
    "send_time",
    "skip_reason",
    "stalled_broadcasts",
    "start_broadcast",
]
