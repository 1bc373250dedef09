"""The app's notion of "now": services take `now` explicitly; views ask this clock for it, and tests
replace it with a clock they move by hand instead of sleeping."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from core.db import utcnow


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (tests and simulations)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def now() -> datetime:
    return current_app.extensions["clock"].now()
