"""/api/v1/openapi.json: the OpenAPI 3.1 description of the JSON API, assembled from the fragments
each feature registers with the app (`<package>/openapi.py`: PATHS and COMPONENTS, registered by
the package's `init_app`), plus the shared parts (the error body, the usual error answers, the
bearer token) and core's own routes. Core imports no feature: the features tell it about
themselves."""
from __future__ import annotations

import copy
import sys

OPENAPI_VERSION = "3.1.0"

# The error body of every 4xx/5xx JSON answer (core/errors.py api_error).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "errors"],
    "properties": {
        "code": {"type": "string", "description": "machine-readable reason, e.g. "
                 "validation_failed, unauthorized, rate_limited"},
        "message": {"type": "string", "description": "in the request's language"},
        "message_vi": {"type": "string"},
        "message_en": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "field name → what is wrong with it"},
    },
}


def error(description: str) -> dict:
    """A response whose body is the error object."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def ref(name: str) -> dict:
    """One of the shared error answers below, by name."""
    return {"$ref": f"#/components/responses/{name}"}


def json_body(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RESPONSES = {
    "BadRequest": error("invalid_json (the body does not parse, or nests too deeply)"),
    "Unauthorized": error("unauthorized: no or bad bearer token"),
    "Forbidden": error("forbidden: the token's role may not do this"),
    "NotFound": error("not_found"),
    "PayloadTooLarge": error("request_entity_too_large: the body is over KIOSK_MAX_CONTENT_LENGTH"),
    "UnsupportedMediaType": error("unsupported_media_type: send application/json"),
    "ValidationFailed": error("field errors (`errors`), nothing stored; invalid_characters for "
                              "NUL or other control characters"),
    "RateLimited": {**error("rate_limited, in both languages"), "headers": {
        "Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}},
    "DatabaseFault": {**error("database_busy, storage_full, storage_error or "
                              "database_unavailable: nothing was saved, try again"),
                      "headers": {"Retry-After": {"schema": {"type": "string"}}}},
}

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "a staff API token (`flask user create --print-token`, "
                                  "`flask user token`), prefix kbt_"},
}
# Staff calls need the token; signed-in staff pages use the session cookie instead.
STAFF = [{"bearerAuth": []}]
PUBLIC: list = []

COMPONENTS = {
    "schemas": {
        "Me": {"type": "object", "required": ["username", "role", "display_name"], "properties": {
            "username": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "tracer", "receptionist"]},
            "display_name": {"type": ["string", "null"]}}},
    },
}

PATHS = {
    "/api/v1/openapi.json": {"get": {
        "summary": "This document",
        "security": PUBLIC,
        "responses": {"200": json_body({"type": "object", "required": ["openapi", "paths"]},
                                       "the OpenAPI 3.1 description of /api/v1/")},
    }},
    "/api/v1/me": {"get": {
        "summary": "Who the bearer token belongs to (lets scripts check their token)",
        "security": STAFF,
        "responses": {"200": json_body({"$ref": "#/components/schemas/Me"}, "the staff user"),
                      "401": ref("Unauthorized")},
    }},
}


_FRAGMENTS_KEY = "openapi.fragments"


def register(app, fragment) -> None:
    """A feature adds its part of the document (a module or object with PATHS and, optionally,
    COMPONENTS)."""
    app.extensions.setdefault(_FRAGMENTS_KEY, []).append(fragment)


def fragments(app) -> list:
    """Core's own fragment, then every registered one in the order the features registered."""
    return [sys.modules[__name__], *app.extensions.get(_FRAGMENTS_KEY, ())]


def _merge(target: dict, part: dict, where: str) -> None:
    for key, value in part.items():
        if key in target:
            raise ValueError(f"{where}: {key} is described twice")
        target[key] = copy.deepcopy(value)


def build_document(parts, server_url: str = "/") -> dict:
    """The whole document. Every operation gets the shared answers it can always give: 503 for a
    database fault, 422 for a NUL character anywhere in the request (core/input_limits.py), and
    401 when it takes a token."""
    paths: dict = {}
    components: dict = {"schemas": {"Error": copy.deepcopy(ERROR_SCHEMA)},
                        "responses": copy.deepcopy(RESPONSES),
                        "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)}
    for module in parts:
        _merge(paths, module.PATHS, module.__name__)
        for section, entries in getattr(module, "COMPONENTS", {}).items():
            _merge(components.setdefault(section, {}), entries, f"{module.__name__} {section}")
    for path_item in paths.values():
        for operation in path_item.values():
            operation.setdefault("security", STAFF)
            responses = operation.setdefault("responses", {})
            responses.setdefault("422", ref("ValidationFailed"))
            responses.setdefault("503", ref("DatabaseFault"))
            if operation["security"] and any(operation["security"]):
                responses.setdefault("401", ref("Unauthorized"))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "KhaiBao Kiosk API",
            "version": "1",
            "description": "Health declarations and QR check-ins. Errors are "
                           "`{\"code\", \"message\", \"errors\"}` with a 4xx status (503 when "
                           "the database cannot take the request). Staff calls take "
                           "`Authorization: Bearer <token>`.",
        },
        "servers": [{"url": server_url}],
        "security": STAFF,
        "paths": dict(sorted(paths.items())),
        "components": components,
    }
