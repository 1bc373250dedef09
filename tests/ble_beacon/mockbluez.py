"""A private system-like D-Bus and the project's mock bluetoothd on it (ble-testing.md §2), plus a
dbus-fast controller that plays the phones and the adapter in tests (§6)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

TEMPLATE = Path(__file__).with_name("bluez_mock_template.py")
BLUEZ = "org.bluez"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK_IFACE = "org.bluez.Mock"
ADAPTER_IFACE = "org.bluez.Adapter1"
START_TIMEOUT_S = 10.0

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">100000000</limit>
  <limit name="max_replies_per_connection">100000</limit>
  <limit name="reply_timeout">60000</limit>
</busconfig>
"""


def dbus_daemon() -> str | None:
    return shutil.which("dbus-daemon")


class PrivateBus:
    """dbus-daemon with an allow-everything system-bus policy in a temporary directory."""

    def __init__(self) -> None:
        self.tmpdir = Path(tempfile.mkdtemp(prefix="kiosk-dbus-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> str:
        daemon = dbus_daemon()
        if daemon is None:
            raise FileNotFoundError("dbus-daemon")
        config = self.tmpdir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.tmpdir / "bus.sock"))
        self.process = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            # Unprivileged runs print a harmless "Failed to set fd limit".
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        # The first line is the address, and it means the bus is listening.
        self.address = self.process.stdout.readline().decode().strip()
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon did not start")
        return self.address

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        _terminate(self.process)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class MockBluez:
    """`python -m dbusmock --system --template bluez_mock_template.py` on a given bus."""

    def __init__(self, address: str, parameters: dict[str, Any] | None = None) -> None:
        self.address = address
        self.parameters = {"enable_advertise_api": True, "enable_monitor_api": True,
                           **(parameters or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dbusmock", "--system", "--template", str(TEMPLATE),
             "--parameters", json.dumps(self.parameters), "-l", os.devnull],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("KIOSK_DEBUG_DBUSMOCK") else subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError("the mock bluetoothd exited while starting")
            if self._answers():
                return
            time.sleep(0.01)  # polling for readiness, not waiting for an effect
        raise RuntimeError("the mock bluetoothd did not come up")

    def _answers(self) -> bool:
        return _run_sync(lambda: _answers_fast(self.address))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def call_sync(self, path: str, interface: str, member: str, signature: str = "",
                  body: list[Any] | None = None) -> list[Any]:
        return _run_sync(lambda: _call_once(self.address, path, interface, member, signature,
                                            body or []))

    def reset(self, adapter: str | None = "hci0") -> None:
        """Fresh state: no devices, no adverts, empty call logs, and `adapter` (if any)."""
        self.call_sync("/", MOCK_IFACE, "Reset")
        if adapter:
            self.call_sync("/", BLUEZ_MOCK_IFACE, "AddAdapter", "ss", [adapter, "kiosk"])

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None


def _run_sync(make_coroutine):
    """Run a coroutine to completion from sync code, even when called inside a running loop
    (an async test starting bluetoothd): then on a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(make_coroutine())
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _connect(address: str) -> MessageBus:
    return await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()


async def _answers_fast(address: str) -> bool:
    bus = await _connect(address)
    try:
        reply = await bus.call(Message(destination=BLUEZ, path="/", member="GetManagedObjects",
                                       interface="org.freedesktop.DBus.ObjectManager"))
        return reply.message_type == MessageType.METHOD_RETURN
    finally:
        bus.disconnect()


async def _call_once(address: str, path: str, interface: str, member: str, signature: str,
                     body: list[Any]) -> list[Any]:
    bus = await _connect(address)
    try:
        reply = await bus.call(Message(destination=BLUEZ, path=path, interface=interface,
                                       member=member, signature=signature, body=body))
        if reply.message_type == MessageType.ERROR:
            raise BluezCallError(reply.error_name or "", reply.body)
        return reply.body
    finally:
        bus.disconnect()


class BluezCallError(Exception):
    def __init__(self, name: str, body: list[Any]) -> None:
        super().__init__(f"{name}: {body[0] if body else ''}")
        self.name = name


def _bytes_variant(data: bytes) -> Variant:
    return Variant("ay", bytes(data))


def device_props(
    *,
    uuids: list[str] | None = None,
    manufacturer_data: dict[int, bytes] | None = None,
    service_data: dict[str, bytes] | None = None,
    rssi: int | None = None,
    name: str | None = None,
    tx_power: int | None = None,
    address_type: str | None = None,
) -> dict[str, Variant]:
    """Device1 properties in BlueZ's types, for AddBLEDevice and Advertise."""
    props: dict[str, Variant] = {}
    if uuids is not None:
        props["UUIDs"] = Variant("as", [u.lower() for u in uuids])
    if manufacturer_data is not None:
        props["ManufacturerData"] = Variant(
            "a{qv}", {k: _bytes_variant(v) for k, v in manufacturer_data.items()})
    if service_data is not None:
        props["ServiceData"] = Variant(
            "a{sv}", {k: _bytes_variant(v) for k, v in service_data.items()})
    if rssi is not None:
        props["RSSI"] = Variant("n", rssi)
    if name is not None:
        props["Name"] = Variant("s", name)
    if tx_power is not None:
        props["TxPower"] = Variant("n", tx_power)
    if address_type is not None:
        props["AddressType"] = Variant("s", address_type)
    return props


class BluezController:
    """What a test does to the radio world: phones appear, advertise, leave; the adapter goes
    off, away and back. Talks to the mock over its own dbus-fast connection."""

    def __init__(self, bus: MessageBus, adapter: str = "hci0") -> None:
        self.bus = bus
        self.adapter = adapter

    @property
    def adapter_path(self) -> str:
        return f"/org/bluez/{self.adapter}"

    async def call(self, path: str, interface: str, member: str, signature: str = "",
                   body: list[Any] | None = None) -> list[Any]:
        reply = await self.bus.call(Message(destination=BLUEZ, path=path, interface=interface,
                                            member=member, signature=signature, body=body or []))
        if reply.message_type == MessageType.ERROR:
            raise BluezCallError(reply.error_name or "", reply.body)
        return reply.body

    async def add_phone(self, address: str, **props: Any) -> str:
        (path,) = await self.call("/", BLUEZ_MOCK_IFACE, "AddBLEDevice", "ssa{sv}",
                                  [self.adapter, address, device_props(**props)])
        return path

    async def advertise(self, path: str, **props: Any) -> None:
        await self.call("/", BLUEZ_MOCK_IFACE, "Advertise", "oa{sv}", [path, device_props(**props)])

    async def burst(self, path: str, count: int, rssi_base: int) -> None:
        await self.call("/", BLUEZ_MOCK_IFACE, "Burst", "oun", [path, count, rssi_base])

    async def remove_phone(self, path: str) -> None:
        await self.call(self.adapter_path, ADAPTER_IFACE, "RemoveDevice", "o", [path])

    async def set_powered(self, powered: bool) -> None:
        await self.call(self.adapter_path, MOCK_IFACE, "UpdateProperties", "sa{sv}",
                        [ADAPTER_IFACE, {"Powered": Variant("b", powered)}])

    async def remove_adapter(self) -> None:
        await self.call("/", BLUEZ_MOCK_IFACE, "RemoveAdapterWithDevices", "s", [self.adapter])

    async def add_adapter(self) -> None:
        await self.call("/", BLUEZ_MOCK_IFACE, "AddAdapter", "ss", [self.adapter, "kiosk"])

    async def calls(self, path: str | None = None) -> list[str]:
        """Names of the methods called on an object (the adapter by default), oldest first."""
        (log,) = await self.call(path or self.adapter_path, MOCK_IFACE, "GetCalls")
        return [entry[1] for entry in log]

    async def advertisements(self) -> dict[str, dict[str, Any]]:
        (registered,) = await self.call("/", BLUEZ_MOCK_IFACE, "GetAdvertisements", "s",
                                        [self.adapter])
        return {path: {k: v.value for k, v in props.items()} for path, props in registered.items()}

    async def add_method(self, interface: str, name: str, in_sig: str, out_sig: str,
                         code: str, path: str | None = None) -> None:
        """Fault injection through dbusmock's generic interface (StartDiscovery → InProgress)."""
        await self.call(path or self.adapter_path, MOCK_IFACE, "AddMethod", "sssss",
                        [interface, name, in_sig, out_sig, code])


async def wait_for(predicate, timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `predicate` (sync or async) every 5 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
