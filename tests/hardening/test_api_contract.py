"""1. API contract: /api/v1/openapi.json describes every /api/v1/ operation (and nothing else) as
valid OpenAPI 3.1, and a schemathesis run over every operation, anonymously and with staff
tokens, finds no 500 and no answer that breaks the document."""
from __future__ import annotations

import re
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from core.openapi import build_document, fragments
from tests.declarations.test_schema import DESIGN_EXAMPLE
from tests.hardening.conftest import ALICE, counts


def _document() -> dict:
    """The document a real app assembles from what its features register (no database needed)."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": instance,
                          "DATABASE_URL": "sqlite://"})
        return build_document(fragments(app))


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# Bounded and repeatable: the same examples every run, about a minute for the whole matrix.
FUZZ = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck))

# Who calls: someone on the internet with no token, the kiosk's own screen (loopback, no token:
# it may scan), and staff with bearer tokens.
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
SCAN_OPERATIONS = {"POST /api/v1/checkins", "POST /api/v1/scan", "POST /api/v1/checkins/confirm"}
# An enrolled kiosk device's calls to the central server (its credential, never a staff token).
DEVICE_OPERATIONS = {"POST /api/v1/sync/push", "GET /api/v1/sync/pull", "POST /api/v1/sync/keys",
                     "POST /api/v1/sync/notices/shown"}
FUZZ_CASES = [(label, who) for label in sorted(OPERATIONS)
              for who in ("anonymous", "tracer", "admin")
              ] + [(label, "screen") for label in sorted(SCAN_OPERATIONS)
                   ] + [(label, "device") for label in sorted(DEVICE_OPERATIONS)]


def _api_rules(app) -> set[tuple[str, str]]:
    """(METHOD, /api/v1/path/{param}) for every rule of the app's url_map under /api/v1/."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def _documented(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item}


def test_the_document_is_public_json_and_describes_exactly_the_api_routes(app, client):
    response = client.get("/api/v1/openapi.json", environ_base=ALICE)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document == build_document(fragments(app))
    routes, documented = _api_rules(app), _documented(document)
    assert routes - documented == set(), "routes missing from /api/v1/openapi.json"
    assert documented - routes == set(), "operations documented but not served"
    assert len(routes) >= 11


def test_the_document_is_valid_openapi_3_1():
    SCHEMA.validate()  # against the OpenAPI 3.1 meta-schema: raises on any mistake


def _resolve(document, node):
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_has_schemas_errors_and_security(label):
    method, path = label.split(" ", 1)
    operation = DOCUMENT["paths"][path][method.lower()]
    responses = {code: _resolve(DOCUMENT, answer)
                 for code, answer in operation["responses"].items()}
    successes = [code for code in responses if code.startswith("2")]
    assert successes, "no success answer"
    for code in successes:
        assert responses[code]["content"]["application/json"]["schema"], code
    for code, answer in responses.items():
        if code[0] in "45":
            assert answer["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}, f"{code} is not the error object"
    assert "503" in responses and "422" in responses  # a database fault, a NUL: anywhere
    if method in ("POST", "PUT", "PATCH"):
        assert operation["requestBody"]["content"], "a write without a request schema"
    security = operation["security"]
    public = label in {"GET /api/v1/openapi.json", "GET /api/v1/admin-units/provinces",
                       "GET /api/v1/admin-units/provinces/{code}/wards",
                       "POST /api/v1/declarations"}
    if public:
        assert security == [], "a public operation asks for a token"
    elif label in DEVICE_OPERATIONS:
        assert security == [{"deviceAuth": []}] and "401" in responses
    else:
        assert {"bearerAuth": []} in security and "401" in responses
    if label in SCAN_OPERATIONS:
        assert {} in security  # the kiosk's own screen scans without a token


def test_the_design_example_is_the_documented_declaration_body():
    """The DESIGN example is the documented example of the declaration body, and it validates
    against the documented request schema."""
    import jsonschema_rs

    schema = {**DOCUMENT["components"]["schemas"]["DeclarationInput"],
              "$defs": DOCUMENT["components"]["schemas"]}
    assert jsonschema_rs.validator_for(schema).is_valid(DESIGN_EXAMPLE)
    assert DESIGN_EXAMPLE in DOCUMENT["components"]["schemas"]["DeclarationInput"]["examples"]


# ---------------------------------------------------------------------------------------------
# The schemathesis run

@pytest.fixture
def app_config():
    # The fuzzer sends hundreds of public writes from one address: the abuse limits are proven
    # in test_abuse.py, here they would only turn the run into 429s.
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def world(app, make_venue, make_user, api_token, clock, client):
    make_venue(code="DEMO", name="Trụ sở chính", unit="Công ty ABC")
    tokens = {role: api_token(make_user(role)) for role in ("admin", "tracer", "receptionist")}
    submitted = client.post("/api/v1/declarations", json=DESIGN_EXAMPLE, environ_base=ALICE)
    assert submitted.status_code == 201, submitted.get_json()
    from core.db import db
    from sync.devices import enrol_device
    from tests.conftest import pair_screen

    with db.new_session(app) as session:
        _device, device = enrol_device(session=session, venue_code="DEMO", name="Cổng A",
                                       now=clock.now())
    return {"tokens": tokens, "declaration": submitted.get_json(), "device": device,
            "screen": pair_screen(app)}


def _caller(world, who):
    if who == "anonymous":
        return {}, ALICE
    if who == "screen":  # the kiosk's own screen: its pairing cookie, no token
        from kiosk.screens import COOKIE_NAME

        return {"Cookie": f"{COOKIE_NAME}={world['screen']}"}, LOOPBACK
    if who == "device":
        return {"Authorization": f"Bearer {world['device']}"}, ALICE
    return {"Authorization": f"Bearer {world['tokens'][who]}"}, ALICE


def _call_and_validate(app, case, headers, environ):
    cookies = None
    if "Cookie" in headers:  # the screen's pairing cookie goes into the client's cookie jar
        name, _, value = headers["Cookie"].partition("=")
        headers = {k: v for k, v in headers.items() if k != "Cookie"}
        cookies = {name: value}
    response = case.call(app=app, headers=headers, environ_base=environ, cookies=cookies)
    case.validate_response(response, checks=CHECKS, headers=headers,
                           transport_kwargs={"app": app})
    return response


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("label", "who"), FUZZ_CASES)
def test_schemathesis_finds_no_500_and_no_answer_outside_the_document(app, world, label, who):
    operation = OPERATIONS[label]
    headers, environ = _caller(world, who)
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @FUZZ
    @given(case=strategy)
    def run(case):
        _call_and_validate(app, case, headers, environ)

    run()


DEEP = b"[" * 100_000 + b"]" * 100_000
# Found by the run above (or by the attempt before it) and fixed: each was a 500.
HOSTILE = [
    # ids beyond a PostgreSQL INTEGER (and beyond SQLite's 64 bits): no such row
    ("GET /api/v1/declarations/{declaration_id}", "admin",
     {"path_parameters": {"declaration_id": 2**31}}, 404, "not_found"),
    ("GET /api/v1/declarations/{declaration_id}", "admin",
     {"path_parameters": {"declaration_id": 2**70}}, 404, "not_found"),
    ("GET /api/v1/contacts", "tracer", {"query": {"visit_id": [str(2**40)]}}, 422, "invalid"),
    # NUL cannot be stored or even looked up in PostgreSQL
    ("GET /api/v1/visits", "admin",
     {"query": {"venue": "DEMO\x00", "since": "2026-03-10", "until": "2026-03-11"}}, 422,
     "invalid_characters"),
    ("GET /api/v1/contacts", "tracer",
     {"query": {"phone": "09\x00", "since": "2026-03-10", "until": "2026-03-11"}}, 422,
     "invalid_characters"),
    ("POST /api/v1/checkins", "admin", {"body": {"venue_code": "DEMO\x00", "payload": "x"}}, 422,
     "invalid_characters"),
    ("POST /api/v1/declarations", "anonymous",
     {"body": dict(DESIGN_EXAMPLE, venue_code="DE\x00MO")}, 422, "invalid_characters"),
    ("GET /api/v1/admin-units/provinces/{code}/wards", "anonymous",
     {"path_parameters": {"code": "0\x001"}}, 422, "invalid_characters"),
    ("GET /api/v1/admin-units/provinces", "anonymous", {"query": {"q\x00": "1"}}, 422,
     "invalid_characters"),
    # deeper than any parser should follow
    ("POST /api/v1/declarations", "anonymous",
     {"body": DEEP, "media_type": "application/json"}, 400, "invalid_json"),
    ("POST /api/v1/checkins", "admin", {"body": DEEP, "media_type": "application/json"}, 400,
     "invalid_json"),
    # a number beyond any float
    ("POST /api/v1/declarations", "anonymous",
     {"body": dict(DESIGN_EXAMPLE, body_temperature_c=10**400)}, 422, "validation_failed"),
    # the touchscreen's answer as a form, not JSON
    ("POST /api/v1/checkins/confirm", "screen",
     {"body": {"ticket": "x"}, "media_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
]


@pytest.mark.parametrize(("label", "who", "parts", "status", "code"), HOSTILE)
def test_hostile_inputs_are_a_clear_4xx_and_store_nothing(app, world, session, label, who,
                                                          parts, status, code):
    before = counts(session)
    case = OPERATIONS[label].Case(**parts)
    response = _call_and_validate(app, case, *_caller(world, who))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["message_vi"] and body["message_en"] and body["message_vi"] != body["message_en"]
    assert counts(session) == before


def test_the_documented_success_answers_match_what_is_served(app, world, session, clock):
    """The fuzzer mostly meets refusals; the success bodies are checked here on real data."""
    admin = _caller(world, "admin")
    declarations = OPERATIONS["POST /api/v1/declarations"]
    visitors, declared, _ = counts(session)
    response = _call_and_validate(app, declarations.Case(body=dict(DESIGN_EXAMPLE)), {}, ALICE)
    assert response.status_code == 201
    # The very same submission again within minutes (a retry): the declaration already made.
    assert counts(session)[:2] == (visitors, declared)
    token = response.json()["token"]
    clock.advance(minutes=30)
    checkin = OPERATIONS["POST /api/v1/checkins"].Case(
        body={"venue_code": "DEMO", "payload": token})
    assert _call_and_validate(app, checkin, *admin).json()["action"] == "check_out"
    declaration_id = world["declaration"]["declaration_id"]
    one = OPERATIONS["GET /api/v1/declarations/{declaration_id}"].Case(
        path_parameters={"declaration_id": declaration_id})
    assert _call_and_validate(app, one, *admin).json()["full_name"] == "Nguyễn Văn An"
    visits = OPERATIONS["GET /api/v1/visits"].Case(
        query={"venue": "DEMO", "since": "2026-03-10", "until": "2026-03-10"})
    assert _call_and_validate(app, visits, *admin).json()["count"] == 1
    contacts = OPERATIONS["GET /api/v1/contacts"].Case(
        query={"phone": "0912345678", "since": "2026-03-10", "until": "2026-03-10"})
    assert _call_and_validate(app, contacts, *admin).status_code == 200
    for label in ("GET /api/v1/me", "GET /api/v1/admin-units/provinces",
                  "GET /api/v1/openapi.json"):
        assert _call_and_validate(app, OPERATIONS[label].Case(), *admin).status_code == 200
    wards = OPERATIONS["GET /api/v1/admin-units/provinces/{code}/wards"].Case(
        path_parameters={"code": "01"})
    assert _call_and_validate(app, wards, {}, ALICE).json()["wards"]


@pytest.mark.parametrize(("who", "url", "method", "status"), [
    ("tracer", "/tracing/visits?venue=HQ%00&since=2026-03-10&until=2026-03-11", "GET", 422),
    ("tracer", "/tracing/contacts?visit_id=99999999999", "GET", 422),
    ("admin", "/tracing/privacy/99999999999.json", "GET", 404),
    ("admin", "/tracing/privacy/99999999999999999999999/delete", "POST", 404),
    ("receptionist", "/kiosk/visits/99999999999/check-out", "POST", 404),
    ("anonymous", "/d/99999999999999999999999", "GET", 404),
    ("anonymous", "/v/DE%00MO", "GET", 422),
])
def test_pages_refuse_the_same_hostile_input_with_a_bilingual_page(app, make_user, world,
                                                                   who, url, method, status):
    """The same limits hold for the staff and visitor pages (they read the same database)."""
    client = app.test_client()
    if who != "anonymous":
        user = make_user(who)
        assert client.post("/login", data={"username": user.username,
                                           "password": "correct horse battery"}).status_code == 302
    response = client.open(url, method=method, environ_base=ALICE)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert "<html" in page.lower() and "internal_error" not in page
    if "%00" in url:  # the error page, in both languages
        assert "Trường này có ký tự không được phép" in page
        assert "This field contains characters that are not allowed" in page
