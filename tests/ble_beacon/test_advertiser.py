"""The venue beacon over BlueZ's LEAdvertisingManager1, against the mock bluetoothd that reads the
advertisement back and checks it the way bluetoothd does (ble-testing.md §9)."""
from __future__ import annotations

import uuid
from typing import Annotated

import pytest
import pytest_asyncio
from dbus_fast import BusType, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_property

from ble_beacon import advertiser as adv
from ble_beacon.parsing import AdvertisementRecord, parse_advertisement
from tests.ble_beacon.mockbluez import BluezCallError, wait_for

VENUE_UUID = uuid.UUID("5d3b6e2c-8f1a-4b7e-9c2d-4a6f0e8b1c37")


@pytest_asyncio.fixture
async def advertisers(mock_bluez):
    started: list[adv.Advertiser] = []

    def make(payload, path=adv.ADVERTISEMENT_PATH):
        a = adv.Advertiser(payload, adapter="hci0", path=path)
        started.append(a)
        return a

    yield make
    for a in started:
        await a.stop()


def test_ibeacon_bytes():
    payload = adv.ibeacon(VENUE_UUID, major=258, minor=7, measured_power=-59)
    data = payload.manufacturer_data[0x004C]
    assert data[:2] == b"\x02\x15" and data[2:18] == VENUE_UUID.bytes
    assert data[18:] == b"\x01\x02\x00\x07\xc5" and len(data) == 23
    assert payload.type == "broadcast"


def test_eddystone_uid_bytes():
    payload = adv.venue_payload("eddystone", venue_id=3, kiosk_id=9, beacon_uuid=VENUE_UUID)
    frame = payload.service_data[adv.EDDYSTONE_SERVICE_UUID]
    assert frame[0] == 0x00 and frame[1] == 0xEC  # −20 dBm at 0 m
    assert frame[2:12] == VENUE_UUID.bytes[:4] + VENUE_UUID.bytes[-6:]
    assert frame[12:18] == b"\x00\x00\x00\x03\x00\x09" and frame[18:] == b"\x00\x00"
    assert payload.service_uuids == (adv.EDDYSTONE_SERVICE_UUID,)


def test_payload_builders_refuse_out_of_range_values():
    with pytest.raises(ValueError):
        adv.ibeacon(VENUE_UUID, major=70000, minor=0)
    with pytest.raises(ValueError):
        adv.eddystone_uid(b"short", bytes(6))
    with pytest.raises(ValueError):
        adv.venue_payload("altbeacon", venue_id=1, kiosk_id=1)


def test_the_scanner_ignores_the_kiosks_own_ibeacon():
    payload = adv.ibeacon(VENUE_UUID, 1, 1)
    record = AdvertisementRecord.create("00:01:02:03:04:05",
                                        manufacturer_data=payload.manufacturer_data)
    assert parse_advertisement(record).status == "ignored"


@pytest.mark.asyncio
async def test_ibeacon_is_registered_as_a_broadcast(bluez, advertisers):
    await advertisers(adv.venue_payload("ibeacon", venue_id=258, kiosk_id=7)).start()
    registered = await bluez.advertisements()
    assert list(registered) == [adv.ADVERTISEMENT_PATH]
    props = registered[adv.ADVERTISEMENT_PATH]
    assert props["Type"] == "broadcast"
    data = props["ManufacturerData"][0x004C].value
    assert data[18:22] == b"\x01\x02\x00\x07"  # major 258, minor 7, big-endian


@pytest.mark.asyncio
async def test_eddystone_uid_fits_and_is_registered(bluez, advertisers):
    await advertisers(adv.venue_payload("eddystone", venue_id=3, kiosk_id=9)).start()
    props = (await bluez.advertisements())[adv.ADVERTISEMENT_PATH]
    assert props["ServiceUUIDs"] == [adv.EDDYSTONE_SERVICE_UUID]
    assert len(props["ServiceData"][adv.EDDYSTONE_SERVICE_UUID].value) == 20


@pytest.mark.asyncio
async def test_oversized_service_data_is_refused_and_unexported(bluez, advertisers):
    payload = adv.BeaconPayload(service_uuids=(adv.EDDYSTONE_SERVICE_UUID,),
                                service_data={adv.EDDYSTONE_SERVICE_UUID: bytes(28)})
    advertiser = advertisers(payload)
    with pytest.raises(adv.AdvertiseError) as caught:
        await advertiser.start()
    assert caught.value.dbus_error == "org.bluez.Error.InvalidLength"
    assert "Advertising data too long (36 > 31 bytes)" in caught.value.detail
    assert not advertiser.registered and advertiser._bus is None
    assert await bluez.advertisements() == {}


@pytest.mark.asyncio
async def test_same_path_twice_and_too_many_instances(bluez, advertisers):
    payload = adv.ibeacon(VENUE_UUID, 1, 1)
    first = advertisers(payload, path="/org/khaibao/test/adv0")
    await first.start()
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        bus.export("/org/khaibao/test/adv0", adv.LEAdvertisement(payload))
        with pytest.raises(BluezCallError) as caught:
            await _register(bluez, bus, "/org/khaibao/test/adv0")
        assert caught.value.name == "org.bluez.Error.AlreadyExists"
    finally:
        bus.disconnect()
    for n in range(1, 5):
        await advertisers(payload, path=f"/org/khaibao/test/adv{n}").start()
    sixth = advertisers(payload, path="/org/khaibao/test/adv5")
    with pytest.raises(adv.AdvertiseError) as too_many:
        await sixth.start()
    assert too_many.value.dbus_error == "org.bluez.Error.NotPermitted"
    assert len(await bluez.advertisements()) == 5


class WronglyTyped(ServiceInterface):
    """ServiceData as a{say} (no variants): what bluez-peripheral 0.1.7 sends."""

    def __init__(self, service_data: dict[str, bytes]) -> None:
        super().__init__(adv.ADVERTISEMENT_IFACE)
        self.service_data = service_data

    @dbus_property(PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "broadcast"

    @dbus_property(PropertyAccess.READ)
    def ServiceData(self) -> Annotated[dict[str, bytes], DBusSignature("a{say}")]:
        return self.service_data


async def _register(bluez, bus: MessageBus, path: str) -> None:
    from dbus_fast import Message, MessageType

    reply = await bus.call(Message(destination="org.bluez", path=bluez.adapter_path,
                                   interface=adv.ADVERTISING_MANAGER_IFACE,
                                   member="RegisterAdvertisement", signature="oa{sv}",
                                   body=[path, {}]))
    if reply.message_type == MessageType.ERROR:
        raise BluezCallError(reply.error_name or "", reply.body)


@pytest.mark.asyncio
async def test_wrong_dbus_types_are_refused_like_bluetoothd_does(bluez):
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        bus.export("/org/khaibao/test/wrong", WronglyTyped({"feaa": b"\x00\x01"}))
        with pytest.raises(BluezCallError) as caught:
            await _register(bluez, bus, "/org/khaibao/test/wrong")
        assert caught.value.name == "org.bluez.Error.InvalidArguments"
        assert "Failed to parse advertisement: ServiceData must be a{sv}" in str(caught.value)
        # An empty container of the wrong type passes, as it does in BlueZ.
        bus.export("/org/khaibao/test/empty", WronglyTyped({}))
        await _register(bluez, bus, "/org/khaibao/test/empty")
    finally:
        bus.disconnect()


@pytest.mark.asyncio
async def test_unexported_object_cannot_be_registered(bluez):
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        with pytest.raises(BluezCallError) as caught:
            await _register(bluez, bus, "/org/khaibao/test/nothing")
        assert caught.value.name == "org.bluez.Error.InvalidArguments"
    finally:
        bus.disconnect()


@pytest.mark.asyncio
async def test_stop_unregisters(bluez, advertisers):
    advertiser = advertisers(adv.ibeacon(VENUE_UUID, 1, 2))
    await advertiser.start()
    assert len(await bluez.advertisements()) == 1
    await advertiser.stop()
    assert await bluez.advertisements() == {}
    (active,) = await bluez.call(bluez.adapter_path, "org.freedesktop.DBus.Properties", "Get", "ss",
                                 [adv.ADVERTISING_MANAGER_IFACE, "ActiveInstances"])
    assert active.value == 0


@pytest.mark.asyncio
async def test_venue_beacon_worker_follows_the_adapter(bluez):
    worker = adv.VenueBeacon(adv.venue_payload("ibeacon", venue_id=1, kiosk_id=1),
                             check_interval_s=0.05)
    worker.start()
    try:
        await wait_for(lambda: worker.status() == "ok", 10, "beacon ok")
        assert len(await bluez.advertisements()) == 1
        await bluez.remove_adapter()
        await wait_for(lambda: worker.status() == "absent", 10, "beacon absent")
        await bluez.add_adapter()
        await wait_for(lambda: worker.status() == "ok", 10, "beacon ok again")
        assert len(await bluez.advertisements()) == 1
    finally:
        worker.stop()
    assert worker.status() == "off"
    assert await bluez.advertisements() == {}
