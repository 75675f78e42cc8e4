"""The impact page and the donor report in a real browser (Playwright driving Debian's headless
Chromium), with screenshots in test-artifacts/: the form works without script, the report prints."""

from __future__ import annotations

from tests.admin_support import make_admin
from tests.test_admin_browser import (  # noqa: F401
    browser,
    live_settings,
    page,
    server,
    shot,
    sign_in,
    twilio,
)
from tests.test_impact import population  # noqa: F401


def test_impact_page_and_donor_report(page, server, live_settings, population, request):  # noqa: F811
    make_admin(live_settings, role="viewer")
    sign_in(page, server)
    page.goto(f"{server}/admin/impact?from=2026-11-01&to=2026-11-30")
    assert "Impact" in page.inner_text("h1")
    main = page.inner_text("main")
    assert "NG" in main and "KE" in main and "GH" not in main and "+234" not in main
    assert "1 group(s) under 10 learners not shown" in main
    assert page.locator("tr.flagged").count() >= 1  # Kenya kept nobody to week 4
    assert page.locator("svg.chart").count() == 2
    shot(page, "impact-by-country", request)

    # The form is a plain GET: choose a dimension and submit, script or not.
    page.select_option("select[name=by]", "language")
    page.click("form.row button[type=submit]")
    assert "by language" in page.inner_text("h1")
    rows = page.locator("table").first.inner_text()
    assert "en" in rows and "fr" in rows

    page.click("text=Donor report")
    assert "impact report" in page.inner_text("h1")
    assert "25" in page.inner_text("p.lead")  # 15 English and 10 French learners in touch
    page.emulate_media(media="print")
    assert not page.locator("p.noprint").is_visible()
    shot(page, "impact-donor-report-print", request)
