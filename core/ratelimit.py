"""Rate limits made lean: the in-process store, and the public writes' budgets.

The in-process store of the rate limits (`memory://`, a kiosk's default and the fallback of a
shared store): the counts of `limits`' MemoryStorage without its expiry thread.

The library's store starts a `threading.Timer` on most hits to sweep expired counters (about
two thread starts for every three requests under load); here the sweep runs inline, at most once
a second, by whichever hit comes first. Counters are also expired when read, so the limits hold
exactly as before.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from flask import Response
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

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


# --- the public write limits, counted without Flask-Limiter's per-request machinery ------------
#
# Flask-Limiter resolves, filters and evaluates its limits twice a request (a before_request hook
# and the decorator) and reads the window again for its headers: about a tenth of a check-in's
# CPU. The public writes (every scan and declaration) spend their budgets here instead, on the
# same strategy and store as Flask-Limiter's (the same counter keys, so workers of two versions
# share counts), with its fallback to memory while a shared store is down.

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """One shared limit a request spends from: `limit` as "N per period" (several separated by
    ';' or ','), counted per `key` within `scope`. `deduct_when(response)`: spend only when the
    answer says so (tested before the view, spent after it)."""

    limit: str
    key: str
    scope: str
    deduct_when: Callable | None = None


@lru_cache(maxsize=64)
def _items(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


class RateLimited(TooManyRequests):
    """429: a budget is spent; `retry_after` seconds until it has room again."""


def spend(limiter, budgets: list[Budget], call: Callable[[], Response]) -> Response:
    """Spend every budget, then answer with `call()`; a 429 (RateLimited) instead when any budget
    is spent already (every other budget still spent, as Flask-Limiter does). A store that
    cannot be reached hands over to the in-memory fallback (when enabled) and is tried again
    from time to time."""
    _revive(limiter)
    try:
        deferred, refused = _take(limiter, budgets)
    except Exception:
        if not limiter._in_memory_fallback_enabled or limiter._storage_dead:
            raise
        logger.warning("Rate limit storage unreachable - falling back to in-memory storage")
        limiter._storage_dead = True
        deferred, refused = _take(limiter, budgets)
    if refused is not None:
        item, args = refused
        reset = limiter.limiter.get_window_stats(item, *args).reset_time
        raise RateLimited(retry_after=max(1, math.ceil(reset - time.time())))
    if not deferred:
        return call()
    try:
        response = call()
    except Exception:
        _spend_later(limiter, deferred, None)  # a failed answer spends as any other
        raise
    _spend_later(limiter, deferred, response)
    return response


def _take(limiter, budgets: list[Budget]):
    strategy, prefix = limiter.limiter, limiter._key_prefix
    deferred, refused = [], None
    for budget in budgets:
        args = (prefix, budget.key, budget.scope) if prefix else (budget.key, budget.scope)
        for item in _items(budget.limit):
            if budget.deduct_when is not None:
                deferred.append((budget.deduct_when, item, args))
                allowed = strategy.test(item, *args)
            else:
                allowed = strategy.hit(item, *args)
            if not allowed and refused is None:
                refused = (item, args)
    return deferred, refused


def _spend_later(limiter, deferred, response) -> None:
    for deduct_when, item, args in deferred:
        if response is None or deduct_when(response):
            try:
                limiter.limiter.hit(item, *args)
            except Exception:  # the answer is given already; the next request falls back
                logger.warning("Rate limit storage unreachable while counting an answer")


def _revive(limiter) -> None:
    """While the shared store is down, see now and then (backing off, as Flask-Limiter does)
    whether it is back."""
    if (limiter._storage_dead and limiter._Limiter__should_check_backend()
            and limiter._storage is not None and limiter._storage.check()):
        logger.info("Rate limit storage recovered")
        limiter._storage_dead = False
