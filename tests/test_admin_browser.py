"""The console in a real browser (Playwright driving Debian's headless Chromium): sign-in, a
broadcast from compose through preview to progress, and a simulator round trip.

Screenshots go to test-artifacts/. Skipped, saying why, where /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.admin_support import PASSWORD, add_person, make_admin
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, drain, machine_clock_env
from tests.twilio_standin import TwilioStandIn

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package (pip install playwright)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=machine_clock_env()
        )
        yield chromium
        chromium.close()


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture
def live_settings(app_settings, twilio):
    # No quiet hours: a broadcast started from the browser goes out at once.
    return app_settings.with_(twilio_api_base=twilio.url, quiet_start="00:00", quiet_end="00:00")


@pytest.fixture
def server(live_settings) -> Iterator[str]:
    """The app on a real port, served by werkzeug in a thread."""
    from gateway import create_app

    app = create_app(live_settings)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def shot(page, name: str, request) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("database_url", "db")
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}-{backend}.png"), full_page=True)


def sign_in(page, server: str, password: str = PASSWORD) -> None:
    page.goto(f"{server}/admin/")
    page.fill("input[name=email]", "ada@example.org")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_sign_in(page, server, live_settings, request):
    make_admin(live_settings)
    sign_in(page, server, password="not the password")
    assert "Wrong email or password" in page.inner_text("main")
    shot(page, "login-refused", request)
    sign_in(page, server)
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert page.url.endswith("/admin/")
    assert page.locator("svg.chart").count() == 5  # accuracy by topic waits for the first answer
    shot(page, "dashboard", request)


def test_broadcast_from_compose_through_preview_to_progress(page, server, live_settings, twilio, request):
    make_admin(live_settings, role="editor")
    for n in range(3):
        add_person(live_settings, f"+234803100000{n}", country="NG")
    add_person(live_settings, "+233241000009", country="GH")
    sign_in(page, server)
    page.goto(f"{server}/admin/broadcasts/new")
    page.fill("textarea[name=text]", "Free revision session tonight at 7pm. Reply Q for a question.")
    page.fill("input[name=country]", "NG")
    # The live preview (admin.js) fills in as the admin types; the Preview button would do the same.
    page.wait_for_selector("#preview :text('Send to 3')")
    assert "3 recipients" in page.inner_text("#preview").replace("\n", " ")
    shot(page, "broadcast-preview", request)
    page.click("button[value=send]")
    page.wait_for_selector("#status")
    assert "/admin/broadcasts/" in page.url
    drain(live_settings)  # the fan-out job, then the sends, through the Twilio stand-in
    page.reload()
    page.wait_for_selector("#status:has-text('done')")
    progress = page.inner_text("#progress")
    assert "sent\t3" in progress or "sent 3" in progress.replace("\t", " ")
    assert len(twilio.sent) == 3 and {m["To"] for m in twilio.sent} == {f"+234803100000{n}" for n in range(3)}
    shot(page, "broadcast-progress", request)


def test_simulator_round_trip(page, server, live_settings, request):
    make_admin(live_settings, role="editor")
    sign_in(page, server)
    page.goto(f"{server}/admin/simulator")
    page.fill("#sim-text", "HELP")
    page.click("#sim-send")
    page.wait_for_selector("#chat li.out")
    chat = page.inner_text("#chat")
    assert "HELP" in chat and "A-D answer, Q question" in chat
    assert "simulated by ada@example.org" in chat
    shot(page, "simulator", request)


def test_sign_out_ends_the_session_in_every_browser(browser, page, server, live_settings, request):
    make_admin(live_settings)
    sign_in(page, server)
    assert "Dashboard" in page.inner_text("header")
    other = browser.new_context()
    other.add_cookies(page.context.cookies())  # a copy of the cookie, taken before sign-out
    copied = other.new_page()
    copied.goto(f"{server}/admin/")
    assert "Dashboard" in copied.inner_text("header")
    page.click("header button[type=submit]")  # Sign out
    assert "Signed out" in page.inner_text("main")
    copied.goto(f"{server}/admin/")
    assert "/admin/login" in copied.url
    shot(copied, "copied-cookie-after-sign-out", request)
    other.close()
