"""Pure rules of a stay at the door: what a scan means for a visitor's current visit, and when an
open visit closes by itself. No I/O; every time is an explicit argument."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A kiosk without network time drifts; a few minutes of disagreement is not a forged declaration.
CLOCK_SLACK = timedelta(minutes=5)


class ScanAction(StrEnum):
    check_in = "check_in"                      # open a new visit
    repeat_check_in = "repeat_check_in"        # already checked in moments ago: same answer
    check_out = "check_out"                    # inside long enough: close the visit
    repeat_check_out = "repeat_check_out"      # checked out moments ago: same answer
    needs_confirmation = "needs_confirmation"  # no fresh declaration: ask on the touchscreen


@dataclass(frozen=True)
class StayRules:
    min_stay_min: int
    repeat_scan_s: int
    fresh_hours: int


def decide_scan(
    *,
    now: datetime,
    rules: StayRules,
    open_since: datetime | None,
    last_scan_checkout_at: datetime | None,
    declared_at: datetime | None,
) -> ScanAction:
    """What a valid scan of a known visitor does.

    open_since: check-in time of the visitor's open visit at this venue (None: not inside).
    last_scan_checkout_at: when their latest visit here was closed by a scan (None: never).
    declared_at: submission time of their latest declaration (None: never declared).
    """
    if open_since is not None:
        if now - open_since < timedelta(minutes=rules.min_stay_min):
            return ScanAction.repeat_check_in
        return ScanAction.check_out
    if (
        last_scan_checkout_at is not None
        and timedelta(0) <= now - last_scan_checkout_at < timedelta(seconds=rules.repeat_scan_s)
    ):
        return ScanAction.repeat_check_out
    if declared_at is None or not is_fresh(declared_at, now=now, fresh_hours=rules.fresh_hours):
        return ScanAction.needs_confirmation
    return ScanAction.check_in


def is_fresh(declared_at: datetime, *, now: datetime, fresh_hours: int) -> bool:
    """A declaration counts for `fresh_hours` after it was made. One dated in the future (beyond a
    little clock slack) does not: the device clock was wrong when it was made."""
    age = now - declared_at
    return -CLOCK_SLACK <= age <= timedelta(hours=fresh_hours)


def auto_checkout_at(
    checked_in_at: datetime,
    *,
    closing_time: time | None,
    max_stay_min: int | None,
    default_max_stay_min: int,
) -> datetime:
    """The instant an open visit closes by itself: the venue's first local closing time after the
    check-in, or the maximum stay, whichever comes first; the default maximum stay when the venue
    sets neither."""
    candidates = []
    if closing_time is not None:
        candidates.append(next_local_time(checked_in_at, closing_time))
    if max_stay_min is not None:
        candidates.append(checked_in_at + timedelta(minutes=max_stay_min))
    if not candidates:
        candidates.append(checked_in_at + timedelta(minutes=default_max_stay_min))
    return min(candidates)


def latest_overdue_check_in(
    now: datetime,
    *,
    closing_time: time | None,
    max_stay_min: int | None,
    default_max_stay_min: int,
) -> datetime:
    """A bound for the automatic check-out's query: every visit whose auto_checkout_at is at or
    before `now` began at or before this instant (a visit that began later is not due). The
    maximum stay is due for check-ins up to now minus the stay; the closing time for check-ins
    before its last stroke at or before now."""
    bounds = []
    if closing_time is not None:
        bounds.append(next_local_time(now - timedelta(days=1), closing_time))
    if max_stay_min is not None:
        bounds.append(now - timedelta(minutes=max_stay_min))
    if not bounds:
        bounds.append(now - timedelta(minutes=default_max_stay_min))
    return max(bounds)


def next_local_time(after: datetime, wall: time) -> datetime:
    """The first instant strictly after `after` at which local wall-clock time reads `wall`."""
    local = after.astimezone(LOCAL_TZ)
    candidate = datetime.combine(local.date(), wall.replace(tzinfo=None), tzinfo=LOCAL_TZ)
    if candidate <= local:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), wall.replace(tzinfo=None), tzinfo=LOCAL_TZ
        )
    return candidate.astimezone(after.tzinfo)
