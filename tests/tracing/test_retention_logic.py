"""Pure retention rules: the cut falls on a local midnight; counts per Việt Nam calendar day."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing.contacts import LOCAL_TZ
from tracing.retention import VisitRow, fold_daily, next_run_after, purge_cutoff


def local(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


def test_cutoff_keeps_today_and_the_full_days_before_it():
    now = local(2026, 3, 31, 10)
    assert purge_cutoff(now, 21) == local(2026, 3, 10)


def test_cutoff_uses_the_local_day_not_the_utc_day():
    # 06:00 on 31 March in Hà Nội is still 30 March in UTC.
    now = local(2026, 3, 31, 6)
    assert now.date() == date(2026, 3, 30)
    assert purge_cutoff(now, 1) == local(2026, 3, 30)


def test_cutoff_needs_at_least_a_day():
    with pytest.raises(ValueError):
        purge_cutoff(local(2026, 3, 31), 0)


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                    timezones=st.just(timezone.utc)), st.integers(1, 400))
def test_cutoff_is_the_local_midnight_days_before_today(now, days):
    cut = purge_cutoff(now, days).astimezone(LOCAL_TZ)
    assert cut.time() == time(0)
    assert (now.astimezone(LOCAL_TZ).date() - cut.date()).days == days


def test_fold_counts_visits_people_and_phones_per_local_day():
    rows = [
        VisitRow(1, "an", local(2026, 3, 10, 8), True),
        VisitRow(1, "an", local(2026, 3, 10, 15), False),     # same person again: one visitor
        VisitRow(1, "binh", local(2026, 3, 10, 23, 59), False),
        VisitRow(1, "binh", local(2026, 3, 11, 0, 0), True),  # local midnight: the next day
        VisitRow(2, "an", local(2026, 3, 10, 9), False),      # another venue
    ]
    encounters = [(1, local(2026, 3, 10, 6, 30)), (1, local(2026, 3, 11, 1)),
                  (3, local(2026, 3, 9))]
    counts = fold_daily(rows, encounters)
    assert {k: (c.visits, c.visitors, c.visitors_with_app, c.encounters)
            for k, c in counts.items()} == {
        (1, date(2026, 3, 10)): (3, 2, 1, 1),
        (1, date(2026, 3, 11)): (1, 1, 1, 1),
        (2, date(2026, 3, 10)): (1, 1, 0, 0),
        (3, date(2026, 3, 9)): (0, 0, 0, 1),
    }


def test_next_run_is_the_next_local_half_past_two():
    assert next_run_after(local(2026, 3, 10, 1)) == local(2026, 3, 10, 2, 30)
    assert next_run_after(local(2026, 3, 10, 2, 30)) == local(2026, 3, 11, 2, 30)
    assert next_run_after(local(2026, 3, 10, 23)) == local(2026, 3, 11, 2, 30)
