"""The educators' console in a real browser (Playwright driving Debian's headless Chromium): an
educator writes an item, sees a problem and fixes it, two other reviewers approve it (its author's
own approval refused) and one publishes it; then the editor again with JavaScript off.

Screenshots go to test-artifacts/. Skipped, saying why, where Chromium is not installed.
"""

from __future__ import annotations

from store.authoring import add_published, serve
from store.db import session_scope
from tests.admin_support import PASSWORD, make_admin
from tests.test_admin_browser import browser, live_settings, page, server, shot, twilio  # noqa: F401
from tests.test_authoring_console import DRAFT, FIXED, PAGE_LIMIT

STEM = DRAFT["stem"]
SIGNED = "/admin/items/signed?name=Dr+Amina+Bello"


def accounts(settings) -> None:
    for email, roles in (
        ("writer@example.org", ("educator", "reviewer")),
        ("rev1@example.org", ("reviewer",)),
        ("rev2@example.org", ("reviewer",)),
    ):
        for role in roles:
            make_admin(settings, email, role)


def bank(settings, size: int) -> None:
    """A published bank the size of the real one, most items reviewed in-house, some signed off."""
    now = settings.clock.now()
    with session_scope(settings.database_url) as session:
        for n in range(size):
            values = {
                "question_id": 101 + n,
                "topic": "cardiology",
                "tracks": ["step1", "general"],
                "difficulty": 1 + n % 3,
                "locale": "intl",
                "stem": f"Item {n}: a 60yo with chest pain radiating to the left arm has ST elevation. Next?",
                "options": {"A": "PCI", "B": "Aspirin alone", "C": "Discharge", "D": "Exercise test"},
                "answer": "A",
                "explanation": "Primary PCI; aspirin alone is not enough.",
                "sources": [{"title": "ESC STEMI guideline", "edition": "2023"}],
                "author": "Rounds content team",
                "reviewers": [{"name": "Dr Amina Bello", "date": "2026-10-01"}] if n % 10 == 0 else [],
                "review": "external" if n % 10 == 0 else "internal",
            }
            serve(session, add_published(session, values, "en", 1, now, None), 0)


def sign_in_as(tab, server: str, email: str) -> None:  # noqa: F811
    tab.goto(f"{server}/admin/login")
    tab.fill("input[name=email]", email)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("h1:has-text('Dashboard')")


def fill_draft(tab) -> None:
    tab.fill("input[name=topic]", DRAFT["topic"])
    tab.fill("input[name=tracks]", "step1, general")
    tab.select_option("select[name=locale]", "intl")
    tab.fill("input[name=review_by]", "2027-10-15")
    for letter, text in DRAFT["options"].items():
        tab.fill(f"input[name=option_{letter}]", text)
    tab.select_option("select[name=answer]", "A")
    tab.fill("textarea[name=explanation]", DRAFT["explanation"])
    tab.fill("textarea[name=stem]", STEM)


def review(browser, server: str, email: str, verdict: str = "approve"):  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    sign_in_as(tab, server, email)
    tab.goto(f"{server}/admin/items/queue")
    tab.click("#queue a:has-text('Q100001')")
    tab.check(f"input[name=verdict][value={verdict}]")
    tab.click("button:has-text('Send review')")
    return context, tab


def test_write_review_and_publish(browser, page, server, live_settings, request):  # noqa: F811
    accounts(live_settings)
    sign_in_as(page, server, "writer@example.org")
    page.goto(f"{server}/admin/items/new")
    fill_draft(page)
    # The counter and the phone's view follow the typing (admin.js); nothing is saved yet.
    page.wait_for_selector(f"#phone pre.sms:has-text('Q100001 {STEM[:30]}')")
    counter = page.inner_text("#phone .counter >> nth=0")
    assert "GSM-7" in counter and "of 2 segments" in counter
    page.fill("textarea[name=stem]", STEM + " \u2764")
    page.wait_for_selector("#phone .counter >> nth=0 >> :text('UCS-2')")
    assert "over budget" in page.inner_text("#phone .counter >> nth=0")
    page.fill("textarea[name=stem]", STEM)
    page.wait_for_selector("#phone .counter >> nth=0 >> :text('GSM-7')")
    shot(page, "item-editor-live", request)

    page.click("button[value=submit]")
    page.wait_for_selector("#problems")
    problems = page.inner_text("#problems")
    assert "to fix before review" in problems and "names no distractor" in problems
    assert "Traceback" not in page.content()
    shot(page, "item-problems", request)

    page.fill("textarea[name=explanation]", FIXED["explanation"])
    page.fill("textarea[name=sources]", FIXED["sources"])
    page.click("button[value=submit]")
    page.wait_for_selector("p.flash:has-text('submitted')")
    assert "/admin/items/100001" in page.url
    assert "Version 1: in review" in page.inner_text("#review")

    # Its author holds the reviewer role too, and is still refused.
    page.check("input[name=verdict][value=approve]")
    response = None
    with page.expect_response(lambda r: r.url.endswith("/review?language=en")) as answer:
        page.click("button:has-text('Send review')")
    response = answer.value
    assert response.status == 403
    assert "you wrote this version" in page.inner_text("#refused")
    shot(page, "item-own-review-refused", request)

    first, tab1 = review(browser, server, "rev1@example.org")
    tab1.wait_for_selector("p.flash:has-text('approved')")
    with tab1.expect_response(lambda r: r.url.endswith("/publish?language=en")) as answer:
        tab1.click("button:has-text('Publish')")
    assert answer.value.status == 409 and "1 of the 2 approvals" in tab1.inner_text("#refused")

    second, tab2 = review(browser, server, "rev2@example.org")
    tab2.wait_for_selector("p.flash:has-text('approved')")
    tab2.click("button:has-text('Publish')")
    tab2.wait_for_selector("p.flash:has-text('version 1 published')")
    provenance = tab2.inner_text("#provenance")
    assert "rev1@example.org" in provenance and "rev2@example.org" in provenance
    history = tab2.inner_text("#history")
    assert "published" in history and "rev1@example.org: approved" in history
    assert tab2.locator("a:has-text('statistics')").count() == 1
    shot(tab2, "item-published", request)
    first.close()
    second.close()


def test_editor_without_javascript(browser, server, live_settings, request):  # noqa: F811
    accounts(live_settings)
    bank(live_settings, 700)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    sign_in_as(tab, server, "writer@example.org")
    tab.goto(f"{server}/admin/items/new")
    fill_draft(tab)
    tab.fill("textarea[name=stem]", STEM + " \u2764")
    tab.click("button[value=preview]")
    counter = tab.inner_text("#phone .counter >> nth=0")
    assert "UCS-2" in counter and "over budget" in counter
    assert "is not GSM-7" in tab.inner_text("#problems") or "UCS-2" in tab.inner_text("#problems")
    tab.fill("textarea[name=stem]", STEM)
    tab.fill("textarea[name=explanation]", FIXED["explanation"])
    tab.fill("textarea[name=sources]", FIXED["sources"])
    tab.click("button[value=preview]")
    assert "No problems found" in tab.inner_text("#problems")
    assert "GSM-7" in tab.inner_text("#phone .counter >> nth=0")
    shot(tab, "item-editor-no-js", request)
    tab.click("button[value=submit]")
    tab.wait_for_selector("p.flash:has-text('submitted')")

    # With the whole bank loaded, the lists stay light.
    pages = ("/admin/items", "/admin/items/signed", "/admin/items/queue", "/admin/items/101", SIGNED)
    for path in pages:
        response = tab.goto(f"{server}{path}")
        assert response.status == 200 and len(response.body()) < PAGE_LIMIT, (path, len(response.body()))
    assert tab.locator("#signed tr").count() == 1 + 70 and "70 published versions" in tab.inner_text("h2")
    shot(tab, "item-signed-off", request)
    context.close()
