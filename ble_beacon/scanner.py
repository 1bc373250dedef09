"""The BLE scanner worker: bleak on its own asyncio loop thread → parsing → aggregation, with the
changed encounters handed to a sink about once a second. Owns only its own lifecycle: a missing,
powered-off or vanished adapter becomes a status and a retry, never an exception in the app."""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bleak import BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from flask_babel import lazy_gettext as _l

from ble_beacon import parsing
from ble_beacon.aggregation import Aggregator, Encounter

logger = logging.getLogger(__name__)

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
ERROR_SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"
ERROR_NOT_READY = "org.bluez.Error.NotReady"
_ADAPTER_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,32}")

# Status words (the app shows them on the kiosk screen and in /healthz).
OFF = "off"
STARTING = "starting"
OK = "ok"
ABSENT = "absent"
ERROR = "error"

STATUS_MESSAGES = {
    OFF: _l("Bluetooth scanning is turned off."),
    STARTING: _l("Bluetooth scanner is starting…"),
    OK: _l("Bluetooth scanner is listening for contact-tracing apps."),
    "no_adapter": _l("No Bluetooth adapter found. Plug one in; the kiosk keeps trying."),
    "adapter_not_found": _l(
        "The configured Bluetooth adapter is not present. The kiosk keeps trying."),
    "adapter_gone": _l("The Bluetooth adapter was removed. The kiosk keeps trying."),
    "powered_off": _l("The Bluetooth adapter is switched off. Turn it on; the kiosk keeps trying."),
    "no_central_role": _l("The Bluetooth adapter cannot scan for BLE devices."),
    "no_bluetoothd": _l(
        "The Bluetooth service (bluetoothd) is not running. The kiosk keeps trying."),
    "no_dbus": _l("The system D-Bus is not reachable, so Bluetooth cannot be used."),
    "denied": _l("The kiosk is not allowed to use Bluetooth (D-Bus policy)."),
    "start_failed": _l("The Bluetooth scanner failed to start. The kiosk keeps trying."),
}


def _uuid_le(text: str) -> bytes:
    return uuid.UUID(text).bytes[::-1]


_MSD = AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA
# Passive scanning reports only adverts matching one of these (ble-formats.md §8): AD type at
# offset 0 of the AD structure's data. The mock does not apply them; real BlueZ does.
OR_PATTERNS: tuple[OrPattern, ...] = (
    OrPattern(0, _MSD, parsing.BLUEZONE_COMPANY_ID.to_bytes(2, "little")),
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, (0xFD6F).to_bytes(2, "little")),
    OrPattern(0, _MSD, parsing.APPLE_COMPANY_ID.to_bytes(2, "little") + b"\x01"),
    OrPattern(0, _MSD, parsing.APPLE_COMPANY_ID.to_bytes(2, "little") + parsing.IBEACON_PREFIX),
    *(
        OrPattern(0, ad_type, _uuid_le(service))
        for service in (parsing.BLUEZONE_IOS_SERVICE_UUID, *parsing.BLUETRACE_SERVICE_UUIDS)
        for ad_type in (AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128,
                        AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID128)
    ),
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ScannerConfig:
    # auto | off | an adapter name such as hci0 (KIOSK_BLE).
    adapter: str = "auto"
    # Active scanning also gets scan responses (iOS local names); passive sends nothing on air but
    # needs BlueZ >= 5.56 with --experimental, so it falls back to active when refused.
    scanning_mode: str = "active"
    # Start attempts per cycle and the first pause between them (doubling): Home Assistant's
    # bounded retry, enough to ride out a busy adapter without hammering bluetoothd.
    start_attempts: int = 3
    start_backoff_s: float = 0.5
    # After a failed cycle, wait this long before the next one, doubling up to the maximum.
    retry_min_s: float = 2.0
    retry_max_s: float = 60.0
    # How often the adapter is checked (present, powered) while scanning or waiting for it.
    health_interval_s: float = 2.0
    # Restart a scanner that has reported nothing for this long (Home Assistant uses 90 s): at an
    # entrance with phones about, minutes of total silence usually means a wedged adapter.
    watchdog_s: float = 120.0
    # Batches go to the writer at most this often: about one transaction a second.
    flush_interval_s: float = 1.0
    # Give up on one D-Bus start/stop exchange after this long.
    dbus_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.adapter not in ("auto", "off") and not _ADAPTER_NAME_RE.fullmatch(self.adapter):
            raise ConfigError("BLE must be auto, off or an adapter name such as hci0")
        if self.scanning_mode not in ("active", "passive"):
            raise ConfigError("BLE_SCAN_MODE must be active or passive")

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ScannerConfig:
        """From the app config (KIOSK_BLE, KIOSK_BLE_SCAN_MODE, KIOSK_BLE_WATCHDOG_S)."""
        values: dict[str, Any] = {"adapter": str(config.get("BLE", "auto")).strip() or "auto"}
        if config.get("BLE_SCAN_MODE"):
            values["scanning_mode"] = str(config["BLE_SCAN_MODE"]).strip().lower()
        if config.get("BLE_WATCHDOG_S"):
            values["watchdog_s"] = float(config["BLE_WATCHDOG_S"])
        if values["adapter"].lower() in ("auto", "off"):
            values["adapter"] = values["adapter"].lower()
        return cls(**values)


@dataclass(frozen=True)
class ScannerStatus:
    state: str  # off | starting | ok | absent | error
    reason: str | None = None  # a STATUS_MESSAGES key, e.g. powered_off, no_bluetoothd
    adapter: str | None = None
    mode: str | None = None  # active | passive while ok
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_advertisement_at: datetime | None = None
    restarts: int = 0

    def __str__(self) -> str:
        if self.state == ERROR:
            return f"error: {self.reason or 'unknown'}"
        return self.state

    @property
    def message(self) -> Any:
        """Lazy, translated sentence for the kiosk screen."""
        key = self.reason if self.state in (ABSENT, ERROR) and self.reason else self.state
        return STATUS_MESSAGES.get(key, STATUS_MESSAGES["start_failed"])

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self),
            "state": self.state,
            "reason": self.reason,
            "adapter": self.adapter,
            "mode": self.mode,
            "since": self.since.isoformat(),
            "last_advertisement_at": (self.last_advertisement_at.isoformat()
                                      if self.last_advertisement_at else None),
            "restarts": self.restarts,
        }


class _Unavailable(Exception):
    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class _StartFailed(Exception):
    pass


Sink = Callable[[list[Encounter]], None]
# Encounters kept for a failing sink; beyond this the oldest are dropped (and counted).
MAX_PENDING = 20_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BleScanner:
    """The `ble` worker (core.workers.Worker): start(), stop(), status()."""

    name = "ble"

    def __init__(
        self,
        config: ScannerConfig | None = None,
        *,
        sink: Sink | None = None,
        clock: Callable[[], datetime] = _utcnow,
        aggregator: Aggregator | None = None,
        on_status: Callable[[ScannerStatus], None] | None = None,
    ) -> None:
        self.config = config or ScannerConfig()
        self._sink = sink
        self._clock = clock
        self._aggregator = aggregator or Aggregator()
        self._on_status = on_status
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._status = ScannerStatus(OFF)
        self._pending: list[Encounter] = []
        self._health_bus: MessageBus | None = None
        self._passive_refused = False
        self._last_advert_mono: float | None = None
        self._last_advert_at: datetime | None = None
        self._scan_started_mono = 0.0
        # Counters for /healthz and benches (never identities).
        self.advertisements = 0
        self.recorded = 0
        self.rejected = 0
        self.dropped_pending = 0

    # --- Worker interface (called from other threads) --------------------------------------------
    def start(self) -> None:
        if self.config.adapter == "off":
            self._set_status(ScannerStatus(OFF, reason="disabled"))
            logger.info("BLE scanner disabled by configuration")
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_requested.clear()
        self._set_status(ScannerStatus(STARTING))
        self._thread = threading.Thread(target=self._thread_main, name="ble-scanner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_requested.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed in between
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("BLE scanner thread did not stop within %.1f s", timeout)
            else:
                self._thread = None
        if self.config.adapter != "off":
            self._set_status(replace(self._status, state=OFF, reason=None, mode=None,
                                     since=self._clock()))

    def status(self) -> str:
        return str(self._status)

    def status_info(self) -> ScannerStatus:
        return replace(self._status, last_advertisement_at=self._last_advert_at)

    def present(self) -> list[Encounter]:
        """Encounters heard recently enough to count as here now."""
        with self._lock:
            return self._aggregator.present(self._clock())

    # --- Loop thread ------------------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # the worker must never take the process down
            logger.exception("BLE scanner thread crashed")
            self._set_status(replace(self._status, state=ERROR, reason="start_failed"))

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested.is_set():
            self._stop_event.set()
        flusher = asyncio.create_task(self._flush_loop())
        try:
            await self._scan_loop()
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush(final=True)
            if self._health_bus is not None:
                self._health_bus.disconnect()
                self._health_bus = None

    def _stopping(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    async def _sleep(self, seconds: float) -> None:
        """Wait, but wake at once when asked to stop."""
        assert self._stop_event is not None
        try:
            await asyncio.wait_for(self._stop_event.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _set_status(self, status: ScannerStatus) -> None:
        previous = self._status
        if (previous.state, previous.reason, previous.adapter, previous.mode) == (
            status.state, status.reason, status.adapter, status.mode
        ):
            return
        status = replace(status, restarts=max(status.restarts, previous.restarts))
        self._status = status
        logger.info("BLE scanner status: %s (adapter %s, mode %s)", status, status.adapter,
                    status.mode)
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                logger.exception("BLE status listener failed")

    def _status_now(self, state: str, reason: str | None = None, adapter: str | None = None,
                    mode: str | None = None) -> ScannerStatus:
        return ScannerStatus(state, reason, adapter, mode, since=self._clock(),
                             restarts=self._status.restarts)

    async def _scan_loop(self) -> None:
        retry_s = self.config.retry_min_s
        while not self._stopping():
            try:
                adapter = await self._find_adapter()
                self._set_status(self._status_now(STARTING, adapter=adapter))
                scanner, mode = await self._start_scanner(adapter)
            except _Unavailable as exc:
                self._set_status(self._status_now(exc.state, exc.reason))
                await self._sleep(self.config.health_interval_s)  # cheap to look again
                continue
            except Exception as exc:  # _StartFailed, or something bleak had no word for
                if not isinstance(exc, _StartFailed):
                    logger.exception("BLE scanner start failed unexpectedly")
                self._set_status(self._status_now(ERROR, "start_failed"))
                await self._sleep(retry_s)
                retry_s = min(retry_s * 2, self.config.retry_max_s)
                continue
            retry_s = self.config.retry_min_s
            self._set_status(self._status_now(OK, adapter=adapter, mode=mode))
            try:
                outcome = await self._supervise(adapter)
            except Exception:
                logger.exception("BLE scanner supervision failed")
                outcome = "error"
            finally:
                await self._stop_scanner(scanner)
            if outcome != "stopping":
                # The adapter went away (or wedged): write what it heard now rather than at the
                # next tick, so a fault that turns into a restart or a power cut loses nothing.
                try:
                    await self._flush()
                except Exception:
                    logger.exception("BLE encounter flush after a scanner fault failed")
            if outcome == "watchdog":
                self._status = replace(self._status, restarts=self._status.restarts + 1)
                logger.warning("BLE scanner silent for %.0f s on %s; restarting it",
                               self.config.watchdog_s, adapter)
            elif outcome != "stopping":
                logger.warning("BLE scanner on %s stopped: %s", adapter, outcome)

    # --- Adapter discovery and health (own D-Bus connection, independent of bleak's) -------------
    async def _bus(self) -> MessageBus:
        if self._health_bus is not None and self._health_bus.connected:
            return self._health_bus
        if self._health_bus is not None:
            self._health_bus.disconnect()
            self._health_bus = None
        try:
            self._health_bus = await asyncio.wait_for(
                MessageBus(bus_type=BusType.SYSTEM).connect(), self.config.dbus_timeout_s
            )
        except Exception as exc:
            logger.debug("system D-Bus not reachable: %r", exc)
            raise _Unavailable(ERROR, "no_dbus") from None
        return self._health_bus

    async def _call(self, path: str, interface: str, member: str, signature: str = "",
                    body: list[Any] | None = None) -> Message:
        bus = await self._bus()
        try:
            return await asyncio.wait_for(
                bus.call(Message(destination=BLUEZ, path=path, interface=interface, member=member,
                                 signature=signature, body=body or [])),
                self.config.dbus_timeout_s,
            )
        except (TimeoutError, OSError, EOFError) as exc:
            logger.debug("D-Bus call %s failed: %r", member, exc)
            bus.disconnect()
            raise _Unavailable(ERROR, "no_bluetoothd") from None

    async def _find_adapter(self) -> str:
        """The adapter to scan with, or _Unavailable saying why there is none."""
        reply = await self._call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        if reply.message_type == MessageType.ERROR:
            if reply.error_name == ERROR_SERVICE_UNKNOWN:
                raise _Unavailable(ERROR, "no_bluetoothd")
            if reply.error_name and "AccessDenied" in reply.error_name:
                raise _Unavailable(ERROR, "denied")
            raise _Unavailable(ERROR, "no_bluetoothd")
        adapters: dict[str, dict[str, Any]] = {}
        for path, interfaces in reply.body[0].items():
            props = interfaces.get(ADAPTER_IFACE)
            if props is not None and path.startswith("/org/bluez/") and path.count("/") == 3:
                adapters[path.rsplit("/", 1)[1]] = {k: v.value for k, v in props.items()}
        wanted = self.config.adapter
        if wanted != "auto":
            if wanted not in adapters:
                raise _Unavailable(ABSENT, "adapter_not_found")
            candidates = [wanted]
        else:
            if not adapters:
                raise _Unavailable(ABSENT, "no_adapter")
            candidates = sorted(a for a, p in adapters.items()
                                if "central" in p.get("Roles", ["central"]))
            if not candidates:
                raise _Unavailable(ERROR, "no_central_role")
        for name in candidates:
            if adapters[name].get("Powered"):
                return name
        raise _Unavailable(ERROR, "powered_off")

    async def _adapter_problem(self, adapter: str) -> str | None:
        try:
            reply = await self._call(f"/org/bluez/{adapter}", "org.freedesktop.DBus.Properties",
                                     "Get", "ss", [ADAPTER_IFACE, "Powered"])
        except _Unavailable as exc:
            return exc.reason
        if reply.message_type == MessageType.ERROR:
            return "no_bluetoothd" if reply.error_name == ERROR_SERVICE_UNKNOWN else "adapter_gone"
        if not reply.body[0].value:
            return "powered_off"
        return None

    async def _supervise(self, adapter: str) -> str:
        """Watch a running scan until it must be restarted; returns why."""
        while not self._stopping():
            problem = await self._adapter_problem(adapter)
            if problem is not None:
                return problem
            last = max(self._last_advert_mono or 0.0, self._scan_started_mono)
            if time.monotonic() - last > self.config.watchdog_s:
                return "watchdog"
            await self._sleep(min(self.config.health_interval_s, self.config.watchdog_s))
        return "stopping"

    # --- bleak ------------------------------------------------------------------------------------
    def _modes(self) -> list[str]:
        if self.config.scanning_mode == "passive" and not self._passive_refused:
            return ["passive", "active"]
        return ["active"]

    async def _start_scanner(self, adapter: str) -> tuple[BleakScanner, str]:
        """Bounded attempts; passive falls back to active. Raises _Unavailable or _StartFailed."""
        last_error = "unknown"
        for attempt in range(self.config.start_attempts):
            for mode in self._modes():
                bluez: dict[str, Any] = {"adapter": adapter}
                if mode == "passive":
                    bluez["or_patterns"] = list(OR_PATTERNS)
                scanner = BleakScanner(self._on_advertisement, None, mode, bluez=bluez)
                try:
                    await asyncio.wait_for(scanner.start(), self.config.dbus_timeout_s)
                except BleakDBusError as exc:
                    last_error = exc.dbus_error
                    if exc.dbus_error == ERROR_NOT_READY:
                        raise _Unavailable(ERROR, "powered_off") from None
                    if exc.dbus_error == ERROR_SERVICE_UNKNOWN:
                        raise _Unavailable(ERROR, "no_bluetoothd") from None
                    gone = exc.dbus_error.endswith(("UnknownObject", "UnknownMethod"))
                    if gone and mode != "passive":
                        raise _Unavailable(ABSENT, "adapter_gone") from None
                except BleakBluetoothNotAvailableError as exc:
                    raise _Unavailable(*_not_available(exc.reason)) from None
                except BleakError as exc:
                    last_error = type(exc).__name__
                    if "not found" in str(exc):
                        raise _Unavailable(ABSENT, "adapter_gone") from None
                except (TimeoutError, OSError, EOFError) as exc:
                    last_error = type(exc).__name__
                else:
                    self._scan_started_mono = time.monotonic()
                    logger.info("BLE scanning on %s (%s)", adapter, mode)
                    return scanner, mode
                if mode == "passive":
                    self._passive_refused = True
                    logger.warning("passive BLE scanning refused on %s (%s); falling back to "
                                   "active scanning", adapter, last_error)
            if attempt + 1 < self.config.start_attempts:
                await self._sleep(self.config.start_backoff_s * 2 ** attempt)
                if self._stopping():
                    break
        logger.warning("BLE scanner failed to start on %s after %d attempts (%s)", adapter,
                       self.config.start_attempts, last_error)
        raise _StartFailed(last_error)

    async def _stop_scanner(self, scanner: BleakScanner) -> None:
        try:
            await asyncio.wait_for(scanner.stop(), self.config.dbus_timeout_s)
        except Exception as exc:  # the adapter may already be gone; nothing to undo then
            logger.debug("stopping the BLE scan failed: %r", exc)

    def _on_advertisement(self, device: Any, adv: Any) -> None:
        self._last_advert_mono = time.monotonic()
        self.advertisements += 1
        try:
            now = self._clock()
            record = parsing.AdvertisementRecord.create(
                address=device.address,
                rssi=adv.rssi,
                manufacturer_data=adv.manufacturer_data,
                service_data=adv.service_data,
                service_uuids=adv.service_uuids,
                local_name=adv.local_name,
                tx_power=adv.tx_power,
            )
            result = parsing.parse_advertisement(record, now=now)
            if result.status == parsing.REJECTED:
                self.rejected += 1
            with self._lock:
                if self._aggregator.observe(result, adv.rssi, now):
                    self.recorded += 1
            self._last_advert_at = now
        except Exception:
            # One strange advert must not stop the scan; the bytes are not logged (personal data).
            logger.exception("BLE advertisement could not be handled")

    # --- Batches to the sink --------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                await self._flush()
            except Exception:  # keep flushing; one bad batch must not stop persistence
                logger.exception("BLE encounter flush failed")

    async def _flush(self, final: bool = False) -> None:
        with self._lock:
            fresh = self._aggregator.close_all() if final else self._aggregator.drain(self._clock())
        batch = _coalesce(self._pending + fresh)
        self._pending = []
        if not batch:
            return
        if self._sink is None:
            return
        try:
            await asyncio.to_thread(self._sink, batch)
        except Exception:
            logger.exception("BLE encounter sink failed; %d encounters kept for retry", len(batch))
            if len(batch) > MAX_PENDING:
                self.dropped_pending += len(batch) - MAX_PENDING
                batch = batch[-MAX_PENDING:]
            self._pending = batch


def _coalesce(batch: list[Encounter]) -> list[Encounter]:
    """Keep the latest snapshot of each encounter (a retried batch may hold several)."""
    latest: dict[tuple[str, str, datetime], Encounter] = {}
    for encounter in batch:
        latest[(encounter.protocol, encounter.rolling_id, encounter.first_seen_at)] = encounter
    return list(latest.values())


def _not_available(reason: BleakBluetoothNotAvailableReason) -> tuple[str, str]:
    if reason == BleakBluetoothNotAvailableReason.NO_BLUETOOTH:
        return ABSENT, "no_adapter"
    if reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
        return ERROR, "powered_off"
    if reason == BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE:
        return ERROR, "no_central_role"
    if reason == BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM:
        return ERROR, "denied"
    return ERROR, "start_failed"
