"""Short links: RES and OPP send `PUBLIC_URL/r/<code>` (the real URL without PUBLIC_URL); the
redirect counts people per target, UTC day, channel and country, and not previews, bots, HEAD
or prefetches; unknown codes get a 404 page, gone targets a 410 page; the console and the API
show the clicks with small cells suppressed. On SQLite and PostgreSQL (the `db` fixture).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from gateway.admin.clicks import suppressed
from store.links import (
    ALPHABET,
    CODE_LENGTH,
    OPPORTUNITY,
    RESOURCE,
    LinkClick,
    ShortLink,
    ShortLinks,
    new_code,
)
from store.models import Resource
from tests.admin_support import bearer, make_admin, make_token, sign_in
from tests.conftest import PUBLIC_URL
from tests.flows_support import Phone, content_folder, seed_library
from tests.opportunities_support import opportunity

NIGERIA = "+2348031234567"
GHANA = "+233241234567"
SHORT = re.compile(re.escape(PUBLIC_URL) + r"/r/([2-9a-z]{6})")
PHONE_BROWSER = (
    "Mozilla/5.0 (Linux; Android 12; TECNO KG5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36"
)
PREVIEWS = [
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "",  # no user agent: a script
]


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


def student(db, settings, number: str, now, country: str, channel: str = "sms") -> Phone:
    phone = Phone(db, settings, number, now)
    phone.onboard()
    assert phone.person is not None
    phone.person.country, phone.person.channel = country, channel
    db.flush()
    return phone


def codes_in(text: str) -> list[str]:
    return SHORT.findall(text)


def link_of(db, code: str) -> ShortLink:
    link = db.scalar(select(ShortLink).where(ShortLink.code == code))
    assert link is not None
    return link


# --- what students are sent ----------------------------------------------------------------------


def test_res_reply_carries_one_short_link_per_resource_channel_and_country(db, chat_settings, now):
    seed_library(db)
    ada = student(db, chat_settings, NIGERIA, now, "NG")
    page = ada.say("RES cardio")
    assert page.splitlines()[1] == f"Heart Book {PUBLIC_URL}/r/{codes_in(page)[0]}"
    codes = codes_in(page)
    assert len(codes) == 3 and len(set(codes)) == 3
    assert "example.org/heart-a" not in page
    assert [(link_of(db, c).kind, link_of(db, c).target) for c in codes] == [
        (RESOURCE, "cardio-a"),
        (RESOURCE, "cardio-b"),
        (RESOURCE, "cardio-c"),
    ]
    assert {(link_of(db, c).channel, link_of(db, c).country) for c in codes} == {("sms", "NG")}
    # Reused: the same student (or anyone on SMS in Nigeria) gets the same codes again.
    assert codes_in(ada.say("RES cardio")) == codes
    ben = student(db, chat_settings, "+2348031234999", now, "NG")
    assert codes_in(ben.say("RES cardio")) == codes
    # Another channel or another country: other codes, so clicks are told apart.
    kofi = student(db, chat_settings, GHANA, now, "GH")
    ghana_codes = codes_in(kofi.say("RES cardio"))
    wendy = student(db, chat_settings, "+2348031230000", now, "NG", channel="whatsapp")
    whatsapp_codes = codes_in(wendy.say("RES cardio"))
    assert len({*codes, *ghana_codes, *whatsapp_codes}) == 9
    assert link_of(db, ghana_codes[0]).country == "GH"
    assert link_of(db, whatsapp_codes[0]).channel == "whatsapp"
    # Nothing that identifies a person is kept with a link.
    assert not [c.name for c in ShortLink.__table__.columns if "phone" in c.name or "person" in c.name]


def test_opp_list_detail_and_save_soon_carry_the_short_link(db, chat_settings, now):
    row = opportunity(db, "Lagos Observership", date(2027, 1, 12), org="LUTH")
    soon = opportunity(db, "Soon Grant", now.date() + timedelta(days=3))
    ada = student(db, chat_settings, NIGERIA, now, "NG")
    listing = ada.say("OPP")
    assert "https://ex.org" not in listing
    soon_code, lagos_code = codes_in(listing)
    assert (link_of(db, lagos_code).kind, link_of(db, lagos_code).target) == (OPPORTUNITY, str(row.id))
    assert link_of(db, soon_code).target == str(soon.id)
    detail = ada.say("OPP 2")
    assert codes_in(detail) == [lagos_code]
    assert codes_in(ada.say("OPP SAVE 1")) == [soon_code]  # closes within a week: "apply now: <link>"


def test_without_public_url_the_real_urls_go_out_and_no_code_is_made(db, chat_settings, now):
    plain = chat_settings.with_(public_url="")
    seed_library(db)
    opportunity(db, "Lagos Observership", date(2027, 1, 12))
    ada = student(db, plain, NIGERIA, now, "NG")
    assert "Heart Book https://example.org/heart-a" in ada.say("RES cardio")
    assert "https://ex.org/lagos-observership" in ada.say("OPP")
    assert db.scalars(select(ShortLink)).all() == []


def test_codes_are_short_random_and_unambiguous():
    codes = [new_code() for _ in range(300)]
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert not set("01ilo") & set(ALPHABET)
    assert len(set(codes)) == 300
    # Not a sequence: successive codes are neither sorted nor one apart.
    assert codes != sorted(codes)
    assert sum(a[:-1] == b[:-1] for a, b in zip(codes, codes[1:], strict=False)) < 5


def test_a_code_clash_picks_another_code(db, now, monkeypatch):
    links = ShortLinks(db)
    first = links.code_for(RESOURCE, "cardio-a", "sms", "NG", now)
    drawn = iter([first, first, "k7m3pq"])
    monkeypatch.setattr("store.links.new_code", lambda: next(drawn))
    assert ShortLinks(db).code_for(RESOURCE, "cardio-b", "sms", "NG", now) == "k7m3pq"
    assert ShortLinks(db).code_for(RESOURCE, "cardio-a", "sms", "NG", now) == first


def test_a_res_text_through_the_webhook_gets_a_short_link_that_redirects_and_counts(client, db, clock):
    from tests.conftest import Phone as WebhookPhone

    seed_library(db)
    db.commit()
    phone = WebhookPhone(client, NIGERIA, whatsapp=True)
    for body in ("JOIN", "Ada", "1", "OK"):
        phone.text(body)
    (page,) = phone.text("RES cardio")
    code = codes_in(page)[0]
    response = click(client, code)
    assert response.status_code == 302 and response.headers["Location"] == "https://example.org/heart-a"
    db.expire_all()
    link = link_of(db, code)
    assert (link.target, link.channel) == ("cardio-a", "whatsapp")
    assert [r.clicks for r in ShortLinks(db).clicks(RESOURCE)] == [1]


# --- the redirect ----------------------------------------------------------------------------------


@pytest.fixture
def library(db, now):
    """The test library and three codes for one resource (SMS Nigeria, WhatsApp Nigeria, SMS Ghana)."""
    seed_library(db)
    links = ShortLinks(db)
    codes = {
        key: links.code_for(RESOURCE, "cardio-a", channel, country, now)
        for key, channel, country in (
            ("sms-ng", "sms", "NG"),
            ("wa-ng", "whatsapp", "NG"),
            ("sms-gh", "sms", "GH"),
        )
    }
    db.commit()
    return codes


def click(client, code: str, user_agent: str = PHONE_BROWSER, method: str = "GET", **headers: str):
    return client.open(f"/r/{code}", method=method, headers={"User-Agent": user_agent, **headers})


def counts(db) -> list[tuple[str, str, date, int]]:
    rows = [(r.channel, r.country, r.day, r.clicks) for r in ShortLinks(db).clicks(RESOURCE, ["cardio-a"])]
    db.rollback()  # end the read, so the app's next click can write (SQLite locks the file)
    return rows


def test_redirect_counts_per_utc_day_channel_and_country(client, db, clock, library):
    today = clock.now().date()
    response = click(client, library["sms-ng"])
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.org/heart-a"
    assert response.headers["Cache-Control"] == "no-store"
    click(client, library["sms-ng"])
    click(client, library["wa-ng"])
    click(client, library["sms-gh"].upper())  # a code retyped in capitals is the same code
    clock.advance(days=1)
    click(client, library["sms-ng"])
    assert sorted(counts(db)) == sorted(
        [
            ("sms", "NG", today, 2),
            ("whatsapp", "NG", today, 1),
            ("sms", "GH", today, 1),
            ("sms", "NG", today + timedelta(days=1), 1),
        ]
    )
    # One row per code and day, upserted.
    assert len(db.scalars(select(LinkClick)).all()) == 4


@pytest.mark.parametrize("user_agent", PREVIEWS)
def test_previews_and_bots_are_redirected_but_not_counted(client, db, library, user_agent):
    response = click(client, library["sms-ng"], user_agent)
    assert response.status_code == 302 and response.headers["Location"] == "https://example.org/heart-a"
    assert counts(db) == []


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Purpose": "prefetch"}, {"Purpose": "prefetch"}, {"X-Purpose": "preview"}, {"X-Moz": "prefetch"}],
)
def test_prefetches_and_head_are_redirected_but_not_counted(client, db, clock, library, headers):
    assert click(client, library["sms-ng"], **headers).status_code == 302
    assert click(client, library["sms-ng"], method="HEAD").status_code == 302
    assert counts(db) == []
    click(client, library["sms-ng"])
    assert counts(db) == [("sms", "NG", clock.now().date(), 1)]


def test_a_click_the_database_cannot_count_still_redirects(client, db, library):
    db.execute(text("ALTER TABLE link_clicks RENAME TO link_clicks_away"))
    db.commit()
    try:
        response = click(client, library["sms-ng"])
    finally:
        db.execute(text("ALTER TABLE link_clicks_away RENAME TO link_clicks"))
        db.commit()
    assert response.status_code == 302 and response.headers["Location"] == "https://example.org/heart-a"
    assert counts(db) == []


@pytest.mark.parametrize("code", ["zzzzzz", "abc", "has-dash", "x" * 40])
def test_an_unknown_code_gets_a_small_404_page(client, db, library, code):
    response = click(client, code)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Link not found" in html and "RES or OPP" in html
    assert "<script" not in html and len(html.encode()) < 1500
    assert counts(db) == []


def test_the_404_page_speaks_the_browser_language(client, library):
    french = click(client, "zzzzzz", **{"Accept-Language": "fr-CI,fr;q=0.9,en;q=0.5"})
    assert "Lien introuvable" in french.get_data(as_text=True)
    spanish = click(client, "zzzzzz", **{"Accept-Language": "es-PE"})
    assert "Enlace no encontrado" in spanish.get_data(as_text=True)


def test_a_removed_resource_gets_a_410_page_and_is_not_counted(client, db, library):
    db.get(Resource, "cardio-a").active = False
    db.commit()
    response = click(client, library["sms-ng"])
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert "no longer lists this resource" in html and "Text RES" in html
    assert counts(db) == []


def test_an_opportunity_link_works_through_its_deadline_then_says_it_closed(client, db, clock, now):
    today = now.date()
    row = opportunity(db, "Lagos Observership", today)
    code = ShortLinks(db).code_for(OPPORTUNITY, str(row.id), "sms", "NG", now)
    db.commit()
    assert click(client, code).headers["Location"] == "https://ex.org/lagos-observership"
    # A day after the deadline in UTC it may still be the deadline somewhere west of here.
    clock.advance(days=1)
    assert click(client, code).status_code == 302
    clock.advance(days=1)
    closed = click(client, code)
    assert closed.status_code == 410
    assert f"closed on {today.isoformat()}" in closed.get_data(as_text=True)
    assert "Text OPP" in closed.get_data(as_text=True)
    db.expire_all()
    assert sum(r.clicks for r in ShortLinks(db).clicks(OPPORTUNITY)) == 2


def test_a_deleted_opportunity_gets_a_410_page(client, db, now):
    row = opportunity(db, "Gone Grant", date(2027, 1, 12))
    code = ShortLinks(db).code_for(OPPORTUNITY, str(row.id), "sms", "NG", now)
    db.delete(row)
    db.commit()
    response = click(client, code)
    assert response.status_code == 410
    assert "no longer offered" in response.get_data(as_text=True)


# --- what admins see -----------------------------------------------------------------------------


def test_suppression_hides_small_cells_and_the_one_a_total_would_give_away():
    assert suppressed({"sms": 12, "whatsapp": 15}) == {"sms": 12, "whatsapp": 15}
    assert suppressed({"sms": 12, "whatsapp": 3}) == {"sms": None, "whatsapp": None}
    assert suppressed({"NG": 40, "GH": 12, "KE": 3}) == {"NG": 40, "GH": None, "KE": None}
    assert suppressed({"NG": 40, "GH": 2, "KE": 3}) == {"NG": 40, "GH": None, "KE": None}
    assert suppressed({"NG": 9}) == {"NG": None}
    assert suppressed({"NG": 10}) == {"NG": 10}


def add_clicks(db, kind: str, target: str, channel: str, country: str, day: date, n: int, now) -> None:
    links = ShortLinks(db)
    link = links.find(links.code_for(kind, target, channel, country, now))
    assert link is not None
    for _ in range(n):
        links.count(link.id, day)


@pytest.fixture
def clicked(db, now):
    """An opportunity and a resource with clicks: NG SMS 12, NG WhatsApp 3, GH SMS 15 (today),
    and 20 more from NG by SMS on the resource yesterday; 4 on another resource."""
    seed_library(db)
    row = opportunity(db, "Lagos Observership", date(2027, 1, 12))
    today = now.date()
    for kind, target in ((OPPORTUNITY, str(row.id)), (RESOURCE, "cardio-a")):
        add_clicks(db, kind, target, "sms", "NG", today, 12, now)
        add_clicks(db, kind, target, "whatsapp", "NG", today, 3, now)
        add_clicks(db, kind, target, "sms", "GH", today, 15, now)
    add_clicks(db, RESOURCE, "cardio-a", "sms", "NG", today - timedelta(days=1), 20, now)
    add_clicks(db, RESOURCE, "renal-a", "sms", "NG", today, 4, now)
    db.commit()
    return row


def test_api_opportunities_carry_clicks_with_small_cells_suppressed(client, settings, clicked):
    token = make_token(settings, role="viewer")
    items = client.get("/api/v1/opportunities", headers=bearer(token)).get_json()["opportunities"]
    assert items[0]["clicks"] == {
        "total": 30,
        # WhatsApp's 3 is under 10, and SMS's 27 would give it away beside the total.
        "by_channel": {"sms": None, "whatsapp": None},
        "by_country": {"GH": 15, "NG": 15},
    }


def test_api_link_clicks_by_resource_and_day_range(client, settings, now, clicked):
    token = make_token(settings, role="viewer")
    answer = client.get("/api/v1/links/clicks?kind=resource", headers=bearer(token)).get_json()
    first = answer["items"][0]
    assert (first["id"], first["title"]) == ("cardio-a", "Heart Book")
    assert first["clicks"] == {
        "total": 50,
        "by_channel": {"sms": None, "whatsapp": None},  # SMS's 47 would give WhatsApp's 3 away
        "by_country": {"GH": 15, "NG": 35},
    }
    # Too few to show even as a total; never clicked is a plain 0. Most clicked first.
    totals = [(item["id"], item["clicks"]["total"]) for item in answer["items"]]
    assert totals[:3] == [("cardio-a", 50), ("renal-a", None), ("cardio-b", 0)]
    assert answer["items"][1]["clicks"]["by_country"] == {"NG": None}
    today = now.date().isoformat()
    only_today = client.get(
        f"/api/v1/links/clicks?kind=resource&from={today}&to={today}", headers=bearer(token)
    ).get_json()
    assert only_today["items"][0]["clicks"]["total"] == 30
    bad = client.get("/api/v1/links/clicks?from=yesterday", headers=bearer(token))
    assert bad.status_code == 400 and "from must be a date" in bad.get_json()["error"]
    assert client.get("/api/v1/links/clicks?kind=people", headers=bearer(token)).status_code == 400
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/links/clicks" in spec["paths"] and "Clicks" in spec["components"]["schemas"]


def test_console_shows_clicks_on_opportunities_and_the_clicks_page(client, settings, clicked):
    make_admin(settings, role="viewer")
    sign_in(client)
    page = client.get("/admin/opportunities").get_data(as_text=True)
    assert ">30</a>" in page and "sms &lt;10, whatsapp &lt;10" in page and "GH 15, NG 15" in page
    resources = client.get("/admin/clicks?kind=resource").get_data(as_text=True)
    row = re.search(r'<tr id="resource-cardio-a">.*?</tr>', resources, re.S)
    assert row is not None
    assert "<td>50</td>" in row.group(0) and "sms &lt;10, whatsapp &lt;10" in row.group(0)
    assert "GH 15, NG 35" in row.group(0)
    assert "+234" not in resources
    assert re.search(r'<tr id="resource-renal-a">.*?<td>&lt;10</td>', resources, re.S)
    bad = client.get("/admin/clicks?kind=resource&from=soon")
    assert bad.status_code == 400 and "from must be a date" in bad.get_data(as_text=True)
