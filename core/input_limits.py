"""Limits every request meets before a view sees it: what the database cannot store or look up,
and what the JSON parser cannot hold, is refused with a clear 4xx instead of a 500.

- Ids in URLs (`<int:…>`) are INTEGER columns, 32-bit in PostgreSQL: a larger number is no row
  (404), not an overflow.
- PostgreSQL refuses text with a NUL character, even in a lookup: a NUL in a query string, a
  form field, a URL part or any JSON string is a 422 (`invalid_characters` naming the field in
  the API, a bilingual error page otherwise).
- JSON nested deeper than MAX_JSON_DEPTH (or too deep for the parser) is a 400 `invalid_json`.
"""
from __future__ import annotations

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

# The largest id a 32-bit INTEGER column holds (PostgreSQL `integer`; SQLite holds more).
MAX_ID = 2**31 - 1
# No request of the API nests more than a few levels; the parser itself gives up near 1000.
MAX_JSON_DEPTH = 32

INVALID_CHARACTERS = _l("This field contains characters that are not allowed")


class IdConverter(IntegerConverter):
    """`<int:…>` for database ids: 0 … MAX_ID, anything else does not match (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


class _TooDeep(Exception):
    pass


def _json_field_with_nul(body) -> str | None:
    """The top-level field holding a string with NUL somewhere (or "body"); None if there is
    none. Iterative, so depth cannot overflow the stack; deeper than MAX_JSON_DEPTH raises."""
    stack = [(body, None, 0)]
    while stack:
        value, field, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _TooDeep
        if isinstance(value, str):
            if "\x00" in value:
                return field or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                name = field or key
                if "\x00" in key:
                    return name
                stack.append((item, name, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, field, depth + 1) for item in value)
    return None


def _first_nul(pairs) -> str | None:
    for key, value in pairs:
        key = key if isinstance(key, str) else ""
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            return key.replace("\x00", "") or "?"
    return None


def _check_request():
    from core.errors import _HTTP_MESSAGES, api_error, error_page
    from core.errors import _is_api as is_api_request

    field = (_first_nul(request.args.items(multi=True))
             or _first_nul((request.view_args or {}).items()))
    if field is None and request.mimetype in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        field = _first_nul(request.form.items(multi=True))
    if field is None and request.is_json:
        try:
            body = request.get_json(silent=True)
            field = _json_field_with_nul(body)
        except (RecursionError, _TooDeep):
            if is_api_request():
                return api_error("invalid_json", _HTTP_MESSAGES[400], 400)
            return error_page(400, _HTTP_MESSAGES[400])
    if field is None:
        return None
    if is_api_request():
        return api_error("invalid_characters", _HTTP_MESSAGES[422], 422,
                         {field: INVALID_CHARACTERS})
    return error_page(422, INVALID_CHARACTERS)


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered (the converter) and before the rate limiter
    (its keys read the JSON body)."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(_check_request)
