"""Folds parsed sightings into encounters, one per (protocol, key) while the phone stays in range,
and hands the changed ones to the writer in batches. Pure: explicit `now`, no I/O, no threads."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from ble_beacon.parsing import ParseResult

# RSSI thresholds (ble-formats.md §6). Phones advertise no readable TX power, so only raw RSSI is
# available; calibrate at the real entrance.
# Weaker than this is noise from outside the entrance: the reference's "record everything ≥ −100".
RECORD_MIN_RSSI = -100
# marq24's "near" group, derived from CWA's < 55 dB attenuation band (< 1.5 m, full risk weight).
NEAR_RSSI = -82
# marq24's "medium" group, from CWA's 55–63 dB band (1.5–3 m, half weight); weaker is "far".
MEDIUM_RSSI = -90

# How long a key may stay silent before its encounter is closed and forgotten: the longest normal
# gap between reports plus slack, because BlueZ only signals *changed* reports (ble-testing.md §10).
# Bluezone Android advertises 15 s on / 15 s off; GAEN every 200–270 ms but rotates with the MAC;
# BlueTrace advertises in 180 s bursts with pauses; iOS foreground adverts come and go with the app.
ADVERTISING_GAP_S = MappingProxyType(
    {"bluezone": 30, "bluezone_ios": 30, "bluezone_wakeup": 30, "gaen": 15, "bluetrace": 60}
)
FORGET_SLACK_S = 30
DEFAULT_GAP_S = 30
# Hard cap on open encounters: ~100 phones at a busy entrance, each rotating every 15 min, stay
# far below it; beyond it the least recently heard is closed early rather than growing memory.
MAX_OPEN_ENCOUNTERS = 10_000


def proximity_bucket(rssi: int) -> str:
    if rssi >= NEAR_RSSI:
        return "near"
    if rssi >= MEDIUM_RSSI:
        return "medium"
    return "far"


def forget_after(protocol: str) -> timedelta:
    return timedelta(seconds=ADVERTISING_GAP_S.get(protocol, DEFAULT_GAP_S) + FORGET_SLACK_S)


@dataclass(frozen=True)
class Encounter:
    """A snapshot of one encounter, as handed to the writer. The writer identifies the row by
    (protocol, rolling_id, first_seen_at); `closed` means it will not change again (each
    encounter's last snapshot, exactly one)."""

    protocol: str
    rolling_id: str  # the key: rolling ID hex, or the address for presence-only protocols
    key_type: str
    first_seen_at: datetime
    last_seen_at: datetime
    count: int
    rssi_min: int
    rssi_max: int
    rssi_mean: float
    proximity: str
    closed: bool = False
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "rolling_id": self.rolling_id,
            "key_type": self.key_type,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "count": self.count,
            "rssi_min": self.rssi_min,
            "rssi_max": self.rssi_max,
            "rssi_mean": round(self.rssi_mean, 1),
            "proximity": self.proximity,
            **self.details,
        }


class _Open:
    __slots__ = ("protocol", "key", "key_type", "first", "last", "count", "rssi_min", "rssi_max",
                 "rssi_sum", "details", "dirty")

    def __init__(self, result: ParseResult, rssi: int, now: datetime) -> None:
        self.protocol = result.protocol
        self.key = result.key
        self.key_type = result.key_type
        self.first = now
        self.last = now
        self.count = 1
        self.rssi_min = rssi
        self.rssi_max = rssi
        self.rssi_sum = rssi
        self.details = dict(result.details)
        self.dirty = True

    def add(self, result: ParseResult, rssi: int, now: datetime) -> None:
        # A clock stepped back by NTP must not make an encounter end before it began.
        self.last = max(self.last, now)
        self.count += 1
        self.rssi_min = min(self.rssi_min, rssi)
        self.rssi_max = max(self.rssi_max, rssi)
        self.rssi_sum += rssi
        for name, value in result.details.items():
            self.details.setdefault(name, value)  # the first slot is the encounter's slot
        self.dirty = True

    def snapshot(self, closed: bool) -> Encounter:
        return Encounter(
            protocol=self.protocol,
            rolling_id=self.key,
            key_type=self.key_type,
            first_seen_at=self.first,
            last_seen_at=self.last,
            count=self.count,
            rssi_min=self.rssi_min,
            rssi_max=self.rssi_max,
            rssi_mean=self.rssi_sum / self.count,
            # The closest approach is what a tracer asks about, so bucket the strongest report.
            proximity=proximity_bucket(self.rssi_max),
            closed=closed,
            details=MappingProxyType(dict(self.details)),
        )


class Aggregator:
    """Open encounters keyed by (protocol, key), least recently heard first."""

    def __init__(self, *, max_open: int = MAX_OPEN_ENCOUNTERS,
                 max_closed: int = MAX_OPEN_ENCOUNTERS,
                 record_min_rssi: int = RECORD_MIN_RSSI) -> None:
        if max_open < 1 or max_closed < 1:
            raise ValueError("max_open and max_closed must be >= 1")
        self.max_open = max_open
        self.max_closed = max_closed
        self.record_min_rssi = record_min_rssi
        self._open: OrderedDict[tuple[str, str], _Open] = OrderedDict()
        # Encounters closed (expired or pushed out by the cap) with changes the writer has not had.
        self._closed: list[Encounter] = []
        # When each recently closed key was last heard (bounded like the open set).
        self._recently_closed: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self.too_weak = 0
        self.evicted_early = 0
        self.dropped = 0
        self._shortest_gap = min(
            [forget_after(p) for p in ADVERTISING_GAP_S] + [forget_after("")]
        )

    def __len__(self) -> int:
        return len(self._open)

    def observe(self, result: ParseResult, rssi: int | None, now: datetime) -> bool:
        """Fold one sighting in; False when it is not recorded (not a match, or too weak)."""
        if not result.ok or result.key is None or result.protocol is None:
            return False
        if rssi is None or rssi < self.record_min_rssi:
            self.too_weak += 1
            return False
        key = (result.protocol, result.key)
        entry = self._open.get(key)
        if entry is not None and now - entry.last > forget_after(result.protocol):
            # Silent for longer than its protocol allows: that visit is over, this is a new one.
            self._close(key)
            entry = None
        if entry is None:
            self._expire(now)
            while len(self._open) >= self.max_open:
                self.evicted_early += 1
                self._close(next(iter(self._open)))
            start = now
            previous_end = self._recently_closed.pop(key, None)
            if previous_end is not None and start <= previous_end:
                # Writers identify an encounter by (protocol, key, first_seen_at): a key closed by
                # the cap and heard again within the same clock tick must not reuse that identity.
                start = previous_end + timedelta(microseconds=1)
            self._open[key] = _Open(result, rssi, start)
        else:
            entry.add(result, rssi, now)
            self._open.move_to_end(key)
        return True

    def present(self, now: datetime) -> list[Encounter]:
        """Encounters heard recently enough to count as here now (occupancy, ble-formats.md §7)."""
        return [e.snapshot(False) for e in self._open.values()
                if now - e.last <= forget_after(e.protocol)]

    def drain(self, now: datetime) -> list[Encounter]:
        """Close what has gone silent, then return every encounter changed since the last drain.
        The writer calls this about once a second and persists the batch in one transaction."""
        self._expire(now)
        batch, self._closed = self._closed, []
        for entry in self._open.values():
            if entry.dirty:
                entry.dirty = False
                batch.append(entry.snapshot(False))
        return batch

    def close_all(self) -> list[Encounter]:
        """Shut down: every open encounter, closed, plus anything not yet drained."""
        for key in list(self._open):
            self._close(key)
        batch, self._closed = self._closed, []
        return batch

    def _close(self, key: tuple[str, str]) -> None:
        # Every encounter ends with exactly one closed snapshot, changed or not, so consumers
        # (the writer, `beacon scan`) know it is final.
        entry = self._open.pop(key)
        self._closed.append(entry.snapshot(True))
        self._recently_closed[key] = entry.last
        self._recently_closed.move_to_end(key)
        if len(self._recently_closed) > max(self.max_open, 1024):
            self._recently_closed.popitem(last=False)
        if len(self._closed) > self.max_closed:
            # Nobody is draining (the writer is stuck): keep memory bounded, count the loss.
            del self._closed[0]
            self.dropped += 1

    def _expire(self, now: datetime) -> None:
        # Least recently heard first: once an entry is too fresh to expire under the shortest
        # timeout, every later one is too.
        for key in list(self._open):
            entry = self._open[key]
            gap = now - entry.last
            if gap > forget_after(entry.protocol):
                self._close(key)
            elif gap <= self._shortest_gap:
                break
