"""Down the other way: what the central server tells its devices, and how a kiosk applies it.

The central side answers `changes_since(cursor)`: the device's venue and its settings, every
signer's public key with the retired ones marked (sync/keys.py), the personal codes withdrawn
centrally since the cursor (a visitor's `tokens_valid_after`) and the people erased since it
(their uid, `erased`: the kiosk erases its own record of them and keeps their codes dead). The
cursor is the latest withdrawal or erasure time sent; each answer looks back a little before it, because a
transaction that began earlier can commit later. Applying is idempotent, so seeing a change twice
changes nothing."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlmodel import Session, select

from core.models import Venue
from sync import keys
from sync.models import SyncDevice
from visits.models import Visitor, VisitorTombstone

logger = logging.getLogger(__name__)

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
                  now: datetime, staff_held: str | None = None,
                  form_link=None) -> dict:
    """`staff_held`: the digest of the central accounts the kiosk holds (sync/staff.py); the
    list is sent only when it differs. `form_link(venue_code)`: the central server's phone-form
    link for a venue (None when it has no public address)."""
    from notices import doors as door_notices
    from sync import staff

    since = _parse_cursor(cursor)
    after = since - LOOK_BACK if since is not None else None
    query = select(Visitor.uid, Visitor.tokens_valid_after).where(
        Visitor.tokens_valid_after.is_not(None))
    if after is not None:
        query = query.where(Visitor.tokens_valid_after > after)
    withdrawn = session.exec(query.order_by(Visitor.tokens_valid_after).limit(PAGE)).all()
    erased_query = select(VisitorTombstone.uid, VisitorTombstone.deleted_at)
    if after is not None:
        erased_query = erased_query.where(VisitorTombstone.deleted_at > after)
    erased = session.exec(erased_query.order_by(VisitorTombstone.deleted_at).limit(PAGE)).all()
    notices = door_notices.new_for_doors(session, since=after, limit=PAGE)
    shown = door_notices.shown_since(session, since=after, limit=PAGE)
    # Every list is ordered by its time; the cursor moves to the newest time sent, but not past
    # the end of a list that filled its page (the rest of that list comes next).
    times = [[at for _uid, at in withdrawn], [at for _uid, at in erased],
             [datetime.fromisoformat(n["created_at"]) for n in notices],
             [datetime.fromisoformat(n["at"]) for n in shown]]
    ends = [column[-1] for column in times if len(column) == PAGE]
    newest = since
    for column in times:
        for at in column:
            if (newest is None or at > newest) and all(at <= end for end in ends):
                newest = at
    venue = session.get(Venue, device.venue_id)
    same_staff, accounts = staff.unchanged(session, device.venue_id, staff_held)
    return {
        "cursor": f"r:{newest.isoformat()}" if newest is not None else None,
        "more": bool(ends),
        "venues": [_venue_json(venue)],
        "phone_form_url": form_link(venue.code) if form_link is not None else None,
        "server_time": now.isoformat(),
        "keys": keys.all_keys(session.connection()),
        "withdrawn": [{"uid": uid, "tokens_valid_after": at.isoformat()}
                      for uid, at in withdrawn]
        + [{"uid": uid, "tokens_valid_after": at.isoformat(), "erased": True}
           for uid, at in erased],
        "notices": notices,
        "notices_shown": shown,
        "staff": None if same_staff else accounts,
    }


def apply_changes(*, session: Session, changes: dict, erased: list | None = None) -> int:
    """Apply a pull answer on the kiosk; returns how many records changed. Commits. What comes
    from the central server is not captured again (the triggers are off inside this transaction
    only: SQLite runs one writer at a time, so no door write falls in the gap). The uids of
    people erased centrally are added to `erased` (the caller erases them here)."""
    erased = [] if erased is None else erased
    from sync.models import SyncState

    capturing = session.execute(sa.select(SyncState.capture).where(SyncState.id == 1)).scalar()
    if capturing:
        session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=False))
    changed = 0
    for item in changes.get("venues") or ():
        changed += _apply_venue(session, item)
    try:
        changed += keys.apply_installation_keys(session.connection(),
                                                keys.read_keys(changes.get("keys") or []),
                                                now=datetime.now(timezone.utc))
    except keys.KeyListError:
        logger.warning("the central server's list of keys could not be read; kept ours")
    for item in changes.get("withdrawn") or ():
        uid, at = item.get("uid"), item.get("tokens_valid_after")
        if not isinstance(uid, str) or not isinstance(at, str) or len(uid) > 64:
            continue
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        if item.get("erased") is True:
            if session.get(VisitorTombstone, uid) is None:
                session.add(VisitorTombstone(uid=uid, deleted_at=when))
                changed += 1
            erased.append(uid)
        result = session.execute(
            sa.update(Visitor).where(
                Visitor.uid == uid,
                sa.or_(Visitor.tokens_valid_after.is_(None), Visitor.tokens_valid_after < when))
            .values(tokens_valid_after=when))
        changed += result.rowcount or 0
    from notices import doors as door_notices

    link = changes.get("phone_form_url")
    if link is None or (isinstance(link, str) and len(link) <= 500
                        and link.startswith(("https://", "http://"))):
        from sync import outbox

        state = outbox.state(session)
        if state.phone_form_url != link:
            state.phone_form_url = link
            session.add(state)
            changed += 1
    if isinstance(changes.get("staff"), list):
        from sync import staff

        venues = changes.get("venues") or [{}]
        code = venues[0].get("code") if isinstance(venues[0], dict) else None
        if isinstance(code, str):
            changed += staff.apply(session, accounts=changes["staff"], venue_code=code,
                                   now=datetime.now(timezone.utc))
    changed += door_notices.keep_for_door(session, changes.get("notices"))
    changed += door_notices.drop_shown_elsewhere(session, changes.get("notices_shown"))
    door_notices.forget_people(session, erased)
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


def pull(session: Session, client, app=None) -> int:
    """One pull round against the central server (the service's `pull` step): the kiosk's own
    keys announced, then every page until nothing more, then the cursor is kept. People erased
    centrally are erased here; when the central server retired this kiosk's signing key, a new
    one is made (and announced next round). Returns the records changed."""
    from sync import outbox

    from notices import doors as door_notices

    if app is not None:
        announced = keys.own_keys(session.connection(), _keys_dir(app))
        session.rollback()
        client.call("POST", "/api/v1/sync/keys", {"keys": announced})
    shown = door_notices.shown_here(session)
    session.rollback()
    if shown:  # notices shown at this door: the tracer sees them shown, other doors drop them
        client.call("POST", "/api/v1/sync/notices/shown", {"notices": shown})
        door_notices.forget_reported(session, [item["id"] for item in shown])
        session.commit()
    changed = 0
    erased: list[str] = []
    for _ in range(100):
        cursor = outbox.state(session).pull_cursor
        session.rollback()
        from sync import staff

        held = staff.digest(staff.held_here(session))
        session.rollback()
        path = f"/api/v1/sync/pull?staff={held}" + (f"&since={_quote(cursor)}" if cursor else "")
        sent = app.extensions["clock"].now() if app is not None else None
        changes = client.call("GET", path)
        if sent is not None:
            _note_clock(session, changes.get("server_time"), sent, app.extensions["clock"].now())
        changed += apply_changes(session=session, changes=changes, erased=erased)
        state = outbox.state(session)
        if changes.get("cursor"):
            state.pull_cursor = str(changes["cursor"])[:200]
            session.add(state)
            session.commit()
        if not changes.get("more"):
            break
    if app is not None:
        _after_pull(session, app, erased)
    return changed


def _note_clock(session: Session, server_time, sent: datetime, received: datetime) -> None:
    """How far the central server's clock is ahead of ours (against the middle of the call)."""
    try:
        theirs = datetime.fromisoformat(server_time) if isinstance(server_time, str) else None
    except ValueError:
        theirs = None
    if theirs is None or theirs.tzinfo is None:
        return
    ours = sent + (received - sent) / 2
    from sync import outbox

    state = outbox.state(session)
    state.clock_offset_s = int(round((theirs - ours).total_seconds()))
    session.add(state)
    session.commit()


def _keys_dir(app):
    from pathlib import Path

    return Path(app.instance_path) / "keys"


def _after_pull(session: Session, app, erased: list[str]) -> None:
    from declarations.keystore import keystore_of, rotate
    from tracing.privacy import erase_visitor

    for uid in erased:
        visitor = session.exec(select(Visitor).where(Visitor.uid == uid)).first()
        if visitor is not None:
            erase_visitor(session=session, visitor=visitor, actor="central",
                          now=app.extensions["clock"].now())
    store = keystore_of(app)
    store.forget()
    if store.ring().signing_key is None:  # our key was retired centrally: sign with a new one
        from core.db import db

        kid = rotate(db.engine(app), _keys_dir(app))
        store.forget()
        logger.warning("this kiosk's signing key was retired centrally; now signing with %s", kid)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
