"""End to end: bleak's real BlueZ backend against the mock bluetoothd → parsing → aggregation →
the batched writer → the database. What is in the encounter table must be what was advertised."""
from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from ble_beacon.models import Encounter
from ble_beacon.scanner import BleScanner, ScannerConfig
from ble_beacon.worker import EncounterWriter, VenueNotReady, build_scanner, build_venue_beacon
from core.models import Kiosk
from tests.ble_beacon import phones
from tests.ble_beacon.mockbluez import wait_for
from tests.ble_beacon.support import ManualClock

WAIT_S = 10.0
T0 = datetime(2026, 3, 10, 9, 14, 40, tzinfo=UTC)  # slot 36; slot 37 starts at 09:15 UTC


def fast() -> ScannerConfig:
    return ScannerConfig(health_interval_s=0.05, flush_interval_s=0.05, retry_min_s=0.05,
                         retry_max_s=0.2, start_backoff_s=0.02)


@pytest.fixture
def demo(make_venue):
    return make_venue(code="DEMO", name="Trụ sở UBND phường")


@pytest.fixture
def running(app):
    started: list = []
    yield started
    for worker in started:
        worker.stop()


def encounters(session) -> list[Encounter]:
    session.expire_all()
    return list(session.exec(select(Encounter).order_by(Encounter.first_seen_at,
                                                        Encounter.rolling_id)))


@pytest.mark.asyncio
async def test_encounters_in_the_database_match_what_was_advertised(app, session, demo, bluez,
                                                                    running):
    clock = ManualClock(T0)
    writer = EncounterWriter(app, venue_code="DEMO", kiosk_name="entrance-1")
    scanner = BleScanner(fast(), sink=writer, clock=clock)
    running.append(scanner)
    scanner.start()
    await wait_for(lambda: scanner.status() == "ok", WAIT_S, "scanner ok")

    old_id = phones.bluezone_id(T0)
    rpi = bytes.fromhex("5c" * 16)
    android = await bluez.add_phone("5E:11:22:33:44:01", rssi=-60, **phones.bluezone_android(T0))
    await bluez.add_phone("7A:11:22:33:44:02", rssi=-86, **phones.gaen(rpi))
    await bluez.add_phone("4F:11:22:33:44:03", rssi=-77, **phones.bluetrace())
    await bluez.add_phone("00:1A:7D:DA:71:04", name="Watch", manufacturer_data={0x0157: b"\x01"})
    await wait_for(lambda: scanner.recorded == 3, WAIT_S, "three phones recorded")
    for rssi in (-52, -67):  # the visitor walks up to the kiosk, then steps aside
        clock.advance(3)
        await bluez.advertise(android, rssi=rssi)
    await wait_for(lambda: scanner.recorded == 5, WAIT_S, "RSSI reports")

    clock.set(datetime(2026, 3, 10, 9, 15, 12, tzinfo=UTC))  # every phone rotates at :15
    new_id = phones.bluezone_id(clock())
    await bluez.advertise(android, manufacturer_data={8885: new_id}, rssi=-58)
    await wait_for(lambda: scanner.recorded == 6, WAIT_S, "rotated ID recorded")

    await bluez.remove_adapter()  # the USB dongle is pulled out…
    await wait_for(lambda: scanner.status() == "absent", WAIT_S, "adapter gone")
    await bluez.add_adapter()  # …and put back; the phone is still there, with a new address
    await wait_for(lambda: scanner.status() == "ok", WAIT_S, "adapter back")
    clock.advance(5)
    await bluez.add_phone("6A:99:88:77:66:05", rssi=-61, **phones.bluezone_android(clock()))
    await wait_for(lambda: scanner.recorded == 7, WAIT_S, "phone heard again")

    scanner.stop()
    got = {(e.protocol, e.rolling_id): e for e in encounters(session)}
    assert set(got) == {("bluezone", old_id.hex()), ("bluezone", new_id.hex()),
                        ("gaen", rpi.hex()), ("bluetrace", "4F:11:22:33:44:03")}
    old = got[("bluezone", old_id.hex())]
    assert (old.count, old.rssi_min, old.rssi_max) == (3, -67, -52)
    assert old.rssi_mean == pytest.approx(-59.67, abs=0.01)
    assert (old.first_seen_at, old.last_seen_at, old.proximity) == (
        T0, datetime(2026, 3, 10, 9, 14, 46, tzinfo=UTC), "near")
    new = got[("bluezone", new_id.hex())]
    assert (new.count, new.rssi_min, new.rssi_max) == (2, -61, -58)
    assert new.first_seen_at == datetime(2026, 3, 10, 9, 15, 12, tzinfo=UTC)
    assert got[("gaen", rpi.hex())].proximity == "medium"
    assert got[("bluetrace", "4F:11:22:33:44:03")].rssi_max == -77
    kiosk = session.exec(select(Kiosk).where(Kiosk.name == "entrance-1")).one()
    assert all(e.venue_id == demo.id and e.kiosk_id == kiosk.id for e in got.values())
    assert all(e.visit_id is None for e in got.values())


@pytest.mark.asyncio
async def test_batches_wait_for_the_venue_to_be_set_up(app, session, bluez, running,
                                                       make_venue):
    writer = EncounterWriter(app, venue_code="LATER")
    scanner = BleScanner(fast(), sink=writer, clock=ManualClock(T0))
    running.append(scanner)
    scanner.start()
    await wait_for(lambda: scanner.status() == "ok", WAIT_S, "scanner ok")
    with pytest.raises(VenueNotReady):
        writer([])
    await bluez.add_phone("5E:11:22:33:44:01", **phones.bluezone_android(T0))
    await wait_for(lambda: scanner.recorded == 1, WAIT_S, "recorded")
    make_venue(code="LATER", name="Mở sau")
    await wait_for(lambda: encounters(session), WAIT_S, "written once the venue exists")


def test_build_scanner_follows_kiosk_ble(app):
    app.config["BLE"] = "off"
    assert build_scanner(app) is None
    app.config["BLE"] = "hci0"
    app.config["BLE_SCAN_MODE"] = "passive"
    worker = build_scanner(app)
    assert worker.name == "ble" and worker.status() == "off"
    assert worker.config.adapter == "hci0" and worker.config.scanning_mode == "passive"
    assert isinstance(worker._sink, EncounterWriter) and worker._sink.venue_code == "DEMO"


@pytest.mark.asyncio
async def test_healthz_reports_the_scanner(app, client, demo, bluez, running):
    assert client.get("/healthz").get_json()["components"]["ble"] == "off"
    app.config["BLE"] = "hci0"
    worker = build_scanner(app)
    app.extensions["workers"].add(worker)
    running.append(worker)
    worker.start()

    def ble_status():
        return client.get("/healthz").get_json()["components"]["ble"]

    await wait_for(lambda: ble_status() == "ok", WAIT_S, "healthz ok")
    await bluez.set_powered(False)
    await wait_for(lambda: ble_status() == "error: powered_off", 15, "healthz powered off")
    await bluez.set_powered(True)
    await wait_for(lambda: ble_status() == "ok", 15, "healthz ok again")
    assert client.get("/healthz").status_code == 200


@pytest.mark.asyncio
async def test_venue_beacon_advertises_this_venue(app, session, demo, bluez, running):
    app.config.update(BLE="hci0", BLE_BEACON="off")
    assert build_venue_beacon(app) is None
    app.config["BLE_BEACON"] = "ibeacon"
    worker = build_venue_beacon(app)
    worker.check_interval_s = 0.05
    running.append(worker)
    worker.start()
    await wait_for(lambda: worker.status() == "ok", WAIT_S, "beacon ok")
    (props,) = (await bluez.advertisements()).values()
    data = props["ManufacturerData"][0x004C].value
    major, minor = int.from_bytes(data[18:20], "big"), int.from_bytes(data[20:22], "big")
    # The device row is named after the host, like the one check-ins record.
    device = session.exec(select(Kiosk).where(Kiosk.name == socket.gethostname()[:100])).one()
    assert (major, minor) == (demo.id, device.id)
    app.config["BLE_BEACON"] = "loud"
    with pytest.raises(ValueError):
        build_venue_beacon(app)


def test_kiosk_run_builds_the_ble_workers(app, demo):
    from kiosk.runtime import build_workers

    app.config.update(BLE="off", BLE_BEACON="off")
    assert [w.name for w in build_workers(app)] == ["retention"]   # tracing's daily purge
    app.config.update(BLE="auto", BLE_BEACON="eddystone")
    assert [w.name for w in build_workers(app)] == ["ble", "ble_beacon", "retention"]
