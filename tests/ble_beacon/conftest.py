"""BLE fixtures: a private system bus with the project's mock bluetoothd (ble-testing.md §2, §6).

`mock_bluez_session` starts bus + mock once per pytest process (each xdist worker gets its own, as
DBUS_SYSTEM_BUS_ADDRESS is per process); `mock_bluez` resets it per test; `bluez` is the async
controller that plays phones and the adapter.
"""
from __future__ import annotations

import importlib.util
import os

import pytest
import pytest_asyncio

from tests.ble_beacon.mockbluez import BluezController, MockBluez, PrivateBus, dbus_daemon
from tests.support.requirements import skip_or_fail

ADDRESS_VAR = "DBUS_SYSTEM_BUS_ADDRESS"


def _skip_reason() -> str | None:
    if dbus_daemon() is None:
        return ("dbus-daemon is not installed (apt-get install dbus-daemon): "
                "no private D-Bus for the BLE tests")
    for module in ("dbus", "dbusmock"):
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not importable: install requirements-dev.txt "
                    "for the mock bluetoothd")
    return None


class MockWorld:
    """The private bus and the mock on it; restarted if either has died."""

    def __init__(self) -> None:
        self.bus: PrivateBus | None = None
        self.mock: MockBluez | None = None

    @property
    def address(self) -> str:
        assert self.bus is not None
        return self.bus.address

    def start(self) -> None:
        self.bus = PrivateBus()
        self.bus.start()
        self.mock = MockBluez(self.bus.address)
        self.mock.start()
        self.mock.reset()

    def ensure_alive(self) -> None:
        bus_ok = self.bus is not None and self.bus.alive()
        if bus_ok and self.mock is not None and self.mock.alive():
            return
        self.stop()
        self.start()
        os.environ[ADDRESS_VAR] = self.address

    def stop(self) -> None:
        if self.mock is not None:
            self.mock.stop()
        if self.bus is not None:
            self.bus.stop()
        self.mock = self.bus = None


@pytest.fixture(scope="session")
def mock_bluez_session():
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    world = MockWorld()
    world.start()
    previous = os.environ.get(ADDRESS_VAR)
    # bleak (through dbus-fast) reads this when it first connects in each event loop.
    os.environ[ADDRESS_VAR] = world.address
    try:
        yield world
    finally:
        world.stop()
        if previous is None:
            os.environ.pop(ADDRESS_VAR, None)
        else:
            os.environ[ADDRESS_VAR] = previous


@pytest.fixture
def mock_bluez(mock_bluez_session):
    """A fresh hci0, no devices, no adverts, empty call logs."""
    mock_bluez_session.ensure_alive()
    assert mock_bluez_session.mock is not None
    mock_bluez_session.mock.reset()
    os.environ[ADDRESS_VAR] = mock_bluez_session.address
    return mock_bluez_session


@pytest_asyncio.fixture
async def bluez(mock_bluez):
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_address=mock_bluez.address, bus_type=BusType.SYSTEM).connect()
    try:
        yield BluezController(bus)
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()


@pytest.fixture
def bare_bus(monkeypatch):
    """A private system bus with no bluetoothd on it (the service is not running)."""
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    bus = PrivateBus()
    bus.start()
    monkeypatch.setenv(ADDRESS_VAR, bus.address)
    started: list[MockBluez] = []

    def start_bluetoothd(parameters: dict | None = None) -> MockBluez:
        mock = MockBluez(bus.address, parameters)
        mock.start()
        mock.reset()
        started.append(mock)
        return mock

    bus.start_bluetoothd = start_bluetoothd  # type: ignore[attr-defined]
    try:
        yield bus
    finally:
        for mock in started:
            mock.stop()
        bus.stop()
