"""Retention rules, pure: where the purge cuts, how purged days are folded into counts, when the
daily job runs next. The purge itself is tracing.purge.purge_personal_data."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Hashable, Iterable
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The daily job runs when entrances are closed, so the purge never competes with check-ins.
DAILY_RUN_AT = time(2, 30)


def purge_cutoff(now: datetime, days: int, tz: ZoneInfo = LOCAL_TZ) -> datetime:
    """Personal data from before this instant is deleted.

    The cut falls on a local midnight so that a day is purged whole: the counts kept for it are
    then complete, and a day is never half in the live tables and half in the aggregates. Today
    and the `days` full days before it are kept.
    """
    if days < 1:
        raise ValueError("retention must be at least one day")
    today = now.astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days), time(0), tz).astimezone(now.tzinfo)


def local_day(instant: datetime, tz: ZoneInfo = LOCAL_TZ) -> date:
    return instant.astimezone(tz).date()


def day_bounds(first: date, last: date, tz: ZoneInfo = LOCAL_TZ) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in local time, as aware datetimes."""
    return (datetime.combine(first, time(0), tz),
            datetime.combine(last + timedelta(days=1), time(0), tz))


@dataclass
class DayCounts:
    visits: int = 0
    visitors: int = 0
    visitors_with_app: int = 0
    encounters: int = 0

    def as_dict(self) -> dict:
        return {"visits": self.visits, "visitors": self.visitors,
                "visitors_with_app": self.visitors_with_app}


@dataclass(frozen=True)
class VisitRow:
    venue_id: int
    visitor_id: Hashable
    checked_in_at: datetime
    app_detected: bool   # a contact-tracing phone was linked to this visit


def fold_daily(visits: Iterable[VisitRow], encounter_starts: Iterable[tuple[int, datetime]] = (),
               tz: ZoneInfo = LOCAL_TZ) -> dict[tuple[int, date], DayCounts]:
    """Counts per (venue, local day) — the provincial tables count by calendar day in Việt Nam.

    A visit belongs to the day it started; a visitor counts once per venue and day, and counts
    as "with app" when any of their visits that day had a phone linked.
    """
    people: dict[tuple[int, date], set] = defaultdict(set)
    with_app: dict[tuple[int, date], set] = defaultdict(set)
    counts: dict[tuple[int, date], DayCounts] = defaultdict(DayCounts)
    for row in visits:
        key = (row.venue_id, local_day(row.checked_in_at, tz))
        counts[key].visits += 1
        people[key].add(row.visitor_id)
        if row.app_detected:
            with_app[key].add(row.visitor_id)
    for venue_id, first_seen_at in encounter_starts:
        counts[(venue_id, local_day(first_seen_at, tz))].encounters += 1
    for key, day in counts.items():
        day.visitors = len(people.get(key, ()))
        day.visitors_with_app = len(with_app.get(key, ()))
    return dict(counts)


def next_run_after(now: datetime, at: time = DAILY_RUN_AT, tz: ZoneInfo = LOCAL_TZ) -> datetime:
    """The next local `at` strictly after `now`."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return candidate.astimezone(now.tzinfo)
