"""The pure rules of a stay: what a scan means, when a visit closes by itself."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visits.stays import (
    LOCAL_TZ,
    ScanAction,
    StayRules,
    auto_checkout_at,
    decide_scan,
    is_fresh,
    latest_overdue_check_in,
    next_local_time,
)

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)  # 09:00 in Hà Nội
RULES = StayRules(min_stay_min=5, repeat_scan_s=60, fresh_hours=24)


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


@pytest.mark.parametrize(
    ("open_since", "last_checkout", "declared", "expected"),
    [
        # Not inside, fresh declaration: in.
        (None, None, ago(hours=1), ScanAction.check_in),
        (None, None, ago(hours=23, minutes=59), ScanAction.check_in),
        (None, None, ago(hours=24), ScanAction.check_in),
        # Stale, missing or future-dated declaration: ask first.
        (None, None, ago(hours=24, seconds=1), ScanAction.needs_confirmation),
        (None, None, None, ScanAction.needs_confirmation),
        (None, None, NOW + timedelta(hours=2), ScanAction.needs_confirmation),
        # Inside: out once the minimum stay has passed, else the same check-in again.
        (ago(minutes=5), None, ago(hours=1), ScanAction.check_out),
        (ago(hours=3), None, ago(days=3), ScanAction.check_out),  # leaving needs no declaration
        (ago(minutes=4, seconds=59), None, ago(hours=1), ScanAction.repeat_check_in),
        (NOW, None, ago(hours=1), ScanAction.repeat_check_in),
        # Just checked out by scan: the same answer, not a new visit.
        (None, ago(seconds=59), ago(hours=1), ScanAction.repeat_check_out),
        (None, ago(seconds=60), ago(hours=1), ScanAction.check_in),
        (None, ago(seconds=30), ago(days=2), ScanAction.repeat_check_out),
        # A checkout stamped in the future (clock moved back) does not block a check-in.
        (None, NOW + timedelta(minutes=1), ago(hours=1), ScanAction.check_in),
    ],
)
def test_decide_scan(open_since, last_checkout, declared, expected):
    assert decide_scan(now=NOW, rules=RULES, open_since=open_since,
                       last_scan_checkout_at=last_checkout, declared_at=declared) == expected


def test_zero_minimum_stay_checks_out_at_once():
    rules = StayRules(min_stay_min=0, repeat_scan_s=0, fresh_hours=24)
    assert decide_scan(now=NOW, rules=rules, open_since=NOW, last_scan_checkout_at=None,
                       declared_at=ago(hours=1)) == ScanAction.check_out


@given(
    open_offset=st.one_of(st.none(), st.integers(0, 10 * 24 * 3600)),
    checkout_offset=st.one_of(st.none(), st.integers(-3600, 10 * 24 * 3600)),
    declared_offset=st.one_of(st.none(), st.integers(-10 * 24 * 3600, 10 * 24 * 3600)),
)
def test_inside_always_means_in_or_out_never_a_question(open_offset, checkout_offset,
                                                        declared_offset):
    def at(offset):
        return None if offset is None else NOW - timedelta(seconds=offset)

    action = decide_scan(now=NOW, rules=RULES, open_since=at(open_offset),
                         last_scan_checkout_at=at(checkout_offset), declared_at=at(declared_offset))
    if open_offset is not None:
        assert action in (ScanAction.check_out, ScanAction.repeat_check_in)
    elif action == ScanAction.check_in:
        assert is_fresh(at(declared_offset), now=NOW, fresh_hours=24)


def local(y, m, d, hh, mm) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


@pytest.mark.parametrize(
    ("checked_in", "closing", "max_stay", "expected"),
    [
        # Closing time later the same day.
        (local(2026, 3, 10, 9, 0), time(18, 0), None, local(2026, 3, 10, 18, 0)),
        # Checked in after closing: the next day's closing time.
        (local(2026, 3, 10, 19, 0), time(18, 0), None, local(2026, 3, 11, 18, 0)),
        # Exactly at closing: the next one, not this instant.
        (local(2026, 3, 10, 18, 0), time(18, 0), None, local(2026, 3, 11, 18, 0)),
        # Midnight closing.
        (local(2026, 3, 10, 23, 30), time(0, 0), None, local(2026, 3, 11, 0, 0)),
        # Maximum stay only.
        (local(2026, 3, 10, 9, 0), None, 90, local(2026, 3, 10, 10, 30)),
        # Whichever comes first.
        (local(2026, 3, 10, 17, 0), time(18, 0), 120, local(2026, 3, 10, 18, 0)),
        (local(2026, 3, 10, 9, 0), time(18, 0), 120, local(2026, 3, 10, 11, 0)),
        # Neither set: the default maximum stay.
        (local(2026, 3, 10, 9, 0), None, None, local(2026, 3, 10, 21, 0)),
        # Across the end of the year in local time (UTC is still the 31st).
        (local(2026, 12, 31, 23, 0), time(6, 0), None, local(2027, 1, 1, 6, 0)),
    ],
)
def test_auto_checkout_at(checked_in, closing, max_stay, expected):
    assert auto_checkout_at(checked_in, closing_time=closing, max_stay_min=max_stay,
                            default_max_stay_min=720) == expected


@given(
    checked_in=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.just(timezone.utc)),
    closing=st.one_of(st.none(), st.times()),
    max_stay=st.one_of(st.none(), st.integers(1, 7 * 24 * 60)),
)
def test_auto_checkout_is_after_check_in_and_within_a_day_of_closing(checked_in, closing,
                                                                     max_stay):
    due = auto_checkout_at(checked_in, closing_time=closing, max_stay_min=max_stay,
                           default_max_stay_min=720)
    assert due > checked_in
    if closing is not None:
        assert due <= checked_in + timedelta(days=1)
        assert due == min(next_local_time(checked_in, closing),
                          checked_in + timedelta(minutes=max_stay or 10**9))
    if max_stay is not None:
        assert due <= checked_in + timedelta(minutes=max_stay)


@given(
    checked_in=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.just(timezone.utc)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    closing=st.one_of(st.none(), st.times()),
    max_stay=st.one_of(st.none(), st.integers(1, 7 * 24 * 60)),
)
def test_the_automatic_check_outs_bound_misses_no_due_visit(checked_in, later, closing,
                                                             max_stay):
    """The job reads only visits that began at or before the bound: every due visit did, and
    one that began after it is not due."""
    now = checked_in + later
    due = auto_checkout_at(checked_in, closing_time=closing, max_stay_min=max_stay,
                           default_max_stay_min=720) <= now
    bound = latest_overdue_check_in(now, closing_time=closing, max_stay_min=max_stay,
                                    default_max_stay_min=720)
    if due:
        assert checked_in <= bound
    if checked_in > bound:
        assert not due


@pytest.mark.parametrize(
    ("closing", "max_stay", "bound"),
    [
        # 09:00 in Hà Nội; closing at 17:30: the last closing was yesterday's.
        (time(17, 30), None, local(2026, 3, 9, 17, 30)),
        # Closing at 08:00: this morning's, an hour ago.
        (time(8, 0), None, local(2026, 3, 10, 8, 0)),
        (None, 120, local(2026, 3, 10, 7, 0)),
        # Whichever lets more visits be due.
        (time(8, 0), 120, local(2026, 3, 10, 8, 0)),
        (None, None, local(2026, 3, 9, 21, 0)),
    ],
)
def test_latest_overdue_check_in(closing, max_stay, bound):
    assert latest_overdue_check_in(NOW, closing_time=closing, max_stay_min=max_stay,
                                   default_max_stay_min=720) == bound


def test_next_local_time_keeps_the_callers_time_zone():
    result = next_local_time(NOW, time(8, 0))
    assert result.tzinfo is timezone.utc
    assert result.astimezone(LOCAL_TZ).hour == 8
    assert result == local(2026, 3, 11, 8, 0)
