"""Who shared a venue with an index case, and for how long: pure interval logic, no I/O.

Intervals are half-open, [start, end): a visit that ends at 10:00 and one that starts at 10:00
never met, and a buffered window [in − before, out + after) does not catch a visit that starts
exactly when it closes. A zero-length stay (checked in and out in the same instant, a phone heard
once) is the point `start`; it is inside a window when window.start <= start < window.end.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Hashable, Iterable, Sequence
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("interval ends before it starts")

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def intersects(a: Interval, b: Interval) -> bool:
    return spans_meet(a.start, a.end, b.start, b.end)


def spans_meet(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """`intersects` on bare endpoints (for loops over many rows): half-open spans meet when they
    share time; an instant meets a span that contains it, and an equal instant."""
    if a_start == a_end and b_start == b_end:
        return a_start == b_start
    if a_start == a_end:
        return b_start <= a_start < b_end
    if b_start == b_end:
        return a_start <= b_start < a_end
    return max(a_start, b_start) < min(a_end, b_end)


def overlap_seconds(a: Interval, b: Interval) -> float:
    return max(0.0, (min(a.end, b.end) - max(a.start, b.start)).total_seconds())


def buffered(interval: Interval, before_min: int, after_min: int) -> Interval:
    if before_min < 0 or after_min < 0:
        raise ValueError("buffers cannot be negative")
    return Interval(interval.start - timedelta(minutes=before_min),
                    interval.end + timedelta(minutes=after_min))


def auto_checkout_at(checked_in_at: datetime, *, closing_time: time | None,
                     max_stay_min: int | None, tz: ZoneInfo = LOCAL_TZ) -> datetime | None:
    """When the venue's rules close a visit left open: the first local closing time after the
    check-in, or the maximum stay, whichever comes first (None when the venue has neither)."""
    candidates = []
    if max_stay_min is not None:
        candidates.append(checked_in_at + timedelta(minutes=max_stay_min))
    if closing_time is not None:
        local_in = checked_in_at.astimezone(tz)
        closing = datetime.combine(local_in.date(), closing_time.replace(tzinfo=None), tz)
        if closing <= local_in:  # checked in after today's closing: closed at the next one
            closing = datetime.combine(local_in.date() + timedelta(days=1),
                                       closing_time.replace(tzinfo=None), tz)
        candidates.append(closing.astimezone(checked_in_at.tzinfo))
    return min(candidates) if candidates else None


def effective_end(checked_in_at: datetime, checked_out_at: datetime | None, *, now: datetime,
                  closing_time: time | None = None, max_stay_min: int | None = None,
                  tz: ZoneInfo = LOCAL_TZ) -> datetime:
    """The end of a stay as tracing counts it: the check-out, or for a visit still open, now or
    its automatic check-out, whichever is earlier (never before the check-in)."""
    if checked_out_at is not None:
        return checked_out_at
    end = now
    auto = auto_checkout_at(checked_in_at, closing_time=closing_time, max_stay_min=max_stay_min,
                            tz=tz)
    if auto is not None and auto < end:
        end = auto
    return max(end, checked_in_at)


def _meets(other: Interval, stay: Interval, window: Interval) -> bool:
    """Whether `other` meets the buffered window of `stay`. The window always includes the stay
    itself: for a zero-length stay with no after-buffer, [t − before, t) alone would leave out
    the instant t the person was there, and widening a buffer could then lose a contact."""
    return intersects(other, window) or intersects(other, stay)


@dataclass(frozen=True)
class Stay:
    """A visit reduced to what the matching needs."""

    id: int
    place: Hashable      # venue id
    person: Hashable     # visitor id
    interval: Interval


@dataclass(frozen=True)
class Contact:
    index_id: int
    id: int              # the other visit
    person: Hashable
    interval: Interval
    overlap_s: float     # with the index's buffered window
    simultaneous_s: float  # with the index's actual stay, no buffers

    @property
    def overlap_min(self) -> float:
        return round(self.overlap_s / 60, 1)

    @property
    def simultaneous_min(self) -> float:
        return round(self.simultaneous_s / 60, 1)


def match_contacts(index: Sequence[Stay], others: Iterable[Stay], *, before_min: int,
                   after_min: int) -> list[Contact]:
    """Every other person's stay at the venue of an index stay that meets its buffered window,
    one row per (index stay, other stay), ranked by overlap (then time together, arrival, id)."""
    index_people = {stay.person for stay in index}
    index_ids = {stay.id for stay in index}
    windows = [(stay, buffered(stay.interval, before_min, after_min)) for stay in index]
    found: list[Contact] = []
    seen: set[tuple[int, int]] = set()
    for other in others:
        if other.person in index_people or other.id in index_ids:
            continue
        for stay, window in windows:
            if other.place != stay.place or (stay.id, other.id) in seen:
                continue
            if not _meets(other.interval, stay.interval, window):
                continue
            seen.add((stay.id, other.id))
            found.append(Contact(
                index_id=stay.id, id=other.id, person=other.person, interval=other.interval,
                overlap_s=overlap_seconds(other.interval, window),
                simultaneous_s=overlap_seconds(other.interval, stay.interval),
            ))
    found.sort(key=lambda c: (-c.overlap_s, -c.simultaneous_s, c.interval.start, c.id,
                              c.index_id))
    return found


@dataclass(frozen=True)
class Sighting:
    """One encounter row: a rolling ID heard at a venue from first to last seen."""

    id: int
    place: Hashable
    key: tuple[str, str]     # (protocol, rolling ID)
    interval: Interval
    best_rssi: int
    count: int
    linked_stay_id: int | None = None


@dataclass(frozen=True)
class Device:
    index_id: int
    key: tuple[str, str]
    first_seen_at: datetime
    last_seen_at: datetime
    duration_s: float       # heard for this long (sum over its sightings in the window)
    overlap_s: float        # of that, inside the buffered window
    best_rssi: int          # strongest signal: the nearest it came
    sightings: int
    linked_stay_id: int | None

    @property
    def overlap_min(self) -> float:
        return round(self.overlap_s / 60, 1)

    @property
    def duration_min(self) -> float:
        return round(self.duration_s / 60, 1)


def match_devices(index: Sequence[Stay], sightings: Iterable[Sighting], *, before_min: int,
                  after_min: int) -> list[Device]:
    """Rolling IDs heard at an index stay's venue during its buffered window, one row per
    (index stay, protocol + rolling ID), ranked by time in the window then signal strength.
    Phones linked to the index case's own visits are left out: they are the case's phone."""
    index_ids = {stay.id for stay in index}
    windows = [(stay, buffered(stay.interval, before_min, after_min)) for stay in index]
    windows_at: dict[Hashable, list[tuple[Stay, Interval]]] = {}
    for stay, window in windows:
        windows_at.setdefault(stay.place, []).append((stay, window))
    groups: dict[tuple[int, tuple[str, str]], dict[int, Sighting]] = {}
    for sighting in sightings:
        if sighting.linked_stay_id is not None and sighting.linked_stay_id in index_ids:
            continue
        for stay, window in windows_at.get(sighting.place, ()):
            if _meets(sighting.interval, stay.interval, window):
                groups.setdefault((stay.id, sighting.key), {}).setdefault(sighting.id, sighting)
    devices = []
    window_of = {stay.id: window for stay, window in windows}
    for (index_id, key), by_id in groups.items():
        rows = list(by_id.values())
        window = window_of[index_id]
        # A phone heard several times: the linked stay of its earliest linked sighting.
        linked = min(((s.interval.start, s.id, s.linked_stay_id) for s in rows
                      if s.linked_stay_id is not None), default=(None, None, None))[2]
        devices.append(Device(
            index_id=index_id, key=key,
            first_seen_at=min(s.interval.start for s in rows),
            last_seen_at=max(s.interval.end for s in rows),
            duration_s=sum(s.interval.seconds for s in rows),
            overlap_s=sum(overlap_seconds(s.interval, window) for s in rows),
            best_rssi=max(s.best_rssi for s in rows),
            sightings=sum(s.count for s in rows),
            linked_stay_id=linked,
        ))
    devices.sort(key=lambda d: (-d.overlap_s, -d.best_rssi, d.first_seen_at, d.key, d.index_id))
    return devices
