"""`kiosk run` wiring on the check-in side: codes the real camera pipeline reads become visits
and screen events; the event stream works under the kiosk's server; the automatic check-out job."""
from __future__ import annotations

import http.client
import json
from datetime import time

import cv2
import numpy as np
import pytest
from sqlmodel import select

from core.db import db
from kiosk.runtime import AutoCheckout, build_jobs, build_workers, camera_of
from tests.conftest import T0
from tests.kiosk.conftest import wait_until
from tests.support.qrframes import Placement, camera_frame
from visits import events
from visits.models import Visit
from visits.services import open_visit


@pytest.fixture
def drop_folder(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    return folder


def test_codes_read_by_the_camera_check_visitors_in(app, clock, drop_folder, venue, make_visitor,
                                                     make_declaration, make_token):
    app.config.update(CAMERA_SOURCE=str(drop_folder), VENUE="HQ")
    visitor = make_visitor()
    token = make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0))
    clock.advance(minutes=3)
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        if worker.name in ("camera", "checkin"):  # the camera and what it feeds
            manager.add(worker)
    assert manager.names() == ["camera", "checkin"]
    with events.broker.subscribe("HQ") as stream:
        manager.start()
        try:
            assert cv2.imwrite(str(drop_folder / "visitor.jpg"),
                               camera_frame([Placement(token, tilt_deg=20)], seed=3))
            event = wait_until(lambda: stream.get(timeout=0.5))
        finally:
            manager.stop()
    assert (event["type"], event["action"], event["display_name"]) == (
        "visit", "check_in", "NGUYỄN VĂN AN")
    with db.new_session(app) as session:
        [visit] = session.exec(select(Visit)).all()
    assert (visit.opened_by, visit.checked_in_at) == ("scan", clock.now())
    assert visit.kiosk_id is not None
    assert camera_of(app).status() == "off"


def test_the_automatic_check_out_job(app, clock, session, make_venue, make_visitor, make_visit,
                                     runner):
    [job] = build_jobs(app)
    assert isinstance(job, AutoCheckout) and job.status() == "off"
    venue = make_venue(closing_time=time(17, 0))
    visit = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)
    assert job.run_once() == 0
    clock.advance(hours=9)  # 18:00 in Hà Nội
    result = runner.invoke(args=["kiosk", "close-overdue"])
    assert result.exit_code == 0 and "1 visits closed" in result.output
    session.refresh(visit)
    assert visit.closed_by == "automatic"
    job.start()
    try:
        wait_until(lambda: job.status() == "ok")
    finally:
        job.stop()
    assert job.status() == "off"


@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "EVENTS_HEARTBEAT_S": 1}])
def test_event_stream_under_the_kiosk_server(app, venue, make_visitor, session):
    """The production server (kiosk/server.py, as `kiosk run` serves) streams each event as it
    happens (no buffering), and a screen that goes away gives its thread back."""
    from kiosk.screens import COOKIE_NAME
    from kiosk.server import serve_while
    from tests.conftest import pair_screen

    screen_cookie = f"{COOKIE_NAME}={pair_screen(app)}"

    def watch(port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.request("GET", "/kiosk/events", headers={"Cookie": screen_cookie})
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Type").startswith("text/event-stream")

            def next_event(kind):
                data, current = None, None
                while True:
                    line = response.fp.readline().decode().rstrip("\n")
                    if line.startswith("event: "):
                        current = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and current == kind:
                        return json.loads(data)

            status = next_event("status")
            assert (status["camera"], status["ble"]) == ("off", "off")
            visitor = make_visitor()
            wait_until(lambda: events.broker.subscriber_count("HQ") == 1)
            open_visit(session=session, visitor_id=visitor.id, venue_id=venue.id, now=T0,
                       opened_by="staff")
            assert next_event("visit")["display_name"] == "NGUYỄN VĂN AN"
            response.close()
        finally:
            connection.close()
        # The screen went away: its subscription is dropped at the next heartbeat, and its
        # slot is free again.
        wait_until(lambda: events.broker.subscriber_count("HQ") == 0)
        wait_until(lambda: app.extensions["kiosk.streams"].in_use == 0)

    serve_while(app, watch)


def test_screen_shows_the_camera_state_and_its_live_preview(app, client, drop_folder, venue,
                                                            clock):
    app.config.update(CAMERA_SOURCE=str(drop_folder), VENUE="HQ")
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        if worker.name in ("camera", "checkin"):
            manager.add(worker)
    manager.start()
    try:
        wait_until(lambda: camera_of(app).status() == "ok")
        page = client.get("/kiosk").get_data(as_text=True)
        assert "Camera đã sẵn sàng. Vui lòng đưa mã QR của bạn vào camera." in page
        assert 'src="/kiosk/preview.mjpg"' in page
        assert cv2.imwrite(str(drop_folder / "frame.jpg"),
                           camera_frame([Placement("WIFI:S:Cafe;;")], seed=5))
        response = client.get("/kiosk/preview.mjpg", buffered=False)
        assert response.mimetype == "multipart/x-mixed-replace"
        part = next(iter(response.response))
        header, _, jpeg = part.partition(b"\r\n\r\n")
        assert header.startswith(b"--frame\r\nContent-Type: image/jpeg")
        frame = cv2.imdecode(np.frombuffer(jpeg.rstrip(b"\r\n"), np.uint8), cv2.IMREAD_COLOR)
        assert frame is not None and frame.shape[1] > 100
        # The detected code is outlined in green on the preview.
        green = (frame[:, :, 1] > 150) & (frame[:, :, 0] < 110) & (frame[:, :, 2] < 110)
        assert green.sum() > 200
        response.close()
    finally:
        manager.stop()
