"""/healthz says how the sync is doing (pending changes, the oldest one's age, the last good
round); the desk tells staff in their language when the backlog is old; a dead or silent central
server is given up on within the sync timeouts."""
from __future__ import annotations

import socket
import threading
import time

from core.auth import create_user
from core.db import db
from core.clock import ManualClock
from sync import outbox
from tests.conftest import PASSWORD, T0
from tests.sync.conftest import declare


def test_healthz_reports_the_backlog_and_the_desk_warns_when_it_is_old(make_kiosk):
    kiosk = make_kiosk("a", central_url="http://127.0.0.1:9", token="kbd_x")
    clock = ManualClock(T0)
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
        create_user(session=session, username="letan", role="receptionist", password=PASSWORD,
                    venue_codes=["HQ"], now=T0)
    declare(kiosk)
    # The entries carry the database's own time; read them against a clock set just after.
    with db.new_session(kiosk) as session:
        oldest = outbox.backlog(session).oldest_at
    clock.set(oldest)
    kiosk.extensions["clock"] = clock
    body = kiosk.test_client().get("/healthz").get_json()
    sync = body["components"]["sync"]
    assert sync["pending"] >= 3 and sync["oldest_pending_age_s"] == 0
    assert sync["last_success_at"] is None and body["status"] == "ok"
    assert "warnings" not in body or not any("central" in w for w in body["warnings"])
    assert kiosk.test_cli_runner().invoke(args=["sync", "once"]).exit_code == 2
    clock.advance(minutes=16)
    body = kiosk.test_client().get("/healthz").get_json()
    sync = body["components"]["sync"]
    assert sync["oldest_pending_age_s"] == 16 * 60 and sync["last_error"] == "unreachable"
    assert any("have not reached the central server for 16 minutes" in w
               for w in body["warnings"])
    desk = kiosk.test_client()
    desk.post("/login", data={"username": "letan", "password": PASSWORD})
    page = desk.get("/kiosk/desk").get_data(as_text=True)
    assert "chưa gửi được lên máy chủ trung tâm trong 16 phút" in page


def test_healthz_says_off_on_a_stand_alone_kiosk(client):
    assert client.get("/healthz").get_json()["components"]["sync"] == "off"


def test_a_silent_central_server_is_given_up_on_within_the_read_timeout(make_kiosk):
    """A server that accepts the connection and never answers (a half-open link)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        kiosk = make_kiosk("a", central_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
                           token="kbd_x", SYNC_READ_TIMEOUT_S=1.0)
        with db.new_session(kiosk) as session:
            outbox.enable_capture(session=session, now=T0)
        declare(kiosk)
        started = time.monotonic()
        result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
        assert result.exit_code == 2
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        listener.close()


def test_a_kiosk_clock_minutes_off_is_shown_and_loses_nothing(app, central, make_venue, enrol,
                                                              make_kiosk, session):
    """The kiosk's clock runs 7 minutes slow: /healthz and the desk say so after a round (the
    central server's time comes with each pull), and the visits it recorded arrive, with the
    times the door gave them."""
    from datetime import datetime, timedelta, timezone

    from sqlmodel import select

    from visits.models import Visit

    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    slow = ManualClock(datetime.now(timezone.utc) - timedelta(minutes=7))
    kiosk.extensions["clock"] = slow
    with db.new_session(kiosk) as kiosk_session:
        create_user(session=kiosk_session, username="letan", role="receptionist",
                    password=PASSWORD, venue_codes=["HQ"], now=T0)
    declare(kiosk)
    body = kiosk.test_client().get("/healthz").get_json()
    assert body["components"]["sync"]["clock_offset_s"] is None  # not known before a round
    assert kiosk.test_cli_runner().invoke(args=["sync", "once"]).exit_code == 0
    body = kiosk.test_client().get("/healthz").get_json()
    assert abs(body["components"]["sync"]["clock_offset_s"] - 420) <= 30
    assert any("clock is 7 minutes off the central server's" in w for w in body["warnings"])
    desk = kiosk.test_client()
    desk.post("/login", data={"username": "letan", "password": PASSWORD})
    assert "Đồng hồ của kiosk này lệch 7 phút" in desk.get("/kiosk/desk").get_data(as_text=True)
    [visit] = session.exec(select(Visit)).all()
    assert abs((visit.checked_in_at - slow.now()).total_seconds()) < 5


def test_a_right_clock_gives_no_warning(app, central, make_venue, enrol, make_kiosk):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    assert kiosk.test_cli_runner().invoke(args=["sync", "once"]).exit_code == 0
    body = kiosk.test_client().get("/healthz").get_json()
    assert abs(body["components"]["sync"]["clock_offset_s"]) <= 2
    assert not any("clock" in w for w in body.get("warnings", []))
