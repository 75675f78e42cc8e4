"""The public certificate page in a real browser (Playwright driving Debian's headless Chromium):
a valid certificate, a revoked one and an unknown code. Skipped where Chromium is not installed."""

from __future__ import annotations

from datetime import date

from store.db import session_scope
from store.programs import Programs
from tests.programs_support import load_with_fixture
from tests.test_admin_browser import ARTIFACTS, browser, live_settings, page, server, twilio  # noqa: F401
from tests.test_programs_admin import NOW, enrol_many


def test_verify_page_in_a_browser(page, server, live_settings, request):  # noqa: F811
    load_with_fixture(live_settings)
    valid, withdrawn = enrol_many(live_settings, 2, day=4, status="completed")
    with session_scope(live_settings.database_url) as session:
        Programs(session).revoke(withdrawn, "admin@example.org", NOW)

    response = page.goto(f"{server}/verify/{valid.lower()}")
    assert response.status == 200
    assert page.inner_text("#holder") == "Bola"
    assert page.inner_text("#program") == "Study design basics"
    assert page.inner_text("#date") == date(2026, 11, 20).strftime("%-d %B %Y")
    text = page.inner_text("body")
    assert "Surname" not in text and "+234" not in text and valid in text
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("database_url", "db")
    page.screenshot(path=str(ARTIFACTS / f"verify-{backend}.png"), full_page=True)

    assert page.goto(f"{server}/verify/{withdrawn}").status == 200
    assert "Certificate withdrawn" in page.inner_text("h1")
    missing = page.goto(f"{server}/verify/RND-ZZZZZZ")
    assert missing.status == 404 and page.inner_text("h1") == "No such certificate"
