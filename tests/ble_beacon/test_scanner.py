"""The scanner worker driving bleak's real BlueZ backend against the mock bluetoothd on a private
D-Bus: phones appear, RSSI changes, IDs rotate, the adapter goes off, away and back."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from ble_beacon.scanner import BleScanner, ScannerConfig
from tests.ble_beacon import phones
from tests.ble_beacon.mockbluez import BluezController, wait_for
from tests.ble_beacon.support import EncounterLog, ManualClock

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 3, 10, 9, 14, 40, tzinfo=UTC)  # 16:14:40 in Hà Nội, slot 36
WAIT_S = 10.0


def fast(**overrides) -> ScannerConfig:
    """Production behaviour with test-sized intervals."""
    values = dict(health_interval_s=0.05, flush_interval_s=0.05, retry_min_s=0.05,
                  retry_max_s=0.2, start_backoff_s=0.02, watchdog_s=60.0, dbus_timeout_s=5.0)
    values.update(overrides)
    return ScannerConfig(**values)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def sink():
    return EncounterLog()


@pytest.fixture
def make_scanner(clock, sink):
    started: list[BleScanner] = []

    def make(config: ScannerConfig | None = None, **kwargs) -> BleScanner:
        scanner = BleScanner(config or fast(), sink=kwargs.pop("sink", sink), clock=clock, **kwargs)
        started.append(scanner)
        scanner.start()
        return scanner

    yield make
    for scanner in started:
        scanner.stop()


async def until_status(scanner: BleScanner, status: str) -> None:
    await wait_for(lambda: scanner.status() == status, WAIT_S, f"status {status!r}, "
                   f"still {scanner.status()!r}")


async def test_phones_appear_and_only_contact_tracing_apps_are_recorded(bluez, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    bluezone = phones.bluezone_id(T0)
    rpi = bytes.fromhex("a1" * 16)
    await bluez.add_phone("5E:11:22:33:44:01", rssi=-58, **phones.bluezone_android(T0))
    await bluez.add_phone("7A:11:22:33:44:02", rssi=-75, **phones.gaen(rpi))
    await bluez.add_phone("4F:11:22:33:44:03", rssi=-91, **phones.bluetrace())
    await bluez.add_phone("62:11:22:33:44:04", rssi=-66, **phones.bluezone_ios_foreground())
    # Not recorded: an unrelated watch, a malformed Bluezone ID, the obsolete v1 format.
    await bluez.add_phone("00:1A:7D:DA:71:05", name="Watch",
                          manufacturer_data={0x0157: b"\x01\x02"})
    await bluez.add_phone("5E:11:22:33:44:06", uuids=["00004e56-0000-1000-8000-00805f9b34fb"],
                          manufacturer_data={8885: bluezone[:11]})
    await bluez.add_phone("5E:11:22:33:44:07", uuids=["e20a39f4-73f5-4bc4-a12f-17d1ad07a889"],
                          manufacturer_data={8885: b"A1B2C3"})

    expected = {
        bluezone.hex(): "bluezone",
        rpi.hex(): "gaen",
        "4F:11:22:33:44:03": "bluetrace",
        "62:11:22:33:44:04": "bluezone_ios",
    }
    await wait_for(lambda: scanner.advertisements >= 7, WAIT_S, "all seven adverts")
    await wait_for(lambda: sink.protocols() == expected, WAIT_S, "the four encounters written")
    (enc,) = sink.by_id(bluezone.hex())
    assert (enc.rssi_max, enc.proximity, enc.details["slot"]) == (-58, "near", 36)
    assert enc.first_seen_at == T0
    (far,) = sink.by_id("4F:11:22:33:44:03")
    assert far.proximity == "far" and far.key_type == "address"
    assert scanner.rejected >= 1


async def test_rssi_changes_update_one_encounter(bluez, make_scanner, sink, clock):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    rolling = phones.bluezone_id(T0).hex()
    path = await bluez.add_phone("5E:11:22:33:44:10", rssi=-90, **phones.bluezone_android(T0))
    for n, rssi in enumerate((-84, -70, -95), start=1):
        await wait_for(lambda n=n: scanner.recorded == n, WAIT_S, f"report {n}")
        clock.advance(2)
        await bluez.advertise(path, rssi=rssi)
    await wait_for(lambda: [e.count for e in sink.by_id(rolling)] == [4], WAIT_S, "4 reports")
    (enc,) = sink.by_id(rolling)
    assert (enc.rssi_min, enc.rssi_max, enc.rssi_mean) == (-95, -70, -84.75)
    assert enc.proximity == "near"
    assert (enc.last_seen_at - enc.first_seen_at).total_seconds() == 6


async def test_rolling_ids_rotate_at_the_slot_boundary(bluez, make_scanner, sink, clock):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    old, new = phones.bluezone_id(T0), phones.bluezone_id(datetime(2026, 3, 10, 9, 15, tzinfo=UTC))
    assert old != new
    path = await bluez.add_phone("5E:11:22:33:44:20", rssi=-60, **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(old.hex()), WAIT_S, "the slot-36 ID")
    clock.advance(30)  # 09:15:10 — every Bluezone phone has a new ID within ~30 s
    await bluez.advertise(path, manufacturer_data={8885: new}, rssi=-61)
    await wait_for(lambda: sink.by_id(new.hex()), WAIT_S, "the slot-37 ID")
    assert sink.by_id(new.hex())[0].details["slot"] == 37
    assert sink.by_id(old.hex())[0].details["slot"] == 36
    # A minute later the phone is still there under its new ID; the old one is closed.
    for _ in range(6):
        clock.advance(10)
        await bluez.advertise(path, rssi=-62 if _ % 2 else -63)
    await wait_for(lambda: sink.by_id(old.hex())[0].closed, WAIT_S, "the old ID closed")
    assert not sink.by_id(new.hex())[0].closed
    assert [e.rolling_id for e in scanner.present()] == [new.hex()]


async def test_address_rotation_with_a_new_id_is_a_new_encounter(bluez, make_scanner, sink, clock):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    path = await bluez.add_phone("5E:11:22:33:44:30", **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "first ID")
    await bluez.remove_phone(path)
    clock.set(datetime(2026, 3, 10, 9, 15, 20, tzinfo=UTC))
    later = clock()
    await bluez.add_phone("6C:99:22:33:44:31", **phones.bluezone_android(later))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(later).hex()), WAIT_S, "second ID")
    assert len(sink.latest()) == 2


async def test_adapter_powered_off_and_back_on(bluez, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    await bluez.set_powered(False)
    await until_status(scanner, "error: powered_off")
    assert "Turn it on" in str(scanner.status_info().message)
    await bluez.set_powered(True)
    await until_status(scanner, "ok")
    await bluez.add_phone("5E:11:22:33:44:40", **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "advert after on")
    calls = await bluez.calls()
    assert calls.count("StartDiscovery") >= 2 and "StopDiscovery" in calls


async def test_scanner_started_with_the_radio_off_waits_for_it(bluez, make_scanner):
    await bluez.set_powered(False)
    scanner = make_scanner(fast(adapter="hci0"))
    await until_status(scanner, "error: powered_off")
    await bluez.set_powered(True)
    await until_status(scanner, "ok")


async def test_adapter_removed_and_returns(bluez, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    await bluez.remove_adapter()
    await until_status(scanner, "absent")
    assert scanner.status_info().reason == "no_adapter"
    await bluez.add_adapter()
    await until_status(scanner, "ok")
    await bluez.add_phone("5E:11:22:33:44:50", **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "advert, new adapter")


async def test_adapter_chosen_by_name(bluez, make_scanner):
    scanner = make_scanner(fast(adapter="hci1"))
    await until_status(scanner, "absent")
    assert scanner.status_info().reason == "adapter_not_found"
    bluez.adapter = "hci1"
    await bluez.add_adapter()
    await until_status(scanner, "ok")
    assert scanner.status_info().adapter == "hci1"
    assert "StartDiscovery" in await bluez.calls()
    bluez.adapter = "hci0"
    assert "StartDiscovery" not in await bluez.calls()


async def test_no_bluetoothd_then_it_starts(bare_bus, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "error: no_bluetoothd")
    bare_bus.start_bluetoothd()
    await until_status(scanner, "ok")


async def test_passive_scan_registers_an_advertisement_monitor(bluez, make_scanner, sink):
    scanner = make_scanner(fast(scanning_mode="passive"))
    await until_status(scanner, "ok")
    assert scanner.status_info().mode == "passive"
    assert "RegisterMonitor" in await bluez.calls()
    await bluez.add_phone("7A:11:22:33:44:60", **phones.gaen(bytes(range(16))))
    await wait_for(lambda: sink.by_id(bytes(range(16)).hex()), WAIT_S, "GAEN phone, passively")
    scanner.stop()
    assert (await bluez.calls())[-1] == "UnregisterMonitor"


async def test_passive_falls_back_to_active_without_the_monitor_api(bare_bus, make_scanner):
    bare_bus.start_bluetoothd({"enable_monitor_api": False})
    scanner = make_scanner(fast(scanning_mode="passive"))
    await until_status(scanner, "ok")
    assert scanner.status_info().mode == "active"


async def test_start_retries_are_bounded_then_recovery(bluez, make_scanner):
    await bluez.add_method(
        "org.bluez.Adapter1", "StartDiscovery", "", "",
        "raise dbus.exceptions.DBusException('busy', name='org.bluez.Error.InProgress')")
    scanner = make_scanner(fast(start_attempts=3, retry_min_s=0.5, retry_max_s=0.5))
    await until_status(scanner, "error: start_failed")
    assert (await bluez.calls()).count("StartDiscovery") == 3  # one bounded cycle so far
    await bluez.add_method("org.bluez.Adapter1", "StartDiscovery", "", "",
                           "self.props['org.bluez.Adapter1']['Discovering'] = True")
    await until_status(scanner, "ok")


async def test_watchdog_restarts_a_silent_scanner(bluez, make_scanner, sink):
    scanner = make_scanner(fast(watchdog_s=0.3))
    await until_status(scanner, "ok")
    await wait_for(lambda: scanner.status_info().restarts >= 1, WAIT_S, "a watchdog restart")

    async def scanning_again():
        return (await bluez.calls()).count("StartDiscovery") >= 2 and scanner.status() == "ok"

    await wait_for(scanning_again, WAIT_S, "discovery started again")
    await bluez.add_phone("5E:11:22:33:44:70", **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "advert after restart")


async def test_a_failing_writer_loses_nothing(bluez, make_scanner, sink):
    sink.fail_next = 3
    scanner = make_scanner()
    await until_status(scanner, "ok")
    await bluez.add_phone("5E:11:22:33:44:80", **phones.bluezone_android(T0))
    await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "written on retry")


async def test_a_burst_of_reports_is_counted_exactly(bluez, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    path = await bluez.add_phone("5E:11:22:33:44:90", rssi=-40, **phones.bluezone_android(T0))
    await bluez.burst(path, 300, -50)
    rolling = phones.bluezone_id(T0).hex()
    await wait_for(lambda: [e.count for e in sink.by_id(rolling)] == [301], WAIT_S, "301 reports")
    (enc,) = sink.by_id(rolling)
    assert (enc.rssi_max, enc.rssi_min) == (-40, -69)


async def test_stop_closes_and_hands_over_every_encounter(bluez, make_scanner, sink):
    scanner = make_scanner()
    await until_status(scanner, "ok")
    await bluez.add_phone("5E:11:22:33:44:A0", **phones.bluezone_android(T0))
    await wait_for(lambda: scanner.recorded >= 1, WAIT_S, "recorded")
    scanner.stop()
    assert scanner.status() == "off"
    assert [e.closed for e in sink.latest().values()] == [True]
    calls = await bluez.calls()
    assert calls.index("StopDiscovery") > calls.index("StartDiscovery")


async def test_off_means_no_thread_and_no_bluetooth_calls(bluez, make_scanner):
    scanner = make_scanner(fast(adapter="off"))
    assert scanner.status() == "off"
    assert scanner._thread is None
    assert await bluez.calls() == []


async def test_bluetoothd_restart_while_scanning(bare_bus, make_scanner, sink):
    first = bare_bus.start_bluetoothd()
    scanner = make_scanner()
    await until_status(scanner, "ok")
    first.stop()  # bluetoothd crashes (no InterfacesRemoved, nothing)
    await until_status(scanner, "error: no_bluetoothd")
    second = bare_bus.start_bluetoothd()
    await until_status(scanner, "ok")
    bus = await MessageBus(bus_address=bare_bus.address, bus_type=BusType.SYSTEM).connect()
    try:
        await BluezController(bus).add_phone("5E:11:22:33:44:B0", **phones.bluezone_android(T0))
        await wait_for(lambda: sink.by_id(phones.bluezone_id(T0).hex()), WAIT_S, "heard again")
    finally:
        bus.disconnect()
    assert second.alive()
