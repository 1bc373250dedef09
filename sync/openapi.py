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
                "keys": {"type": "array", "items": {"$ref": "#/components/schemas/SyncKey"},
                         "description": "every signer's public key; retired ones marked"},
                "withdrawn": {"type": "array", "items": {
                    "type": "object", "required": ["uid", "tokens_valid_after"],
                    "properties": {"uid": {"type": "string"},
                                   "tokens_valid_after": {"type": "string",
                                                          "format": "date-time"},
                                   "erased": {"type": "boolean",
                                              "description": "the person was erased: erase "
                                                             "them here, keep the uid"}}}},
                "notices": {"type": "array", "description": "exposure notices not yet shown "
                                                            "at any door", "items": {
                    "type": "object",
                    "required": ["id", "visitor_uid", "venue", "from", "until", "created_at"],
                    "properties": {"id": {"type": "integer"}, "visitor_uid": {"type": "string"},
                                   "venue": {"type": "string"},
                                   "from": {"type": "string", "format": "date-time"},
                                   "until": {"type": "string", "format": "date-time"},
                                   "created_at": {"type": "string", "format": "date-time"}}}},
                "notices_shown": {"type": "array", "items": {"$ref":
                                                             "#/components/schemas/SyncShown"},
                                  "description": "notices shown at a door since: drop them"},
            },
        },
        "SyncKey": {
            "type": "object", "required": ["kid", "public_pem"],
            "properties": {"kid": {"type": "string", "pattern": "^[0-9a-f]{8}$",
                                   "description": "the key's own id (checked)"},
                           "public_pem": {"type": "string"},
                           "retired_at": {"type": ["string", "null"], "format": "date-time"}},
        },
        "SyncShown": {
            "type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer"},
                           "at": {"type": "string", "format": "date-time"}},
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
    "/api/v1/sync/keys": {"post": {
        "summary": "A kiosk device announces the public halves of its own signing keys (every "
                   "round); a device speaks for its own keys only",
        "security": DEVICE,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["keys"],
            "properties": {"keys": {"type": "array", "maxItems": 50, "items": {
                "$ref": "#/components/schemas/SyncKey"}}}}}}},
        "responses": {
            "200": {"description": "how many keys changed", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"changed": {"type": "integer"}}}}}},
            "400": _ref("BadRequest"),
            "401": _ref("Unauthorized"),
            "413": _ref("PayloadTooLarge"),
            "415": _ref("UnsupportedMediaType"),
            "422": _ref("ValidationFailed"),
        },
    }},
    "/api/v1/sync/notices/shown": {"post": {
        "summary": "A kiosk device showed these exposure notices at its door",
        "security": DEVICE,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["notices"],
            "properties": {"notices": {"type": "array", "maxItems": 1000, "items": {
                "$ref": "#/components/schemas/SyncShown"}}}}}}},
        "responses": {
            "200": {"description": "how many were recorded as shown", "content": {
                "application/json": {"schema": {
                    "type": "object", "properties": {"changed": {"type": "integer"}}}}}},
            "400": _ref("BadRequest"),
            "401": _ref("Unauthorized"),
            "413": _ref("PayloadTooLarge"),
            "415": _ref("UnsupportedMediaType"),
            "422": _ref("ValidationFailed"),
        },
    }},
    "/api/v1/sync/pull": {"get": {
        "summary": "What changed centrally for this device since `since`: its venue, every "
                   "signer's key, personal codes withdrawn, people erased, exposure notices",
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
