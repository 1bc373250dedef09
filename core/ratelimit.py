"""The in-process store of the rate limits (`memory://`, a kiosk's default and the fallback of a
shared store): the counts of `limits`' MemoryStorage without its expiry thread.

The library's store starts a `threading.Timer` on most hits to sweep expired counters (about
two thread starts for every three requests under load); here the sweep runs inline, at most once
a second, by whichever hit comes first. Counters are also expired when read, so the limits hold
exactly as before.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

from limits.storage import MemoryStorage

# How often a hit sweeps the expired counters of every key (memory only: reading a counter
# always sees it expired on time).
SWEEP_EVERY_S = 1.0


class LeanMemoryStorage(MemoryStorage):
    """`memory://` with no thread per hit. Registered under the same scheme, so the shipped
    setting (RATELIMIT_STORAGE_URI = "memory://") picks it."""

    STORAGE_SCHEME = ["memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        # MemoryStorage.__init__ would start the first Timer: set up its state without it.
        self.storage = Counter()
        self.locks = defaultdict(threading.RLock)
        self.expirations = {}
        self.events = {}
        self._sweep_lock = threading.Lock()
        self._next_sweep = 0.0
        super(MemoryStorage, self).__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's Timer start
        now = time.time()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY_S
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("locks", "_sweep_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.locks = defaultdict(threading.RLock)
        self._sweep_lock = threading.Lock()


def use_lean_fallback(limiter) -> None:
    """Flask-Limiter builds its fallback store (used while a shared store such as Redis cannot be
    reached) from the library's MemoryStorage directly; give it the lean one."""
    fallback = getattr(limiter, "_fallback_storage", None)
    if fallback is not None and not isinstance(fallback, LeanMemoryStorage):
        storage = LeanMemoryStorage()
        strategy = type(limiter._fallback_limiter)  # the same strategy, on the lean store
        limiter._fallback_storage = storage
        limiter._fallback_limiter = strategy(storage)
        timer = getattr(fallback, "timer", None)
        if timer is not None:
            timer.cancel()
