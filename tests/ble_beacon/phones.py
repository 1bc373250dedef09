"""Realistic phones for the BLE tests, in the real formats of ble-formats.md (never the obsolete v1
Bluezone UUIDs as positive cases, never Bluezone IDs in service data)."""
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from ble_beacon import bluezone_ids, parsing

# A fixed test base key and its day: every Bluezone ID in the tests is derived from it (§4).
TEST_BASE_KEY = hashlib.sha256(b"khaibao-kiosk test base key").digest()
TEST_BASE_DAY = date(2026, 3, 9)


def bluezone_id(moment: datetime) -> bytes:
    """The ID a phone with the test key has on air at `moment`."""
    day = moment.astimezone(UTC).date()
    key = bluezone_ids.daily_key(TEST_BASE_KEY, (day - TEST_BASE_DAY).days)
    return bluezone_ids.rolling_id(key, bluezone_ids.slot_of(moment))


def bluezone_android(moment: datetime) -> dict:
    return {"uuids": [parsing.BLUEZONE_SERVICE_UUID],
            "manufacturer_data": {parsing.BLUEZONE_COMPANY_ID: bluezone_id(moment)}}


def gaen(rpi: bytes, aem: bytes = b"\x40\x0c\x00\x00") -> dict:
    return {"uuids": [parsing.GAEN_SERVICE_UUID],
            "service_data": {parsing.GAEN_SERVICE_UUID: rpi + aem}}


def bluetrace(extra: bytes = b"k3Z") -> dict:
    return {"uuids": ["b82ab3fc-1595-4f6a-80f0-fe094cc218f9"],
            "manufacturer_data": {parsing.BLUETRACE_COMPANY_ID: extra}, "tx_power": 7}


def bluezone_ios_foreground() -> dict:
    return {"uuids": [parsing.BLUEZONE_IOS_SERVICE_UUID], "name": "Bluezone"}


def bluezone_ios_background() -> dict:
    return {"manufacturer_data": {parsing.APPLE_COMPANY_ID: b"\x01\x08" + bytes(15)}}


def bluezone_wakeup() -> dict:
    beacon = (b"\x02\x15" + bytes.fromhex(parsing.BLUEZONE_WAKEUP_UUID.replace("-", ""))
              + (20).to_bytes(2, "big") + (20).to_bytes(2, "big") + b"\xc5")
    return {"manufacturer_data": {parsing.APPLE_COMPANY_ID: beacon}}
