"""Short links in a real browser (Playwright driving Debian's headless Chromium): a followed
link lands on the real page and is counted, an unknown code shows the small 404 page, and the
console's clicks page shows the count with small cells suppressed.

Skipped like tests/test_admin_browser.py where /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from store.links import RESOURCE, ShortLinks
from store.models import Resource
from tests.admin_support import make_admin
from tests.flows_support import seed_library

# The browser, sign-in and screenshot helpers are the console browser tests' own.
from tests.test_admin_browser import browser, shot, sign_in  # noqa: F401
from tests.test_short_links import PHONE_BROWSER


@pytest.fixture
def phone_page(browser):  # noqa: F811
    """A tab that says it is a phone's Chrome: headless Chromium names itself HeadlessChrome,
    which the bot list rightly does not count."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, user_agent=PHONE_BROWSER)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture
def landing() -> Iterator[str]:
    """A page standing in for a resource's real site, on a real port."""

    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<!doctype html><title>Heart Book</title><h1>Heart Book</h1>"]

    http = make_server("127.0.0.1", 0, site, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}/heart"
    http.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def server(app_settings, db, landing, now) -> Iterator[str]:
    from gateway import create_app

    seed_library(db)
    db.get(Resource, "cardio-a").url = landing
    db.commit()
    http = make_server("127.0.0.1", 0, create_app(app_settings), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)


def test_a_short_link_lands_on_the_resource_and_unknown_codes_get_the_404_page(
    phone_page, server, app_settings, db, now, request
):
    page = phone_page
    links = ShortLinks(db)
    code = links.code_for(RESOURCE, "cardio-a", "sms", "NG", now)
    db.commit()
    page.goto(f"{server}/r/{code}")
    page.wait_for_selector("h1:has-text('Heart Book')")
    assert page.url.endswith("/heart")
    assert [row.clicks for row in ShortLinks(db).clicks(RESOURCE, ["cardio-a"])] == [1]
    db.rollback()

    answer = page.goto(f"{server}/r/nope22")
    assert answer is not None and answer.status == 404
    assert page.inner_text("h1") == "Link not found"
    assert "RES or OPP" in page.inner_text("p")
    assert page.locator("script").count() == 0
    shot(page, "short-link-404", request)

    make_admin(app_settings, role="viewer")
    sign_in(page, server)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.goto(f"{server}/admin/content/resources")
    page.click("text=clicks")
    row = page.locator("tr#resource-cardio-a")
    cells = row.locator("td")
    assert cells.nth(2).inner_text() == "<10"  # one click: counted, and too few to show
    assert cells.nth(3).inner_text() == "sms <10"
    assert cells.nth(4).inner_text() == "NG <10"
    shot(page, "clicks", request)
