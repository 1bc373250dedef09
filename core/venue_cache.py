"""The venues a door looks up on every scan and declaration, kept briefly in this process.

A check-in names its venue by code; reading the venue row costs a round trip and an ORM load on
every request, though venues change a few times a year. A venue's columns are kept for
VENUE_CACHE_S in this process. Any write to the venue table through this process (ORM or plain
SQL, any engine: a venue created, renamed, deactivated, its rules changed, a test's clean-up)
forgets every cached venue at once, so this process never acts on a venue it changed itself;
another process's change (another gunicorn worker, the admin CLI) is seen within VENUE_CACHE_S.
Each session gets its own `Venue`, attached as if it had been read: nothing is shared between
requests but the values."""
from __future__ import annotations

import re
import time

from sqlmodel import Session, select

from core.db import as_read
from core.models import Venue
from core.shortcache import ShortCache

VENUE_CACHE_S = 2.0
_COLUMNS = tuple(column.key for column in Venue.__table__.columns)
# A statement that writes the venue table itself (not venue_host, nor a row naming a venue_id).
_WRITES_VENUE = re.compile(r'^\s*(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO|TRUNCATE(?:\s+TABLE)?)\s+'
                           r'(?:[\w"]+\.)?"?venue"?(?![\w"])', re.IGNORECASE)
_monotonic = time.monotonic  # tests move a fake clock instead of sleeping


# Venues are few; codes guessed are not kept (the limit drops them all).
venue_cache = ShortCache(ttl_s=VENUE_CACHE_S, limit=1_000, clock=lambda: _monotonic())
venue_cache.forget_when_written(_WRITES_VENUE.match)


def door_venue(*, session: Session, code: str | None) -> Venue | None:
    """The venue with this code (normalised: stripped, upper case) as the door acts on it, or
    None; inactive venues are returned as they are (the caller refuses them)."""
    code = (code or "").strip().upper()
    if not code:
        return None
    key = (str(session.get_bind().url), code)
    found, values = venue_cache.get(key)
    if not found:
        generation = venue_cache.generation
        venue = session.exec(select(Venue).where(Venue.code == code)).first()
        values = None if venue is None else {c: getattr(venue, c) for c in _COLUMNS}
        venue_cache.put(key, values, generation)
        return venue
    if values is None:
        return None
    return as_read(session, Venue, values)
