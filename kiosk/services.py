"""Visits: opening and closing them. Every path into a visit (scan, phone form, staff, import)
goes through here so each records how it was opened and closed."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from kiosk.models import ClosedBy, OpenedBy, Visit, VisitStatus


class VisitError(ValueError):
    """A visit could not be opened or closed; the message says why."""


def current_visit(*, session: Session, visitor_id: int, venue_id: int) -> Visit | None:
    """The visitor's open visit at this venue, if any (the newest one)."""
    return session.exec(
        select(Visit)
        .where(
            Visit.visitor_id == visitor_id,
            Visit.venue_id == venue_id,
            Visit.checked_out_at.is_(None),
        )
        .order_by(Visit.checked_in_at.desc())
    ).first()


def open_visit(
    *,
    session: Session,
    visitor_id: int,
    venue_id: int,
    now: datetime,
    opened_by: OpenedBy | str,
    kiosk_id: int | None = None,
    declaration_id: int | None = None,
    status: VisitStatus | str = VisitStatus.clear,
    commit: bool = True,
) -> Visit:
    """Check a visitor in. With commit=False the caller commits (one unit of work with the
    declaration that led to it)."""
    visit = Visit(
        visitor_id=visitor_id,
        venue_id=venue_id,
        kiosk_id=kiosk_id,
        declaration_id=declaration_id,
        checked_in_at=now,
        opened_by=OpenedBy(opened_by).value,
        status=VisitStatus(status).value,
    )
    session.add(visit)
    if commit:
        session.commit()
    else:
        session.flush()
    return visit


def close_visit(
    *, session: Session, visit: Visit, now: datetime, closed_by: ClosedBy | str,
    commit: bool = True,
) -> Visit:
    if visit.checked_out_at is not None:
        raise VisitError("visit is already closed")
    visit.checked_out_at = max(now, visit.checked_in_at)
    visit.closed_by = ClosedBy(closed_by).value
    session.add(visit)
    if commit:
        session.commit()
    else:
        session.flush()
    return visit
