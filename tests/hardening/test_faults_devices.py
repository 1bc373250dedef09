"""Hardware that vanishes while the kiosk runs: the network camera stream drops and comes back,
the Bluetooth adapter is pulled out and plugged back. The screen and /healthz say so in both
languages, the workers keep retrying, work resumes on its own, and nothing already taken is lost.

Real parts only: OpenCV reading an MJPEG stream from a local HTTP camera, bleak over the mock
bluetoothd on a private D-Bus, the real check-in and encounter writers on the test database."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from ble_beacon.models import Encounter
from ble_beacon.worker import build_scanner
from core.db import db
from core.models import User
from kiosk.camera import CameraWorker, parse_source
from kiosk.runtime import CAMERA_EXTENSION, CameraCheckIn
from tests.ble_beacon import phones
from tests.ble_beacon.conftest import mock_bluez, mock_bluez_session  # noqa: F401
from tests.ble_beacon.mockbluez import BLUEZ_MOCK_IFACE, device_props
from tests.conftest import T0
from tests.hardening.faults_support import seed_visitors, staff_token, wait_until
from tests.kiosk.test_camera import MjpegCamera
from visits.models import Visit


@pytest.fixture
def client(screen):
    """Scans here come from the kiosk's own (paired) screen; it declares as a phone would."""
    return screen

# Production behaviour with test-sized pauses (the product's defaults are seconds).
CAMERA_BACKOFF = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, "poll_s": 0.05}


@pytest.fixture
def hq(make_venue, app):
    app.config["VENUE"] = "HQ"
    return make_venue(code="HQ", name="Trụ sở chính")


def screen(client, lang: str = "vi") -> str:
    client.get(f"/lang/{lang}")
    return client.get("/kiosk").get_data(as_text=True)


def desk(app, lang: str = "vi") -> str:
    """The reception desk, where the devices' own states are shown (the door shows visitors only
    what they can act on)."""
    from core.auth import create_user
    from core.db import db
    from tests.conftest import PASSWORD

    with db.new_session(app) as session:
        if session.exec(select(User).where(User.username == "desk")).first() is None:
            create_user(session=session, username="desk", role="admin", password=PASSWORD,
                        now=T0)
    with app.test_client() as staff:
        staff.post("/login", data={"username": "desk", "password": PASSWORD})
        staff.get(f"/lang/{lang}")
        return staff.get("/kiosk/desk").get_data(as_text=True)


NO_CAMERA_VI = "Lối vào này tạm thời chưa đọc được mã: vui lòng đưa mã QR của bạn cho lễ tân."


def components(client) -> dict:
    return client.get("/healthz").get_json()["components"]


def visits_of(app) -> dict[int, int]:
    """{visitor id: visit id} of every visit in the database."""
    with db.new_session(app) as session:
        return {v.visitor_id: v.id for v in session.exec(select(Visit))}


# --- the camera ---------------------------------------------------------------------------

@pytest.fixture
def door_camera():
    camera = MjpegCamera("WIFI:S:Cafe;;")  # nobody at the door yet: some other code in view
    camera.start()
    yield camera
    camera.stop()


def test_camera_stream_vanishes_and_comes_back(app, client, session, clock, hq, door_camera):
    first, second, walk_in = seed_visitors(app, session, 3, now=T0)
    token = staff_token(session, now=T0)
    # What `kiosk run` builds (runtime.build_camera / build_checkin), with short pauses.
    camera = CameraWorker(parse_source(door_camera.url), decoder=app.config["DECODER"],
                          **CAMERA_BACKOFF)
    app.extensions[CAMERA_EXTENSION] = camera
    manager = app.extensions["workers"]
    manager.add(camera)
    manager.add(CameraCheckIn(app, camera))
    manager.start()
    try:
        wait_until(lambda: components(client)["camera"] == "ok")
        door_camera.show(first.token)
        wait_until(lambda: first.visitor_id in visits_of(app))

        door_camera.stop()  # the camera's cable is pulled
        wait_until(lambda: components(client)["camera"] == "reconnecting")
        page = desk(app)
        assert "Camera bị mất kết nối. Đang kết nối lại…" in page
        assert "đang kết nối lại…" in page
        assert "The camera was disconnected. Reconnecting…" in desk(app, "en")
        # The door tells visitors what they can do instead, nothing about cables.
        door = screen(client)
        assert NO_CAMERA_VI in door and "kết nối lại" not in door
        assert client.get("/healthz").status_code == 200  # the door still works without it
        # Meanwhile the receptionist checks someone in by hand: the door keeps working.
        manual = client.post("/api/v1/checkins", json={"venue_code": "HQ",
                                                       "payload": walk_in.token},
                             headers={"Authorization": f"Bearer {token}"})
        assert manual.status_code == 200 and manual.get_json()["action"] == "check_in"
        # While the camera is away the worker keeps trying (with backoff): still reconnecting,
        # neither given up ("off") nor broken ("error").
        assert components(client)["camera"] == "reconnecting"

        door_camera.show(second.token)  # the next visitor is at the door…
        door_camera.start()             # …when the cable is plugged back in
        wait_until(lambda: second.visitor_id in visits_of(app), timeout=40)
        assert components(client)["camera"] == "ok"
        assert "Camera đã sẵn sàng" in screen(client)
    finally:
        manager.stop()
    visits = visits_of(app)
    assert set(visits) == {first.visitor_id, second.visitor_id, walk_in.visitor_id}
    with db.new_session(app) as fresh:
        opened = {v.visitor_id: v.opened_by for v in fresh.exec(select(Visit))}
    assert opened[first.visitor_id] == opened[second.visitor_id] == "scan"


# --- the Bluetooth adapter --------------------------------------------------------------------

def encounters_of(app) -> dict[str, int]:
    """{rolling id: row count} in the database."""
    with db.new_session(app) as session:
        found: dict[str, int] = {}
        for row in session.exec(select(Encounter)):
            found[row.rolling_id] = found.get(row.rolling_id, 0) + 1
        return found


class Radio:
    """The mock bluetoothd's controls, called synchronously (this test runs no event loop of its
    own: a browser test earlier in the run may have left one in the main thread)."""

    def __init__(self, mock, adapter: str = "hci0"):
        self.mock = mock
        self.adapter = adapter

    def add_phone(self, address: str, **props) -> str:
        (path,) = self.mock.call_sync("/", BLUEZ_MOCK_IFACE, "AddBLEDevice", "ssa{sv}",
                                      [self.adapter, address, device_props(**props)])
        return path

    def remove_adapter(self) -> None:
        self.mock.call_sync("/", BLUEZ_MOCK_IFACE, "RemoveAdapterWithDevices", "s",
                            [self.adapter])

    def add_adapter(self) -> None:
        self.mock.call_sync("/", BLUEZ_MOCK_IFACE, "AddAdapter", "ss", [self.adapter, "kiosk"])


def test_bluetooth_adapter_vanishes_and_comes_back(app, client, clock, hq, mock_bluez):  # noqa: F811
    radio = Radio(mock_bluez.mock)
    app.config["BLE"] = "auto"
    scanner = build_scanner(app)  # what `kiosk run` starts: the scanner and its DB writer
    # Quick health checks and retries; batches only on the hour, so what reaches the database
    # before the adapter comes back got there because of the fault, not a timer.
    scanner.config = replace(scanner.config, health_interval_s=0.05, flush_interval_s=3600,
                             retry_min_s=0.05, retry_max_s=0.2, start_backoff_s=0.02)
    app.extensions["workers"].add(scanner)
    scanner.start()
    try:
        wait_until(lambda: components(client)["ble"] == "ok")
        before = phones.bluezone_id(clock.now()).hex()
        radio.add_phone("5E:11:22:33:44:01", rssi=-60, **phones.bluezone_android(clock.now()))
        wait_until(lambda: scanner.recorded >= 1)
        assert encounters_of(app) == {}  # heard, not yet written

        radio.remove_adapter()  # the USB dongle is pulled out
        wait_until(lambda: components(client)["ble"] == "absent")
        # What was heard before is in the database while the adapter is away.
        wait_until(lambda: encounters_of(app).get(before) == 1)
        page = desk(app)
        assert "Không tìm thấy bộ thu Bluetooth. Hãy cắm bộ thu vào; kiosk sẽ tiếp tục thử lại." \
            in page
        assert "chưa kết nối" in page
        assert "No Bluetooth adapter found. Plug one in; the kiosk keeps trying." in desk(
            app, "en")
        assert "Bluetooth" not in screen(client).split('id="idle"')[1].split("bluezone-hint")[0]
        assert client.get("/healthz").status_code == 200  # check-ins go on without Bluetooth

        radio.add_adapter()  # plugged back in
        wait_until(lambda: components(client)["ble"] == "ok")
        clock.advance(minutes=20)  # a later visitor, whose phone has another rolling ID
        after = phones.bluezone_id(clock.now()).hex()
        assert after != before
        radio.add_phone("6A:99:88:77:66:05", rssi=-61, **phones.bluezone_android(clock.now()))
        wait_until(lambda: scanner.recorded >= 2)
    finally:
        scanner.stop()  # writes the rest
    assert encounters_of(app) == {before: 1, after: 1}
