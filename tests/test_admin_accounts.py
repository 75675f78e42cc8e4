"""Admin accounts: the CLI, signing in (CSRF, throttling, cookies), roles and API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from gateway.admin import accounts
from store.admin import AdminUser, ApiToken, LoginFailure
from store.db import session_scope
from store.models import utcnow
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


def test_five_failures_lock_that_email_from_that_address_for_fifteen_minutes(client, app_settings):
    make_admin(app_settings)
    for _ in range(5):
        assert sign_in(client, password="wrong password!").status_code == 401
    locked = sign_in(client)  # even the right password
    assert locked.status_code == 429
    assert "Try again in 15 minute(s)" in locked.get_data(as_text=True)
    with session_scope(app_settings.database_url) as session:
        later = utcnow() + timedelta(minutes=16)
        assert accounts.sign_in(session, "ada@example.org", PASSWORD, "127.0.0.1", now=later).user is not None
        # Another address is not locked out by someone else's guessing.
        assert accounts.sign_in(session, "ada@example.org", PASSWORD, "10.0.0.9").user is not None


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
