"""The edge: the Flask app (Twilio webhooks, health, metrics) and the `rounds` CLI.

`create_app(settings)` builds the app; `gateway.wsgi:app` is what gunicorn serves.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from store.settings import Settings


class ConfigurationError(RuntimeError):
    pass


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if settings.production and (problems := settings.production_problems()):
        raise ConfigurationError(
            "refusing to start in production: " + "; ".join(problems) + " (see README, Configuration)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.config["ROUNDS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or "development-only-secret"
    app.config["SESSION_COOKIE_SECURE"] = settings.production
    # X-Forwarded-* is believed only from the proxies the operator says are in front: anyone
    # can send the headers, and the client address decides sign-in throttling.
    if hops := settings.trusted_proxies:
        proxied = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        app.wsgi_app = proxied  # type: ignore[method-assign]  # how Flask's docs add WSGI middleware

    from gateway import cli, health, links, verify, webhooks

    cli.register(app)

    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(links.blueprint)
    app.register_blueprint(verify.blueprint)
    from gateway import admin

    app.url_map.converters["int"] = admin.cleaning.RowId  # before the routes that use it
    app.register_blueprint(admin.console)
    app.register_blueprint(admin.api)
    return app
