"""The share of WhatsApp pushes sent inside the free 24 h window: on the cost sheet, the costs API
and the console's costs page, by country, small groups left out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store.db import session_scope
from store.models import Message, Person
from tests.admin_support import bearer, make_admin, make_token, person_values, sign_in
from workers.costs import cost_sheet


def _message(
    person: Person, direction: str, at, channel: str = "whatsapp", kind: str = "question"
) -> Message:
    return Message(
        person_id=person.id,
        direction=direction,
        channel=channel,
        phone=person.phone,
        body="hello",
        kind="reply" if direction == "in" else kind,
        status="received" if direction == "in" else "delivered",
        segments=1,
        created_at=at,
        sent_at=None if direction == "in" else at,
    )


@pytest.fixture
def window_traffic(app_settings):
    """12 NG WhatsApp learners, one push each: 9 within 24 h of their last WhatsApp message, one
    whose last WhatsApp message is 26 h old (an SMS one since does not count), one whose push fell
    back to SMS, one with no message at all; a reply each (never counted). 3 GH learners (too few)."""
    now = app_settings.clock.now()
    with session_scope(app_settings.database_url) as session:
        for n in range(15):
            country = "NG" if n < 12 else "GH"
            person = Person(**person_values(f"+23480600{n:05d}", now, channel="whatsapp", country=country))
            session.add(person)
            session.flush()
            rows = []
            if n < 9 or n >= 12:
                rows.append(_message(person, "in", now - timedelta(hours=23, minutes=50)))
            elif n == 9:
                rows.append(_message(person, "in", now - timedelta(hours=26)))
                rows.append(_message(person, "in", now - timedelta(hours=2), channel="sms"))
            elif n == 10:
                rows.append(_message(person, "in", now - timedelta(hours=25)))
            push_channel = "sms" if n == 10 else "whatsapp"
            rows.append(_message(person, "out", now - timedelta(minutes=5), channel=push_channel))
            rows.append(_message(person, "out", now - timedelta(minutes=4), kind="reply"))
            session.add_all(rows)


def test_the_cost_sheet_counts_pushes_sent_in_the_window(app_settings, window_traffic, db):
    today = app_settings.clock.now().date()
    sheet = cost_sheet(db, app_settings, today - timedelta(days=29), today)
    (group,) = sheet.window
    assert (group.country, group.learners, group.pushes, group.in_window) == ("NG", 12, 12, 9)
    assert sheet.in_window_share == pytest.approx(0.75)
    assert sheet.suppressed_window_groups == 1
    assert cost_sheet(db, app_settings, today - timedelta(days=60), today - timedelta(days=31)).window == []


def test_the_costs_api_and_page_show_the_share(app_settings, window_traffic, client):
    token = make_token(app_settings, "viewer")
    data = client.get("/api/v1/costs", headers=bearer(token)).get_json()
    window = data["whatsapp_window"]
    assert (window["pushes"], window["in_window"], window["share"]) == (12, 9, 0.75)
    assert window["suppressed_groups"] == 1
    assert window["groups"] == [
        {"country": "NG", "learners": 12, "pushes": 12, "in_window": 9, "share": 0.75}
    ]
    assert "GH" not in str(data) and "+234" not in str(data)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "whatsapp_window" in spec["components"]["schemas"]["CostSheet"]["properties"]

    make_admin(app_settings, role="viewer")
    sign_in(client)
    html = client.get("/admin/costs").get_data(as_text=True)
    assert "WhatsApp pushes in the free window" in html
    assert "<td>NG</td><td>12</td><td>12</td><td>9</td><td>75.0 %</td>" in html
    assert "1 WhatsApp group(s) under 10 learners not shown" in html and "+234" not in html
