"""Pure overlap logic: the edges (touching, points, buffers, open visits, midnight), properties."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracing.contacts import (
    LOCAL_TZ,
    Interval,
    Sighting,
    Stay,
    auto_checkout_at,
    buffered,
    effective_end,
    intersects,
    match_contacts,
    match_devices,
    overlap_seconds,
)


def local(day, hh, mm=0, ss=0):
    """A Việt Nam wall-clock time on March `day` 2026, as the UTC instant it is stored as."""
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


def iv(a, b):
    return Interval(a, b)


# --- intervals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "meet", "seconds"), [
    ((9, 10), (10, 11), False, 0),      # touching: one left as the other arrived
    ((9, 11), (10, 12), True, 3600),
    ((9, 12), (10, 11), True, 3600),     # containment
    ((9, 10), (11, 12), False, 0),
    ((10, 10), (10, 11), True, 0),       # a point at the start of a window is inside
    ((11, 11), (10, 11), False, 0),      # a point at the end is not (half-open)
    ((10, 10), (10, 10), True, 0),       # two equal points
    ((10, 10), (11, 11), False, 0),
])
def test_intersects_and_overlap_at_the_edges(a, b, meet, seconds):
    A, B = iv(local(10, a[0]), local(10, a[1])), iv(local(10, b[0]), local(10, b[1]))
    assert intersects(A, B) is meet
    assert intersects(B, A) is meet
    assert overlap_seconds(A, B) == seconds == overlap_seconds(B, A)


def test_interval_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        Interval(local(10, 10), local(10, 9))


def test_buffers_widen_the_window_and_refuse_negatives():
    window = buffered(iv(local(10, 9), local(10, 10)), 15, 30)
    assert window == iv(local(10, 8, 45), local(10, 10, 30))
    with pytest.raises(ValueError):
        buffered(window, -1, 0)


# --- automatic check-out and effective end -----------------------------------------------------

def test_open_visit_counts_until_now_when_the_venue_has_no_rules():
    assert effective_end(local(10, 9), None, now=local(10, 11)) == local(10, 11)


def test_checked_out_visit_ends_at_its_check_out_whatever_now_is():
    assert effective_end(local(10, 9), local(10, 9, 30), now=local(12, 0)) == local(10, 9, 30)


def test_open_visit_ends_at_the_maximum_stay_if_that_is_earlier_than_now():
    end = effective_end(local(10, 9), None, now=local(10, 18), max_stay_min=240)
    assert end == local(10, 13)
    assert effective_end(local(10, 9), None, now=local(10, 10), max_stay_min=240) == local(10, 10)


def test_closing_time_is_local_and_crosses_utc_midnight_correctly():
    # 22:00 in Hà Nội is 15:00 UTC: the closing is on the local day of the check-in.
    end = auto_checkout_at(local(10, 20), closing_time=time(22, 0), max_stay_min=None)
    assert end == local(10, 22)
    # Check-in at 06:30 local is 23:30 UTC the day before; closing stays on the local day.
    end = auto_checkout_at(local(11, 6, 30), closing_time=time(17, 30), max_stay_min=None)
    assert end == local(11, 17, 30)


def test_check_in_after_closing_time_closes_at_the_next_days_closing():
    assert auto_checkout_at(local(10, 23), closing_time=time(22, 0), max_stay_min=None) == \
        local(11, 22)
    # Exactly at closing time: the next one (a visit never closes the instant it opens).
    assert auto_checkout_at(local(10, 22), closing_time=time(22, 0), max_stay_min=None) == \
        local(11, 22)


def test_midnight_closing_time_is_the_end_of_the_local_day():
    assert auto_checkout_at(local(10, 21), closing_time=time(0, 0), max_stay_min=None) == \
        local(11, 0)


def test_earliest_of_closing_time_and_maximum_stay_wins():
    assert auto_checkout_at(local(10, 16), closing_time=time(17, 0), max_stay_min=240) == \
        local(10, 17)
    assert auto_checkout_at(local(10, 8), closing_time=time(17, 0), max_stay_min=240) == \
        local(10, 12)
    assert auto_checkout_at(local(10, 8), closing_time=None, max_stay_min=None) is None


def test_effective_end_is_never_before_the_check_in():
    # A kiosk clock that ran ahead: check-in "after" now. The stay is a point, not negative.
    assert effective_end(local(10, 9), None, now=local(10, 8)) == local(10, 9)


# --- matching ----------------------------------------------------------------------------------

def stay(id, person, a, b, place="A"):
    return Stay(id=id, place=place, person=person, interval=iv(a, b))


def test_hand_computed_contacts_with_every_edge():
    index = [stay(1, "case", local(10, 23), local(11, 0, 30))]
    others = [
        stay(2, "touch-before", local(10, 22), local(10, 23)),         # touches the start
        stay(3, "before", local(10, 22, 30), local(10, 23, 10)),        # 10 min, 10 together
        stay(4, "after", local(11, 0, 45), local(11, 2)),               # in the after buffer: 15
        stay(5, "touch-after", local(11, 1), local(11, 1, 30)),         # starts as the window ends
        stay(6, "long", local(10, 22, 50), local(11, 0, 40)),           # 100, 90 together
        stay(7, "elsewhere", local(10, 23), local(11, 0), place="B"),   # other venue
        stay(8, "case", local(10, 23, 5), local(10, 23, 6)),            # the case's own visit
        stay(9, "point", local(10, 23), local(10, 23)),                 # turned away at the door
    ]
    found = match_contacts(index, others, before_min=0, after_min=30)
    assert [(c.id, c.overlap_min, c.simultaneous_min) for c in found] == [
        (6, 100, 90), (4, 15, 0), (3, 10, 10), (9, 0, 0),
    ]
    # A 15-minute before-buffer reaches back to 22:45: stay 2 now overlaps 15 minutes.
    found = match_contacts(index, others, before_min=15, after_min=0)
    assert [(c.id, c.overlap_min) for c in found] == [(6, 100), (3, 25), (2, 15), (9, 0)]


def test_ties_rank_by_time_together_then_arrival():
    index = [stay(1, "case", local(10, 9), local(10, 10))]
    others = [
        stay(3, "x", local(10, 10, 20), local(10, 10, 30)),  # 10 in the buffer, 0 together
        stay(2, "y", local(10, 9, 50), local(10, 10)),       # 10 in the window, 10 together
        stay(4, "z", local(10, 10, 0), local(10, 10, 10)),   # 10, 0 together, earlier than 3
    ]
    assert [c.id for c in match_contacts(index, others, before_min=0, after_min=30)] == [2, 4, 3]


def test_one_row_per_index_stay_and_other_stay():
    index = [stay(1, "case", local(10, 9), local(10, 10)),
             stay(2, "case", local(10, 14), local(10, 15))]
    others = [stay(3, "staff", local(10, 8), local(10, 17))]
    found = match_contacts(index, others, before_min=0, after_min=30)
    assert [(c.index_id, c.id, c.overlap_min) for c in found] == [(1, 3, 90), (2, 3, 90)]


def test_devices_grouped_by_rolling_id_with_best_rssi_and_own_phone_left_out():
    index = [stay(1, "case", local(10, 23), local(11, 0, 30))]

    def seen(id, key, a, b, rssi, place="A", linked=None, count=3):
        return Sighting(id=id, place=place, key=("bluezone", key), interval=iv(a, b),
                        best_rssi=rssi, count=count, linked_stay_id=linked)

    sightings = [
        seen(1, "aa", local(10, 23, 5), local(10, 23, 20), -60),
        seen(2, "aa", local(10, 23, 40), local(10, 23, 50), -52),
        seen(3, "bb", local(11, 1), local(11, 1, 10), -40),             # starts at window end
        seen(4, "cc", local(10, 22, 40), local(10, 23, 1), -70),        # 1 minute inside
        seen(5, "dd", local(10, 23), local(10, 23, 30), -45, place="B"),
        seen(6, "ee", local(10, 23), local(11, 0), -30, linked=1),      # the case's phone
        seen(7, "ff", local(11, 0, 59), local(11, 0, 59), -80, count=1),  # heard once, inside
    ]
    devices = match_devices(index, sightings, before_min=0, after_min=30)
    assert [(d.key[1], d.overlap_min, d.duration_min, d.best_rssi, d.sightings)
            for d in devices] == [
        ("aa", 25, 25, -52, 6), ("cc", 1, 21, -70, 3), ("ff", 0, 0, -80, 1),
    ]
    assert devices[0].first_seen_at == local(10, 23, 5)
    assert devices[0].last_seen_at == local(10, 23, 50)


# --- properties --------------------------------------------------------------------------------

BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
minutes = st.integers(min_value=0, max_value=3 * 24 * 60)


@st.composite
def intervals(draw):
    start = draw(minutes)
    length = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=600)))
    return Interval(BASE + timedelta(minutes=start), BASE + timedelta(minutes=start + length))


@given(intervals(), intervals())
def test_overlap_is_symmetric_and_bounded(a, b):
    assert intersects(a, b) == intersects(b, a)
    assert overlap_seconds(a, b) == overlap_seconds(b, a)
    assert 0 <= overlap_seconds(a, b) <= min(a.seconds, b.seconds)
    if overlap_seconds(a, b) > 0:
        assert intersects(a, b)


@given(intervals(), intervals())
def test_intersection_agrees_with_a_minute_by_minute_check(a, b):
    def instants(x):  # every whole minute in [start, end), or the point itself
        if x.start == x.end:
            return {x.start}
        n = int(x.seconds // 60)
        return {x.start + timedelta(minutes=i) for i in range(n)}

    def contains(x, t):
        return x.start <= t < x.end if x.start != x.end else t == x.start

    expected = any(contains(b, t) for t in instants(a)) or any(contains(a, t) for t in instants(b))
    assert intersects(a, b) == expected


@given(intervals(), st.lists(intervals(), max_size=8), minutes, minutes, minutes, minutes)
@settings(max_examples=200)
def test_wider_buffers_never_lose_a_contact_and_ranking_is_by_overlap(case, others, b1, a1, b2,
                                                                      a2):
    index = [Stay(0, "A", "case", case)]
    stays = [Stay(i + 1, "A", f"p{i}", x) for i, x in enumerate(others)]
    narrow = match_contacts(index, stays, before_min=min(b1, b2), after_min=min(a1, a2))
    wide = match_contacts(index, stays, before_min=max(b1, b2), after_min=max(a1, a2))
    assert {c.id for c in narrow} <= {c.id for c in wide}
    overlaps = [c.overlap_s for c in wide]
    assert overlaps == sorted(overlaps, reverse=True)
    for c in wide:
        assert c.simultaneous_s <= c.overlap_s


@given(minutes, st.one_of(st.none(), minutes), minutes,
       st.one_of(st.none(), st.times()), st.one_of(st.none(), st.integers(0, 2000)))
def test_effective_end_properties(start, out_after, now_m, closing, max_stay):
    checked_in = BASE + timedelta(minutes=start)
    checked_out = None if out_after is None else checked_in + timedelta(minutes=out_after)
    now = BASE + timedelta(minutes=now_m)
    end = effective_end(checked_in, checked_out, now=now, closing_time=closing,
                        max_stay_min=max_stay)
    assert end >= checked_in
    if checked_out is not None:
        assert end == checked_out
    elif now >= checked_in:
        assert end <= now
        if max_stay is not None:
            assert end <= checked_in + timedelta(minutes=max_stay)
    auto = auto_checkout_at(checked_in, closing_time=closing, max_stay_min=max_stay)
    if closing is not None and max_stay is None:
        assert auto > checked_in
        assert auto - checked_in <= timedelta(days=1)
        assert auto.astimezone(LOCAL_TZ).time() == closing.replace(tzinfo=None)


def test_a_zero_length_index_stay_keeps_its_own_instant_whatever_the_buffers():
    """Found by hypothesis: a case turned away at 10:00 and someone else turned away at 10:00
    met, with or without a before-buffer."""
    index = [stay(1, "case", local(10, 10), local(10, 10))]
    others = [stay(2, "x", local(10, 10), local(10, 10)),
              stay(3, "y", local(10, 9, 50), local(10, 10))]   # left as the case arrived
    for before in (0, 15):
        found = match_contacts(index, others, before_min=before, after_min=0)
        assert 2 in [c.id for c in found]
    assert [c.id for c in match_contacts(index, others, before_min=15, after_min=0)] == [3, 2]


@given(intervals(), st.lists(intervals(), max_size=6), minutes, minutes, minutes, minutes)
@settings(max_examples=200)
def test_wider_buffers_never_lose_a_device(case, heard, b1, a1, b2, a2):
    index = [Stay(0, "A", "case", case)]
    sightings = [Sighting(i, "A", ("gaen", f"{i:02x}"), x, -60, 1) for i, x in enumerate(heard)]
    narrow = match_devices(index, sightings, before_min=min(b1, b2), after_min=min(a1, a2))
    wide = match_devices(index, sightings, before_min=max(b1, b2), after_min=max(a1, a2))
    assert {d.key for d in narrow} <= {d.key for d in wide}
    for d in wide:
        assert 0 <= d.overlap_s <= d.duration_s
