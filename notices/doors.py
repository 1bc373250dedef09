"""Exposure notices at the doors of an installation. Tracers mark exposures on the central
server; each pull answer carries the notices not yet shown at any door (visitor by uid, where
and when) and the ids of those shown since, and a kiosk keeps them in `door_notice` until the
visitor's next scan there. A notice shown at a door is reported up (the tracer sees it as
shown) and dropped everywhere. Ids and counts only in logs."""
from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from core.models import Venue
from notices.models import DoorNotice, ExposureNotice
from visits.models import Visitor

logger = logging.getLogger(__name__)

# At most this many reported as shown in one call.
MAX_SEEN = 1000


def _iso(value: datetime) -> str:
    return value.isoformat()


# ---------------------------------------------------------------------------------------------
# The central server's side

def new_for_doors(session: Session, *, since: datetime | None, limit: int) -> list[dict]:
    """Notices not yet shown at any door, created after `since`, oldest first."""
    query = (select(ExposureNotice.id, Visitor.uid, Venue.name, ExposureNotice.exposed_from,
                    ExposureNotice.exposed_until, ExposureNotice.created_at)
             .join(Visitor, Visitor.id == ExposureNotice.visitor_id)
             .join(Venue, Venue.id == ExposureNotice.venue_id)
             .where(ExposureNotice.seen_at_kiosk_at.is_(None)))
    if since is not None:
        query = query.where(ExposureNotice.created_at > since)
    rows = session.exec(query.order_by(ExposureNotice.created_at, ExposureNotice.id)
                        .limit(limit)).all()
    return [{"id": nid, "visitor_uid": uid, "venue": venue, "from": _iso(start),
             "until": _iso(end), "created_at": _iso(created)}
            for nid, uid, venue, start, end, created in rows]


def shown_since(session: Session, *, since: datetime | None, limit: int) -> list[dict]:
    """Notices shown at a door (or at this server's own kiosk) after `since`."""
    query = select(ExposureNotice.id, ExposureNotice.seen_at_kiosk_at).where(
        ExposureNotice.seen_at_kiosk_at.is_not(None))
    if since is not None:
        query = query.where(ExposureNotice.seen_at_kiosk_at > since)
    rows = session.exec(query.order_by(ExposureNotice.seen_at_kiosk_at).limit(limit)).all()
    return [{"id": nid, "at": _iso(at)} for nid, at in rows]


def mark_shown(session: Session, *, items, now: datetime) -> int:
    """A door showed these notices (ids, with when): recorded once, the first door's time. The
    caller commits. Raises ValueError for a list that is not one."""
    if not isinstance(items, list) or len(items) > MAX_SEEN:
        raise ValueError("notices")
    changed = 0
    for item in items:
        nid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(nid, int) or isinstance(nid, bool) or not 0 < nid < 2**31:
            raise ValueError("notices")
        at = _parse(item.get("at")) or now
        changed += session.execute(
            sa.update(ExposureNotice).where(ExposureNotice.id == nid,
                                            ExposureNotice.seen_at_kiosk_at.is_(None))
            .values(seen_at_kiosk_at=min(at, now))).rowcount or 0
    return changed


def _parse(value) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# ---------------------------------------------------------------------------------------------
# A kiosk's side

def keep_for_door(session: Session, items) -> int:
    """Store notices from a pull answer (each once). The caller commits."""
    added = 0
    for item in items or ():
        if not isinstance(item, dict):
            continue
        nid, uid, venue = item.get("id"), item.get("visitor_uid"), item.get("venue")
        start, end = _parse(item.get("from")), _parse(item.get("until"))
        created = _parse(item.get("created_at"))
        if not (isinstance(nid, int) and not isinstance(nid, bool) and 0 < nid < 2**31
                and isinstance(uid, str) and len(uid) <= 24 and isinstance(venue, str)
                and len(venue) <= 200 and start and end and created):
            continue
        if session.get(DoorNotice, nid) is None:
            session.add(DoorNotice(notice_id=nid, visitor_uid=uid, venue_name=venue,
                                   exposed_from=start, exposed_until=end, created_at=created))
            added += 1
    return added


def drop_shown_elsewhere(session: Session, items) -> int:
    ids = [item.get("id") for item in items or () if isinstance(item, dict)
           and isinstance(item.get("id"), int)]
    if not ids:
        return 0
    return session.execute(sa.delete(DoorNotice).where(DoorNotice.notice_id.in_(ids))
                           .execution_options(synchronize_session=False)).rowcount or 0


def shown_here(session: Session) -> list[dict]:
    """What this door showed and has not reported yet."""
    rows = session.exec(select(DoorNotice.notice_id, DoorNotice.seen_at)
                        .where(DoorNotice.seen_at.is_not(None)).limit(MAX_SEEN)).all()
    return [{"id": nid, "at": _iso(at)} for nid, at in rows]


def forget_reported(session: Session, ids: list[int]) -> None:
    """Reported: the central server has it; the door keeps nothing. The caller commits."""
    if ids:
        session.execute(sa.delete(DoorNotice).where(DoorNotice.notice_id.in_(ids))
                        .execution_options(synchronize_session=False))


def forget_people(session: Session, uids: list[str]) -> None:
    """Erased people: their notices go too. The caller commits."""
    if uids:
        session.execute(sa.delete(DoorNotice).where(DoorNotice.visitor_uid.in_(uids))
                        .execution_options(synchronize_session=False))


def door_notice_for(session: Session, *, visitor_id: int, now: datetime) -> DoorNotice | None:
    """The newest notice from the central server waiting for this visitor (marked shown now;
    the caller commits)."""
    uid = session.exec(select(Visitor.uid).where(Visitor.id == visitor_id)).first()
    if uid is None:
        return None
    notice = session.exec(select(DoorNotice).where(DoorNotice.visitor_uid == uid,
                                                   DoorNotice.seen_at.is_(None))
                          .order_by(DoorNotice.created_at.desc())).first()
    if notice is not None:
        notice.seen_at = now
        session.add(notice)
    return notice
