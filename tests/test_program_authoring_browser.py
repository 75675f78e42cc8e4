"""Writing a program in a real browser (Playwright driving Debian's headless Chromium), JavaScript
off as the console allows: an educator writes a program, sees the checker's problems, adds a day
and submits; its author's own review is refused; two other reviewers approve and the second
approval publishes it, with its history.

Screenshots go to test-artifacts/. Skipped, saying why, where Chromium is not installed.
"""

from __future__ import annotations

from tests.programs_support import load_with_fixture
from tests.test_admin_browser import browser, live_settings, server, shot, twilio  # noqa: F401
from tests.test_authoring_browser import accounts, sign_in_as
from tests.test_program_authoring import FIXED, NEW_FORM


def signed_in(browser, server: str, email: str):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    sign_in_as(tab, server, email)
    return context, tab


def test_write_a_program_and_publish_it_without_javascript(browser, server, live_settings, request):  # noqa: F811
    load_with_fixture(live_settings)
    accounts(live_settings)
    writer, tab = signed_in(browser, server, "writer@example.org")
    tab.goto(f"{server}/admin/programs/authoring")
    tab.click("#new-program")
    assert tab.locator("fieldset").count() == 1  # one empty day to start with
    for name in ("code", "title_en", "title_fr", "title_es", "summary_en", "summary_fr", "summary_es"):
        tab.fill(f"input[name={name}]", NEW_FORM[name])
    for lang in ("en", "fr", "es"):
        tab.fill(f"textarea[name=day_1_{lang}]", NEW_FORM[f"day_1_{lang}"])
    tab.fill("input[name=day_1_questions]", NEW_FORM["day_1_questions"])
    tab.click("button[value=more]")
    assert tab.locator("fieldset").count() == 2
    tab.fill("textarea[name=day_2_en]", NEW_FORM["day_2_en"])
    tab.fill("textarea[name=day_2_es]", NEW_FORM["day_2_es"])
    tab.fill("input[name=day_2_questions]", NEW_FORM["day_2_questions"])
    tab.click("button[value=preview]")
    problems = tab.inner_text("#problems")
    assert "3 problems to fix before review" in problems and "no question 999999 in the bank" in problems
    assert "3 SMS" in tab.inner_text("#day-2")
    shot(tab, "program-problems", request)

    tab.fill("textarea[name=day_2_en]", FIXED["day_2_en"])
    tab.fill("textarea[name=day_2_fr]", FIXED["day_2_fr"])
    tab.fill("input[name=day_2_questions]", FIXED["day_2_questions"])
    tab.click("button[value=submit]")
    tab.wait_for_selector("p.flash:has-text('submitted')")
    assert "Version 1: in review" in tab.inner_text("#review")
    tab.check("input[name=verdict][value=approve]")
    with tab.expect_response(lambda r: r.url.endswith("/programs/NEWP/review")) as answer:
        tab.click("button:has-text('Send review')")
    assert answer.value.status == 403 and "you wrote this version" in tab.inner_text("#refused")

    for email, said in (("rev1@example.org", "needs more approvals"), ("rev2@example.org", "published")):
        context, other = signed_in(browser, server, email)
        other.goto(f"{server}/admin/programs/authoring")
        other.click("#program-queue a:has-text('NEWP')")
        other.check("input[name=verdict][value=approve]")
        other.click("button:has-text('Send review')")
        other.wait_for_selector(f"p.flash:has-text('{said}')")
        if said == "published":
            history = other.inner_text("#history")
            assert "rev1@example.org: approved" in history and "rev2@example.org: approved" in history
            assert "served: 2 days" in other.inner_text("h1")
            shot(other, "program-published", request)
        context.close()
    writer.close()
