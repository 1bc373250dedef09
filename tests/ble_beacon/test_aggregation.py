"""Encounter aggregation: statistics, proximity, forgetting, the memory cap and batch draining."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ble_beacon import aggregation
from ble_beacon.aggregation import Aggregator, forget_after, proximity_bucket
from ble_beacon.parsing import AdvertisementRecord, parse_advertisement
from tests.ble_beacon import phones

T0 = datetime(2026, 3, 10, 9, 0, 5, tzinfo=UTC)


def seen(at: datetime, rolling: bytes | None = None):
    rolling = rolling or phones.bluezone_id(at)
    rec = AdvertisementRecord.create("5E:00:00:00:00:01", manufacturer_data={8885: rolling})
    return parse_advertisement(rec, now=at)


def gaen_seen(rpi: bytes):
    return parse_advertisement(AdvertisementRecord.create("7A:00:00:00:00:02", **_gaen(rpi)))


def _gaen(rpi):
    data = phones.gaen(rpi)
    return {"service_uuids": data["uuids"], "service_data": data["service_data"]}


def bluetrace_seen(address: str):
    data = phones.bluetrace()
    return parse_advertisement(AdvertisementRecord.create(
        address, service_uuids=data["uuids"], manufacturer_data=data["manufacturer_data"]))


@pytest.mark.parametrize(("rssi", "bucket"), [(-40, "near"), (-82, "near"), (-83, "medium"),
                                              (-90, "medium"), (-91, "far"), (-100, "far")])
def test_proximity_buckets(rssi, bucket):
    assert proximity_bucket(rssi) == bucket


def test_one_encounter_per_rolling_id_with_rssi_statistics():
    agg = Aggregator()
    for i, rssi in enumerate([-70, -60, -80, -50]):
        assert agg.observe(seen(T0), rssi, T0 + timedelta(seconds=i))
    (enc,) = agg.drain(T0 + timedelta(seconds=4))
    assert enc.protocol == "bluezone" and enc.rolling_id == phones.bluezone_id(T0).hex()
    assert (enc.first_seen_at, enc.last_seen_at) == (T0, T0 + timedelta(seconds=3))
    assert (enc.count, enc.rssi_min, enc.rssi_max, enc.rssi_mean) == (4, -80, -50, -65.0)
    assert enc.proximity == "near"  # the closest approach
    assert enc.details["slot"] == 36 and not enc.closed


def test_drain_returns_only_what_changed():
    agg = Aggregator()
    agg.observe(seen(T0), -70, T0)
    agg.observe(gaen_seen(bytes(16)), -88, T0)
    assert len(agg.drain(T0)) == 2
    assert agg.drain(T0 + timedelta(seconds=1)) == []
    agg.observe(gaen_seen(bytes(16)), -86, T0 + timedelta(seconds=2))
    (changed,) = agg.drain(T0 + timedelta(seconds=2))
    assert changed.protocol == "gaen" and changed.count == 2 and changed.proximity == "medium"


def test_weak_and_unknown_rssi_are_not_recorded():
    agg = Aggregator()
    assert not agg.observe(seen(T0), -101, T0)
    assert not agg.observe(seen(T0), None, T0)
    assert not agg.observe(seen(T0), -127, T0)  # bleak's "no RSSI"
    assert agg.drain(T0) == [] and agg.too_weak == 3


def test_ignored_and_rejected_results_are_not_recorded():
    agg = Aggregator()
    nothing = parse_advertisement(AdvertisementRecord.create("00:00:00:00:00:01"))
    malformed = parse_advertisement(AdvertisementRecord.create(
        "00:00:00:00:00:01", manufacturer_data={8885: b"short"}))
    assert not agg.observe(nothing, -50, T0) and not agg.observe(malformed, -50, T0)
    assert len(agg) == 0


def test_rotation_at_a_slot_boundary_gives_two_encounters_and_the_old_one_closes():
    agg = Aggregator()
    before = datetime(2026, 3, 10, 9, 14, 50, tzinfo=UTC)
    after = before + timedelta(seconds=20)
    agg.observe(seen(before), -60, before)
    agg.observe(seen(after), -61, after)
    first, second = agg.drain(after)
    assert first.rolling_id != second.rolling_id
    assert (first.details["slot"], second.details["slot"]) == (36, 37)
    # Phone still here under its new ID; the old ID goes silent and is closed, once.
    for step in range(1, 9):
        agg.observe(seen(after), -60, after + timedelta(seconds=10 * step))
    closing = agg.drain(before + forget_after("bluezone") + timedelta(seconds=1))
    closed = [e for e in closing if e.closed]
    assert [e.rolling_id for e in closed] == [first.rolling_id]
    assert closed[0].last_seen_at == before
    assert [e.rolling_id for e in agg.present(after + timedelta(seconds=80))] == [second.rolling_id]


def test_a_key_heard_again_after_being_forgotten_is_a_new_encounter():
    agg = Aggregator()
    address = "4F:00:00:00:00:09"
    agg.observe(bluetrace_seen(address), -70, T0)
    later = T0 + forget_after("bluetrace") + timedelta(seconds=5)
    agg.observe(bluetrace_seen(address), -72, later)
    batch = agg.drain(later)
    assert [(e.first_seen_at, e.closed) for e in batch] == [(T0, True), (later, False)]
    assert all(e.rolling_id == address and e.key_type == "address" for e in batch)


def test_the_cap_closes_the_least_recently_heard_first():
    agg = Aggregator(max_open=3)
    rpis = [bytes([i]) * 16 for i in range(5)]
    for i, rpi in enumerate(rpis):
        agg.observe(gaen_seen(rpi), -70, T0 + timedelta(seconds=i))
    agg.observe(gaen_seen(rpis[2]), -70, T0 + timedelta(seconds=5))  # refreshes the third
    agg.observe(gaen_seen(bytes([9]) * 16), -70, T0 + timedelta(seconds=6))
    assert len(agg) == 3 and agg.evicted_early == 3
    open_ids = {e.rolling_id for e in agg.present(T0 + timedelta(seconds=6))}
    assert open_ids == {rpis[2].hex(), rpis[4].hex(), (bytes([9]) * 16).hex()}
    closed = [e.rolling_id for e in agg.drain(T0 + timedelta(seconds=6)) if e.closed]
    assert closed == [rpis[0].hex(), rpis[1].hex(), rpis[3].hex()]


def test_close_all_hands_over_everything_closed():
    agg = Aggregator()
    agg.observe(seen(T0), -70, T0)
    agg.drain(T0)
    batch = agg.close_all()
    assert len(batch) == 1 and batch[0].closed and len(agg) == 0


def test_a_clock_stepped_back_never_ends_an_encounter_before_it_began():
    agg = Aggregator()
    agg.observe(seen(T0), -70, T0)
    agg.observe(seen(T0), -71, T0 - timedelta(seconds=3))
    (enc,) = agg.drain(T0)
    assert enc.first_seen_at <= enc.last_seen_at and enc.count == 2


def test_memory_stays_bounded_when_nobody_drains():
    agg = Aggregator(max_open=10, max_closed=20)
    for i in range(100):
        agg.observe(gaen_seen(i.to_bytes(16, "big")), -70, T0 + timedelta(seconds=i))
    assert len(agg) == 10 and agg.dropped == 70
    assert len(agg.drain(T0 + timedelta(seconds=100))) == 20 + 10


def test_thresholds_have_the_reference_values():
    assert (aggregation.RECORD_MIN_RSSI, aggregation.NEAR_RSSI, aggregation.MEDIUM_RSSI) == (
        -100, -82, -90)


# --- Property: every recorded sighting is accounted for exactly once -----------------------------
events = st.lists(
    st.tuples(st.integers(0, 7), st.integers(-110, -30), st.integers(0, 200)),
    min_size=1, max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events=events, cap=st.integers(1, 6), drain_every=st.integers(1, 10))
def test_counts_add_up_and_statistics_stay_consistent(events, cap, drain_every):
    agg = Aggregator(max_open=cap)
    results = [gaen_seen(bytes([k]) * 16) for k in range(8)]
    now = T0
    recorded = 0
    final: dict = {}
    for i, (key, rssi, gap_s) in enumerate(events):
        now += timedelta(seconds=gap_s)
        recorded += agg.observe(results[key], rssi, now)
        assert len(agg) <= cap
        if i % drain_every == 0:
            for enc in agg.drain(now):
                final[(enc.rolling_id, enc.first_seen_at)] = enc
    for enc in agg.drain(now) + agg.close_all():
        final[(enc.rolling_id, enc.first_seen_at)] = enc
    assert agg.dropped == 0
    assert sum(e.count for e in final.values()) == recorded
    for enc in final.values():
        assert enc.closed
        assert enc.rssi_min <= enc.rssi_mean <= enc.rssi_max
        assert enc.rssi_min >= aggregation.RECORD_MIN_RSSI
        assert enc.first_seen_at <= enc.last_seen_at
        assert enc.proximity == proximity_bucket(enc.rssi_max)
