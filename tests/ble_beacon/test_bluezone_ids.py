"""Bluezone ID derivation and the UTC slot clock (ble-formats.md §4)."""
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ble_beacon import bluezone_ids
from tests.ble_beacon.phones import TEST_BASE_DAY, TEST_BASE_KEY, bluezone_id


def test_daily_key_is_sha256_applied_once_per_day():
    assert bluezone_ids.daily_key(TEST_BASE_KEY, 0) == TEST_BASE_KEY
    day2 = hashlib.sha256(hashlib.sha256(TEST_BASE_KEY).digest()).digest()
    assert bluezone_ids.daily_key(TEST_BASE_KEY, 2) == day2


def test_id_is_the_twelve_bytes_of_the_subkey_chain_at_the_documented_positions():
    day_key = bluezone_ids.daily_key(TEST_BASE_KEY, 1)
    sub0 = hashlib.sha256(day_key + b"bluzonesubkey").digest()
    sub2 = hashlib.sha256(hashlib.sha256(sub0).digest()).digest()
    positions = [0, 4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30]
    assert bluezone_ids.rolling_id(day_key, 0) == bytes(sub0[i] for i in positions)
    assert bluezone_ids.rolling_id(day_key, 2) == bytes(sub2[i] for i in positions)
    assert len(bluezone_ids.rolling_id(day_key, 95)) == 12


def test_ids_for_day_matches_slot_by_slot():
    day_key = bluezone_ids.daily_key(TEST_BASE_KEY, 3)
    ids = bluezone_ids.ids_for_day(day_key)
    assert len(ids) == 96 and len(set(ids)) == 96
    assert ids[0] == bluezone_ids.rolling_id(day_key, 0)
    assert ids[57] == bluezone_ids.rolling_id(day_key, 57)


@pytest.mark.parametrize(
    ("moment", "slot"),
    [
        (datetime(2026, 3, 10, 0, 0, tzinfo=UTC), 0),
        (datetime(2026, 3, 10, 0, 14, 59, 999000, tzinfo=UTC), 0),
        (datetime(2026, 3, 10, 0, 15, tzinfo=UTC), 1),
        (datetime(2026, 3, 10, 9, 15, tzinfo=UTC), 37),
        (datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=UTC), 95),
        # 07:20 in Hà Nội is 00:20 UTC: slots follow UTC days, not local ones.
        (datetime(2026, 3, 10, 7, 20, tzinfo=timezone(timedelta(hours=7))), 1),
    ],
)
def test_slot_of_counts_fifteen_minute_slots_from_utc_midnight(moment, slot):
    assert bluezone_ids.slot_of(moment) == slot


def test_v2_0_0_ten_minute_slots():
    assert bluezone_ids.slot_of(datetime(2026, 3, 10, 0, 10, tzinfo=UTC), 144) == 1


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        bluezone_ids.slot_of(datetime(2026, 3, 10, 0, 0))


def test_slot_start_round_trips():
    start = bluezone_ids.slot_start(date(2026, 3, 10), 37)
    assert start == datetime(2026, 3, 10, 9, 15, tzinfo=UTC)
    assert bluezone_ids.slot_of(start) == 37
    assert bluezone_ids.slot_of(start - timedelta(microseconds=1)) == 36


def test_the_phone_rotates_at_each_quarter_hour_and_each_day():
    before = datetime(2026, 3, 10, 9, 14, 59, tzinfo=UTC)
    after = before + timedelta(seconds=2)
    assert bluezone_id(before) != bluezone_id(after)
    assert bluezone_id(before) == bluezone_id(before - timedelta(minutes=14))
    yesterday = datetime(2026, 3, 9, 9, 14, tzinfo=UTC)
    assert bluezone_id(yesterday) != bluezone_id(before)
    assert TEST_BASE_DAY == yesterday.date()


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.timezones()))
def test_slot_is_always_in_range(moment):
    assert 0 <= bluezone_ids.slot_of(moment) < 96
