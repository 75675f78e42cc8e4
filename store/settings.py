"""Configuration, read from the environment (and a `.env` file) once at start-up.

Every process (web, worker, clock, CLI) builds one `Settings` and passes it down;
nothing deeper reads `os.environ`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from store.clock import SYSTEM_CLOCK, Clock, ScaledClock

DEFAULT_DATABASE_URL = "sqlite:///instance/rounds.db"
DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_PRICING_BASE = "https://pricing.twilio.com"
DEV_WEBHOOK_TOKEN = "rounds-development-token"
ENVIRONMENTS = ("development", "production")
# Secrets (SECRET_KEY, ROUNDS_METRICS_TOKEN) shorter than this are refused in production.
MIN_SECRET_LENGTH = 32
# Values from .env.example, the docs and development: known to everyone, so never a secret.
SAMPLE_SECRETS = frozenset(
    {"change-me", "changeme", "secret", "development-only-secret", DEV_WEBHOOK_TOKEN, "test-secret"}
)


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_count(env: dict[str, str], name: str) -> int:
    value = _env_int(env, name, 0)
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")
    return value


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


# The dashboard charts up to 90 days from the message rows (gateway/admin/stats.py): never prune inside them.
MIN_RETENTION_DAYS = 90


def _env_retention(env: dict[str, str]) -> int:
    """ROUNDS_MESSAGE_RETENTION_DAYS: 0 keeps every message; otherwise at least 90 days."""
    days = _env_int(env, "ROUNDS_MESSAGE_RETENTION_DAYS", 90)
    if days != 0 and days < MIN_RETENTION_DAYS:
        raise ValueError(
            f"ROUNDS_MESSAGE_RETENTION_DAYS must be 0 (keep everything) or at least {MIN_RETENTION_DAYS}, "
            f"since the dashboard charts up to 90 days from the message rows; got {days}"
        )
    return days


def _env_correction_days(env: dict[str, str]) -> int:
    """ROUNDS_CORRECTION_DAYS: how far back a retraction looks for students to correct (1 or more)."""
    days = _env_int(env, "ROUNDS_CORRECTION_DAYS", 60)
    if days < 1:
        raise ValueError(f"ROUNDS_CORRECTION_DAYS must be 1 or more (days), got {days}")
    return days


def _env_equity_ratio(env: dict[str, str]) -> float:
    """ROUNDS_EQUITY_RATIO: best over worst country above which the equity panel flags a figure."""
    ratio = _env_float(env, "ROUNDS_EQUITY_RATIO", 2.0)
    if ratio < 1:
        raise ValueError(f"ROUNDS_EQUITY_RATIO is a ratio of best to worst, 1 or more; got {ratio}")
    return ratio


def _env_budget(env: dict[str, str]) -> float | None:
    """ROUNDS_MONTHLY_BUDGET: the organisation's monthly message budget in USD (unset: no budget)."""
    raw = env.get("ROUNDS_MONTHLY_BUDGET", "").strip().replace(",", "").replace("_", "")
    if not raw:
        return None
    if raw[:3].upper() == "USD":
        raw = raw[3:].strip()
    raw = raw.removeprefix("$")
    try:
        amount = float(raw)
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount) or amount <= 0:
        raise ValueError(
            "ROUNDS_MONTHLY_BUDGET must be an amount in USD above 0, such as 1500 or 1500.00 "
            f"(leave it unset for no budget); got {env['ROUNDS_MONTHLY_BUDGET']!r}"
        )
    return amount


def _env_alert_numbers(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated E.164 numbers (`+2348030000001,+447700900123`), each checked and normalised."""
    numbers: list[str] = []
    for item in env.get(name, "").split(","):
        raw = item.strip()
        if not raw:
            continue
        try:
            parsed = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(
                f"{name} must be E.164 numbers such as +2348030000001, comma-separated; got {raw!r}"
            ) from exc
        if not raw.startswith("+") or not phonenumbers.is_valid_number(parsed):
            raise ValueError(
                f"{name}: {raw!r} is not a valid phone number in E.164 form (+ country code and number)"
            )
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if number not in numbers:
            numbers.append(number)
    return tuple(numbers)


def _env_tick_passes(env: dict[str, str]) -> int:
    """ROUNDS_TICK_PASSES: scheduling passes per tick, 1 (the tick alone) or more."""
    passes = _env_int(env, "ROUNDS_TICK_PASSES", 1)
    if passes < 1:
        raise ValueError(f"ROUNDS_TICK_PASSES must be 1 or more (passes per tick), got {passes}")
    return passes


def _env_worker_nice(env: dict[str, str]) -> int:
    """ROUNDS_WORKER_NICE: how much lower than the web processes `rounds worker` runs, 0 to 19."""
    nice = _env_int(env, "ROUNDS_WORKER_NICE", 0)
    if not 0 <= nice <= 19:
        raise ValueError(
            f"ROUNDS_WORKER_NICE must be 0 (as the web processes) to 19 (yield the most), got {nice}"
        )
    return nice


def _env_environment(env: dict[str, str]) -> str:
    """ROUNDS_ENV, exactly `development` or `production`: a near miss is an error, never development."""
    if "ROUNDS_ENV" not in env:
        return "development"
    raw = env["ROUNDS_ENV"]
    if raw not in ENVIRONMENTS:
        raise ValueError(
            f"ROUNDS_ENV must be exactly development or production (lower case, no spaces), got {raw!r}"
        )
    return raw


def _weak_secret(value: str) -> str | None:
    """Why `value` is not fit to be a production secret, or None if it is."""
    if not value.strip():
        return "is blank"
    if value.strip().lower() in SAMPLE_SECRETS:
        return "is a sample value from the examples"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _env_instant(env: dict[str, str], name: str) -> datetime | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an ISO 8601 instant (2026-12-01T00:00:00Z), got {raw!r}") from exc
    if instant.tzinfo is None:
        raise ValueError(f"{name} must carry its offset (+00:00 or Z), got {raw!r}")
    return instant


def _env_clock(env: dict[str, str], environment: str) -> Clock:
    """ROUNDS_CLOCK_START / _ORIGIN / _RATE: a time-compressed clock for replays; refused in production."""
    names = ("ROUNDS_CLOCK_START", "ROUNDS_CLOCK_ORIGIN", "ROUNDS_CLOCK_RATE")
    given = [name for name in names if env.get(name, "").strip()]
    if not given:
        return SYSTEM_CLOCK
    if environment == "production":
        raise ValueError(
            f"{', '.join(given)} set in production: a scaled clock is for benchmark replays only; unset it"
        )
    start = _env_instant(env, "ROUNDS_CLOCK_START")
    origin = _env_instant(env, "ROUNDS_CLOCK_ORIGIN")
    if start is None or origin is None:
        raise ValueError("a scaled clock needs ROUNDS_CLOCK_START and ROUNDS_CLOCK_ORIGIN (the wall instant)")
    rate = _env_float(env, "ROUNDS_CLOCK_RATE", 1.0)
    if rate <= 0:
        raise ValueError(f"ROUNDS_CLOCK_RATE must be above 0 (simulated seconds per second), got {rate}")
    return ScaledClock(start.astimezone(UTC), rate, origin.astimezone(UTC))


def _env_flag(env: dict[str, str], name: str) -> bool:
    """`1`, `true`, `yes` or `on` turn a switch on; empty or `0`, `false`, `no`, `off` leave it off."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0, got {raw!r}")


def _env_reviews(env: dict[str, str]) -> int:
    """ROUNDS_REVIEWS_REQUIRED: at least one approval, or review would mean nothing."""
    value = _env_int(env, "ROUNDS_REVIEWS_REQUIRED", 2)
    if value < 1:
        raise ValueError(f"ROUNDS_REVIEWS_REQUIRED must be 1 or more, got {value}")
    return value


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _env_weekday(env: dict[str, str], name: str, default: int) -> int:
    """A weekday by name (`sunday`, `sun`, any case) or number (0 Monday ... 6 Sunday)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw.isdigit() and int(raw) < 7:
        return int(raw)
    for number, day in enumerate(WEEKDAYS):
        if len(raw) >= 3 and day.startswith(raw):
            return number
    raise ValueError(f"{name} must be a weekday such as sunday (or 0 Monday ... 6 Sunday), got {raw!r}")


def _env_pairs(env: dict[str, str], name: str) -> dict[str, str]:
    """`a=1,b=2` -> {"a": "1", "b": "2"}; keys may contain colons (whatsapp:+1...)."""
    pairs: dict[str, str] = {}
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{name} must look like key=value,key=value; got {item.strip()!r}")
        pairs[key.strip()] = value.strip()
    return pairs


@dataclass(frozen=True)
class Settings:
    """Everything a Rounds process needs to know about its surroundings."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_base: str = DEFAULT_API_BASE
    # Twilio's Pricing API has its own host; "" follows TWILIO_API_BASE when that points at a
    # stand-in (which serves both), else pricing.twilio.com.
    twilio_pricing_base: str = ""
    sms_from: str = ""
    messaging_service_sid: str = ""
    whatsapp_from: str = ""
    public_url: str = ""
    secret_key: str = ""
    content_path: str = ""
    # Segments per second per sender; None picks a default from the sender's kind.
    send_rate: float | None = None
    # Per-sender overrides, e.g. {"whatsapp:+14155238886": 80.0}.
    send_rates: dict[str, float] = field(default_factory=dict)
    # Approved WhatsApp templates (ContentSid) by message kind, for outside the 24 h window.
    whatsapp_templates: dict[str, str] = field(default_factory=dict)
    # What to do with a WhatsApp push outside the window and without a template: "sms" or "skip".
    whatsapp_fallback: str = "sms"
    # A row left in `sending` this long belongs to a dead worker and is reconciled.
    sending_timeout_seconds: int = 360
    # Queued outbound messages above which new broadcasts wait.
    outbox_limit: int = 50_000
    environment: str = "development"
    quiet_start: str = "21:00"
    quiet_end: str = "07:00"
    daily_question_cap: int = 5
    # Messages per send job. A job claims them 100 at a time and hands what is left to a new job
    # after a minute (a slow sender), so a bigger batch mostly saves per-job costs (a fork each).
    send_batch_size: int = 500
    # Requests to Twilio a send job keeps in flight at once (1: one after another).
    send_concurrency: int = 8
    sweep_after_seconds: int = 60
    # Scheduling passes a minute's tick runs at once (the tick's own plus helpers on RQ); PostgreSQL only.
    tick_passes: int = 1
    # Niceness `rounds worker` adds to itself, so that on a shared host replies go first.
    worker_nice: int = 0
    twilio_timeout_seconds: float = 10.0
    # Mentoring: safeguarding alerts go to this number (E.164) when set; the helpline text is
    # put into the supportive reply; check-ins go out on this weekday (0 Monday ... 6 Sunday).
    oncall_phone: str = ""
    helpline_text: str = ""
    checkin_weekday: int = 6
    # Proxies in front of the web process whose X-Forwarded-* headers are believed (0: none).
    trusted_proxies: int = 0
    # When set, GET /metrics needs `Authorization: Bearer <this>`.
    metrics_token: str = ""
    # The organisation's choice to stop serving questions whose review_by date has passed.
    skip_overdue: bool = False
    # The weekly progress message goes out on this weekday (0 Monday ... 6 Sunday).
    progress_weekday: int = 6
    # Days of message rows kept; older ones are folded into daily counts and deleted (0: keep all).
    message_retention_days: int = 90
    # Approvals from accounts other than the author a draft needs before it can be published.
    reviews_required: int = 2
    # The organisation's choice to serve only questions with `reviews_required` approvals.
    serve_only_reviewed: bool = False
    # A retracted question's correction goes to those who answered it in this many days before.
    correction_days: int = 60
    # The equity panel flags a figure whose best country is more than this many times its worst.
    equity_ratio: float = 2.0
    # The organisation's monthly message budget in USD (None: no budget), and the numbers (E.164)
    # told by SMS when the month's spend first projects over it.
    monthly_budget: float | None = None
    budget_alert_to: tuple[str, ...] = ()
    # Where every process reads the time; tests pass a FixedClock.
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False, repr=False)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def production_problems(self) -> list[str]:
        """What stops this configuration from being run in production, each with what to do."""
        problems = [
            f"{name} is not set"
            for name, value in (
                ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                ("SECRET_KEY", self.secret_key),
                ("PUBLIC_URL", self.public_url),
            )
            if not value
        ]
        if self.secret_key and (why := _weak_secret(self.secret_key)):
            problems.append(
                f"SECRET_KEY {why}: make one with python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if self.metrics_token and (why := _weak_secret(self.metrics_token)):
            problems.append(
                f"ROUNDS_METRICS_TOKEN {why}: use a random value of {MIN_SECRET_LENGTH}+ characters"
            )
        if self.twilio_auth_token and self.twilio_auth_token.strip().lower() in SAMPLE_SECRETS:
            problems.append("TWILIO_AUTH_TOKEN is a sample value: copy the real one from the Twilio Console")
        public = urlsplit(self.public_url)
        if self.public_url and (public.scheme != "https" or not public.netloc):
            problems.append(f"PUBLIC_URL must be an https:// address, got {self.public_url!r}")
        return problems

    @property
    def webhook_token(self) -> str:
        """The key `X-Twilio-Signature` is checked with.

        Outside production, with no Twilio account configured, a fixed development
        token lets `rounds simulate` sign its requests like Twilio would.
        """
        if self.twilio_auth_token:
            return self.twilio_auth_token
        return "" if self.production else DEV_WEBHOOK_TOKEN

    @property
    def pricing_base(self) -> str:
        """Where the Pricing API is asked: TWILIO_PRICING_BASE, else the stand-in, else Twilio's host."""
        if self.twilio_pricing_base:
            return self.twilio_pricing_base
        if self.twilio_api_base.rstrip("/") != DEFAULT_API_BASE:
            return self.twilio_api_base
        return DEFAULT_PRICING_BASE

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv: bool = True) -> Settings:
        """Build settings from `env` (default: the process environment plus `.env`)."""
        if env is None:
            if dotenv:
                from dotenv import dotenv_values

                file_values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
                env = {**file_values, **os.environ}
            else:
                env = dict(os.environ)
        environment = _env_environment(env)
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL", ""),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_api_base=env.get("TWILIO_API_BASE") or DEFAULT_API_BASE,
            twilio_pricing_base=env.get("TWILIO_PRICING_BASE", "").strip().rstrip("/"),
            sms_from=env.get("SMS_FROM", ""),
            messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
            whatsapp_from=env.get("WHATSAPP_FROM", ""),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            secret_key=env.get("SECRET_KEY", ""),
            content_path=env.get("ROUNDS_CONTENT", ""),
            send_rate=_env_float(env, "ROUNDS_SEND_RATE", 0.0) or None,
            send_rates={k: float(v) for k, v in _env_pairs(env, "ROUNDS_SEND_RATES").items()},
            whatsapp_templates=_env_pairs(env, "ROUNDS_WHATSAPP_TEMPLATES"),
            whatsapp_fallback=env.get("ROUNDS_WHATSAPP_FALLBACK", "sms").strip().lower() or "sms",
            sending_timeout_seconds=_env_int(env, "ROUNDS_SENDING_TIMEOUT", 360),
            outbox_limit=_env_int(env, "ROUNDS_OUTBOX_LIMIT", 50_000),
            environment=environment,
            quiet_start=env.get("ROUNDS_QUIET_START", "21:00"),
            quiet_end=env.get("ROUNDS_QUIET_END", "07:00"),
            daily_question_cap=_env_int(env, "ROUNDS_DAILY_QUESTION_CAP", 5),
            send_batch_size=_env_int(env, "ROUNDS_SEND_BATCH", 500),
            send_concurrency=max(1, _env_int(env, "ROUNDS_SEND_CONCURRENCY", 8)),
            sweep_after_seconds=_env_int(env, "ROUNDS_SWEEP_AFTER", 60),
            tick_passes=_env_tick_passes(env),
            worker_nice=_env_worker_nice(env),
            twilio_timeout_seconds=_env_float(env, "TWILIO_TIMEOUT", 10.0),
            oncall_phone=env.get("ROUNDS_ONCALL_PHONE", "").strip(),
            helpline_text=env.get("ROUNDS_HELPLINE", "").strip(),
            checkin_weekday=_env_int(env, "ROUNDS_CHECKIN_WEEKDAY", 6),
            trusted_proxies=_env_count(env, "ROUNDS_TRUSTED_PROXIES"),
            metrics_token=env.get("ROUNDS_METRICS_TOKEN", ""),
            skip_overdue=_env_flag(env, "ROUNDS_SKIP_OVERDUE"),
            progress_weekday=_env_weekday(env, "ROUNDS_PROGRESS_WEEKDAY", 6),
            message_retention_days=_env_retention(env),
            reviews_required=_env_reviews(env),
            serve_only_reviewed=_env_flag(env, "ROUNDS_SERVE_ONLY_REVIEWED"),
            correction_days=_env_correction_days(env),
            equity_ratio=_env_equity_ratio(env),
            monthly_budget=_env_budget(env),
            budget_alert_to=_env_alert_numbers(env, "ROUNDS_BUDGET_ALERT_TO"),
            clock=_env_clock(env, environment),
        )
