"""Prometheus metrics: webhook counters and latency in this process, message states from the database.

Message counts come from the database at scrape time, so they are true across every
web and worker process without a shared metrics directory.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from store.db import session_factory
from store.models import Message
from store.settings import Settings
from workers.outbox import outbox_depth

REGISTRY = CollectorRegistry(auto_describe=True)

INBOUND = Counter(
    "rounds_inbound_messages_total", "Inbound texts received by this process", ["channel"], registry=REGISTRY
)
STATUS_CALLBACKS = Counter(
    "rounds_status_callbacks_total", "Delivery status callbacks received", ["status"], registry=REGISTRY
)
WEBHOOK_REJECTED = Counter(
    "rounds_webhook_rejected_total", "Webhook requests refused", ["reason"], registry=REGISTRY
)
WEBHOOK_LATENCY = Histogram(
    "rounds_webhook_seconds",
    "Time to answer a Twilio webhook",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=REGISTRY,
)


class MessageStateCollector:
    """`rounds_messages{direction,channel,status}` and the outbox depth, counted in the database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "rounds_messages",
            "Messages in the log by direction, channel and status",
            labels=["direction", "channel", "status"],
        )
        queued = GaugeMetricFamily("rounds_outbox_queued_messages", "Outbound messages waiting to be sent")
        segments = GaugeMetricFamily("rounds_outbox_queued_segments", "SMS segments waiting to be sent")
        drain = GaugeMetricFamily(
            "rounds_outbox_drain_seconds", "Estimated time to send the outbox at each sender's rate"
        )
        session = session_factory(self.settings.database_url)()
        try:
            rows = session.execute(
                select(Message.direction, Message.channel, Message.status, func.count()).group_by(
                    Message.direction, Message.channel, Message.status
                )
            ).all()
            depth = outbox_depth(session, self.settings)
        finally:
            session.close()
        for direction, channel, status, count in rows:
            family.add_metric(["inbound" if direction == "in" else "outbound", channel, status], count)
        queued.add_metric([], depth.messages)
        segments.add_metric([], depth.segments)
        drain.add_metric([], depth.drain_seconds)
        yield from (family, queued, segments, drain)


def exposition(settings: Settings) -> bytes:
    """This process's counters, then the message states counted in the database `settings` name.

    The states get a registry of their own per scrape, so each app reports its own database and
    no process-wide object is re-pointed at whichever app was scraped last.
    """
    states = CollectorRegistry(auto_describe=False)
    states.register(MessageStateCollector(settings))
    return generate_latest(REGISTRY) + generate_latest(states)
