"""`/healthz` for load balancers and `/metrics` for Prometheus."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from redis import Redis
from sqlalchemy import text

from gateway import metrics
from store.db import get_engine
from store.settings import Settings

blueprint = Blueprint("health", __name__)


def _check_database(settings: Settings) -> str:
    try:
        with get_engine(settings.database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


def _check_redis(settings: Settings) -> str:
    if not settings.redis_url:
        return "down: REDIS_URL is not set"
    try:
        conn = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            conn.ping()
        finally:
            conn.close()
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    settings: Settings = current_app.config["ROUNDS"]
    checks = {"database": _check_database(settings), "redis": _check_redis(settings)}
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503


@blueprint.get("/metrics")
def prometheus() -> Response:
    settings: Settings = current_app.config["ROUNDS"]
    if settings.metrics_token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {settings.metrics_token}".encode()):
            return Response(
                "Unauthorized: send Authorization: Bearer <ROUNDS_METRICS_TOKEN>\n",
                401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(metrics.exposition(settings), mimetype=CONTENT_TYPE_LATEST)
