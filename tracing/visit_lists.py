"""What the console, the API and the exports show about visits: one view of a visit, the venue
range query that visit lists and the contact query share (plain rows, no ORM objects), and the
venue visit list for the JSON API (audited)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.models import User, Venue
from tracing.contacts import LOCAL_TZ, Interval, effective_end, intersects, spans_meet
from tracing.errors import TracingError
from visits.models import Visit, Visitor

# Who asked: a staff account, an OS user on the command line, or the system itself.
Actor = User | str | None
# The JSON visit list answers at most this many rows; longer lists are exported (they stream).
API_VISITS_LIMIT = 10_000
# Rows fetched at a time when a long list is streamed.
_YIELD = 1000


def iso_local(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(LOCAL_TZ).isoformat()


@dataclass(frozen=True)
class VisitView:
    id: int
    venue_id: int
    venue_code: str
    venue_name: str
    visitor_id: int
    full_name: str
    phone: str | None
    id_number: str | None
    id_type: str | None
    checked_in_at: datetime
    checked_out_at: datetime | None
    effective_end_at: datetime
    opened_by: str
    closed_by: str | None
    status: str

    @property
    def still_open(self) -> bool:
        return self.checked_out_at is None

    @property
    def interval(self) -> Interval:
        return Interval(self.checked_in_at, self.effective_end_at)

    def visitor_json(self) -> dict:
        return {"id": self.visitor_id, "full_name": self.full_name, "phone": self.phone,
                "id_number": self.id_number, "id_type": self.id_type}

    def as_json(self) -> dict:
        return {
            "id": self.id, "venue_code": self.venue_code, "venue_name": self.venue_name,
            "visitor": self.visitor_json(),
            "checked_in_at": iso_local(self.checked_in_at),
            "checked_out_at": iso_local(self.checked_out_at),
            "effective_end_at": iso_local(self.effective_end_at), "still_open": self.still_open,
            "opened_by": self.opened_by, "closed_by": self.closed_by, "status": self.status,
        }


def _view(visit: Visit, visitor: Visitor, venue: Venue, now: datetime) -> VisitView:
    return VisitView(
        id=visit.id, venue_id=venue.id, venue_code=venue.code, venue_name=venue.name,
        visitor_id=visitor.id, full_name=visitor.full_name, phone=visitor.phone_e164,
        id_number=visitor.id_number, id_type=visitor.id_type,
        checked_in_at=visit.checked_in_at, checked_out_at=visit.checked_out_at,
        effective_end_at=effective_end(visit.checked_in_at, visit.checked_out_at, now=now,
                                       closing_time=venue.closing_time,
                                       max_stay_min=venue.max_stay_min),
        opened_by=visit.opened_by, closed_by=visit.closed_by, status=visit.status,
    )


def visits_of(*, session: Session, visitor_ids: Iterable[int], since: datetime, until: datetime,
              now: datetime) -> list[VisitView]:
    """The visits of these people that meet [since, until), oldest first."""
    visitor_ids = sorted(set(visitor_ids))
    if not visitor_ids:
        return []
    window = Interval(since, until)
    rows = session.exec(
        select(Visit, Visitor, Venue)
        .join(Visitor, Visitor.id == Visit.visitor_id)
        .join(Venue, Venue.id == Visit.venue_id)
        .where(Visit.visitor_id.in_(visitor_ids), Visit.checked_in_at < until)
        .order_by(Visit.checked_in_at, Visit.id)
    )
    views = [_view(visit, visitor, venue, now) for visit, visitor, venue in rows]
    return [v for v in views if intersects(v.interval, window)]


def load_visits(*, session: Session, visit_ids: Iterable[int], now: datetime) -> list[VisitView]:
    ids = sorted(set(visit_ids))
    if not ids:
        return []
    rows = session.exec(
        select(Visit, Visitor, Venue)
        .join(Visitor, Visitor.id == Visit.visitor_id)
        .join(Venue, Venue.id == Visit.venue_id)
        .where(Visit.id.in_(ids))
        .order_by(Visit.checked_in_at, Visit.id)
    )
    return [_view(visit, visitor, venue, now) for visit, visitor, venue in rows]


# Columns the visit lists and the contact query read: plain rows, no ORM objects (a venue list
# may be 100,000 rows, a busy venue gives a contact query hundreds).
V, _P = Visit.__table__.c, Visitor.__table__.c
VISIT_ROW_COLUMNS = (V.id, V.venue_id, V.visitor_id, V.checked_in_at, V.checked_out_at,
                     V.opened_by, V.closed_by, V.status,
                     _P.full_name, _P.phone_e164, _P.id_number, _P.id_type)
# Table columns, not the models' attributes: the statements stay Core (no ORM compile or
# loading step for rows that become plain tuples anyway).
VISITS_WITH_PEOPLE = Visit.__table__.join(Visitor.__table__, _P.id == V.visitor_id)


def visit_row_view(row, venue: Venue, now: datetime, end: datetime | None = None) -> VisitView:
    (visit_id, venue_id, visitor_id, checked_in_at, checked_out_at, opened_by, closed_by, status,
     full_name, phone, id_number, id_type) = row
    return VisitView(
        id=visit_id, venue_id=venue_id, venue_code=venue.code, venue_name=venue.name,
        visitor_id=visitor_id, full_name=full_name, phone=phone, id_number=id_number,
        id_type=id_type, checked_in_at=checked_in_at, checked_out_at=checked_out_at,
        effective_end_at=_row_end(row, venue, now) if end is None else end,
        opened_by=opened_by, closed_by=closed_by, status=status,
    )


def _row_end(row, venue: Venue, now: datetime) -> datetime:
    """The effective end of a row of VISIT_ROW_COLUMNS."""
    return effective_end(row[3], row[4], now=now, closing_time=venue.closing_time,
                         max_stay_min=venue.max_stay_min)


def _overlapping(session: Session, venue_id: int, start: datetime, end: datetime,
                 *, stream: bool = False) -> Iterator[tuple]:
    """Visits at the venue that may meet [start, end], oldest check-in first, as rows of
    VISIT_ROW_COLUMNS.

    Three range scans on the (venue, check-in) and (venue, check-out, check-in) indexes, because
    one query with an OR across the two columns cannot be answered from a single index range:
    visits that started inside the range, visits that started before it and ended inside or
    after it, and visits that started before it and are still open. The caller applies the exact
    rule (effective end, half-open intervals) to this superset.
    """
    base = sa.select(*VISIT_ROW_COLUMNS).select_from(VISITS_WITH_PEOPLE).where(V.venue_id == venue_id)
    earlier_closed = base.where(V.checked_in_at < start, V.checked_out_at >= start)
    earlier_open = base.where(V.checked_in_at < start, V.checked_out_at.is_(None))
    inside = base.where(V.checked_in_at >= start, V.checked_in_at <= end)
    # Visits under way at `start` are few (they span an instant): read them whole and sort here,
    # which leaves each database free to pick the index that suits the range best.
    spanning = [*session.execute(earlier_closed), *session.execute(earlier_open)]
    spanning.sort(key=lambda row: (row[3], row[0]))
    yield from spanning
    options = {"yield_per": _YIELD} if stream else {}
    result = session.execute(inside.order_by(V.checked_in_at, V.id)
                             .execution_options(**options))
    try:
        yield from result
    finally:
        result.close()


def list_visits(*, session: Session, venue: Venue, since: datetime, until: datetime,
                now: datetime, stream: bool = False) -> Iterator[VisitView]:
    """Everyone at the venue at some point in [since, until), by check-in time."""
    for row, end in visit_rows_meeting(session, venue, since, until, now, stream=stream):
        yield visit_row_view(row, venue, now, end)


def visit_rows_meeting(session: Session, venue: Venue, since: datetime, until: datetime,
                    now: datetime, *, stream: bool = False) -> Iterator[tuple[tuple, datetime]]:
    """list_visits as plain rows of VISIT_ROW_COLUMNS with their effective end: exports of 100,000
    rows skip building a view object per row."""
    Interval(since, until)   # refuses a window that ends before it starts
    for row in _overlapping(session, venue.id, since, until, stream=stream):
        end = _row_end(row, venue, now)
        if spans_meet(row[3], end, since, until):
            yield row, end


def query_visits(*, session: Session, venue: Venue, since: datetime, until: datetime,
                 now: datetime, actor: Actor, channel: str,
                 limit: int = API_VISITS_LIMIT) -> list[VisitView]:
    """The venue's visit list for the JSON API, audited like an export."""
    visits = []
    for view in list_visits(session=session, venue=venue, since=since, until=until, now=now):
        if len(visits) == limit:
            raise TracingError("too_many_rows", "until")
        visits.append(view)
    record_audit(session=session, now=now, actor=actor, action="visits.query",
                 target_type="venue", target_id=venue.id,
                 details={"channel": channel, "venue": venue.code, "since": iso_local(since),
                          "until": iso_local(until)},
                 row_count=len(visits))
    session.commit()
    return visits
