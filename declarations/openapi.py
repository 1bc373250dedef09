"""The declarations routes' part of /api/v1/openapi.json (OpenAPI 3.1 `paths` and `components`):
the address pickers, submitting a declaration and reading one back; core/openapi.py merges it."""
from __future__ import annotations

from declarations.questions import CONDITIONS, EXPOSURES, GENDERS, SYMPTOMS, VISIT_PURPOSES
from declarations.schema import MAX_LENGTHS, TEMPERATURE_RANGE

_NULLABLE_TEXT = {"type": ["string", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(name: str) -> dict:
    return {"type": ["string", "null"], "maxLength": MAX_LENGTHS[name]}


_UNIT = {"type": "object", "required": ["code", "name", "ascii_name", "type", "label_en"],
         "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                        "ascii_name": {"type": "string"}, "type": {"type": "string"},
                        "label_en": {"type": "string"}}}

COMPONENTS = {
    "schemas": {
        "AdminUnit": _UNIT,
        "DeclarationInput": {
            "type": "object",
            "description": "One schema for the phone form, the kiosk and this API "
                           "(declarations/schema.py). Any value of any type in any field gives a "
                           "422 with that field's error, never a 500; nothing is stored.",
            "examples": [{
                "venue_code": "DEMO", "lang": "vi", "full_name": "Nguyễn Văn An",
                "birth_year": 1990, "gender": "male", "nationality": "VN",
                "id_number": "001090012345", "phone": "0912345678", "email": None,
                "province_code": "01", "ward_code": "00004",
                "street_address": "Số 1 Tràng Tiền", "travel_14d": False, "travel_places": None,
                "symptoms": list(SYMPTOMS), "exposures": list(EXPOSURES),
                "tracing_apps": ["bluezone"],
                "visitor_company": None, "host_name": None, "visit_purpose": None,
                "body_temperature_c": None, "declared_for_other": False,
                "consent_processing": True, "consent_sensitive_health": True}],
            "required": ["venue_code", "full_name", "birth_year", "gender", "nationality",
                         "province_code", "ward_code", "street_address", "travel_14d",
                         "consent_processing", "consent_sensitive_health"],
            "properties": {
                "venue_code": {"type": "string", "maxLength": 32},
                "lang": {"type": "string", "enum": ["vi", "en"]},
                "full_name": {"type": "string", "maxLength": 100},
                "birth_year": {"type": "integer", "minimum": 1900},
                "gender": {"type": "string", "enum": list(GENDERS)},
                "nationality": {"type": "string", "description": "ISO 3166-1 alpha-2",
                                "examples": ["VN"]},
                "id_number": {"type": ["string", "null"], "description":
                              "CCCD (12 digits), CMND (9) or passport; id_number or phone"},
                "phone": {"type": ["string", "null"], "description": "any written form"},
                "email": _text("email"),
                "province_code": {"type": "string", "examples": ["01"]},
                "ward_code": {"type": "string", "examples": ["00004"]},
                "street_address": {"type": "string", "maxLength": MAX_LENGTHS["street_address"]},
                "travel_14d": {"type": "boolean"},
                "travel_places": _text("travel_places"),
                "symptoms": {"type": "array", "uniqueItems": True,
                             "items": {"type": "string", "enum": list(SYMPTOMS)}},
                "exposures": {"type": "array", "uniqueItems": True,
                              "items": {"type": "string", "enum": list(EXPOSURES)}},
                "conditions": {"type": "array", "uniqueItems": True,
                               "items": {"type": "string", "enum": list(CONDITIONS)},
                               "description": "only when KIOSK_COLLECT_CONDITIONS is on"},
                "tracing_apps": {"type": "array", "uniqueItems": True, "minItems": 1,
                                 "items": {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"},
                                 "description": "the contact-tracing or health apps the visitor "
                                                "runs: keys of KIOSK_TRACING_APPS (default "
                                                "bluezone, pc_covid, vneid, other), or [\"none\"]"
                                                " alone; left out: not asked"},
                "visitor_company": _text("visitor_company"),
                "host_name": _text("host_name"),
                "host_department": _text("host_department"),
                "visit_purpose": {"type": ["string", "null"],
                                  "enum": [*VISIT_PURPOSES, None]},
                "visit_purpose_note": _text("visit_purpose_note"),
                "body_temperature_c": {"type": ["number", "null"],
                                       "minimum": TEMPERATURE_RANGE[0],
                                       "maximum": TEMPERATURE_RANGE[1]},
                "declared_for_other": {"type": "boolean"},
                "consent_processing": {"type": "boolean", "const": True},
                "consent_sensitive_health": {"type": "boolean", "const": True},
            },
        },
        "DeclarationCreated": {
            "type": "object",
            "required": ["declaration_id", "visitor_id", "visit_id", "status", "token",
                         "qr_png_url", "qr_svg_url", "warnings"],
            "properties": {
                "declaration_id": {"type": "integer"}, "visitor_id": {"type": "integer"},
                "visit_id": {"type": "integer"},
                "status": {"type": "string", "enum": ["clear", "needs_review"]},
                "token": {"type": "string", "description": "the personal QR's text"},
                "qr_png_url": {"type": "string"}, "qr_svg_url": {"type": "string"},
                "warnings": {"type": "object", "additionalProperties": {"type": "string"},
                             "description": "soft 'please check' notes, by field"},
            },
        },
        "DeclarationRecord": {
            "type": "object",
            "description": "A stored declaration with its visitor (never the underlying "
                           "conditions).",
            "required": ["declaration_id", "visitor_id", "submitted_at", "full_name", "status",
                         "consent_text_version"],
            "properties": {
                "declaration_id": {"type": "integer"}, "visitor_id": {"type": "integer"},
                "venue_code": _NULLABLE_TEXT,
                "submitted_at": {"type": "string", "format": "date-time"},
                "source": {"type": "string"}, "lang": {"type": "string"},
                "full_name": {"type": "string"}, "display_name": {"type": "string"},
                "birth_year": {"type": "integer"}, "gender": {"type": "string"},
                "nationality": {"type": "string"},
                "id_number": _NULLABLE_TEXT, "id_type": _NULLABLE_TEXT,
                "phone": {"type": ["string", "null"], "description": "E.164"},
                "email": _NULLABLE_TEXT,
                "province_code": _NULLABLE_TEXT, "province_name": _NULLABLE_TEXT,
                "ward_code": _NULLABLE_TEXT, "ward_name": _NULLABLE_TEXT,
                "street_address": _NULLABLE_TEXT,
                "travel_14d": {"type": "boolean"}, "travel_places": _NULLABLE_TEXT,
                "symptoms": {"type": "array", "items": {"type": "string"}},
                "exposures": {"type": "array", "items": {"type": "string"}},
                "visitor_company": _NULLABLE_TEXT, "host_name": _NULLABLE_TEXT,
                "host_department": _NULLABLE_TEXT, "visit_purpose": _NULLABLE_TEXT,
                "visit_purpose_note": _NULLABLE_TEXT,
                "body_temperature_c": {"type": ["number", "null"]},
                "declared_for_other": {"type": "boolean"},
                "declarant_id": {"type": ["integer", "null"]},
                "status": {"type": "string"}, "rules_version": _NULLABLE_TEXT,
                "consent_processing": {"type": "boolean"},
                "consent_sensitive_health": {"type": "boolean"},
                "consent_text_version": {"type": "string"},
                "consent_at": {"type": "string", "format": "date-time"},
                "previous_declaration_id": {"type": ["integer", "null"]},
            },
        },
    },
}

PATHS = {
    "/api/v1/admin-units/provinces": {"get": {
        "summary": "Provinces and cities (address picker); public facts, cacheable for a day",
        "security": [],
        "responses": {"200": _json({
            "type": "object", "required": ["source", "provinces"],
            "properties": {"source": {"type": "string"},
                           "provinces": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/AdminUnit"}}}},
            "every province")},
    }},
    "/api/v1/admin-units/provinces/{code}/wards": {"get": {
        "summary": "The wards and communes of one province (address picker)",
        "security": [],
        "parameters": [{"name": "code", "in": "path", "required": True,
                        "schema": {"type": "string"}, "description": "GSO province code"}],
        "responses": {
            "200": _json({"type": "object", "required": ["province", "wards"], "properties": {
                "province": {"type": "object", "required": ["code", "name"], "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}}},
                "wards": {"type": "array", "items": {"$ref": "#/components/schemas/AdminUnit"}}}},
                "the province and its wards"),
            "404": _ref("NotFound"),
            "422": _ref("ValidationFailed"),
        },
    }},
    "/api/v1/declarations": {"post": {
        "summary": "Submit a health declaration at a venue (checks the visitor in)",
        "description": "Public, rate-limited per client and per venue. The answer carries the "
                       "personal QR token and links to its images.",
        "security": [],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/DeclarationInput"}}}},
        "responses": {
            "201": _json({"$ref": "#/components/schemas/DeclarationCreated"}, "stored"),
            "400": _ref("BadRequest"),
            "413": _ref("PayloadTooLarge"),
            "415": _ref("UnsupportedMediaType"),
            "422": _ref("ValidationFailed"),
            "429": _ref("RateLimited"),
        },
    }},
    "/api/v1/declarations/{declaration_id}": {"get": {
        "summary": "Staff: one declaration with its visitor. Audited.",
        "description": "A receptionist reads only declarations made at the venues they work at "
                       "(any other is a 404) and only what the door needs: name, phone, the "
                       "health answers and the visit; never the ID number, birth year, "
                       "address, email or consent trail.",
        "parameters": [{"name": "declaration_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {
            "200": _json({"$ref": "#/components/schemas/DeclarationRecord"}, "the declaration"),
            "403": _ref("Forbidden"),
            "404": _ref("NotFound"),
        },
    }},
}
