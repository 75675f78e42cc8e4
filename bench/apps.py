"""The two baseline WSGI apps the webhook benchmark serves beside Rounds' own.

`bare` parses the Twilio form and answers the HELP TwiML; `insert` does the same plus one
SQLAlchemy INSERT of the inbound message per request, into the same database, same engine.
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from sqlalchemy import insert
from twilio.twiml.messaging_response import MessagingResponse

from content.catalog import get_catalog
from store.db import session_factory
from store.models import INBOUND, Message, utcnow

HELP = get_catalog().render("help")


def _twiml(text: str) -> Response:
    response = MessagingResponse()
    response.message(text)
    return Response(str(response), 200, mimetype="text/xml")


def bare_app() -> Flask:
    """gunicorn 'bench.apps:bare_app()'"""
    app = Flask("bench_bare")

    @app.post("/twilio/messages")
    def inbound() -> Response:
        form = request.form
        if not form.get("MessageSid") or not form.get("From"):
            return Response("Bad request\n", 400)
        return _twiml(HELP)

    return app


def insert_app() -> Flask:
    """gunicorn 'bench.apps:insert_app()' with DATABASE_URL set."""
    app = Flask("bench_insert")
    sessions = session_factory(os.environ["DATABASE_URL"])

    @app.post("/twilio/messages")
    def inbound() -> Response:
        form = request.form
        sid, sender = form.get("MessageSid"), form.get("From")
        if not sid or not sender:
            return Response("Bad request\n", 400)
        now = utcnow()
        session = sessions()
        try:
            session.execute(
                insert(Message).values(
                    direction=INBOUND,
                    channel="sms",
                    phone=sender,
                    body=form.get("Body", ""),
                    kind="inbound",
                    status="received",
                    twilio_sid=sid,
                    segments=1,
                    encoding="GSM-7",
                    num_media=0,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.commit()
        finally:
            session.close()
        return _twiml(HELP)

    return app
