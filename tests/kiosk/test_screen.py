"""The door screen and its event stream: who may see them, both languages, the venue QR, and the
live stream (events, status, heartbeat; no database session held while it waits)."""
from __future__ import annotations

import json

import pytest
import segno

from core.db import db
from declarations.venue_links import build_venue_url, verify_venue_signature
from tests.conftest import PASSWORD

REMOTE = {"REMOTE_ADDR": "192.0.2.44"}


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


def test_idle_screen_in_vietnamese_on_the_kiosk_itself(client, venue):
    response = client.get("/kiosk")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Khai báo y tế và ghi nhận ra vào" in page
    assert "Trụ sở chính" in page
    assert "Bluezone" in page
    assert 'src="/kiosk/venue-qr.svg"' in page
    assert "<script>" not in page and "onclick" not in page  # strict CSP: scripts are files
    assert 'src="/static/kiosk/screen.js"' in page


def test_idle_screen_in_english(client, venue):
    client.get("/lang/en")
    page = client.get("/kiosk").get_data(as_text=True)
    assert "Health declaration and check-in" in page
    assert "Show your personal QR code or your CCCD card to the camera." in page
    config = json.loads(page.split('id="kiosk-config">')[1].split("</script>")[0])
    assert config["lang"] == "en" and config["text"]["welcome"] == "Welcome!"
    assert config["refusals"]["token_expired"].startswith("This QR code has expired")


def test_screen_config_carries_vietnamese_texts(client, venue):
    page = client.get("/kiosk").get_data(as_text=True)
    config = json.loads(page.split('id="kiosk-config">')[1].split("</script>")[0])
    assert config["text"]["welcome"] == "Xin mời vào!"
    assert config["text"]["hello"] == "Xin chào {name}!"
    assert config["venue_code"] == "HQ"


@pytest.mark.parametrize("path", ["/kiosk", "/kiosk/events"])
def test_from_elsewhere_the_screen_needs_a_receptionist(app, venue, make_user, path):
    tablet = app.test_client()  # never paired as the door screen
    response = tablet.get(path, environ_base=REMOTE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Being on the device itself (loopback) counts for nothing without the pairing.
    response = tablet.get(path, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 302
    tablet.post("/login", data={"username": make_user("tracer").username,
                                "password": PASSWORD})
    response = tablet.get(path, environ_base=REMOTE, buffered=False)
    response.close()
    assert response.status_code == 403


def test_a_receptionist_sees_the_screen_from_a_tablet(app, venue, make_user):
    tablet = app.test_client()
    tablet.post("/login", data={"username": make_user("receptionist").username,
                                "password": PASSWORD})
    assert tablet.get("/kiosk", environ_base=REMOTE).status_code == 200


def test_the_venue_qr_is_the_signed_venue_link(app, client, venue):
    response = client.get("/kiosk/venue-qr.svg", environ_base=REMOTE)  # public, like the poster
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    url = build_venue_url("http://kiosk.test", "HQ", app.config["SECRET_KEY"])
    assert verify_venue_signature("HQ", url.split("k=")[1], app.config["SECRET_KEY"])
    import io

    expected = io.BytesIO()
    segno.make(url, error="m", micro=False).save(expected, kind="svg", scale=10, border=4,
                                                 xmldecl=False, title="Trụ sở chính")
    assert response.data == expected.getvalue()


@pytest.mark.parametrize("app_config", [{"VENUE": "NOWHERE"}])
def test_a_kiosk_without_its_venue_says_so(client):
    response = client.get("/kiosk")
    assert response.status_code == 404
    assert "NOWHERE" in response.get_data(as_text=True)


class Stream:
    """Reads a server-sent event stream from the test client, one event at a time."""

    def __init__(self, response):
        self.response = response
        self.chunks = iter(response.response)
        self.buffer = ""

    def next_block(self) -> str:
        while "\n\n" not in self.buffer:
            data = next(self.chunks)
            self.buffer += data.decode() if isinstance(data, bytes) else data
        block, self.buffer = self.buffer.split("\n\n", 1)
        return block

    def next_event(self, kind: str) -> dict:
        for _ in range(50):
            block = self.next_block()
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                         and not line.startswith(":"))
            if lines.get("event") == kind:
                return json.loads(lines["data"])
        raise AssertionError(f"no {kind} event")

    def close(self):
        self.response.close()


@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "EVENTS_HEARTBEAT_S": 1}])
def test_event_stream_sends_status_events_and_heartbeats_without_holding_a_db_session(
        app, client, venue, make_visitor, session):
    from visits.services import open_visit

    response = client.get("/kiosk/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    stream = Stream(response)
    try:
        assert stream.next_block() == "retry: 3000"
        assert stream.next_event("status") == {
            "camera": "off", "ble": "off", "db": "ok",
            "messages": {"camera": "Camera đang tắt.", "ble": "Quét Bluetooth đang tắt.",
                         "db": ""}}  # a working database says nothing
        assert stream.next_block() == ": keepalive"
        # While the stream waits, it holds no connection from the pool.
        assert db.engine(app).pool.checkedout() == 0
        visitor = make_visitor()
        from tests.conftest import T0

        open_visit(session=session, visitor_id=visitor.id, venue_id=venue.id, now=T0,
                   opened_by="staff")
        event = stream.next_event("visit")
        assert (event["action"], event["display_name"]) == ("check_in", "NGUYỄN VĂN AN")
    finally:
        stream.close()
