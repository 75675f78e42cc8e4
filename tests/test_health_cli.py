"""Health, metrics and the command line, through Flask's CLI runner."""

from __future__ import annotations

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


def test_production_refuses_to_start_without_credentials():
    try:
        create_app(Settings(environment="production"))
    except ConfigurationError as exc:
        assert "TWILIO_AUTH_TOKEN" in str(exc)
    else:
        raise AssertionError("create_app started without credentials in production")


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
        queue_message(session, person, "Q101 pushed later", "question")
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
