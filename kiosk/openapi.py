"""The kiosk routes' part of /api/v1/openapi.json (OpenAPI 3.1 `paths` and `components`): check-in
by scanned text, by photo, and the touchscreen's answer; core/openapi.py merges it."""
from __future__ import annotations

# Desk staff with a bearer token, or the kiosk's own screen (loopback, no token; browser callers
# send the page's CSRF token in X-CSRFToken). Anyone else gets 401, other roles 403.
_SCAN_CALLERS = [{"bearerAuth": []}, {}]
_EACH_OR_LIST = {"oneOf": [
    {"type": "array", "items": {"type": "string"}},
    {"type": "object", "additionalProperties": {"type": "string", "enum": ["yes", "no"]}}]}
_DESCRIPTION = ("Receptionists and admins (bearer token), or the kiosk's own screen. "
                "Rate-limited per client (staff and the own screen exempt) and per venue.")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


_RESULT = {"description": "checked in, checked out, or a question for the touchscreen",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScanResult"}}}}

_REFUSALS = {
    "403": _ref("Forbidden"),
    "422": _ref("ValidationFailed"),
    "429": _ref("RateLimited"),
}

COMPONENTS = {
    "schemas": {
        "ScanResult": {
            "type": "object",
            "required": ["visit_id", "action", "status", "visitor", "repeated"],
            "properties": {
                "visit_id": {"type": ["integer", "null"]},
                "action": {"type": "string",
                           "enum": ["check_in", "check_out", "needs_confirmation"]},
                "status": {"type": ["string", "null"],
                           "enum": ["clear", "needs_review", "admitted", "turned_away", None]},
                "visitor": {"type": "object", "required": ["display_name"], "properties": {
                    "display_name": {"type": "string"}}},
                "repeated": {"type": "boolean",
                             "description": "the same answer as a moment ago; nothing changed"},
                "confirmation": {
                    "type": "object",
                    "description": "with needs_confirmation: what to ask, and the signed ticket "
                                   "to answer with",
                    "required": ["reason", "ticket", "expires_at"],
                    "properties": {
                        "reason": {"type": "string"}, "ticket": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "display_name": {"type": "string"},
                        "declared_at": {"type": ["string", "null"]},
                        "declared_local": {"type": ["string", "null"]}}},
                "notice": {
                    "type": "object",
                    "description": "with check_in, when the visitor has an exposure notice not "
                                   "yet shown at a kiosk (shown once): where and when, and what "
                                   "to do; never who the case was",
                    "required": ["id", "title", "where_when", "advice"],
                    "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                                   "where_when": {"type": "string"},
                                   "advice": {"type": "string"}}},
            },
        },
    },
}

PATHS = {
    "/api/v1/checkins": {"post": {
        "summary": "Check in or out with any scanned text (personal QR, CCCD, venue link)",
        "description": _DESCRIPTION,
        "security": _SCAN_CALLERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["venue_code", "payload"],
            "properties": {"venue_code": {"type": "string", "minLength": 1, "maxLength": 32},
                           "payload": {"type": "string", "minLength": 1,
                                       "description": "the scanned text"}}}}}},
        "responses": {"200": _RESULT, "400": _ref("BadRequest"),
                      "413": _ref("PayloadTooLarge"),
                      "415": _ref("UnsupportedMediaType"), **_REFUSALS},
    }},
    "/api/v1/scan": {"post": {
        "summary": "Check in or out with a photo of the code (decoded on the server)",
        "description": _DESCRIPTION + " 422 no_code_found when the photo holds no code.",
        "security": _SCAN_CALLERS,
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image", "venue_code"],
            "properties": {"image": {"type": "string", "contentMediaType": "image/png",
                                     "contentEncoding": "binary",
                                     "description": "a JPEG or PNG photo"},
                           "venue_code": {"type": "string", "minLength": 1, "maxLength": 32}}}}}},
        "responses": {"200": _RESULT, "400": _ref("BadRequest"),
                      "413": _ref("PayloadTooLarge"), **_REFUSALS},
    }},
    "/api/v1/checkins/confirm": {"post": {
        "summary": "The touchscreen's answer to needs_confirmation",
        "description": _DESCRIPTION + " `{ticket, changed: false}` (nothing has changed) or "
                       "`{ticket, changed: true, answers: {...}}`; an expired or forged ticket "
                       "is a 422.",
        "security": _SCAN_CALLERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "ticket": {"type": "string"},
                "question": {"type": "string", "description": "instead of the ticket: the id "
                             "of a question the door screen heard on its event stream (which "
                             "never carries tickets)"},
                "changed": {"type": "boolean"},
                "answers": {"type": "object", "properties": {
                    "travel_14d": {"type": "boolean"},
                    "travel_places": {"type": ["string", "null"]},
                    # A list of the keys answered Yes, or (the touchscreen) every key answered.
                    "symptoms": _EACH_OR_LIST,
                    "exposures": _EACH_OR_LIST,
                    "consent_processing": {"type": "boolean"},
                    "consent_sensitive_health": {"type": "boolean"},
                    "consent_text_version": {"type": "string"},
                    "phone": {"type": ["string", "null"]}}}}}}}},
        "responses": {"200": _RESULT, "400": _ref("BadRequest"),
                      "413": _ref("PayloadTooLarge"),
                      "415": _ref("UnsupportedMediaType"), **_REFUSALS},
    }},
}
