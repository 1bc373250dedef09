"""The sync API's part of /api/v1/openapi.json: the calls an enrolled kiosk device makes to the
central server (its credential, not a staff token); core/openapi.py merges it."""
from __future__ import annotations

DEVICE = [{"deviceAuth": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


_ROW = {"type": "object", "additionalProperties": True,
        "description": "a row's own columns by name (datetimes ISO 8601 with offset) and its "
                       "references by global identity (visitor_uid, venue_code, …); no row ids"}

COMPONENTS = {
    "securitySchemes": {
        "deviceAuth": {"type": "http", "scheme": "bearer",
                       "description": "a kiosk device credential (`flask device enrol`), prefix "
                                      "kbd_; refused from the moment it is revoked"},
    },
    "schemas": {
        "SyncPush": {
            "type": "object", "required": ["rows"],
            "properties": {
                "first_seq": {"type": "integer"},
                "last_seq": {"type": "integer",
                             "description": "the device's highest outbox seq in this batch"},
                "rows": {"type": "object", "description": "table → rows, parents first",
                         "properties": {name: {"type": "array", "items": _ROW} for name in (
                             "visitor", "declaration", "visit", "encounter", "audit_event")},
                         "additionalProperties": False},
            },
        },
        "SyncPushResult": {
            "type": "object", "required": ["stored", "rejected"],
            "properties": {
                "stored": {"type": "object", "additionalProperties": {"type": "integer"}},
                "rejected": {"type": "array", "items": {
                    "type": "object", "required": ["table", "uid", "reason"],
                    "properties": {"table": {"type": "string"},
                                   "uid": {"type": ["string", "null"]},
                                   "reason": {"type": "string"}}}},
            },
        },
        "SyncPull": {
            "type": "object", "required": ["cursor", "more", "venues", "withdrawn"],
            "properties": {
                "cursor": {"type": ["string", "null"],
                           "description": "send back as `since` on the next pull"},
                "more": {"type": "boolean"},
                "venues": {"type": "array", "items": {"type": "object"}},
                "withdrawn": {"type": "array", "items": {
                    "type": "object", "required": ["uid", "tokens_valid_after"],
                    "properties": {"uid": {"type": "string"},
                                   "tokens_valid_after": {"type": "string",
                                                          "format": "date-time"}}}},
            },
        },
    },
}

PATHS = {
    "/api/v1/sync/push": {"post": {
        "summary": "A kiosk device forwards a batch of rows (stored once, in any order, any "
                   "number of times)",
        "security": DEVICE,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SyncPush"}}}},
        "responses": {
            "200": {"description": "stored; rows that did not fit are listed and not stored",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SyncPushResult"}}}},
            "400": _ref("BadRequest"),
            "413": _ref("PayloadTooLarge"),
            "415": _ref("UnsupportedMediaType"),
            "422": _ref("ValidationFailed"),
        },
    }},
    "/api/v1/sync/pull": {"get": {
        "summary": "What changed centrally for this device since `since`: its venue and the "
                   "personal codes withdrawn",
        "security": DEVICE,
        "parameters": [{"name": "since", "in": "query", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the changes and the next cursor",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SyncPull"}}}},
            "422": _ref("ValidationFailed"),
        },
    }},
}
