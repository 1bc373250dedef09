"""Down the other way: what the central server tells its devices, and how a kiosk applies it.

The central side answers `changes_since(cursor)`: the device's venue and its settings, and the
personal codes withdrawn centrally since the cursor (a visitor's `tokens_valid_after`). The
cursor is the latest withdrawal time sent; each answer looks back a little before it, because a
transaction that began earlier can commit later. Applying is idempotent, so seeing a change twice
changes nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlmodel import Session, select

from core.models import Venue
from sync.models import SyncDevice
from visits.models import Visitor

# Withdrawals committed this long after their timestamp are still seen (long transactions).
LOOK_BACK = timedelta(minutes=5)
# At most this many withdrawals per answer; the cursor moves on and the next pull gets more.
PAGE = 1000
VENUE_FIELDS = ("code", "name", "address", "unit", "closing_time", "max_stay_min", "is_active")


class BadCursor(ValueError):
    pass


def _parse_cursor(cursor: str | None) -> datetime | None:
    if cursor is None:
        return None
    if len(cursor) > 64 or not cursor.startswith("r:"):
        raise BadCursor(cursor)
    try:
        value = datetime.fromisoformat(cursor[2:])
    except ValueError:
        raise BadCursor(cursor) from None
    if value.tzinfo is None:
        raise BadCursor(cursor)
    return value


def _venue_json(venue: Venue) -> dict:
    return {"code": venue.code, "name": venue.name, "address": venue.address, "unit": venue.unit,
            "closing_time": venue.closing_time.strftime("%H:%M") if venue.closing_time else None,
            "max_stay_min": venue.max_stay_min, "is_active": venue.is_active}


def changes_since(*, session: Session, device: SyncDevice, cursor: str | None,
                  now: datetime) -> dict:
    since = _parse_cursor(cursor)
    query = select(Visitor.uid, Visitor.tokens_valid_after).where(
        Visitor.tokens_valid_after.is_not(None))
    if since is not None:
        query = query.where(Visitor.tokens_valid_after > since - LOOK_BACK)
    rows = session.exec(query.order_by(Visitor.tokens_valid_after).limit(PAGE)).all()
    newest = since
    for _uid, at in rows:
        if newest is None or at > newest:
            newest = at
    venue = session.get(Venue, device.venue_id)
    return {
        "cursor": f"r:{newest.isoformat()}" if newest is not None else None,
        "more": len(rows) == PAGE,
        "venues": [_venue_json(venue)],
        "withdrawn": [{"uid": uid, "tokens_valid_after": at.isoformat()} for uid, at in rows],
    }


def apply_changes(*, session: Session, changes: dict) -> int:
    """Apply a pull answer on the kiosk; returns how many records changed. Commits. What comes
    from the central server is not captured again (the triggers are off inside this transaction
    only: SQLite runs one writer at a time, so no door write falls in the gap)."""
    from sync.models import SyncState

    capturing = session.execute(sa.select(SyncState.capture).where(SyncState.id == 1)).scalar()
    if capturing:
        session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=False))
    changed = 0
    for item in changes.get("venues") or ():
        changed += _apply_venue(session, item)
    for item in changes.get("withdrawn") or ():
        uid, at = item.get("uid"), item.get("tokens_valid_after")
        if not isinstance(uid, str) or not isinstance(at, str):
            continue
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        result = session.execute(
            sa.update(Visitor).where(
                Visitor.uid == uid,
                sa.or_(Visitor.tokens_valid_after.is_(None), Visitor.tokens_valid_after < when))
            .values(tokens_valid_after=when))
        changed += result.rowcount or 0
    if capturing:
        session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=True))
    session.commit()
    return changed


def _apply_venue(session: Session, item) -> int:
    from datetime import time

    if not isinstance(item, dict) or not isinstance(item.get("code"), str):
        return 0
    values = {k: item.get(k) for k in VENUE_FIELDS}
    if values["closing_time"]:
        hours, minutes = str(values["closing_time"]).split(":")
        values["closing_time"] = time(int(hours), int(minutes))
    venue = session.exec(select(Venue).where(Venue.code == values["code"])).first()
    if venue is None:
        session.add(Venue(**values))
        return 1
    if all(getattr(venue, k) == v for k, v in values.items()):
        return 0
    for key, value in values.items():
        setattr(venue, key, value)
    session.add(venue)
    return 1


def pull(session: Session, client) -> int:
    """One pull round against the central server (the service's `pull` step): every page until
    nothing more, then the cursor is kept. Returns the records changed."""
    from sync import outbox

    changed = 0
    for _ in range(100):
        cursor = outbox.state(session).pull_cursor
        session.rollback()
        path = "/api/v1/sync/pull" + (f"?since={_quote(cursor)}" if cursor else "")
        changes = client.call("GET", path)
        changed += apply_changes(session=session, changes=changes)
        state = outbox.state(session)
        if changes.get("cursor"):
            state.pull_cursor = str(changes["cursor"])[:200]
            session.add(state)
            session.commit()
        if not changes.get("more"):
            break
    return changed


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
