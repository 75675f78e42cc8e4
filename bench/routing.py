"""Cost per student-day, SMS only against two channels, by country: the same students answering
the same daily question for 30 days, their pushes routed by `flows.channels.push_route` (free-form
WhatsApp in the 24 h window, a template when cheaper than the SMS, else SMS) at the bundled prices.

No database: the routing decision is a pure function, and the prices are prices.yaml's.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench import services
from bench.report import Figure, Results
from content import BUNDLED, segments
from content.bank import EXPLANATION_MAX
from content.catalog import get_catalog
from content.prices import _read_prices
from flows.channels import FREE_FORM, TEMPLATE, Reach, push_route
from store.models import SMS, WHATSAPP

DAYS = 30
START = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
COUNTRIES = ("NG", "GH", "KE", "CM", "IN", "MX", "GB", "US")
# How often a student answers the day's question (as in bench/cost.py), and how long after the push.
ANSWER_SHARE = 0.9
ANSWER_WITHIN_MINUTES = (2, 180)
# Twilio's own fee on every WhatsApp message, sent or received (an assumption, USD).
WHATSAPP_FEE = 0.005
# A typical daily question and its feedback (Q101 of the bank's shape), rendered as they leave.
QUESTION = (
    "Q101 A 34-year-old woman has fever, neck stiffness and a petechial rash. Which is the most "
    "appropriate first step? A) CT head B) Lumbar puncture C) IV ceftriaxone D) Blood cultures only"
)


def feedback_text() -> str:
    """Feedback to a wrong answer with the longest explanation the bank allows."""
    return get_catalog("").render(
        "feedback_wrong", "en", answer="C", explanation="x" * EXPLANATION_MAX, streak=4
    )


def simulate(country: str, students: int, two_channels: bool, rng: random.Random) -> dict[str, float]:
    """Total cost and counts for `students` over DAYS days."""
    prices = _read_prices(str(BUNDLED / "prices.yaml"), (BUNDLED / "prices.yaml").stat().st_mtime)
    sms_segment = prices.price(SMS, country)
    template = prices.price(WHATSAPP, country)
    push_segments = segments.count(segments.for_channel(QUESTION, SMS)).segments
    reply_segments = segments.count(segments.for_channel(feedback_text(), SMS)).segments
    cost = 0.0
    ways: Counter[str] = Counter()
    for _ in range(students):
        # Joined on WhatsApp the day before: the first push is in the window.
        last_whatsapp = START - timedelta(hours=2) if two_channels else None
        for day in range(DAYS):
            push_at = START + timedelta(days=day)
            who = Reach("active", True, two_channels, last_whatsapp)
            way = push_route(who, push_at, sms_cost=sms_segment * push_segments, template_cost=template)
            ways[way or "none"] += 1
            if way == SMS:
                cost += sms_segment * push_segments
            elif way == TEMPLATE:
                cost += template + WHATSAPP_FEE
            elif way == FREE_FORM:
                cost += WHATSAPP_FEE
            if rng.random() < ANSWER_SHARE:
                answered_at = push_at + timedelta(minutes=rng.randint(*ANSWER_WITHIN_MINUTES))
                if two_channels:
                    # Answered on WhatsApp: the reply is in the window, and the window opens again.
                    last_whatsapp = answered_at
                    cost += 2 * WHATSAPP_FEE  # the answer and its feedback
                else:
                    cost += sms_segment * reply_segments
    student_days = students * DAYS
    return {
        "per_day": cost / student_days,
        "free_form": ways[FREE_FORM] / student_days,
        "template": ways[TEMPLATE] / student_days,
        "sms": ways[SMS] / student_days,
        "push_segments": push_segments,
        "reply_segments": reply_segments,
    }


def run(results: Results, quick: bool, redis: services.RedisServer, readings: dict[str, int]) -> None:
    students = 200 if quick else 2000
    shown: dict[str, dict[str, float]] = {}
    for country in COUNTRIES:
        sms_only = simulate(country, students, False, random.Random(country))
        both = simulate(country, students, True, random.Random(country))
        base = results.add(
            Figure(
                "routing",
                f"{country}: SMS only",
                "US cents per student-day",
                [100 * sms_only["per_day"]],
                "cents",
            )
        )
        results.add(
            Figure(
                "routing",
                f"{country}: SMS and WhatsApp, cheapest route",
                "US cents per student-day",
                [100 * both["per_day"]],
                "cents",
            ).compare(base)
        )
        shown[country] = both
    any_country = shown[COUNTRIES[0]]
    results.note(
        "routing",
        f"{students} students per country for {DAYS} days; each answers the day's question with probability "
        f"{ANSWER_SHARE} within {ANSWER_WITHIN_MINUTES[0]}-{ANSWER_WITHIN_MINUTES[1]} minutes; a push is "
        f"{any_country['push_segments']:.0f} SMS segments and the feedback reply "
        f"{any_country['reply_segments']:.0f}; prices from the bundled prices.yaml (placeholders), plus an "
        f"assumed Twilio fee of USD {WHATSAPP_FEE} on every WhatsApp message; a template is configured for "
        "the daily question. SMS only: every push and reply by SMS. Two channels: the student also writes on "
        "WhatsApp and answers there.",
    )
    for country, both in shown.items():
        results.note(
            "routing",
            f"{country}: two channels: pushes free-form in the window {both['free_form']:.0%}, "
            f"template {both['template']:.0%}, SMS {both['sms']:.0%}",
        )
