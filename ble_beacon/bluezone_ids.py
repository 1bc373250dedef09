"""Bluezone v2+ rolling IDs: the daily key → sub-key chain → 12-byte ID derivation and the UTC slot
clock (reference ble-formats.md §4). Pure; a tracer uses it to regenerate an F0's IDs, tests use it
to advertise realistic IDs from a fixed key."""
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

# Bluezone master / v3.0.7 default (MAX_NUMBER_SUB_KEY_PER_DAY = 24 * 4): one ID per 15 minutes.
SLOTS_PER_DAY = 96
# The constant really is spelled without the "e" after "blu" in the app's sources.
SUBKEY_SALT = b"bluzonesubkey"
# "4 x 4 bytes + 2 x 8 bytes": the sub-key positions that make up the 12-byte ID.
ID_BYTE_POSITIONS = (0, 4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30)
ID_LENGTH = len(ID_BYTE_POSITIONS)
DAY_MS = 86_400_000


def daily_key(base_key: bytes, days_after_base: int) -> bytes:
    """The daily key `days_after_base` UTC days after the base key's day (SHA-256 n times)."""
    if days_after_base < 0:
        raise ValueError("a daily key cannot precede its base key")
    key = bytes(base_key)
    for _ in range(days_after_base):
        key = hashlib.sha256(key).digest()
    return key


def subkey(day_key: bytes, slot: int) -> bytes:
    """Sub-key `slot` of the chain: SHA-256(daily key ‖ salt), then SHA-256 once per later slot."""
    if slot < 0:
        raise ValueError("slot must be >= 0")
    key = hashlib.sha256(bytes(day_key) + SUBKEY_SALT).digest()
    for _ in range(slot):
        key = hashlib.sha256(key).digest()
    return key


def rolling_id(day_key: bytes, slot: int) -> bytes:
    """The 12-byte Bluezone ID on air during `slot` of the daily key's day."""
    sub = subkey(day_key, slot)
    return bytes(sub[i] for i in ID_BYTE_POSITIONS)


def ids_for_day(day_key: bytes, slots_per_day: int = SLOTS_PER_DAY) -> list[bytes]:
    """Every ID of one day in slot order (one pass over the chain, for matching)."""
    ids = []
    key = hashlib.sha256(bytes(day_key) + SUBKEY_SALT).digest()
    for _ in range(slots_per_day):
        ids.append(bytes(key[i] for i in ID_BYTE_POSITIONS))
        key = hashlib.sha256(key).digest()
    return ids


def slot_length_ms(slots_per_day: int = SLOTS_PER_DAY) -> int:
    if not 1 <= slots_per_day <= DAY_MS:
        raise ValueError("slots_per_day out of range")
    return DAY_MS // slots_per_day


def slot_of(moment: datetime, slots_per_day: int = SLOTS_PER_DAY) -> int:
    """Slot number of an aware datetime: ms since UTC midnight ÷ slot length, rounded down."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    utc = moment.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed_ms = (utc - midnight) // timedelta(milliseconds=1)
    return min(elapsed_ms // slot_length_ms(slots_per_day), slots_per_day - 1)


def slot_start(day: date, slot: int, slots_per_day: int = SLOTS_PER_DAY) -> datetime:
    """UTC start of `slot` on `day`."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return midnight + timedelta(milliseconds=slot * slot_length_ms(slots_per_day))
