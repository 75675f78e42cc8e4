"""Admin accounts: the CLI, signing in (CSRF, throttling, cookies), roles and API tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.admin import accounts
from store.admin import AdminUser, ApiToken, LoginFailure
from store.db import session_scope
from tests.admin_support import PASSWORD, bearer, csrf, make_admin, post, sign_in


def test_admin_create_asks_for_the_password_twice_and_stores_a_hash(runner, app_settings):
    result = runner.invoke(
        args=["admin", "create", "Ada@Example.org", "--role", "editor"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "ada@example.org can sign in at /admin as editor" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    with session_scope(app_settings.database_url) as session:
        user = session.scalar(select(AdminUser))
        assert user.email == "ada@example.org" and user.role == "editor"
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_admin_create_refuses_mismatched_or_short_passwords(runner):
    mismatch = runner.invoke(
        args=["admin", "create", "ada@example.org"], input=f"{PASSWORD}\nother one 123\n"
    )
    assert mismatch.exit_code != 0
    short = runner.invoke(args=["admin", "create", "ada@example.org", "--password", "short"])
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    bad = runner.invoke(args=["admin", "create", "not-an-email", "--password", PASSWORD])
    assert bad.exit_code == 1 and "is not an email address" in bad.output


def test_admin_token_prints_a_token_once_and_stores_only_its_hash(runner, app_settings, client):
    runner.invoke(args=["admin", "create", "ada@example.org", "--password", PASSWORD, "--role", "viewer"])
    result = runner.invoke(args=["admin", "token", "ada@example.org", "--label", "reports"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("rnd_") and len(token) > 40
    with session_scope(app_settings.database_url) as session:
        stored = session.scalar(select(ApiToken))
        assert stored.token_hash != token and token not in stored.token_hash and stored.label == "reports"
    assert client.get("/api/v1/students", headers=bearer(token)).status_code == 200
    revoked = runner.invoke(args=["admin", "revoke", str(stored.id)])
    assert revoked.exit_code == 0
    assert client.get("/api/v1/students", headers=bearer(token)).status_code == 401


def test_admin_token_for_an_unknown_email_says_how_to_create_it(runner):
    result = runner.invoke(args=["admin", "token", "nobody@example.org"])
    assert result.exit_code == 1
    assert "rounds admin create nobody@example.org" in result.output


def test_console_requires_sign_in_and_returns_to_the_page_asked_for(client, app_settings):
    make_admin(app_settings)
    response = client.get("/admin/students?q=ada")
    assert response.status_code == 302 and "/admin/login?next=" in response.location
    token = csrf(client)
    signed = client.post(
        "/admin/login",
        data={
            "email": "ada@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/admin/students?q=ada",
        },
    )
    assert signed.status_code == 302 and signed.location.endswith("/admin/students?q=ada")
    assert client.get("/admin/students").status_code == 200


def test_sign_in_never_redirects_off_the_site(client, app_settings):
    make_admin(app_settings)
    token = csrf(client)
    response = client.post(
        "/admin/login",
        data={
            "email": "ada@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/admin",
        },
    )
    assert response.status_code == 302 and response.location.endswith("/admin/")


def test_a_post_without_the_csrf_token_is_refused(client, app_settings):
    make_admin(app_settings)
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": "ada@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    sign_in(client)
    forged = client.post("/admin/account/tokens", data={"label": "x", "csrf_token": "forged"})
    assert forged.status_code == 400
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(ApiToken)) is None


def test_wrong_password_is_refused_and_counted(client, app_settings):
    make_admin(app_settings)
    response = sign_in(client, password="wrong password!")
    assert response.status_code == 401 and "Wrong email or password" in response.get_data(as_text=True)
    with session_scope(app_settings.database_url) as session:
        assert len(session.scalars(select(LoginFailure)).all()) == 1


@pytest.fixture
def timed(app_settings, clock):
    """A console client whose app reads `clock` (conftest's), and the app itself."""
    from gateway import create_app

    app = create_app(app_settings.with_(clock=clock))
    return app.test_client()


def attempt(client, password: str, email: str = "ada@example.org", **headers: str):
    token = csrf(client)
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}, headers=headers
    )


def test_five_failures_lock_the_account_for_fifteen_minutes(timed, app_settings, clock):
    make_admin(app_settings)
    for _ in range(5):
        assert attempt(timed, "wrong password!").status_code == 401
    locked = attempt(timed, PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert "Try again in 15 minute(s)" in locked.get_data(as_text=True)
    clock.advance(minutes=16)
    assert attempt(timed, PASSWORD).status_code == 302


def test_a_new_forwarded_for_on_every_guess_changes_nothing(timed, app_settings):
    """Gunicorn is reached directly (no trusted proxy): X-Forwarded-For is the client's to invent."""
    make_admin(app_settings)
    answers = [
        attempt(timed, f"guess number {n}", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(30)
    ]
    assert answers == [401] * 5 + [429] * 25
    assert attempt(timed, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    with session_scope(app_settings.database_url) as session:
        assert set(session.scalars(select(LoginFailure.ip))) == {"127.0.0.1"}


def test_the_account_is_locked_from_every_address(app_settings):
    """Behind one trusted proxy each guess comes from its own client address: the account still locks."""
    from gateway import create_app

    client = create_app(app_settings.with_(trusted_proxies=1)).test_client()
    make_admin(app_settings)
    for n in range(5):
        assert attempt(client, "wrong password!", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
    with session_scope(app_settings.database_url) as session:
        assert len(set(session.scalars(select(LoginFailure.ip)))) == 5  # the proxy's word is taken
    assert attempt(client, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429


def test_each_failure_after_a_lock_doubles_the_next_one(timed, app_settings, clock):
    make_admin(app_settings)
    for _ in range(5):
        attempt(timed, "wrong password!")
    for minutes in (30, 60, 120):
        clock.advance(minutes=minutes // 2 + 1)  # the lock before has run out
        assert attempt(timed, "wrong password!").status_code == 401
        refused = attempt(timed, PASSWORD)
        assert f"Try again in {minutes} minute(s)" in refused.get_data(as_text=True)
    clock.advance(minutes=121)
    assert attempt(timed, PASSWORD).status_code == 302
    with session_scope(app_settings.database_url) as session:
        assert session.scalar(select(LoginFailure)) is None  # the right password clears the count


def test_one_address_guessing_many_accounts_is_locked(timed, app_settings, clock):
    make_admin(app_settings)
    for n in range(20):
        assert attempt(timed, "wrong password!", email=f"guess{n}@example.org").status_code == 401
    assert attempt(timed, PASSWORD).status_code == 429  # this address, any account
    with session_scope(app_settings.database_url) as session:
        other = accounts.sign_in(session, "ada@example.org", PASSWORD, "10.0.0.9", now=clock.now())
        assert other.user is not None  # another address is not locked out by this one's guessing


def test_locks_are_logged_listed_and_lifted(timed, app_settings, clock, runner, caplog):
    make_admin(app_settings)
    make_admin(app_settings, email="bo@example.org", role="editor")
    with caplog.at_level("WARNING", logger="rounds.admin"):
        for _ in range(5):
            attempt(timed, "wrong password!", email="bo@example.org")
    assert "console sign-in locked: account 'bo@example.org' after 5 failures" in caplog.text

    listed = create_app_runner(app_settings, clock).invoke(args=["admin", "list"])
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()}
    assert "LOCKED until 2026-11-26 09:15 UTC (5 failures)" in lines["bo@example.org"]
    assert "LOCKED" not in lines["ada@example.org"] and "active" in lines["ada@example.org"]

    attempt(timed, PASSWORD)
    page = timed.get("/admin/accounts").get_data(as_text=True)
    assert "locked until 2026-11-26 09:15 UTC after 5 failures" in page
    assert post(timed, "/admin/accounts/unlock", {"email": "bo@example.org"}).status_code == 302
    assert "locked until" not in timed.get("/admin/accounts").get_data(as_text=True)

    for _ in range(5):
        attempt(timed, "wrong password!", email="bo@example.org")
    unlocked = runner.invoke(args=["admin", "unlock", "bo@example.org"])
    assert "5 failed sign-in(s) forgotten" in unlocked.output
    other = timed.application.test_client()
    assert attempt(other, PASSWORD, email="bo@example.org").status_code == 302


def test_only_admins_see_and_lift_locks(client, app_settings):
    make_admin(app_settings, role="editor")
    sign_in(client)
    assert client.get("/admin/accounts").status_code == 403
    assert post(client, "/admin/accounts/unlock", {"email": "x@example.org"}).status_code == 403


def create_app_runner(app_settings, clock):
    from gateway import create_app

    return create_app(app_settings.with_(clock=clock)).test_cli_runner()


def test_session_cookie_is_httponly_and_samesite(client, app_settings):
    make_admin(app_settings)
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_is_secure_in_production(app_settings):
    from gateway import create_app

    production = create_app(app_settings.with_(environment="production", secret_key="k" * 40))
    make_admin(app_settings)
    client = production.test_client()
    response = sign_in(client)
    assert "Secure" in response.headers["Set-Cookie"]


def test_console_pages_are_not_cached_or_framed(client, app_settings):
    make_admin(app_settings)
    sign_in(client)
    response = client.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_changing_the_password_signs_other_sessions_out(client, app_settings, runner):
    make_admin(app_settings)
    sign_in(client)
    assert client.get("/admin/").status_code == 200
    runner.invoke(args=["admin", "create", "ada@example.org", "--password", "a brand new password"])
    assert client.get("/admin/").status_code == 302


def test_sign_out(client, app_settings):
    make_admin(app_settings)
    sign_in(client)
    assert post(client, "/admin/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


def copy_of_session(client, app):
    """Another browser holding the same session cookie, as a thief who copied it would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_a_cookie_copied_before_sign_out_stops_working(client, app, app_settings):
    make_admin(app_settings)
    sign_in(client)
    thief = copy_of_session(client, app)
    assert thief.get("/admin/").status_code == 200
    post(client, "/admin/logout")
    assert thief.get("/admin/").status_code == 302


def test_disabling_an_account_ends_copies_of_its_sessions(client, app, app_settings, runner):
    make_admin(app_settings)
    sign_in(client)
    thief = copy_of_session(client, app)
    runner.invoke(args=["admin", "disable", "ada@example.org"])
    with session_scope(app_settings.database_url) as session:
        # Enabled again behind the CLI's back, with the same password: the old sessions stay over.
        session.scalar(select(AdminUser)).active = True
    assert thief.get("/admin/").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_the_cookie_carries_no_password_hash(client, app, app_settings):
    make_admin(app_settings)
    sign_in(client)
    serializer = app.session_interface.get_signing_serializer(app)
    contents = serializer.loads(client.get_cookie("session").value)
    assert set(contents) == {
        "_permanent",
        "admin_user_id",
        "admin_generation",
        "admin_signed_in",
        "admin_seen",
        "csrf",
    }
    with session_scope(app_settings.database_url) as session:
        password_hash = session.scalar(select(AdminUser.password_hash))
    assert not [value for value in contents.values() if len(str(value)) > 12 and str(value) in password_hash]
    assert password_hash[-16:] not in str(contents)


def test_a_session_ends_after_30_idle_minutes(timed, app_settings, clock):
    make_admin(app_settings)
    attempt(timed, PASSWORD)
    for _ in range(3):
        clock.advance(minutes=29)
        assert timed.get("/admin/").status_code == 200  # each visit keeps it alive
    clock.advance(minutes=30)
    response = timed.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.location


def test_a_session_ends_12_hours_after_sign_in_however_busy(timed, app_settings, clock):
    make_admin(app_settings)
    attempt(timed, PASSWORD)
    for _ in range(11 * 3):
        clock.advance(minutes=20)
        assert timed.get("/admin/").status_code == 200
    clock.advance(minutes=60)  # 12 h since sign-in, 20 min since the last visit
    assert timed.get("/admin/").status_code == 302


def test_tokens_made_in_the_console_are_shown_once_and_revocable(client, app_settings):
    make_admin(app_settings, role="viewer")
    sign_in(client)
    page = post(client, "/admin/account/tokens", {"label": "laptop"}).get_data(as_text=True)
    token = page.split('id="new-token">')[1].split("<")[0]
    assert client.get("/api/v1/stats", headers=bearer(token)).status_code == 200
    assert token not in client.get("/admin/account").get_data(as_text=True)
    with session_scope(app_settings.database_url) as session:
        token_id = session.scalar(select(ApiToken.id))
    assert post(client, f"/admin/account/tokens/{token_id}/revoke").status_code == 302
    assert client.get("/api/v1/stats", headers=bearer(token)).status_code == 401


def test_a_viewer_cannot_write_in_the_console(client, app_settings):
    make_admin(app_settings, role="viewer")
    sign_in(client)
    response = post(client, "/admin/broadcasts", {"text": "hi", "confirm": "send"})
    assert response.status_code == 403
    assert "needs the editor role" in response.get_data(as_text=True)


def test_a_disabled_account_cannot_sign_in_or_use_its_tokens(runner, client, app_settings):
    make_admin(app_settings)
    token = runner.invoke(args=["admin", "token", "ada@example.org"]).stdout.splitlines()[0]
    sign_in(client)
    result = runner.invoke(args=["admin", "disable", "ada@example.org"])
    assert result.exit_code == 0 and "1 API token(s) revoked" in result.output
    assert client.get("/admin/").status_code == 302
    assert sign_in(client).status_code == 401
    assert client.get("/api/v1/stats", headers=bearer(token)).status_code == 401


def test_production_hashes_use_werkzeugs_full_scrypt_cost():
    # The suite lowers the cost for speed (conftest); what servers use is the default.
    from werkzeug.security import generate_password_hash

    assert accounts.DEFAULT_PASSWORD_METHOD == "scrypt"
    made = generate_password_hash("x" * 12, method=accounts.DEFAULT_PASSWORD_METHOD)
    assert made.startswith("scrypt:32768:8:1$")
