"""Error pages for the admins' side: JSON under /api/, a plain page under /admin, Flask's own elsewhere.

An admin never sees a bare 500 and a program never has to parse HTML to learn what went wrong.
"""

from __future__ import annotations

import logging

from flask import Response, jsonify, render_template, request
from flask.sansio.app import App
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("rounds.admin")


def _json(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _page(status: int, title: str, message: str) -> Response:
    return Response(render_template("admin/error.html", title=title, message=message), status)


def http_error(exc: HTTPException) -> Response | HTTPException:
    if exc.response is not None:
        return exc  # a view built its own answer
    code = exc.code or 500
    if request.path.startswith("/api/"):
        messages = {
            404: f"there is no {request.path}; see /api/v1/openapi.json for the endpoints",
            405: f"{request.method} is not allowed on {request.path}; see /api/v1/openapi.json",
        }
        return _json(code, messages.get(code, exc.description or exc.name))
    if request.path.startswith("/admin"):
        return _page(code, exc.name, exc.description or "")
    return exc


def server_error(exc: InternalServerError) -> Response | InternalServerError:
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
    if request.path.startswith("/api/"):
        return _json(500, "something went wrong on the server; it has been logged, try again in a minute")
    if request.path.startswith("/admin"):
        return _page(500, "Something went wrong", "It has been logged. Go back and try again in a minute.")
    return exc


def register(app: App) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, server_error)
