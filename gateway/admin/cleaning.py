"""What admins and programs send (query strings, form fields, JSON bodies, ids in URLs),
cleaned by store.text's one rule or bounded before any page or endpoint reads it."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter, Map

from store.text import MAX_BIGINT, clean, clean_json


def _cleaned(fields: MultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    # A password is checked as typed: cleaning it would sign in with a different one.
    return ImmutableMultiDict(
        [
            (clean(key).text, value if "password" in key else clean(value).text)
            for key, value in fields.items(multi=True)
        ]
    )


def clean_request() -> None:
    """Replace this request's query string and form with cleaned copies (a before_request hook)."""
    request.args = _cleaned(request.args)
    if request.method != "GET" and not request.is_json:
        request.form = _cleaned(request.form)


def json_body() -> Any:
    """The request's JSON document with every string cleaned; None if there is none or it is malformed."""
    return clean_json(request.get_json(silent=True))


class RowId(IntegerConverter):
    """`<int:…>` in a URL: an id a BIGINT column can hold (up to 19 digits); anything longer or
    larger is no row of ours, so the route does not match and the answer is a 404."""

    regex = r"\d{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_BIGINT)
        super().__init__(map, *args, **kwargs)
