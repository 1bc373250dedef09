"""The database fails under the kiosk's own camera: another program holds SQLite's write lock, or
the disk is full, just as a visitor shows their code. The decoded scan is held and tried again
(with backoff, for a bounded time), the door screen and /healthz say what is wrong in both
languages, nothing is stored meanwhile, and once the database recovers the check-in is stored
exactly once and its result card goes to the screen. A scan that waited too long gets an error
card instead, and the door goes on working.

Real parts only: OpenCV reading a watched folder of camera frames with real personal QR codes,
the real check-in worker and service, a real SQLite file locked by another connection or capped
with PRAGMA max_page_count. Both faults are SQLite's (the kiosk's embedded database): these
tests skip on PostgreSQL, which has no file lock or page cap to play with."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import pytest
import sqlalchemy as sa
from markupsafe import escape
from playwright.sync_api import expect
from sqlmodel import select

from core.db import db
from core.models import Venue
from kiosk.camera import CameraWorker, parse_source
from kiosk.runtime import CAMERA_EXTENSION, CameraCheckIn
from tests.conftest import T0
from tests.hardening.faults_support import (
    seed_visitors,
    sqlite_integrity,
    sqlite_path,
    staff_token,
    visits_by_id,
    wait_until,
)
from tests.hardening.test_faults import checkin, small_disk  # noqa: F401
from tests.kiosk.test_screen import Stream
from tests.support.databases import dialect
from tests.support.qrframes import Placement, camera_frame
from visits import events
from visits.models import Visit


@pytest.fixture
def client(screen):
    """Scans here come from the kiosk's own (paired) screen; it declares as a phone would."""
    return screen

sqlite_only = pytest.mark.skipif(
    dialect() != "sqlite",
    reason="SQLite-only fault: the kiosk's embedded database (PostgreSQL has no file lock or "
           "page limit to play with)")

# Production behaviour with test-sized pauses (the product waits 0.5 s doubling to 4 s, and
# gives up 3 minutes after the code was shown).
CAMERA_PAUSES = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, "poll_s": 0.05}
RETRY = {"retry_initial_s": 0.05, "retry_max_s": 0.2, "give_up_s": 120.0}

BUSY_VI = "Cơ sở dữ liệu đang bận: các lượt quét mã đang chờ được lưu."
BUSY_EN = "The database is busy: scans are waiting to be saved."
FULL_VI = "Bộ nhớ của máy kiosk đã đầy: các lượt quét mã đang chờ được lưu. Vui lòng báo lễ tân."
FULL_EN = "The kiosk's storage is full: scans are waiting to be saved. Please tell reception."
# The door screen says it in visitors' words (the line above is the desk's and the stream's).
DOOR_WAIT_VI = ("Việc lưu lượt quét đang chậm hơn bình thường: vui lòng chờ màn hình chuyển sang "
                "màu xanh.")
DOOR_WAIT_EN = "Saving takes a little longer right now: please wait for the green screen."
DOOR_DOWN_VI = "Tạm thời chưa lưu được lượt vào: vui lòng đến quầy lễ tân."
DOOR_DOWN_EN = "Check-ins cannot be saved right now: please go to reception."


class Door:
    """A camera looking at a watched folder (each new image is one frame in front of it) and
    the check-in worker it feeds: what `kiosk run` builds (runtime.build_camera / build_checkin)."""

    def __init__(self, app, folder: Path, **retry):
        self.app = app
        self.folder = folder
        self.camera = CameraWorker(parse_source(str(folder)), decoder=app.config["DECODER"],
                                   **CAMERA_PAUSES)
        app.extensions[CAMERA_EXTENSION] = self.camera
        self.checkin = CameraCheckIn(app, self.camera, **{**RETRY, **retry})
        self.manager = app.extensions["workers"]
        self.manager.add(self.camera)
        self.manager.add(self.checkin)
        self.shown = 0

    def start(self) -> None:
        self.manager.start()
        wait_until(lambda: self.camera.status() == "ok")

    def show(self, text: str) -> None:
        """A visitor holds `text` (their personal QR code) up to the camera."""
        self.shown += 1
        name = f"frame-{self.shown:03d}.png"
        staging = self.folder.parent / name  # written whole, then moved in (as a camera would)
        assert cv2.imwrite(str(staging), camera_frame([Placement(text, tilt_deg=10)],
                                                      seed=self.shown))
        staging.replace(self.folder / name)

    def stop(self) -> None:
        self.manager.stop()


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "camera"
    path.mkdir()
    return path


def healthz(client) -> tuple[int, str]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()["components"]["db"]


def screen(client, lang: str) -> str:
    client.get(f"/lang/{lang}")
    return client.get("/kiosk").get_data(as_text=True)


def screen_config(client, lang: str) -> dict:
    """What the door screen's script is given (texts and messages in the page's language)."""
    page = screen(client, lang)
    start = page.index('<script type="application/json" id="kiosk-config">')
    start = page.index(">", start) + 1
    return json.loads(page[start:page.index("</script>", start)])


def visits_of(app, visitor_id: int) -> list[Visit]:
    with db.new_session(app) as session:
        return list(session.exec(select(Visit).where(Visit.visitor_id == visitor_id)))


def next_status(stream: Stream, want) -> dict:
    """The screen's next status event that satisfies `want` (bounded: Stream.next_event reads
    at most 50 blocks, one every STATUS_POLL_S or heartbeat at most)."""
    for _ in range(20):
        status = stream.next_event("status")
        if want(status):
            return status
    raise AssertionError("the screen never got that status")


def visit_event_for(subscription, name: str) -> dict:
    def arrived():
        event = subscription.get(timeout=0.2)
        return event if event and event.get("display_name") == name else None
    return wait_until(arrived)


# --- another program holds the write lock -----------------------------------------------------

@sqlite_only
@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "DATABASE_BUSY_TIMEOUT_S": 0.2,
                                         "EVENTS_HEARTBEAT_S": 1}])
def test_a_camera_check_in_waits_out_a_locked_database(app, client, session, clock, database_url,
                                                       make_venue, folder):
    make_venue(code="HQ", name="Trụ sở chính")
    first, second = seed_visitors(app, session, 2, now=T0)
    door = Door(app, folder)
    door.start()
    locker = sqlite3.connect(sqlite_path(database_url), timeout=0, isolation_level=None)
    response = client.get("/kiosk/events", buffered=False)  # the door screen's live stream
    stream = Stream(response)
    try:
        with events.broker.subscribe("HQ") as cards:
            door.show(first.token)  # the door works; this also makes the kiosk's device row
            assert visit_event_for(cards, "KHÁCH 0")["action"] == "check_in"
            assert next_status(stream, lambda s: True)["db"] == "ok"
            before = visits_by_id(database_url)

            # A backup or a stuck script takes the write lock and keeps it.
            locker.execute("BEGIN IMMEDIATE")
            door.show(second.token)
            wait_until(lambda: door.checkin.status() == "waiting: database_busy")
            # The screen says so (in the language it was opened in), /healthz too.
            status = next_status(stream, lambda s: s["db"] != "ok")
            assert status["db"] == "busy"
            assert status["messages"]["db"] == BUSY_VI
            assert status["camera"] == "ok"  # the camera itself is fine
            assert DOOR_WAIT_VI in screen(client, "vi")
            assert DOOR_WAIT_EN in screen(client, "en")
            assert BUSY_VI not in screen(client, "vi")  # the database's state is the desk's
            assert healthz(client) == (503, "busy")
            # The scan is held and tried again, and nothing is stored while the lock lasts.
            wait_until(lambda: door.checkin.retries >= 3)
            assert door.checkin.status() == "waiting: database_busy"
            assert visits_by_id(database_url) == before
            assert visits_of(app, second.visitor_id) == []
            assert cards.get(timeout=0) is None  # no card for a check-in that is not stored

            locker.rollback()  # the lock is released
            event = visit_event_for(cards, "KHÁCH 1")
            assert (event["type"], event["action"]) == ("visit", "check_in")
        status = next_status(stream, lambda s: s["db"] == "ok")
        assert status["messages"]["db"] == ""  # the line goes away
        wait_until(lambda: door.checkin.status() == "ok")
        assert healthz(client) == (200, "ok")
        assert DOOR_WAIT_VI not in screen(client, "vi")
    finally:
        stream.close()
        door.stop()
        locker.close()
    # Stored exactly once, at the moment it was shown, taken by the camera; nothing else lost.
    [visit] = visits_of(app, second.visitor_id)
    assert (visit.opened_by, visit.checked_in_at) == ("scan", T0)
    after = visits_by_id(database_url)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 1
    assert sqlite_integrity(database_url) == ([("ok",)], [])


@sqlite_only
@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "DATABASE_BUSY_TIMEOUT_S": 0.1}])
def test_a_scan_that_waits_too_long_gets_an_error_card_and_the_door_goes_on(
        app, client, session, clock, database_url, make_venue, folder):
    make_venue(code="HQ", name="Trụ sở chính")
    first, second = seed_visitors(app, session, 2, now=T0)
    door = Door(app, folder, give_up_s=1.0)
    door.start()
    locker = sqlite3.connect(sqlite_path(database_url), timeout=0, isolation_level=None)
    try:
        with events.broker.subscribe("HQ") as cards:
            door.show(first.token)
            visit_event_for(cards, "KHÁCH 0")
            locker.execute("BEGIN IMMEDIATE")
            door.show(second.token)

            def refused():
                event = cards.get(timeout=0.2)
                return event if event and event["type"] == "refused" else None
            event = wait_until(refused)
            assert (event["code"], event["kind"]) == ("database_busy", "token")
            assert door.checkin.retries >= 1  # it was tried again before giving up
            wait_until(lambda: door.checkin.status() == "ok")  # no longer holding anything
            assert visits_of(app, second.visitor_id) == []
            locker.rollback()
            # The visitor shows the code again (the error card asks them to): checked in once.
            door.show(second.token)
            assert visit_event_for(cards, "KHÁCH 1")["action"] == "check_in"
    finally:
        door.stop()
        locker.close()
    assert len(visits_of(app, second.visitor_id)) == 1
    # The error card's words, in both languages (screen.js picks them by the event's code).
    vi, en = screen_config(client, "vi"), screen_config(client, "en")
    assert "database_busy" in vi["not_saved_codes"]
    assert vi["text"]["not_saved"] == "Chưa lưu được lượt quét mã của bạn"
    assert vi["refusals"]["database_busy"].startswith("Cơ sở dữ liệu đang bận. Chưa có gì được lưu")
    assert en["text"]["not_saved"] == "Your scan could not be saved"
    assert en["refusals"]["database_busy"].startswith("The database is busy. Nothing was saved")


# --- the disk is full -------------------------------------------------------------------------

def test_a_camera_check_in_waits_out_a_full_disk(small_disk, tmp_path):  # noqa: F811
    from core.clock import ManualClock

    app, url = small_disk.app, small_disk.url_
    app.config["VENUE"] = "HQ"
    app.extensions["clock"] = ManualClock(T0)
    client = app.test_client()
    with db.new_session(app) as session:
        session.add(Venue(code="HQ", name="Trụ sở chính", created_at=T0))
        session.commit()
    from kiosk.screens import COOKIE_NAME
    from tests.conftest import pair_screen

    client.set_cookie(COOKIE_NAME, pair_screen(app))  # the door screen, paired before the rush
    with db.new_session(app) as session:
        people = seed_visitors(app, session, 150, now=T0)
    folder = tmp_path / "camera"
    folder.mkdir()
    door = Door(app, folder)
    door.start()
    try:
        with events.broker.subscribe("HQ") as cards:
            door.show(people[0].token)  # the kiosk's device row, made on first use
            visit_event_for(cards, "KHÁCH 0")
            small_disk.fill()
            # Visitors keep coming until the disk cannot take the next one.
            waiting = None
            for index, person in enumerate(people[1:], start=1):
                door.show(person.token)
                wait_until(lambda: door.checkin.status() == "waiting: storage_full"
                           or visits_of(app, person.visitor_id))
                if door.checkin.status() == "waiting: storage_full":
                    waiting = (index, person)
                    break
                visit_event_for(cards, f"KHÁCH {index}")
            assert waiting is not None, "the capped database never filled up"
            index, person = waiting
            assert healthz(client) == (503, "error: storage_full")
            assert DOOR_DOWN_VI in screen(client, "vi")
            assert DOOR_DOWN_EN in screen(client, "en")
            wait_until(lambda: door.checkin.retries >= 3)
            assert visits_of(app, person.visitor_id) == []  # nothing half-written
            assert sqlite_integrity(url) == ([("ok",)], [])
            stored = visits_by_id(url)

            small_disk.free_space()
            assert visit_event_for(cards, f"KHÁCH {index}")["action"] == "check_in"
        wait_until(lambda: door.checkin.status() == "ok")
        assert healthz(client) == (200, "ok")
        assert DOOR_DOWN_VI not in screen(client, "vi")
    finally:
        door.stop()
    assert len(visits_of(app, person.visitor_id)) == 1
    after = visits_by_id(url)
    assert {k: v for k, v in after.items() if k in stored} == stored  # earlier ones intact
    assert len(after) == len(stored) + 1 == index + 1
    assert sqlite_integrity(url) == ([("ok",)], [])


# --- what the door screen shows (real Chromium) -----------------------------------------------

@sqlite_only
@pytest.mark.browser
@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "DATABASE_BUSY_TIMEOUT_S": 0.1}])
def test_the_door_screen_shows_a_failing_database_and_clears_it(live_server, page, app, session,
                                                                clock, database_url,
                                                                make_venue):
    from kiosk.services import publish_refusal

    make_venue(code="HQ", name="Trụ sở chính")
    token = staff_token(session, now=T0)
    [visitor] = seed_visitors(app, session, 1, now=T0)
    page.goto(live_server.pairing_link())  # the door screen, paired once
    expect(page.locator("body")).to_have_attribute("data-stream", "open")
    line = page.locator('[data-device-message="db"]')
    expect(line).to_have_js_property("hidden", True)

    locker = sqlite3.connect(sqlite_path(database_url), timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        with app.test_client() as client:  # a check-in that meets the lock
            assert checkin(client, token, visitor.token).status_code == 503
        expect(line).to_be_visible(timeout=15_000)
        expect(line).to_have_text(DOOR_WAIT_VI)
        # The camera's check-in gave up waiting: a red card says the scan was not saved.
        publish_refusal("HQ", "database_busy", "token")
        expect(page.locator("#card")).to_have_class("kiosk-card card-red")
        expect(page.locator("#card-title")).to_have_text("Chưa lưu được lượt quét mã của bạn")
        expect(page.locator("#card-detail")).to_have_text(
            "Cơ sở dữ liệu đang bận. Chưa có gì được lưu: vui lòng thử lại sau giây lát.")
    finally:
        locker.rollback()
        locker.close()
    # The line goes away (hidden itself, not just behind the card).
    expect(line).to_have_js_property("hidden", True, timeout=15_000)
    expect(line).to_have_text("")
    with app.test_client() as client:
        assert checkin(client, token, visitor.token).status_code == 200
    expect(page.locator("#card-title")).to_have_text("Xin mời vào!")


# --- the retry schedule (pure logic: the database and the clock are stand-ins) ---------------

@pytest.mark.parametrize("app_config", [{"VENUE": "HQ"}])
def test_the_retry_schedule_backs_off_and_gives_up_after_three_minutes(app, monkeypatch):
    """0.5 s, doubling to 4 s, tried again until 3 minutes after the code was shown; then the
    error card. No waiting: the stand-in pause moves the stand-in clock."""
    import queue
    from datetime import timedelta
    from types import SimpleNamespace

    from kiosk import runtime

    clock_now = [T0]
    worker = CameraCheckIn(app, SimpleNamespace(subscribe=queue.Queue),
                           utcnow=lambda: clock_now[0])  # the product's own pauses
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        clock_now[0] += timedelta(seconds=seconds)
        return False  # not stopping

    monkeypatch.setattr(worker._stop, "wait", pause)
    tries = []

    def locked(app, payload, *, at):
        tries.append(at)
        raise sa.exc.OperationalError("INSERT INTO visit", {},
                                      sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(runtime, "handle_camera_scan", locked)
    cards = []
    monkeypatch.setattr(runtime.services, "publish_refusal", lambda *args: cards.append(args))
    worker._check_in(SimpleNamespace(text="KB1.x.y", kind="token", seen_at=T0))

    assert pauses[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert set(pauses[3:]) == {4.0}
    assert 176 <= sum(pauses) <= 180  # gave up within the last pause before 3 minutes
    assert len(tries) == len(pauses) + 1 and set(tries) == {tries[0]}  # same time each try
    assert cards == [("HQ", "database_busy", "token")]
    assert db.fault(app) == "database_busy"  # /healthz and the screen were told
