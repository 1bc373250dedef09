"""Optional venue beacon (off by default): the kiosk advertises its venue as an iBeacon or an
Eddystone-UID through BlueZ's LEAdvertisingManager1, with dbus-fast (ble-testing.md §9)."""
# No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures from the
# annotations at class creation.
import asyncio
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast import BusType, Message, MessageType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

logger = logging.getLogger(__name__)

BLUEZ = "org.bluez"
ADVERTISING_MANAGER_IFACE = "org.bluez.LEAdvertisingManager1"
ADVERTISEMENT_IFACE = "org.bluez.LEAdvertisement1"
ADVERTISEMENT_PATH = "/org/khaibao/kiosk/advertisement0"

APPLE_COMPANY_ID = 0x004C
EDDYSTONE_SERVICE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
# The project's own iBeacon proximity UUID (random, fixed): the venue is major, the kiosk minor.
DEFAULT_BEACON_UUID = uuid.UUID("5d3b6e2c-8f1a-4b7e-9c2d-4a6f0e8b1c37")
# iBeacon's calibrated RSSI at 1 m; −59 dBm is what Bluezone's own wake-up beacon declares.
DEFAULT_MEASURED_POWER = -59
# Eddystone-UID declares the RSSI at 0 m; typical USB dongles at default power: about −20 dBm.
DEFAULT_EDDYSTONE_TX_POWER = -20


@dataclass(frozen=True)
class BeaconPayload:
    """What goes on air, in LEAdvertisement1 terms."""

    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    includes: tuple[str, ...] = ()
    type: str = "broadcast"  # non-connectable: a beacon has nothing to connect to


def ibeacon(proximity_uuid: uuid.UUID | str, major: int, minor: int,
            measured_power: int = DEFAULT_MEASURED_POWER) -> BeaconPayload:
    """Apple iBeacon: 02 15, 16-byte UUID, major and minor (big-endian), measured power."""
    if not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF):
        raise ValueError("iBeacon major and minor are 16-bit")
    if not -128 <= measured_power <= 127:
        raise ValueError("measured power is one signed byte")
    beacon_uuid = (proximity_uuid if isinstance(proximity_uuid, uuid.UUID)
                   else uuid.UUID(proximity_uuid))
    data = (b"\x02\x15" + beacon_uuid.bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big")
            + measured_power.to_bytes(1, "big", signed=True))
    return BeaconPayload(manufacturer_data={APPLE_COMPANY_ID: data})


def eddystone_uid(namespace: bytes, instance: bytes,
                  tx_power_0m: int = DEFAULT_EDDYSTONE_TX_POWER) -> BeaconPayload:
    """Eddystone-UID frame: 00, TX power at 0 m, 10-byte namespace, 6-byte instance, 2 reserved."""
    if len(namespace) != 10 or len(instance) != 6:
        raise ValueError("Eddystone-UID needs a 10-byte namespace and a 6-byte instance")
    if not -128 <= tx_power_0m <= 127:
        raise ValueError("TX power is one signed byte")
    frame = (b"\x00" + tx_power_0m.to_bytes(1, "big", signed=True) + namespace + instance
             + b"\x00\x00")
    return BeaconPayload(service_uuids=(EDDYSTONE_SERVICE_UUID,),
                         service_data={EDDYSTONE_SERVICE_UUID: frame})


def elided_namespace(beacon_uuid: uuid.UUID) -> bytes:
    """Eddystone's "elided UUID" namespace: first 4 and last 6 bytes, so iBeacon and Eddystone
    frames of one kiosk share an identity."""
    return beacon_uuid.bytes[:4] + beacon_uuid.bytes[-6:]


def venue_payload(kind: str, *, venue_id: int, kiosk_id: int,
                  beacon_uuid: uuid.UUID = DEFAULT_BEACON_UUID) -> BeaconPayload:
    """The venue beacon of `kind` (ibeacon | eddystone): venue and kiosk ids in the identity."""
    if kind == "ibeacon":
        return ibeacon(beacon_uuid, venue_id & 0xFFFF, kiosk_id & 0xFFFF)
    if kind == "eddystone":
        instance = ((venue_id & 0xFFFFFFFF).to_bytes(4, "big")
                    + (kiosk_id & 0xFFFF).to_bytes(2, "big"))
        return eddystone_uid(elided_namespace(beacon_uuid), instance)
    raise ValueError("beacon kind must be ibeacon or eddystone")


class LEAdvertisement(ServiceInterface):
    """org.bluez.LEAdvertisement1: read-only properties bluetoothd reads back on registration."""

    def __init__(self, payload: BeaconPayload) -> None:
        super().__init__(ADVERTISEMENT_IFACE)
        self.payload = payload
        self.released = False

    @dbus_method()
    def Release(self) -> None:
        # bluetoothd drops the advert itself (adapter gone, bluetoothd stopping).
        self.released = True
        logger.info("BlueZ released the venue beacon")

    @dbus_property(PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return self.payload.type

    @dbus_property(PropertyAccess.READ)
    def ServiceUUIDs(self) -> Annotated[list[str], DBusSignature("as")]:
        return list(self.payload.service_uuids)

    @dbus_property(PropertyAccess.READ)
    def ManufacturerData(self) -> Annotated[dict[int, Variant], DBusSignature("a{qv}")]:
        return {k: Variant("ay", bytes(v)) for k, v in self.payload.manufacturer_data.items()}

    @dbus_property(PropertyAccess.READ)
    def ServiceData(self) -> Annotated[dict[str, Variant], DBusSignature("a{sv}")]:
        return {k: Variant("ay", bytes(v)) for k, v in self.payload.service_data.items()}

    @dbus_property(PropertyAccess.READ)
    def Includes(self) -> Annotated[list[str], DBusSignature("as")]:
        return list(self.payload.includes)


class AdvertiseError(Exception):
    """BlueZ refused the advertisement; `dbus_error` is its error name."""

    def __init__(self, dbus_error: str, message: str) -> None:
        super().__init__(f"{dbus_error}: {message}")
        self.dbus_error = dbus_error
        self.detail = message


class Advertiser:
    """Registers one advertisement on one adapter over a dbus-fast connection."""

    def __init__(self, payload: BeaconPayload, *, adapter: str = "hci0",
                 path: str = ADVERTISEMENT_PATH) -> None:
        self.payload = payload
        self.adapter = adapter
        self.path = path
        self._bus: MessageBus | None = None
        self._own_bus = False
        self._advertisement: LEAdvertisement | None = None
        self.registered = False

    @property
    def released(self) -> bool:
        return self._advertisement is not None and self._advertisement.released

    async def start(self, bus: MessageBus | None = None) -> None:
        if self.registered:
            return
        if bus is None:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            self._own_bus = True
        self._bus = bus
        self._advertisement = LEAdvertisement(self.payload)
        # Export first: bluetoothd reads the properties back before it answers.
        bus.export(self.path, self._advertisement)
        reply = await bus.call(Message(
            destination=BLUEZ, path=f"/org/bluez/{self.adapter}",
            interface=ADVERTISING_MANAGER_IFACE, member="RegisterAdvertisement",
            signature="oa{sv}", body=[self.path, {}],
        ))
        if reply.message_type == MessageType.ERROR:
            self._release_bus()
            raise AdvertiseError(reply.error_name or "", str(reply.body[0]) if reply.body else "")
        self.registered = True
        logger.info("venue beacon registered on %s", self.adapter)

    async def stop(self) -> None:
        if self._bus is None:
            return
        if self.registered and self._bus.connected:
            reply = await self._bus.call(Message(
                destination=BLUEZ, path=f"/org/bluez/{self.adapter}",
                interface=ADVERTISING_MANAGER_IFACE, member="UnregisterAdvertisement",
                signature="o", body=[self.path],
            ))
            if reply.message_type == MessageType.ERROR:
                # Already gone with the adapter or bluetoothd: nothing left to undo.
                logger.info("venue beacon unregister: %s", reply.error_name)
        self.registered = False
        self._release_bus()

    def _release_bus(self) -> None:
        if self._bus is not None:
            if self._bus.connected:
                self._bus.unexport(self.path)
            if self._own_bus:
                self._bus.disconnect()
        self._bus = None
        self._own_bus = False
        self._advertisement = None


class VenueBeacon:
    """The `ble_beacon` worker: keeps the venue beacon registered while the adapter is there,
    re-registering after the adapter or bluetoothd comes back. Status like the scanner's."""

    name = "ble_beacon"

    def __init__(self, payload: BeaconPayload, *, adapter: str = "hci0",
                 check_interval_s: float = 5.0) -> None:
        self.payload = payload
        self.adapter = adapter
        self.check_interval_s = check_interval_s
        self._status = "off"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = threading.Event()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_requested.clear()
        self._status = "starting"
        self._thread = threading.Thread(target=self._thread_main, name="ble-beacon", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_requested.set()
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None
        self._status = "off"

    def status(self) -> str:
        return self._status

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            logger.exception("venue beacon thread crashed")
            self._status = "error: crashed"

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested.is_set():
            self._stop_event.set()
        bus: MessageBus | None = None
        advertiser: Advertiser | None = None
        try:
            while not self._stop_event.is_set():
                try:
                    if bus is None or not bus.connected:
                        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
                        advertiser = None
                    if advertiser is None or not await self._still_registered(bus, advertiser):
                        if advertiser is not None:
                            await advertiser.stop()
                        advertiser = Advertiser(self.payload, adapter=self.adapter)
                        await advertiser.start(bus)
                        self._set_status("ok")
                except AdvertiseError as exc:
                    self._set_status(_status_for(exc.dbus_error))
                except OSError:
                    self._set_status("error: no_dbus")
                    bus = None
                try:
                    await asyncio.wait_for(self._stop_event.wait(), self.check_interval_s)
                except TimeoutError:
                    pass
        finally:
            if advertiser is not None:
                await advertiser.stop()
            if bus is not None:
                bus.disconnect()

    def _set_status(self, status: str) -> None:
        if status != self._status:
            logger.info("venue beacon status: %s", status)
        self._status = status

    async def _still_registered(self, bus: MessageBus, advertiser: "Advertiser") -> bool:
        """False once BlueZ has dropped the advert: released, adapter gone or bluetoothd restarted
        (a new bluetoothd starts with no instances)."""
        if not advertiser.registered or advertiser.released:
            return False
        reply = await bus.call(Message(
            destination=BLUEZ, path=f"/org/bluez/{self.adapter}",
            interface="org.freedesktop.DBus.Properties", member="Get", signature="ss",
            body=[ADVERTISING_MANAGER_IFACE, "ActiveInstances"],
        ))
        return reply.message_type == MessageType.METHOD_RETURN and reply.body[0].value > 0


def _status_for(dbus_error: str) -> str:
    if dbus_error == "org.freedesktop.DBus.Error.ServiceUnknown":
        return "error: no_bluetoothd"
    if dbus_error.endswith(("UnknownObject", "UnknownMethod", "UnknownInterface")):
        return "absent"
    return "error: " + dbus_error.rsplit(".", 1)[-1]


def describe(payload: BeaconPayload) -> dict[str, Any]:
    """JSON-friendly view of a payload (CLI, admin page)."""
    return {
        "type": payload.type,
        "service_uuids": list(payload.service_uuids),
        "manufacturer_data": {str(k): v.hex() for k, v in payload.manufacturer_data.items()},
        "service_data": {k: v.hex() for k, v in payload.service_data.items()},
    }
