"""Small test doubles for pure logic around the scanner: a hand-moved clock and a sink that
records what the writer would have received."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from ble_beacon.aggregation import Encounter


class ManualClock:
    """Wall-clock time that only moves when the test says so (slots, expiry)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


class EncounterLog:
    """The sink: every batch, and the latest snapshot of each encounter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: list[list[Encounter]] = []
        self.fail_next = 0

    def __call__(self, batch: list[Encounter]) -> None:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database is locked")
            self.batches.append(list(batch))

    def latest(self) -> dict[tuple[str, str, datetime], Encounter]:
        with self._lock:
            latest: dict[tuple[str, str, datetime], Encounter] = {}
            for batch in self.batches:
                for enc in batch:
                    latest[(enc.protocol, enc.rolling_id, enc.first_seen_at)] = enc
            return latest

    def by_id(self, rolling_id: str) -> list[Encounter]:
        return [e for e in self.latest().values() if e.rolling_id == rolling_id]

    def protocols(self) -> dict[str, str]:
        """rolling_id → protocol of every encounter written so far."""
        return {e.rolling_id: e.protocol for e in self.latest().values()}
