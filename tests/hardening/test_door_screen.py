"""Issue 15, point 10: the door screen is a device, not an address. On main any request from
loopback without proxy headers was "the kiosk's own screen"; under `kiosk run` waitress strips
the proxy headers, so behind a reverse proxy every anonymous client read visitors' names from
/kiosk/events and checked people in. Now a screen is a browser an administrator paired once."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlmodel import select

from core.models import AuditEvent
from kiosk.screens import COOKIE_NAME
from tests.conftest import PASSWORD
from tests.hardening.test_streams import ANSWER_S, server  # noqa: F401  (the real kiosk run)
from tests.kiosk.conftest import CCCD_TEXT

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
# Two cookies of one response: Werkzeug's test client keeps them apart by name.
SCREEN_PAGES = ("/kiosk", "/kiosk/events")


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@pytest.fixture
def venue(make_venue):
    return make_venue(code="HQ", name="Trụ sở chính")


def _admin(app, make_user):
    admin = app.test_client()
    admin.post("/login", data={"username": make_user("admin").username, "password": PASSWORD})
    return admin


def _pairing_link(admin) -> str:
    page = admin.post("/kiosk/screens", data={"name": "Cổng chính"}).get_data(as_text=True)
    return page.split('<code class="secret">', 1)[1].split("</code>", 1)[0]


def _is_screen(browser, **kwargs) -> bool:
    response = browser.get("/kiosk", **kwargs)
    return response.status_code == 200


def test_a_browser_on_the_device_itself_is_no_screen_until_paired(app, venue, clock):
    local = app.test_client()
    for path in SCREEN_PAGES:
        response = local.get(path, environ_base=LOOPBACK)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = local.post("/api/v1/checkins", environ_base=LOOPBACK,
                          json={"venue_code": "HQ", "payload": CCCD_TEXT})
    assert response.status_code == 401


def test_behind_a_proxy_under_kiosk_run_no_one_is_the_screen(server):  # noqa: F811
    """The issue's reproduction: the real `kiosk run`, a request through a reverse
    proxy on the same machine. It neither reads the stream nor checks anyone in."""
    for path in SCREEN_PAGES:
        with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_S) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: kiosk.test\r\nX-Forwarded-For: "
                         "203.0.113.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
                         .encode())
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        assert status_line.split()[1] == b"302", status_line
    from tests.hardening.test_faults_sigkill import _post

    status, body = _post(server.port, "/api/v1/checkins",
                         {"venue_code": "HQ", "payload": CCCD_TEXT})
    assert status == 401, body
    # The paired screen (its cookie from `flask kiosk pair`) is served.
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_S) as sock:
        sock.sendall(f"GET /kiosk HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
                     f"{server.screen_headers['Cookie'].split(': ')[-1]}\r\n"
                     "Connection: close\r\n\r\n".encode())
        assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] == b"200"


def test_an_admin_pairs_a_screen_once_with_a_link(app, venue, clock, make_user, session):
    admin = _admin(app, make_user)
    link = _pairing_link(admin)
    # On the configured public address, never on the request's Host (point 12).
    assert link.startswith("http://kiosk.test/kiosk/pair/")
    path = link.removeprefix("http://kiosk.test")
    screen = app.test_client()
    assert not _is_screen(screen, environ_base=LOOPBACK)
    response = screen.get(path, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 302 and response.headers["Location"] == "/kiosk"
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith(COOKIE_NAME + "="))
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in cookie.split(";")[1:]}
    assert "httponly" in attributes and attributes["samesite"] == "SameSite=Lax"
    assert int(attributes["max-age"].split("=")[1]) >= 365 * 24 * 3600
    assert "secure" not in attributes  # plain HTTP on the device; over TLS see below
    # Paired: the door screen from wherever it stands, no sign-in.
    assert _is_screen(screen, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    # The link works once.
    again = app.test_client().get(path)
    assert again.status_code == 404
    assert "Liên kết ghép nối này không hợp lệ" in again.get_data(as_text=True)
    actions = session.exec(select(AuditEvent.action)).all()
    assert "screen.pair" in actions


def test_the_screen_cookie_is_secure_over_tls(app, venue, clock, make_user):
    admin = _admin(app, make_user)
    path = _pairing_link(admin).removeprefix("http://kiosk.test")
    response = app.test_client().get(path, base_url="https://kiosk.test")
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith(COOKIE_NAME + "="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_an_expired_or_made_up_link_pairs_nothing(app, venue, clock, make_user):
    admin = _admin(app, make_user)
    path = _pairing_link(admin).removeprefix("http://kiosk.test")
    clock.advance(minutes=31)
    stranger = app.test_client()
    response = stranger.get(path)
    assert response.status_code == 404
    assert COOKIE_NAME not in response.headers.get("Set-Cookie", "")
    assert stranger.get("/kiosk/pair/" + "A" * 32).status_code == 404
    assert not _is_screen(stranger)


def test_a_forged_or_revoked_screen_cookie_opens_nothing(app, venue, clock, make_user,
                                                         session):
    forged = app.test_client()
    forged.set_cookie(COOKIE_NAME, "not-a-paired-screen")
    assert not _is_screen(forged, environ_base=LOOPBACK)

    admin = _admin(app, make_user)
    screen = app.test_client()
    screen.get(_pairing_link(admin).removeprefix("http://kiosk.test"))
    assert _is_screen(screen)
    page = admin.get("/kiosk/screens").get_data(as_text=True)
    assert "Cổng chính" in page
    device_id = int(page.split("/kiosk/screens/", 1)[1].split("/revoke", 1)[0])
    admin.post(f"/kiosk/screens/{device_id}/revoke")
    assert not _is_screen(screen)  # at once
    response = screen.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": CCCD_TEXT})
    assert response.status_code == 401
    assert "screen.revoke" in session.exec(select(AuditEvent.action)).all()


def test_pairing_again_replaces_the_browsers_old_record(app, venue, clock, make_user):
    admin = _admin(app, make_user)
    screen = app.test_client()
    screen.get(_pairing_link(admin).removeprefix("http://kiosk.test"))
    old = screen.get_cookie(COOKIE_NAME).value
    screen.get(_pairing_link(admin).removeprefix("http://kiosk.test"))
    assert screen.get_cookie(COOKIE_NAME).value != old
    thief = app.test_client()
    thief.set_cookie(COOKIE_NAME, old)
    assert not _is_screen(thief)
    assert _is_screen(screen)


def test_only_admins_make_pairing_links(app, venue, clock, make_user):
    for role in ("receptionist", "tracer"):
        staff = app.test_client()
        staff.post("/login", data={"username": make_user(role).username, "password": PASSWORD})
        assert staff.post("/kiosk/screens", data={"name": "x"}).status_code == 403


def test_the_cli_prints_a_link_that_pairs(app, runner, venue, clock):
    result = runner.invoke(args=["kiosk", "pair", "--name", "make run", "--base-url",
                                 "http://127.0.0.1:5000"])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:5000/kiosk/pair/")
    screen = app.test_client()
    assert screen.get(link.removeprefix("http://127.0.0.1:5000")).status_code == 302
    assert _is_screen(screen)


def test_make_run_prints_the_pairing_link_before_serving():
    from pathlib import Path

    makefile = Path(__file__).resolve().parents[2].joinpath("Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert run.index("kiosk pair") < run.index("kiosk run")


def test_pairing_codes_expire(app, session, clock):
    from kiosk import screens

    device, code = screens.create_pairing(session=session, name="x", now=clock.now())
    with pytest.raises(screens.PairingError):
        screens.pair(session=session, code=code, now=clock.now() + timedelta(minutes=31))


# --- point 11: the stream carries questions, never their tickets ---------------------------------

def _confirm_event(browser, venue_code="HQ"):
    """Read the screen's stream until the `confirm` event; return it as sent (raw text too)."""
    import json

    response = browser.get("/kiosk/events", buffered=False)
    assert response.status_code == 200
    raw, kind = "", None
    try:
        for chunk in response.response:
            raw += chunk.decode() if isinstance(chunk, bytes) else chunk
            for block in raw.split("\n\n"):
                lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
                if lines.get("event") == "confirm":
                    return json.loads(lines["data"]), block
    finally:
        response.close()
    raise AssertionError("no confirm event")


def test_the_stream_never_carries_a_ticket_and_the_screen_answers_by_question(
        app, screen, venue, clock, make_user, api_token):
    import threading

    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist",
                                                               venue_codes=["HQ"]))}
    found = {}

    def listen():
        found["event"], found["raw"] = _confirm_event(screen)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    from visits import events
    from tests.kiosk.conftest import wait_until

    wait_until(lambda: events.broker.subscriber_count("HQ") == 1)
    # Someone's ID card at the door (here through a desk app's token).
    answer = app.test_client().post("/api/v1/checkins", headers=bearer,
                                    json={"venue_code": "HQ", "payload": CCCD_TEXT}).get_json()
    listener.join(20)
    ticket = answer["confirmation"]["ticket"]
    event = found["event"]
    assert "ticket" not in event and ticket not in found["raw"]
    assert event["reason"] == "identity" and event["question"]

    from kiosk.services import venue_consent_version

    answers = {"travel_14d": False, "symptoms": [], "exposures": [], "consent_processing": True,
               "consent_sensitive_health": True, "lang": "vi",
               "consent_text_version": venue_consent_version(venue, retention_days=21)}
    # Someone who heard the question id but is not the screen or desk staff cannot answer.
    stranger = app.test_client().post("/api/v1/checkins/confirm", environ_base=LOOPBACK,
                                      json={"question": event["question"], "changed": True,
                                            "answers": answers})
    assert stranger.status_code == 401
    made_up = screen.post("/api/v1/checkins/confirm",
                          json={"question": "made-up", "changed": True, "answers": answers})
    assert made_up.status_code == 422
    body = made_up.get_json()
    assert body["code"] == "confirmation_expired" and body["message_vi"] != body["message_en"]
    # The paired screen answers the question it heard.
    response = screen.post("/api/v1/checkins/confirm",
                           json={"question": event["question"], "changed": True,
                                 "answers": answers})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["action"] == "check_in"
