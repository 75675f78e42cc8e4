"""Health, metrics and the command line, through Flask's CLI runner."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from gateway import ConfigurationError, create_app
from store.db import get_engine
from store.settings import Settings
from tests.conftest import Phone


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_down(app_settings):
    client = create_app(app_settings.with_(redis_url="redis://127.0.0.1:1/0")).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok" and body["redis"].startswith("down")


def test_healthz_is_503_when_the_database_is_down(app_settings):
    broken = app_settings.with_(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = create_app(broken).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("down")


def test_metrics_count_messages_and_latency(client):
    Phone(client, "+2348031234111").text("HELP")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'rounds_inbound_messages_total{channel="sms"}' in text
    assert 'rounds_messages{channel="sms",direction="inbound",status="received"} 1.0' in text
    assert 'rounds_messages{channel="sms",direction="outbound",status="replied"} 1.0' in text
    assert "rounds_webhook_seconds_bucket" in text


STRONG_SECRET = "s" * 20 + "0123456789abcdef"


def production(**changes: str) -> Settings:
    """A production configuration that starts, with some values changed."""
    values = {
        "environment": "production",
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "0123456789abcdef0123456789abcdef",
        "secret_key": STRONG_SECRET,
        "public_url": "https://rounds.example.org",
        **changes,
    }
    return Settings(**values)


def refusal(settings: Settings) -> str:
    with pytest.raises(ConfigurationError) as refused:
        create_app(settings)
    return str(refused.value)


def test_production_refuses_to_start_without_credentials():
    assert "TWILIO_AUTH_TOKEN" in refusal(Settings(environment="production"))


def test_production_starts_with_a_whole_configuration():
    assert create_app(production()).config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    "value", ["Production", "PRODUCTION", "prod", "production ", " production", "", "dev"]
)
def test_rounds_env_accepts_only_the_two_exact_words(value):
    with pytest.raises(ValueError, match="ROUNDS_ENV must be exactly development or production"):
        Settings.from_env({"ROUNDS_ENV": value})


def test_rounds_env_words_and_default():
    assert Settings.from_env({"ROUNDS_ENV": "production"}).production
    assert not Settings.from_env({"ROUNDS_ENV": "development"}).production
    assert Settings.from_env({}).environment == "development"


@pytest.mark.parametrize(
    "secret, why",
    [
        ("change-me", "sample value"),
        ("development-only-secret", "sample value"),
        ("   ", "is blank"),
        ("short-but-random-4f9a", "shorter than 32"),
    ],
)
def test_production_refuses_weak_or_sample_secret_keys(secret, why):
    message = refusal(production(secret_key=secret))
    assert "SECRET_KEY" in message and why in message


def test_production_requires_an_https_public_url():
    assert "PUBLIC_URL is not set" in refusal(production(public_url=""))
    assert "PUBLIC_URL must be an https:// address" in refusal(
        production(public_url="http://rounds.example.org")
    )


def test_production_refuses_a_weak_metrics_token_or_sample_twilio_token():
    assert "ROUNDS_METRICS_TOKEN is shorter" in refusal(production(metrics_token="letmein"))
    assert "TWILIO_AUTH_TOKEN is a sample value" in refusal(production(twilio_auth_token="change-me"))


def test_trusted_proxies_is_a_count():
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"ROUNDS_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ValueError, match="ROUNDS_TRUSTED_PROXIES must be 0 or more"):
        Settings.from_env({"ROUNDS_TRUSTED_PROXIES": "-1"})


def test_metrics_can_require_a_bearer_token(app_settings):
    token = "m" * 40
    client = create_app(app_settings.with_(metrics_token=token)).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200 and "rounds_messages" in allowed.get_data(as_text=True)


def test_openapi_never_echoes_the_host_header(app_settings):
    from tests.admin_support import bearer, make_token

    client = create_app(app_settings).test_client()
    headers = {**bearer(make_token(app_settings)), "Host": "attacker.example"}
    spec = client.get("/api/v1/openapi.json", headers=headers).get_json()
    assert spec["servers"] == [{"url": "https://rounds.example.org/api/v1"}]
    bare = create_app(app_settings.with_(public_url="")).test_client()
    spec = bare.get("/api/v1/openapi.json", headers=headers).get_json()
    assert spec["servers"] == [{"url": "/api/v1"}]
    assert "attacker.example" not in bare.get("/api/v1/openapi.json", headers=headers).get_data(as_text=True)


def test_production_has_no_development_webhook_token():
    assert Settings(environment="production").webhook_token == ""
    assert Settings().webhook_token  # development: simulate can sign


def test_db_upgrade_is_idempotent(runner, database_url):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert {"people", "messages", "alembic_version"} <= tables


def test_simulate_texts_help_and_prints_the_answer(runner):
    result = runner.invoke(args=["simulate", "--from", "+2348031234999"], input="HELP\n")
    assert result.exit_code == 0, result.output
    assert "< Rounds: A-D answer" in result.output


def test_simulate_rejects_a_bad_number(runner):
    result = runner.invoke(args=["simulate", "--from", "not-a-number"], input="HELP\n")
    assert result.exit_code != 0
    assert "not a phone number" in result.output


def test_settings_from_env_reads_the_contract_names():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "sqlite:///x.db",
            "REDIS_URL": "redis://r:6379/0",
            "TWILIO_API_BASE": "http://127.0.0.1:9",
            "PUBLIC_URL": "https://a.example/",
            "ROUNDS_SEND_RATE": "3",
            "SMS_FROM": "+15005550006",
        }
    )
    assert settings.database_url == "sqlite:///x.db"
    assert settings.twilio_api_base == "http://127.0.0.1:9"
    assert settings.public_url == "https://a.example"
    assert settings.send_rate == 3.0


def test_settings_reject_a_malformed_number():
    try:
        Settings.from_env({"ROUNDS_SEND_RATE": "fast"})
    except ValueError as exc:
        assert "ROUNDS_SEND_RATE" in str(exc)
    else:
        raise AssertionError("a malformed ROUNDS_SEND_RATE was accepted")


def test_simulate_says_clearly_when_the_web_process_is_not_running(runner):
    result = runner.invoke(args=["simulate", "--url", "http://127.0.0.1:1"], input="HELP\n")
    assert result.exit_code != 0
    assert "make run" in result.output and "Traceback" not in result.output


def test_simulator_prints_what_is_pushed_to_its_number(app, app_settings):
    from gateway.simulate import Simulator, app_poster, run
    from store.db import session_scope
    from store.models import Person
    from workers.outbox import queue_message

    simulator = Simulator(app_settings, "+2348031234555", False, app_poster(app))
    lines: list[str] = []
    run(simulator, ["HELP\n"], lines.append)
    with session_scope(app_settings.database_url) as session:
        person = session.query(Person).filter_by(phone="+2348031234555").one()
        queue_message(session, person, "Q101 pushed later", "question", now=app_settings.clock.now())
    run(simulator, ["SCORE\n"], lines.append)
    assert lines[0].startswith("< Rounds: A-D answer")
    assert "<< Q101 pushed later" in lines


def test_a_long_read_does_not_block_a_webhook_on_sqlite(client, database_url):
    from sqlalchemy import text

    from store.db import read_session

    reader = read_session(database_url)
    try:
        reader.execute(text("SELECT count(*) FROM messages")).scalar()  # the read transaction is open
        assert Phone(client, "+2348031234111").text("HELP")  # a writer still gets through at once
    finally:
        reader.close()
