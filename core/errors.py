"""Error responses: the JSON API always answers `{"code", "message", "errors"}` with a 4xx (never a
stack trace); pages get a short bilingual page."""
from __future__ import annotations

import logging
import math

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from core.db import (DATABASE_BUSY, DATABASE_UNAVAILABLE, STORAGE_ERROR, STORAGE_FULL,
                     database_fault, db)

logger = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Sign in or send a valid API token."),
    403: _l("Your role may not do this."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    413: _l("The upload is too large."),
    415: _l("This content type is not supported."),
    422: _l("Some fields need attention."),
    429: _l("Too many requests. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Please try again."),
}


def _render(message, lang: str) -> str:
    with force_locale(lang):
        return str(message)


def api_error(code: str, message, status: int, errors: dict | None = None, **extra):
    """A JSON error in the visitor's language, with both languages alongside for the screen."""
    lang = str(get_locale() or "vi")
    body = {
        "code": code,
        "message": _render(message, lang),
        "message_vi": _render(message, "vi"),
        "message_en": _render(message, "en"),
        "errors": {
            field: _render(text, lang) for field, text in (errors or {}).items()
        },
    }
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def read_json_body():
    """(body, None) for a JSON request, else (None, error response): 415 for another content
    type, 400 for JSON that does not parse."""
    if not request.is_json:
        return None, api_error("unsupported_media_type", _HTTP_MESSAGES[415], 415)
    body = request.get_json(silent=True)
    if body is None:
        return None, api_error("invalid_json", _HTTP_MESSAGES[400], 400)
    return body, None


def _is_api() -> bool:
    return request.path.startswith("/api/")


# Codes the API gives for some statuses instead of the HTTP reason phrase.
_API_CODES = {429: "rate_limited"}


def error_page(status: int, message):
    """A short error page: the message in the visitor's language, then in the other one (a
    visitor at the door may not have chosen the right language yet)."""
    lang = str(get_locale() or "vi")
    other = "en" if lang == "vi" else "vi"
    return render_template("core/error.html", status=status, message=_render(message, lang),
                           message_other=_render(message, other), other_lang=other), status


def _http_error(exc: HTTPException):
    status = exc.code or 500
    message = _HTTP_MESSAGES.get(status, exc.description or exc.name)
    if _is_api():
        code = _API_CODES.get(status) or exc.name.lower().replace(" ", "_")
        response = api_error(code, message, status)
        if status == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
    else:
        response = current_app.make_response(error_page(status, message))
    retry_after = getattr(exc, "retry_after", None)  # a spent budget (core.ratelimit.spend)
    if isinstance(retry_after, int) and retry_after > 0:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _csrf_error(exc: CSRFError):
    message = _l("This form has expired. Reload the page and try again.")
    if _is_api():
        return api_error("csrf_failed", message, 400)
    return render_template("core/error.html", status=400, message=message), 400


# Faults of the database itself (core.db.database_fault): nothing was saved, the caller is told
# why and when to try again. Always a 503: the request was fine, the server could not keep it.
DATABASE_MESSAGES = {
    DATABASE_BUSY: _l("The database is busy. Nothing was saved: please try again in a moment."),
    STORAGE_FULL: _l("The kiosk's storage is full. Nothing was saved: please tell reception."),
    STORAGE_ERROR: _l("The kiosk could not write to its storage. Nothing was saved: please tell "
                      "reception."),
    DATABASE_UNAVAILABLE: _l("The database cannot be reached. Nothing was saved: please try "
                             "again shortly."),
}


def _database_error(exc: sa.exc.DBAPIError):
    code = database_fault(exc)
    if code is None:
        return _unexpected(exc)
    # The error text may quote SQL parameters (personal data): log the fault and the route only.
    logger.warning("database fault %s on %s %s", code, request.method, request.url_rule)
    db.note_fault(code)
    # Waiting out a lock takes about the busy timeout; space or a server takes longer.
    retry_s = (math.ceil(current_app.config.get("DATABASE_BUSY_TIMEOUT_S", 1))
               if code == DATABASE_BUSY else 30)
    message = DATABASE_MESSAGES[code]
    if _is_api():
        response = api_error(code, message, 503)
    else:
        response = current_app.make_response(
            (render_template("core/error.html", status=503, message=message), 503))
    response.headers["Retry-After"] = str(max(1, retry_s))
    return response


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    logger.exception("unhandled error on %s %s", request.method, request.url_rule)
    if _is_api():
        return api_error("internal_error", _HTTP_MESSAGES[500], 500)
    return render_template("core/error.html", status=500, message=_HTTP_MESSAGES[500]), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.DBAPIError, _database_error)
    app.register_error_handler(Exception, _unexpected)
