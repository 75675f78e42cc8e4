"""The edge: the Flask app (Twilio webhooks, health, metrics) and the `rounds` CLI.

`create_app(settings)` builds the app; `gateway.wsgi:app` is what gunicorn serves.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from store.settings import Settings
from workers import runtime


class ConfigurationError(RuntimeError):
    pass


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if settings.production:
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("SECRET_KEY", settings.secret_key),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"refusing to start in production without {', '.join(missing)}: set them in the environment"
            )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.config["ROUNDS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or "development-only-secret"
    app.config["SESSION_COOKIE_SECURE"] = settings.production
    # Behind a TLS-terminating proxy, rebuild the URL Twilio called from X-Forwarded-*.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
    runtime.configure(settings)

    from gateway import cli, health, webhooks

    cli.register(app)

    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    from gateway import admin

    app.register_blueprint(admin.console)
    app.register_blueprint(admin.api)
    return app
