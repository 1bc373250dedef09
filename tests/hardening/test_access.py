"""2. Access: every rule of the url_map, every method, against an explicit access matrix, for an
anonymous caller, a receptionist, a tracer and an administrator (and the kiosk's own screen).
A route that is not in the matrix fails the test: adding one means deciding who may use it.
Also the security baseline every answer carries, and templates the CSP would break."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app
from core.db import db
from core.security import limiter
from tests.conftest import PASSWORD, ROOT
from tests.hardening.conftest import ALICE, declaration_body

ROLES = ("receptionist", "tracer", "admin")
PUBLIC = "public"        # anyone, no sign-in
STAFF = "staff"          # any signed-in staff member (sign out)
SCREEN = "screen"        # the kiosk's own (paired) screen, or signed-in desk staff
DEVICE = "device"        # an enrolled kiosk device's credential only (no staff, no session)
DESK = frozenset({"receptionist", "admin"})
TRACERS = frozenset({"tracer", "admin"})
ADMIN = frozenset({"admin"})
ALL_STAFF = frozenset(ROLES)

# (rule, method) → who may use it. Derived from DESIGN.md's routes and roles, written out so
# that a change of access shows up here as a deliberate edit.
MATRIX = {
    ("/", "GET"): PUBLIC,
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,
    ("/logout", "POST"): STAFF,
    ("/account/password", "GET"): STAFF,
    ("/account/password", "POST"): STAFF,
    ("/lang/<code>", "GET"): PUBLIC,
    ("/healthz", "GET"): PUBLIC,
    ("/static/<path:filename>", "GET"): PUBLIC,
    # The visitor's phone: declaration form, their own result page, their QR, forgetting them.
    ("/v/<code>", "GET"): PUBLIC,
    ("/v/<code>", "POST"): PUBLIC,
    ("/v/<code>/again", "POST"): PUBLIC,
    ("/d/<int:declaration_id>", "GET"): PUBLIC,
    ("/d/<int:declaration_id>/add", "GET"): PUBLIC,
    ("/d/<int:declaration_id>/add", "POST"): PUBLIC,
    ("/forget", "POST"): PUBLIC,
    ("/qr/<token>.<kind>", "GET"): PUBLIC,
    # The door.
    ("/kiosk", "GET"): SCREEN,
    ("/kiosk/events", "GET"): SCREEN,
    ("/kiosk/preview.mjpg", "GET"): SCREEN,
    ("/kiosk/venue-qr.svg", "GET"): PUBLIC,  # printed on the poster anyway
    ("/kiosk/desk", "GET"): DESK,
    ("/kiosk/log", "GET"): DESK,
    ("/kiosk/visitors/<int:visitor_id>/qr", "POST"): DESK,
    ("/kiosk/manual", "GET"): DESK,
    ("/kiosk/manual", "POST"): DESK,
    ("/kiosk/visits/<int:visit_id>/check-out", "POST"): DESK,
    ("/kiosk/visits/<int:visit_id>/review", "POST"): DESK,
    ("/kiosk/visits/close-all", "POST"): DESK,
    ("/kiosk/venues/<code>/poster.pdf", "GET"): ADMIN,
    # Pairing the door screen: the one-time link works for whoever holds it (an unknown, used
    # or expired one is a 404); making links and revoking screens is the admin's.
    ("/kiosk/pair/<code>", "GET"): PUBLIC,
    ("/kiosk/screens", "GET"): ADMIN,
    ("/kiosk/screens", "POST"): ADMIN,
    ("/kiosk/screens/<int:device_id>/revoke", "POST"): ADMIN,
    # Administration.
    ("/admin/users", "GET"): ADMIN,
    ("/admin/users", "POST"): ADMIN,
    ("/admin/users/<int:user_id>", "GET"): ADMIN,
    ("/admin/users/<int:user_id>", "POST"): ADMIN,
    ("/admin/users/<int:user_id>/active", "POST"): ADMIN,
    ("/admin/venues", "GET"): ADMIN,
    ("/admin/venues", "POST"): ADMIN,
    ("/admin/venues/<code>", "GET"): ADMIN,
    ("/admin/venues/<code>", "POST"): ADMIN,
    ("/admin/adoption", "GET"): ADMIN,
    ("/admin/venues/<code>/hosts", "GET"): ADMIN,
    ("/admin/venues/<code>/hosts", "POST"): ADMIN,
    ("/host", "GET"): ALL_STAFF,
    ("/admin/adoption.csv", "GET"): ADMIN,
    ("/admin/adoption.<fmt>", "GET"): ADMIN,
    ("/admin/adoption/populations", "POST"): ADMIN,
    # Contact tracing.
    ("/tracing/", "GET"): TRACERS,
    ("/tracing/contacts", "GET"): TRACERS,
    ("/tracing/contacts/export", "GET"): TRACERS,
    ("/tracing/notices", "GET"): TRACERS,
    ("/tracing/notices", "POST"): TRACERS,
    ("/tracing/notices/<int:notice_id>/resend", "POST"): TRACERS,
    ("/tracing/visits", "GET"): TRACERS,
    ("/tracing/visits/export", "GET"): TRACERS,
    ("/tracing/import", "GET"): TRACERS,
    ("/tracing/import", "POST"): TRACERS,
    ("/tracing/audit", "GET"): ADMIN,
    ("/tracing/privacy", "GET"): ADMIN,
    ("/tracing/privacy/<int:visitor_id>.json", "GET"): ADMIN,
    ("/tracing/privacy/<int:visitor_id>/revoke", "POST"): ADMIN,
    ("/tracing/privacy/<int:visitor_id>/delete", "POST"): ADMIN,
    # The JSON API.
    ("/api/v1/openapi.json", "GET"): PUBLIC,
    ("/api/v1/admin-units/provinces", "GET"): PUBLIC,
    ("/api/v1/admin-units/provinces/<code>/wards", "GET"): PUBLIC,
    ("/api/v1/declarations", "POST"): PUBLIC,
    ("/api/v1/declarations/<int:declaration_id>", "GET"): ALL_STAFF,
    ("/api/v1/me", "GET"): ALL_STAFF,
    ("/api/v1/visits", "GET"): ALL_STAFF,
    ("/api/v1/contacts", "GET"): TRACERS,
    ("/api/v1/checkins", "POST"): SCREEN,
    ("/api/v1/checkins/confirm", "POST"): SCREEN,
    ("/api/v1/scan", "POST"): SCREEN,
    # A kiosk device of an installation talking to the central server (sync/).
    ("/api/v1/sync/push", "POST"): DEVICE,
    ("/api/v1/sync/pull", "GET"): DEVICE,
    ("/api/v1/sync/keys", "POST"): DEVICE,
    ("/api/v1/sync/notices/shown", "POST"): DEVICE,
}

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


def _routes(app) -> set[tuple[str, str]]:
    return {(rule.rule, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_is_in_the_access_matrix(app):
    routes = _routes(app)
    assert routes - set(MATRIX) == set(), "routes nobody has decided access for"
    assert set(MATRIX) - routes == set(), "the matrix names routes that do not exist"


@pytest.fixture
def app_config():
    # Signing in three staff members (and again after each sign-out) is not an attack.
    return {"LOGIN_RATE_LIMIT": "1000 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute"}


@pytest.fixture
def sample(app, make_venue, make_user, api_token, make_visitor, make_visit, clock, client,
           session):
    """One of everything a URL can name, and a signed-in client and a bearer token per role."""
    venue = make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")
    response = client.post("/api/v1/declarations", json=declaration_body(), environ_base=ALICE)
    assert response.status_code == 201, response.get_json()
    declared = response.get_json()
    visitor = make_visitor(full_name="Trần Thị Bình", phone_e164="+84987654321",
                           id_number="001190054321")
    visit = make_visit(visitor=visitor, venue=venue, checked_in_at=clock.now())
    from kiosk import screens
    from kiosk.screens import COOKIE_NAME
    from tests.conftest import pair_screen

    screen = app.test_client()
    screen.set_cookie(COOKIE_NAME, pair_screen(app))
    spare, _code = screens.create_pairing(session=session, name="spare", now=clock.now())
    values = {"code": "HQ", "declaration_id": declared["declaration_id"], "visit_id": visit.id,
              "device_id": spare.id,
              "visitor_id": visitor.id, "token": declared["token"], "kind": "svg",
              "filename": "css/app.css", "fmt": "json",
              "notice_id": 1}
    # The receptionist works at HQ (core.staff: assigned venues only).
    users = {role: make_user(role, **({"venue_codes": ["HQ"]} if role == "receptionist" else {}))
             for role in ROLES}
    values["user_id"] = users["receptionist"].id
    tokens = {role: api_token(user) for role, user in users.items()}
    from sync.devices import enrol_device

    with db.new_session(app) as session:
        _device, device_token = enrol_device(session=session, venue_code="HQ", name="Cổng A",
                                             now=clock.now())
    clients = {}
    for role, user in users.items():
        clients[role] = _signed_in(app, user)
    return {"values": values, "users": users, "tokens": tokens, "clients": clients,
            "screen": screen, "device": device_token}


def _signed_in(app, user):
    staff = app.test_client()
    response = staff.post("/login", data={"username": user.username, "password": PASSWORD},
                          environ_base=ALICE)
    assert response.status_code == 302, "could not sign in"
    return staff


def _url(app, rule_text: str, values: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def _request(client, method, url, **kwargs):
    response = client.open(url, method=method, buffered=False, **kwargs)
    response.close()  # event streams and camera previews never end by themselves
    return response


def _refused(response, *, api: bool, signed_in: bool) -> bool:
    """Refused the way the matrix means: API → 401 (no one) or 403 (wrong role) JSON; pages →
    a redirect to sign in (no one) or a 403 page (wrong role)."""
    if api:
        expected = (403, "forbidden") if signed_in else (401, "unauthorized")
        if response.status_code in (401, 403):
            assert (response.status_code, response.get_json()["code"]) == expected
            return True
        return False
    if response.status_code == 403:
        assert signed_in, "an anonymous caller got 403 instead of the sign-in page"
        return True
    if response.status_code in (301, 302, 303):
        location = urlsplit(response.headers["Location"])
        if location.path == "/login" and "next" in parse_qs(location.query):
            assert not signed_in, "a signed-in user was sent to sign in again"
            return True
    return False


def _assert_security_headers(response, where):
    csp = response.headers.get("Content-Security-Policy", "")
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1), where
    assert "'unsafe-eval'" not in csp, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert ("frame-ancestors 'none'" in csp
            or response.headers.get("X-Frame-Options") == "DENY"), where
    assert response.headers.get("Referrer-Policy") == "no-referrer", where


def _allowed(who, access) -> bool:
    if access in (PUBLIC,):
        return True
    if who == "anonymous":
        return False
    if access == STAFF:
        return True
    if access == SCREEN:
        return who in DESK
    return who in access


def test_every_route_refuses_callers_without_its_role_and_serves_those_with_it(app, sample):
    values = sample["values"]
    checked = 0
    # Deleting the sample visitor last, so the routes naming it are tried while it exists.
    order = sorted(MATRIX.items(), key=lambda item: ("delete" in item[0][0], item[0]))
    for (rule_text, method), access in order:
        url = _url(app, rule_text, values)
        api = rule_text.startswith("/api/")
        for who in ("anonymous", *ROLES):
            where = f"{method} {url} as {who}"
            if who == "anonymous":
                response = _request(app.test_client(), method, url, environ_base=ALICE)
            elif api:
                response = _request(app.test_client(), method, url, environ_base=ALICE,
                                    headers={"Authorization": f"Bearer {sample['tokens'][who]}"})
            else:
                response = _request(sample["clients"][who], method, url, environ_base=ALICE)
            assert response.status_code < 500, where
            _assert_security_headers(response, where)
            if access == DEVICE:  # staff tokens and sessions are no device credential
                assert (response.status_code, response.get_json()["code"]) == (
                    401, "device_unauthorized"), where
                checked += 1
                continue
            refused = _refused(response, api=api, signed_in=who != "anonymous")
            if _allowed(who, access):
                assert not refused, f"{where}: refused, but the matrix allows it"
            else:
                assert refused, f"{where}: served ({response.status_code}), the matrix refuses"
            if rule_text == "/logout" and who != "anonymous":  # sign back in for later rules
                sample["clients"][who] = _signed_in(app, sample["users"][who])
            checked += 1
        if access == SCREEN:
            # The kiosk's own screen: a browser paired once, no sign-in, wherever it stands.
            response = _request(sample["screen"], method, url, environ_base=ALICE)
            assert not _refused(response, api=api, signed_in=False), f"{method} {url} own screen"
            # ... but not a browser that merely runs on the device itself (issue 15, point 10),
            # nor one behind a proxy there.
            for headers in ({}, {"X-Forwarded-For": "192.0.2.10"}):
                response = _request(app.test_client(), method, url, environ_base=LOOPBACK,
                                    headers=headers)
                assert _refused(response, api=api, signed_in=False), f"{method} {url} loopback"
        if access == DEVICE:
            response = _request(app.test_client(), method, url, environ_base=ALICE,
                                json={"rows": {}, "keys": [], "notices": []}
                                if method == "POST" else None,
                                headers={"Authorization": f"Bearer {sample['device']}"})
            assert response.status_code == 200, f"{method} {url} as the device"
    assert checked == 4 * len(MATRIX)


def test_the_login_sets_an_httponly_samesite_session_cookie(client, make_user):
    """tests/core/test_security.py checks Secure over TLS; here the other two attributes."""
    user = make_user("admin")
    for base_url in ("http://localhost", "https://kiosk.test"):
        response = client.post("/login", base_url=base_url,
                               data={"username": user.username, "password": PASSWORD})
        cookie = next(c for c in response.headers.getlist("Set-Cookie")
                      if c.startswith("khaibao_session="))
        attributes = {part.strip().split("=")[0].lower(): part.strip()
                      for part in cookie.split(";")[1:]}
        assert "httponly" in attributes
        assert attributes["samesite"].lower() in ("samesite=lax", "samesite=strict")
        assert ("secure" in attributes) == base_url.startswith("https")


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_the_session_cookie_is_secure_behind_a_tls_terminating_proxy(client, make_user,
                                                                   app_config):
    """A central server behind nginx: the proxy speaks TLS, the app plain HTTP."""
    user = make_user("admin")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD},
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.10"})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert "Strict-Transport-Security" in response.headers


def test_rate_limits_are_on_by_default(tmp_path):
    """The schemathesis run turns limits off for its own app; a default app must have them."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    assert app.config["RATELIMIT_ENABLED"] is True
    assert limiter.enabled
    assert app.config["LOGIN_RATE_LIMIT"] and app.config["PUBLIC_RATE_LIMIT"]


# Executable script in a template: an inline <script> body (a JSON data block is not
# executable and is allowed), an on*= event handler attribute, or a javascript: URL. The CSP
# (script-src 'self') would block each of them in the browser, silently breaking the page.
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)
_JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def _inline_script_problems(text: str) -> list[str]:
    problems = []
    for attributes, body in _SCRIPT.findall(text):
        data_block = re.search(r"""type\s*=\s*["']application/(?:ld\+)?json["']""", attributes)
        if body.strip() and not data_block:
            problems.append("inline <script> body")
    if _HANDLER.search(text):
        problems.append("on*= event handler attribute")
    if _JS_URL.search(text):
        problems.append("javascript: URL")
    return problems


def test_the_inline_script_detector_catches_what_the_csp_blocks():
    assert _inline_script_problems('<script>alert(1)</script>') == ["inline <script> body"]
    assert _inline_script_problems('<button onclick="go()">') == ["on*= event handler attribute"]
    assert _inline_script_problems('<a href="javascript:go()">') == ["javascript: URL"]
    assert _inline_script_problems('<script src="/static/js/x.js"></script>') == []
    assert _inline_script_problems(
        '<script type="application/json" id="c">{"a": 1}</script>') == []


def test_no_template_has_an_inline_script_or_event_handler():
    templates = sorted(Path(ROOT, "templates").rglob("*.html"))
    assert templates
    found = {str(path.relative_to(ROOT)): problems for path in templates
             if (problems := _inline_script_problems(path.read_text(encoding="utf-8")))}
    assert found == {}
