"""The tracing routes' part of /api/v1/openapi.json (OpenAPI 3.1 `paths` and `components`), for
whoever assembles the document to merge in."""
from __future__ import annotations

_TIME = {"type": "string", "description": "ISO 8601; without an offset Việt Nam time; a bare "
         "date is that whole local day", "examples": ["2026-03-10", "2026-03-10T09:00+07:00"]}
_MINUTES = {"type": "integer", "minimum": 0, "maximum": 1440}
_ERRORS = {"$ref": "#/components/schemas/Error"}


def _param(name, schema, description, required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


COMPONENTS = {
    "schemas": {
        "TracingVisitor": {"type": "object", "properties": {
            "id": {"type": "integer"}, "full_name": {"type": "string"},
            "phone": {"type": ["string", "null"], "description": "E.164"},
            "id_number": {"type": ["string", "null"]}, "id_type": {"type": ["string", "null"]}}},
        "TracingVisit": {"type": "object", "properties": {
            "id": {"type": "integer"}, "venue_code": {"type": "string"},
            "venue_name": {"type": "string"},
            "visitor": {"$ref": "#/components/schemas/TracingVisitor"},
            "checked_in_at": {"type": "string", "format": "date-time"},
            "checked_out_at": {"type": ["string", "null"], "format": "date-time"},
            "effective_end_at": {"type": "string", "format": "date-time", "description":
                                 "the check-out, or for an open visit now or its automatic "
                                 "check-out, whichever is earlier"},
            "still_open": {"type": "boolean"}, "opened_by": {"type": "string"},
            "closed_by": {"type": ["string", "null"]}, "status": {"type": "string"}}},
    },
}

PATHS = {
    "/api/v1/contacts": {"get": {
        "summary": "Co-present visitors and contact-tracing phones heard, for an index case",
        "description": "Tracers and admins. Give phone or id_number with since/until (every "
                       "visit of that person in the window is an index visit), or visit_id "
                       "(repeated) for chosen visits. Intervals are half-open: a visit that "
                       "starts as the buffered window ends is not a contact. Audited.",
        "parameters": [
            _param("phone", {"type": "string"}, "index case's phone, any written form"),
            _param("id_number", {"type": "string"}, "index case's CCCD/CMND/passport number"),
            _param("visit_id", {"type": "array", "items": {"type": "integer"}},
                   "chosen index visits (instead of phone/id_number)"),
            _param("since", _TIME, "window start (with phone/id_number)"),
            _param("until", _TIME, "window end (with phone/id_number)"),
            _param("before_min", _MINUTES, "buffer before each index check-in (default 0)"),
            _param("after_min", _MINUTES, "buffer after each index check-out (default 30)"),
        ],
        "responses": {
            "200": {"description": "index visits, ranked contacts (overlap_min with the "
                                   "buffered window, simultaneous_min without buffers) and "
                                   "encounters (duration_min, overlap_min, best_rssi)"},
            "401": {"description": "no or bad token", "content": {"application/json": {
                "schema": _ERRORS}}},
            "403": {"description": "not a tracer or admin"},
            "404": {"description": "index_not_found"},
            "422": {"description": "field errors", "content": {"application/json": {
                "schema": _ERRORS}}},
        },
    }},
    "/api/v1/visits": {"get": {
        "summary": "Everyone at a venue at some point in a time range, by check-in time",
        "description": "Staff. At most 10,000 visits (422 too_many_rows: narrow the range or "
                       "export a file). Audited.",
        "parameters": [_param("venue", {"type": "string"}, "venue code", True),
                       _param("since", _TIME, "range start", True),
                       _param("until", _TIME, "range end", True)],
        "responses": {
            "200": {"description": "{venue, since, until, count, visits: [TracingVisit]}"},
            "401": {"description": "no or bad token"},
            "404": {"description": "venue_not_found"},
            "422": {"description": "field errors"},
        },
    }},
}
