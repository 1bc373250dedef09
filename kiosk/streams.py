"""Slots for long-lived responses (the screen's event stream, the camera preview): a fixed number
per process, shared by both, so open streams can never take the threads that ordinary requests
(the phone form, declarations, check-ins, /healthz) need. A stream over the bound is refused at
once, never queued; a slot is given back when the stream ends, which a stream that writes every
few seconds notices within seconds of its client leaving."""
from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class StreamSlots:
    """At most `limit` streams at once (non-blocking: a caller over the bound gets None)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._in_use = 0

    def acquire(self) -> Slot | None:
        with self._lock:
            if self._in_use >= self.limit:
                return None
            self._in_use += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._in_use -= 1

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use


class Slot:
    """One stream's place; released once, however often release() is called."""

    def __init__(self, slots: StreamSlots):
        self._slots = slots
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._slots._release()


class SlotStream:
    """A response body that holds a slot until the server closes it (the WSGI server calls
    close() when the stream ends or when writing to a gone client fails)."""

    def __init__(self, body, slot: Slot):
        self._body = body
        self._slot = slot

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._slot.release()


def slots_of(app) -> StreamSlots:
    """This process's stream slots (KIOSK_STREAM_LIMIT of them)."""
    slots = app.extensions.get("kiosk.streams")
    if slots is None:
        slots = app.extensions.setdefault("kiosk.streams", StreamSlots(app.config["STREAM_LIMIT"]))
    return slots
