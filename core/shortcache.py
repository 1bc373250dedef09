"""Rows a server process keeps for a moment so its hot paths need not read them again (a bearer
token's user, a venue), and forgets all at once when it writes their table itself."""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import sqlalchemy as sa


class ShortCache:
    """Values kept `ttl_s` seconds by `clock`, at most `limit` of them (then all are dropped:
    the keys worth keeping are few, guesses are not). forget_all() drops every value and any
    put() of a value read before it: a lookup that raced a write keeps nothing."""

    def __init__(self, *, ttl_s: float, limit: int, clock: Callable[[], float]) -> None:
        self.ttl_s, self.limit, self._clock = ttl_s, limit, clock
        self._entries: dict[Hashable, tuple[float, int, object]] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every forget_all: older entries are worthless

    def get(self, key: Hashable) -> tuple[bool, object]:
        """(found, value); a value may be None (a row known not to exist)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, generation, value = entry
        if generation != self.generation or self._clock() >= expires:
            self._entries.pop(key, None)
            return False, None
        return True, value

    def put(self, key: Hashable, value: object, generation: int) -> None:
        """Keep `value`, read when the cache's generation was `generation` (read it before the
        lookup): nothing is kept when a forget_all came in between."""
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (self._clock() + self.ttl_s, generation, value)

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def forget_when_written(self, writes: Callable[[str], object]) -> None:
        """Forget everything whenever a statement `writes` recognises (its table's UPDATE,
        DELETE, ...) runs through any engine of this process, ORM or plain SQL; and again when
        its transaction commits, since a lookup between the write and its commit read the old
        row. (A mark left by a rolled-back write costs one needless forgetting at the next
        commit, nothing more.)"""
        mark = f"khaibao.written.{id(self)}"

        def written(conn, cursor, statement, parameters, context, executemany):
            if writes(statement):
                conn.info[mark] = True
                self.forget_all()

        def committed(conn):
            if not conn.invalidated and conn.info.pop(mark, False):
                self.forget_all()

        sa.event.listen(sa.engine.Engine, "after_cursor_execute", written)
        sa.event.listen(sa.engine.Engine, "commit", committed)
