"""The tracing routes' part of /api/v1/openapi.json (OpenAPI 3.1 `paths` and `components`), for
whoever assembles the document to merge in."""
from __future__ import annotations

_TIME = {"type": "string", "description": "ISO 8601; without an offset Việt Nam time; a bare "
         "date is that whole local day", "examples": ["2026-03-10", "2026-03-10T09:00+07:00"]}
_MINUTES = {"type": "integer", "minimum": 0, "maximum": 1440}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name):
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


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
        "VisitList": {"type": "object",
                      "required": ["venue", "since", "until", "count", "visits"],
                      "properties": {
                          "venue": {"type": "object", "properties": {
                              "code": {"type": "string"}, "name": {"type": "string"}}},
                          "since": {"type": "string", "format": "date-time"},
                          "until": {"type": "string", "format": "date-time"},
                          "count": {"type": "integer", "minimum": 0},
                          "visits": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/TracingVisit"}}}},
        "ContactReport": {"type": "object",
                          "required": ["index", "since", "until", "before_min", "after_min",
                                       "contacts", "encounters"],
                          "properties": {
                              "index": {"type": "object", "properties": {
                                  "visitors": {"type": "array", "items": {
                                      "$ref": "#/components/schemas/TracingVisitor"}},
                                  "visits": {"type": "array", "items": {
                                      "$ref": "#/components/schemas/TracingVisit"}}}},
                              "since": _NULLABLE_TIME, "until": _NULLABLE_TIME,
                              "before_min": _MINUTES, "after_min": _MINUTES,
                              "contacts": {"type": "array", "items": {"type": "object",
                                           "required": ["rank", "index_visit_id", "visit_id",
                                                        "overlap_min", "simultaneous_min"]}},
                              "encounters": {"type": "array", "items": {"type": "object",
                                             "required": ["rank", "index_visit_id", "protocol",
                                                          "rolling_id", "best_rssi"]}}}},
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
            "200": _json({"$ref": "#/components/schemas/ContactReport"},
                         "index visits, ranked contacts (overlap_min with the buffered window, "
                         "simultaneous_min without buffers) and encounters (duration_min, "
                         "overlap_min, best_rssi)"),
            "403": _ref("Forbidden"),
            "404": _ref("NotFound"),
            "422": _ref("ValidationFailed"),
        },
    }},
    "/api/v1/visits": {"get": {
        "summary": "Everyone at a venue at some point in a time range, by check-in time",
        "description": "Staff. At most 10,000 visits (422 too_many_rows: narrow the range or "
                       "export a file). Audited. A receptionist reads only the venues they work "
                       "at (another venue is a 404) and no ID numbers.",
        "parameters": [_param("venue", {"type": "string"}, "venue code", True),
                       _param("since", _TIME, "range start", True),
                       _param("until", _TIME, "range end", True)],
        "responses": {
            "200": _json({"$ref": "#/components/schemas/VisitList"},
                         "the venue, the range and its visits"),
            "403": _ref("Forbidden"),
            "404": _ref("NotFound"),
            "422": _ref("ValidationFailed"),
        },
    }},
}
