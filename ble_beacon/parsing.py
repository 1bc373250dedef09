"""Pure parsers for the advertisements of contact-tracing apps (reference ble-formats.md §1-§2, §7).

One registry (`PARSERS`), tried in order of how much a record tells a tracer. Every parser answers
"not mine" (None), a match, or a rejection with a reason code; nothing here raises on outside bytes.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from ble_beacon import bluezone_ids

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def uuid16(value: int) -> str:
    """The 128-bit form of a 16-bit SIG UUID, as BlueZ and bleak spell it."""
    return f"{value:08x}{BASE_UUID_SUFFIX}"


# --- Protocol constants (ble-formats.md §1) ---------------------------------------------------
BLUEZONE_SERVICE_UUID = uuid16(0x4E56)
BLUEZONE_COMPANY_ID = 8885  # 0x22B5, on air B5 22
BLUEZONE_ID_LENGTH = bluezone_ids.ID_LENGTH
BLUEZONE_IOS_SERVICE_UUID = "00004e56-73f5-4bc4-a12f-17d1ad07a667"
BLUEZONE_IOS_LOCAL_NAME = "Bluezone"
# v1 (April 2020) used a static ID; its adverts must never count as v2 (§8).
BLUEZONE_V1_SERVICE_UUIDS = frozenset(
    {"e20a39f4-73f5-4bc4-a12f-17d1ad07a889", "e20a39f4-73f5-4bc4-a12f-17d1ad07a667"}
)
APPLE_COMPANY_ID = 0x004C
APPLE_OVERFLOW_TYPE = 0x01
APPLE_OVERFLOW_LENGTH = 17  # type byte + 16-byte hashed service bitmask
# Bluezone's own Android scanner filters: `01 08 00 …` (Aug 2020 master, v3.0.7) and
# `01 00 00 00 00 01 …` (v2.0.0), as (bitmask byte index, bit). Unverified on real iPhones (§1).
BLUEZONE_OVERFLOW_BITS = (("v3", 0, 0x08), ("v2", 4, 0x01))
IBEACON_PREFIX = b"\x02\x15"
IBEACON_LENGTH = 23  # 02 15 + UUID 16 + major 2 + minor 2 + measured power 1
BLUEZONE_WAKEUP_UUID = "c7afef7b-1788-4f4a-a87d-691d53bf21c4"
GAEN_SERVICE_UUID = uuid16(0xFD6F)
GAEN_RPI_LENGTH = 16
GAEN_AEM_LENGTH = 4
BLUETRACE_SERVICE_UUIDS = MappingProxyType(
    {
        "b82ab3fc-1595-4f6a-80f0-fe094cc218f9": "production",
        "17e033d3-490e-4bc9-9fe8-2f567643f4d3": "staging",
    }
)
BLUETRACE_COMPANY_ID = 1023
BLUETRACE_MANUFACTURER_LENGTH = 3

PROTOCOLS = ("bluezone", "bluezone_ios", "bluezone_wakeup", "gaen", "bluetrace")
# What an encounter of each protocol is keyed by (§7): the rolling ID when the advert carries one,
# otherwise the (random, rotating) device address: presence only.
KEY_TYPES = MappingProxyType(
    {
        "bluezone": "rolling_id",
        "gaen": "rolling_id",
        "bluezone_ios": "address",
        "bluezone_wakeup": "address",
        "bluetrace": "address",
    }
)

# --- Input limits for records read from outside (the JSON shape of `beacon parse`) -------------
# Extended advertising carries at most 1650 bytes in all; nothing legitimate comes near these.
MAX_VALUE_BYTES = 512
MAX_ENTRIES = 64
MAX_TEXT_CHARS = 248  # BlueZ's longest device name
MAX_ADDRESS_CHARS = 64  # bleak on macOS gives a UUID string, on Linux a MAC

_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*")
_UUID128_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_SHORT_RE = re.compile(r"(?:0x)?([0-9a-f]{4}|[0-9a-f]{8})")
_SEPARATORS_RE = re.compile(r"[\s:]")


class RecordError(ValueError):
    """An advertisement record from outside is malformed. `code` is a stable message key,
    `field` the offending member (None for the record as a whole)."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code if field is None else f"{code}: {field}")
        self.code = code
        self.field = field


def normalise_uuid(value: str) -> str:
    """Lower-case 128-bit form; 16- and 32-bit short forms are expanded on the SIG base UUID."""
    text = value.strip().lower()
    if _UUID128_RE.fullmatch(text):
        return text
    short = _UUID_SHORT_RE.fullmatch(text)
    if short:
        return short.group(1).rjust(8, "0") + BASE_UUID_SUFFIX
    raise RecordError("invalid_uuid")


@dataclass(frozen=True)
class AdvertisementRecord:
    """One advertisement as plain data, the way bleak presents it (company IDs stripped from
    manufacturer data, UUIDs lower-case 128-bit)."""

    address: str
    rssi: int | None = None
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
    local_name: str | None = None
    tx_power: int | None = None
    seen_at: datetime | None = None

    @classmethod
    def create(
        cls,
        address: str,
        rssi: int | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
        service_uuids: tuple[str, ...] | list[str] = (),
        local_name: str | None = None,
        tx_power: int | None = None,
        seen_at: datetime | None = None,
    ) -> AdvertisementRecord:
        """Build a record from trusted in-process values (bleak), normalising spellings."""
        return cls(
            address=address.upper(),
            rssi=rssi,
            manufacturer_data=MappingProxyType(
                {int(k): bytes(v) for k, v in (manufacturer_data or {}).items()}
            ),
            service_data=MappingProxyType(
                {normalise_uuid(k): bytes(v) for k, v in (service_data or {}).items()}
            ),
            service_uuids=tuple(dict.fromkeys(normalise_uuid(u) for u in service_uuids)),
            local_name=local_name,
            tx_power=tx_power,
            seen_at=seen_at,
        )

    @classmethod
    def from_json(cls, data: Any) -> AdvertisementRecord:
        """Validate the JSON shape `beacon parse` reads (DESIGN.md): `address`, `rssi`,
        `manufacturer_data` {company id as decimal string: hex}, `service_data` {uuid: hex},
        `service_uuids`, `local_name`, optional `tx_power` and `seen_at` (ISO 8601 with offset).
        Raises RecordError; unknown members are ignored so newer producers keep working."""
        if not isinstance(data, dict):
            raise RecordError("record_not_object")
        address = data.get("address")
        if not isinstance(address, str) or not address.strip():
            raise RecordError("address_missing", "address")
        if len(address) > MAX_ADDRESS_CHARS:
            raise RecordError("too_long", "address")
        manufacturer: dict[int, bytes] = {}
        for key, value in _json_mapping(data.get("manufacturer_data"), "manufacturer_data"):
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 5):
                raise RecordError("invalid_company_id", "manufacturer_data")
            company = int(key)
            if company > 0xFFFF:
                raise RecordError("invalid_company_id", "manufacturer_data")
            manufacturer[company] = _hex_bytes(value, "manufacturer_data")
        service: dict[str, bytes] = {}
        for key, value in _json_mapping(data.get("service_data"), "service_data"):
            service[_uuid_field(key, "service_data")] = _hex_bytes(value, "service_data")
        uuids_raw = data.get("service_uuids")
        if uuids_raw is None:
            uuids_raw = []
        if not isinstance(uuids_raw, list):
            raise RecordError("not_a_list", "service_uuids")
        if len(uuids_raw) > MAX_ENTRIES:
            raise RecordError("too_many_entries", "service_uuids")
        uuids = tuple(dict.fromkeys(_uuid_field(u, "service_uuids") for u in uuids_raw))
        local_name = data.get("local_name")
        if local_name is not None:
            if not isinstance(local_name, str):
                raise RecordError("not_a_string", "local_name")
            if len(local_name) > MAX_TEXT_CHARS:
                raise RecordError("too_long", "local_name")
        return cls(
            address=address.strip().upper(),
            rssi=_int_field(data.get("rssi"), "rssi", -127, 20),
            manufacturer_data=MappingProxyType(manufacturer),
            service_data=MappingProxyType(service),
            service_uuids=uuids,
            local_name=local_name,
            tx_power=_int_field(data.get("tx_power"), "tx_power", -127, 127),
            seen_at=_datetime_field(data.get("seen_at"), "seen_at"),
        )

    @classmethod
    def from_json_line(cls, line: str) -> AdvertisementRecord:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            raise RecordError("invalid_json") from None
        return cls.from_json(data)


def _json_mapping(value: Any, name: str) -> list[tuple[Any, Any]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise RecordError("not_an_object", name)
    if len(value) > MAX_ENTRIES:
        raise RecordError("too_many_entries", name)
    return list(value.items())


def _hex_bytes(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError("invalid_hex", name)
    text = _SEPARATORS_RE.sub("", value)
    if not text.isascii() or not _HEX_RE.fullmatch(text):
        raise RecordError("invalid_hex", name)
    if len(text) > 2 * MAX_VALUE_BYTES:
        raise RecordError("too_long", name)
    return bytes.fromhex(text)


def _uuid_field(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise RecordError("invalid_uuid", name)
    try:
        return normalise_uuid(value)
    except RecordError:
        raise RecordError("invalid_uuid", name) from None


def _int_field(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError("not_an_integer", name)
    if not low <= value <= high:
        raise RecordError("out_of_range", name)
    return value


def _datetime_field(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise RecordError("invalid_datetime", name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError("invalid_datetime", name) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordError("datetime_without_offset", name)
    return moment


# --- Results ------------------------------------------------------------------------------------
OK = "ok"
IGNORED = "ignored"
REJECTED = "rejected"


@dataclass(frozen=True)
class ParseResult:
    """What an advertisement is. `key` is what encounters are aggregated by: the rolling ID (hex)
    when `key_type` is "rolling_id", the device address for presence-only protocols."""

    status: str  # ok | ignored | rejected
    protocol: str | None = None
    rolling_id: str | None = None
    key_type: str | None = None
    key: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "protocol": self.protocol,
            "rolling_id": self.rolling_id,
            "key_type": self.key_type,
            "key": self.key,
            "status": self.status,
        }
        if self.reason is not None:
            data["reason"] = self.reason
        data.update(self.details)
        return data


def _match(protocol: str, record: AdvertisementRecord, rolling_id: str | None = None,
           **details: Any) -> ParseResult:
    key_type = KEY_TYPES[protocol]
    key = rolling_id if key_type == "rolling_id" else record.address
    return ParseResult(OK, protocol, rolling_id, key_type, key,
                       details=MappingProxyType(details))


def _reject(protocol: str, reason: str) -> ParseResult:
    return ParseResult(REJECTED, None, reason=reason,
                       details=MappingProxyType({"claimed": protocol}))


# --- Parsers (each: record, moment or None → ParseResult, or None for "not mine") ------------
def parse_bluezone_android(record: AdvertisementRecord, now: datetime | None) -> ParseResult | None:
    """Service 0x4E56 + manufacturer data of company 8885 holding exactly the 12-byte rolling ID.
    Bluezone's own receivers accept the ID on its length alone; so do we (the UUID is optional)."""
    payload = record.manufacturer_data.get(BLUEZONE_COMPANY_ID)
    if payload is None:
        if BLUEZONE_SERVICE_UUID in record.service_uuids:
            return _reject("bluezone", "bluezone_id_missing")
        return None
    if len(payload) != BLUEZONE_ID_LENGTH:
        if BLUEZONE_V1_SERVICE_UUIDS.intersection(record.service_uuids):
            return None  # the obsolete v1 ASCII ID; reported as ignored, not as malformed v2
        return _reject("bluezone", "bluezone_id_length")
    # A record stamped when it was heard knows its slot better than the moment it is parsed.
    moment = record.seen_at if record.seen_at is not None else now
    details: dict[str, Any] = {
        "service_uuid_present": BLUEZONE_SERVICE_UUID in record.service_uuids}
    if moment is not None:
        details["slot"] = bluezone_ids.slot_of(moment)
        details["slot_day"] = moment.astimezone(UTC).date().isoformat()
    return _match("bluezone", record, payload.hex(), **details)


def parse_gaen(record: AdvertisementRecord, now: datetime | None) -> ParseResult | None:
    """Exposure Notification: service data of 0xFD6F = 16-byte RPI + 4-byte encrypted metadata."""
    payload = record.service_data.get(GAEN_SERVICE_UUID)
    if payload is None:
        if GAEN_SERVICE_UUID in record.service_uuids:
            return _reject("gaen", "gaen_payload_missing")
        return None
    if len(payload) != GAEN_RPI_LENGTH + GAEN_AEM_LENGTH:
        return _reject("gaen", "gaen_payload_length")
    return _match("gaen", record, payload[:GAEN_RPI_LENGTH].hex(),
                  aem=payload[GAEN_RPI_LENGTH:].hex())


def parse_bluezone_ios(record: AdvertisementRecord, now: datetime | None) -> ParseResult | None:
    """iOS Bluezone: the ID is only readable over GATT, so presence only. Foreground: its 128-bit
    service UUID or the local name; background: its bit in Apple's overflow area."""
    if BLUEZONE_IOS_SERVICE_UUID in record.service_uuids:
        return _match("bluezone_ios", record, variant="foreground", matched="service_uuid")
    if record.local_name == BLUEZONE_IOS_LOCAL_NAME:
        return _match("bluezone_ios", record, variant="foreground", matched="local_name")
    apple = record.manufacturer_data.get(APPLE_COMPANY_ID)
    if not apple or apple[0] != APPLE_OVERFLOW_TYPE:
        return None
    if len(apple) != APPLE_OVERFLOW_LENGTH:
        return _reject("bluezone_ios", "apple_overflow_length")
    bitmask = apple[1:]
    for version, index, bit in BLUEZONE_OVERFLOW_BITS:
        if bitmask[index] & bit:
            return _match("bluezone_ios", record, variant="background", overflow_bit=version)
    return None


def parse_bluezone_wakeup(record: AdvertisementRecord, now: datetime | None) -> ParseResult | None:
    """The iBeacon Bluezone Android v3.0.4+ sends to wake background iPhones; carries no ID."""
    apple = record.manufacturer_data.get(APPLE_COMPANY_ID)
    if not apple or apple[:2] != IBEACON_PREFIX:
        return None
    if len(apple) != IBEACON_LENGTH:
        return _reject("bluezone_wakeup", "ibeacon_length")
    proximity_uuid = apple[2:18].hex()
    spelled = "-".join((proximity_uuid[:8], proximity_uuid[8:12], proximity_uuid[12:16],
                        proximity_uuid[16:20], proximity_uuid[20:]))
    if spelled != BLUEZONE_WAKEUP_UUID:
        return None  # some other iBeacon (the kiosk's own venue beacon among them)
    return _match(
        "bluezone_wakeup", record,
        major=int.from_bytes(apple[18:20], "big"),
        minor=int.from_bytes(apple[20:22], "big"),
        measured_power=int.from_bytes(apple[22:23], "big", signed=True),
    )


def parse_bluetrace(record: AdvertisementRecord, now: datetime | None) -> ParseResult | None:
    """BlueTrace / TraceTogether / COVIDSafe on Android: the TempID is only in GATT, so presence
    only. The 3 manufacturer bytes (company 1023) are random and carry nothing."""
    variant = next((BLUETRACE_SERVICE_UUIDS[u] for u in record.service_uuids
                    if u in BLUETRACE_SERVICE_UUIDS), None)
    if variant is None:
        return None
    extra = record.manufacturer_data.get(BLUETRACE_COMPANY_ID)
    if extra is not None and len(extra) != BLUETRACE_MANUFACTURER_LENGTH:
        return _reject("bluetrace", "bluetrace_manufacturer_length")
    details: dict[str, Any] = {"variant": variant}
    if record.tx_power is not None:
        details["tx_power"] = record.tx_power
    return _match("bluetrace", record, **details)


Parser = Callable[[AdvertisementRecord, "datetime | None"], "ParseResult | None"]

# Order matters only when one device's merged BlueZ properties carry two formats: a record with a
# rolling ID beats a presence-only one.
PARSERS: tuple[tuple[str, Parser], ...] = (
    ("bluezone", parse_bluezone_android),
    ("gaen", parse_gaen),
    ("bluezone_ios", parse_bluezone_ios),
    ("bluezone_wakeup", parse_bluezone_wakeup),
    ("bluetrace", parse_bluetrace),
)


def parse_advertisement(record: AdvertisementRecord, *, now: datetime | None = None) -> ParseResult:
    """Classify one advertisement. `now` (or the record's `seen_at`) adds the Bluezone slot."""
    rejected: ParseResult | None = None
    for _name, parser in PARSERS:
        result = parser(record, now)
        if result is None:
            continue
        if result.ok:
            return result
        rejected = rejected or result
    if rejected is not None:
        return rejected
    if BLUEZONE_V1_SERVICE_UUIDS.intersection(record.service_uuids):
        return ParseResult(IGNORED, reason="bluezone_v1_obsolete")
    return ParseResult(IGNORED, reason="unrecognised")
