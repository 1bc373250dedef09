"""One visit however many doors: the central server's rule for a visitor who enters by one door
of a venue and leaves by another (each door keeps its own record and cannot ask the other).

The rule. For one visitor at one venue, visits in check-in order: when a visit that door B
opened by a scan begins while a visit that another door A opened is still open (or was closed
only automatically, after B's scan), and at least the minimum stay after A's visit began, B's
scan is the visitor leaving. A's visit is closed at the time of B's scan (closed_by scan); B's
visit is not kept as a visit, it is recorded in sync_merged_visit. If door B later closes its
record by a scan, that is the visitor coming back in through B: a new visit opens at that scan.
Two visits of the same door are never merged (that door saw both scans and decided). No scan is
ever lost: each one is a check-in or a check-out of some visit."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from core.db import new_uid
from sync.models import SyncMergedVisit
from visits.models import Visit

# Closings that are not the visitor's own: a later scan elsewhere tells better when they left.
_NOT_A_SCAN = ("automatic", "close_all")


def reconcile(*, session: Session, venue_id: int, visitor_ids, min_stay_min: int,
              device_id: int | None) -> int:
    """Apply the rule to these visitors' visits at the venue; returns the visits merged. The
    caller commits."""
    merged = 0
    min_stay = timedelta(minutes=min_stay_min)
    ids = sorted(set(visitor_ids))
    # Only visitors seen by more than one door of the venue can need the rule: one query.
    several = set()
    for start in range(0, len(ids), 500):
        several |= set(session.execute(
            sa.select(Visit.visitor_id)
            .where(Visit.venue_id == venue_id, Visit.visitor_id.in_(ids[start:start + 500]),
                   Visit.kiosk_id.is_not(None))
            .group_by(Visit.visitor_id)
            .having(sa.func.count(sa.distinct(Visit.kiosk_id)) > 1)).scalars())
    for visitor_id in sorted(several):
        visits = list(session.exec(
            select(Visit).where(Visit.visitor_id == visitor_id, Visit.venue_id == venue_id)
            .order_by(Visit.checked_in_at, Visit.id)).all())
        i = 0
        while i + 1 < len(visits):
            entered, scan = visits[i], visits[i + 1]
            if _is_exit(entered, scan, min_stay):
                _merge(session, entered, scan, device_id)
                visits.pop(i + 1)
                merged += 1
                continue
            i += 1
    return merged


def _is_exit(entered: Visit, scan: Visit, min_stay: timedelta) -> bool:
    if entered.kiosk_id is None or scan.kiosk_id is None or entered.kiosk_id == scan.kiosk_id:
        return False
    if scan.opened_by != "scan" or scan.checked_in_at < entered.checked_in_at + min_stay:
        return False
    return entered.checked_out_at is None or (
        entered.closed_by in _NOT_A_SCAN and entered.checked_out_at > scan.checked_in_at)


def _merge(session: Session, entered: Visit, scan: Visit, device_id: int | None) -> None:
    entered.checked_out_at = scan.checked_in_at
    entered.closed_by = "scan"
    session.add(entered)
    record = SyncMergedVisit(uid=scan.uid, into_visit_id=entered.id, device_id=device_id,
                             scanned_at=scan.checked_in_at)
    session.add(record)
    session.flush()
    if scan.checked_out_at is not None and scan.closed_by == "scan":
        # The door closed its record by a later scan: the visitor came back in through it.
        record.follow_up_visit_id = _open_follow_up(session, scan, scan.checked_out_at)
        session.add(record)
    # A phone linked to the door's record stays linked to the stay it belongs to.
    from ble_beacon.models import Encounter

    taken = session.execute(sa.select(Encounter.id).where(
        Encounter.visit_id == entered.id)).first() is not None
    session.execute(sa.update(Encounter).where(Encounter.visit_id == scan.id)
                    .values(visit_id=None if taken else entered.id))
    session.delete(scan)
    session.flush()


def _open_follow_up(session: Session, scan: Visit, at: datetime) -> int:
    visit = Visit(uid=new_uid(), visitor_id=scan.visitor_id, venue_id=scan.venue_id,
                  kiosk_id=scan.kiosk_id, declaration_id=scan.declaration_id, checked_in_at=at,
                  opened_by="scan", status=scan.status)
    session.add(visit)
    session.flush()
    return visit.id


def later_news(*, session: Session, merged: SyncMergedVisit, item: dict) -> None:
    """A door sent its merged record again (a replay, or a change): only a closing scan means
    something new (the visitor came back in through that door)."""
    if merged.follow_up_visit_id is not None:
        return
    if item.get("checked_out_at") is None or item.get("closed_by") != "scan":
        return
    scan = session.get(Visit, merged.into_visit_id)
    if scan is None:
        return
    follow_up = Visit(uid=new_uid(), visitor_id=scan.visitor_id, venue_id=scan.venue_id,
                      kiosk_id=None, declaration_id=scan.declaration_id,
                      checked_in_at=item["checked_out_at"], opened_by="scan",
                      status=item.get("status") or "clear")
    if merged.device_id is not None:
        from sync.models import SyncDevice

        device = session.get(SyncDevice, merged.device_id)
        follow_up.kiosk_id = device.kiosk_id if device is not None else None
    session.add(follow_up)
    session.flush()
    merged.follow_up_visit_id = follow_up.id
    session.add(merged)
