"""Tracing services: index-case search, contacts, venue visit lists, exports, the retention purge
and the daily counts that outlive it. Each takes a keyword-only session and an explicit `now`, and
commits its own unit of work (the audit event included)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.audit import record_audit
from core.models import User, Venue
from declarations.models import Declaration, Visitor
from kiosk.models import Visit
from tracing import exports
from tracing.contacts import (
    LOCAL_TZ, Interval, Sighting, Stay, effective_end, intersects, match_contacts, match_devices,
    spans_meet,
)
from declarations.identity import format_phone
from tracing.exports import Column, ExportFile, Table
from tracing.folding import fold_name, id_search_key, phone_search_key
from tracing.models import DailyVenueStat
from tracing.retention import VisitRow, day_bounds, fold_daily, purge_cutoff

logger = logging.getLogger(__name__)

Actor = User | str | None
# A search that matches more people than this is too vague to show; the tracer narrows it.
SEARCH_LIMIT = 50
# The JSON visit list answers at most this many rows; longer lists are exported (they stream).
API_VISITS_LIMIT = 10_000
# Bound parameters per IN (...) list, well under SQLite's and PostgreSQL's limits.
_CHUNK = 500
_YIELD = 1000


class TracingError(ValueError):
    """A request the services cannot answer; `code` for the API, `field` for the form."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code = code
        self.field = field


# --- what the console, the API and the exports show about a visit ------------------------------

CLOSED_BY_VI = {"scan": "Quét mã", "staff": "Lễ tân", "close_all": "Đóng tất cả",
                "automatic": "Tự động", None: "Chưa ra"}
STATUS_VI = {"clear": "Bình thường", "needs_review": "Chờ xem xét", "admitted": "Được cho vào",
             "turned_away": "Bị từ chối"}


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


# --- index-case search --------------------------------------------------------------------------

@dataclass
class IndexCandidate:
    visitor: Visitor
    visits: list[VisitView]


def classify_query(text: str) -> str:
    """'phone', 'id_number' or 'name' for what a tracer typed in the one search box."""
    compact = id_search_key(text)
    if compact.isdigit() and len(compact) in (9, 12):   # CMND (9) or CCCD (12)
        return "id_number"
    if phone_search_key(text):
        return "phone"
    if compact[:1].isalpha() and compact[1:].isdigit() and 7 <= len(compact) <= 9:  # passport
        return "id_number"
    return "name"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_visitors(*, session: Session, query: str, by: str = "auto") -> list[Visitor]:
    """Visitors by phone, ID number or name; names match accent-insensitively on every word."""
    query = (query or "").strip()
    if not query:
        raise TracingError("query_required", "q")
    if by == "auto":
        by = classify_query(query)
    statement = select(Visitor)
    if by == "phone":
        key = phone_search_key(query)
        if key is None:
            raise TracingError("bad_phone", "q")
        statement = statement.where(Visitor.phone_e164 == key)
    elif by == "id_number":
        statement = statement.where(Visitor.id_number == id_search_key(query))
    elif by == "name":
        words = fold_name(query).split()
        if not words:
            raise TracingError("query_required", "q")
        for word in words:
            statement = statement.where(
                Visitor.name_folded.like(f"%{_like_escape(word)}%", escape="\\")
            )
    else:
        raise TracingError("bad_search_kind", "by")
    statement = statement.order_by(Visitor.name_folded, Visitor.id).limit(SEARCH_LIMIT + 1)
    found = list(session.exec(statement))
    if len(found) > SEARCH_LIMIT:
        raise TracingError("too_many_matches", "q")
    if by == "name":  # the exact name first, then the rest alphabetically
        exact = fold_name(query)
        found.sort(key=lambda v: (v.name_folded != exact, v.name_folded, v.id))
    return found


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


def find_index_cases(*, session: Session, query: str, by: str, since: datetime, until: datetime,
                     now: datetime) -> list[IndexCandidate]:
    visitors = search_visitors(session=session, query=query, by=by)
    visits = visits_of(session=session, visitor_ids=[v.id for v in visitors], since=since,
                       until=until, now=now)
    return [IndexCandidate(v, [x for x in visits if x.visitor_id == v.id]) for v in visitors]


def search_index_cases(*, session: Session, query: str, by: str, since: datetime,
                       until: datetime, now: datetime, actor: Actor,
                       channel: str) -> list[IndexCandidate]:
    """find_index_cases for the console: looking people up is audited too (who looked for whom,
    by record id), since abuse of a tracing database starts with lookups, not exports."""
    found = find_index_cases(session=session, query=query, by=by, since=since, until=until,
                             now=now)
    record_audit(session=session, now=now, actor=actor, action="index.search",
                 details={"channel": channel, "by": by if by != "auto" else classify_query(query),
                          "visitor_ids": [c.visitor.id for c in found],
                          "since": iso_local(since), "until": iso_local(until)},
                 row_count=len(found))
    session.commit()
    return found


def resolve_index(*, session: Session, phone: str | None = None, id_number: str | None = None,
                  since: datetime, until: datetime, now: datetime) -> list[VisitView]:
    """Every visit in the window of whoever has this phone or ID number (CLI and API)."""
    if bool(phone) == bool(id_number):
        raise TracingError("phone_or_id_number", "phone")
    if phone:
        visitors = search_visitors(session=session, query=phone, by="phone")
    else:
        visitors = search_visitors(session=session, query=id_number, by="id_number")
    if not visitors:
        raise TracingError("index_not_found", "phone" if phone else "id_number")
    return visits_of(session=session, visitor_ids=[v.id for v in visitors], since=since,
                     until=until, now=now)


# --- visits at a venue over a range (the one query both contacts and lists use) ----------------

# Columns the visit lists and the contact query read: plain rows, no ORM objects (a venue list
# may be 100,000 rows, a busy venue gives a contact query hundreds).
_V, _P, _E = Visit.__table__.c, Visitor.__table__.c, Encounter.__table__.c
_VISIT_COLUMNS = (_V.id, _V.venue_id, _V.visitor_id, _V.checked_in_at, _V.checked_out_at,
                  _V.opened_by, _V.closed_by, _V.status,
                  _P.full_name, _P.phone_e164, _P.id_number, _P.id_type)
_ENCOUNTER_COLUMNS = (_E.id, _E.venue_id, _E.protocol, _E.rolling_id, _E.first_seen_at,
                      _E.last_seen_at, _E.rssi_max, _E.count, _E.visit_id)
# Table columns, not the models' attributes: the statements stay Core (no ORM compile or
# loading step for rows that become plain tuples anyway).
_VISITS_WITH_PEOPLE = Visit.__table__.join(Visitor.__table__, _P.id == _V.visitor_id)
# Windows per statement: each gives 3 (visits) or 2 (encounters) SELECTs of a UNION ALL, well
# under SQLite's 500 compound terms.
_WINDOWS_PER_QUERY = 100


def _row_view(row, venue: Venue, now: datetime, end: datetime | None = None) -> VisitView:
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
    """The effective end of a row of _VISIT_COLUMNS."""
    return effective_end(row[3], row[4], now=now, closing_time=venue.closing_time,
                         max_stay_min=venue.max_stay_min)


def _overlapping(session: Session, venue_id: int, start: datetime, end: datetime,
                 *, stream: bool = False) -> Iterator[tuple]:
    """Visits at the venue that may meet [start, end], oldest check-in first, as rows of
    _VISIT_COLUMNS.

    Three range scans on the (venue, check-in) and (venue, check-out, check-in) indexes, because
    one query with an OR across the two columns cannot be answered from a single index range:
    visits that started inside the range, visits that started before it and ended inside or
    after it, and visits that started before it and are still open. The caller applies the exact
    rule (effective end, half-open intervals) to this superset.
    """
    base = sa.select(*_VISIT_COLUMNS).select_from(_VISITS_WITH_PEOPLE).where(_V.venue_id == venue_id)
    earlier_closed = base.where(_V.checked_in_at < start, _V.checked_out_at >= start)
    earlier_open = base.where(_V.checked_in_at < start, _V.checked_out_at.is_(None))
    inside = base.where(_V.checked_in_at >= start, _V.checked_in_at <= end)
    # Visits under way at `start` are few (they span an instant): read them whole and sort here,
    # which leaves each database free to pick the index that suits the range best.
    spanning = [*session.execute(earlier_closed), *session.execute(earlier_open)]
    spanning.sort(key=lambda row: (row[3], row[0]))
    yield from spanning
    options = {"yield_per": _YIELD} if stream else {}
    result = session.execute(inside.order_by(_V.checked_in_at, _V.id)
                             .execution_options(**options))
    try:
        yield from result
    finally:
        result.close()


def list_visits(*, session: Session, venue: Venue, since: datetime, until: datetime,
                now: datetime, stream: bool = False) -> Iterator[VisitView]:
    """Everyone at the venue at some point in [since, until), by check-in time."""
    for row, end in _visits_meeting(session, venue, since, until, now, stream=stream):
        yield _row_view(row, venue, now, end)


def _visits_meeting(session: Session, venue: Venue, since: datetime, until: datetime,
                    now: datetime, *, stream: bool = False) -> Iterator[tuple[tuple, datetime]]:
    """list_visits as plain rows of _VISIT_COLUMNS with their effective end: exports of 100,000
    rows skip building a view object per row."""
    Interval(since, until)   # refuses a window that ends before it starts
    for row in _overlapping(session, venue.id, since, until, stream=stream):
        end = _row_end(row, venue, now)
        if spans_meet(row[3], end, since, until):
            yield row, end


# --- contacts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactRow:
    rank: int
    index: VisitView
    visit: VisitView
    overlap_min: float
    simultaneous_min: float

    def as_json(self) -> dict:
        body = self.visit.as_json()
        return {"rank": self.rank, "index_visit_id": self.index.id, "visit_id": body.pop("id"),
                **body, "overlap_min": self.overlap_min,
                "simultaneous_min": self.simultaneous_min}


@dataclass(frozen=True)
class DeviceRow:
    rank: int
    index: VisitView
    protocol: str
    rolling_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    duration_min: float
    overlap_min: float
    best_rssi: int
    sightings: int
    linked_visit_id: int | None

    def as_json(self) -> dict:
        return {"rank": self.rank, "index_visit_id": self.index.id,
                "venue_code": self.index.venue_code, "protocol": self.protocol,
                "rolling_id": self.rolling_id, "first_seen_at": iso_local(self.first_seen_at),
                "last_seen_at": iso_local(self.last_seen_at), "duration_min": self.duration_min,
                "overlap_min": self.overlap_min, "best_rssi": self.best_rssi,
                "sightings": self.sightings, "linked_visit_id": self.linked_visit_id}


@dataclass
class ContactReport:
    index_visits: list[VisitView]
    before_min: int
    after_min: int
    contacts: list[ContactRow] = field(default_factory=list)
    devices: list[DeviceRow] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict:
        people = {}
        for visit in self.index_visits:
            people.setdefault(visit.visitor_id, visit.visitor_json())
        return {
            "index": {"visitors": list(people.values()),
                      "visits": [v.as_json() for v in self.index_visits]},
            "since": iso_local(self.since), "until": iso_local(self.until),
            "before_min": self.before_min, "after_min": self.after_min,
            "contacts": [c.as_json() for c in self.contacts],
            "encounters": [d.as_json() for d in self.devices],
        }


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


def _merged_windows(windows: Iterable[tuple[int, datetime, datetime]]
                    ) -> list[tuple[int, datetime, datetime]]:
    """Per venue, overlapping or touching [start, end] ranges merged into one: an index case's
    visits to one venue on one day are read once."""
    merged: list[tuple[int, datetime, datetime]] = []
    for venue_id, start, end in sorted(windows):
        if merged and merged[-1][0] == venue_id and start <= merged[-1][2]:
            merged[-1] = (venue_id, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((venue_id, start, end))
    return merged


def _padded(windows: Sequence[tuple[int, datetime, datetime]]
            ) -> list[tuple[int, datetime, datetime]]:
    """The windows, padded with empty ones (venue id 0 is never used) to 1, 2, 4, … or
    _WINDOWS_PER_QUERY: a few statement shapes, so SQLAlchemy compiles each once per process
    instead of once per number of index visits."""
    size = 1
    while size < len(windows):
        size *= 2
    size = min(size, _WINDOWS_PER_QUERY)
    if not windows or len(windows) % size == 0:
        return list(windows)
    filler = (0, windows[0][1], windows[0][1])
    return [*windows, *[filler] * (size - len(windows) % size)]


def _overlapping_rows(session: Session, windows: Sequence[tuple[int, datetime, datetime]]):
    """Visits (with their visitor's columns) that may meet any of the (venue, start, end)
    windows: the three index range scans of `_overlapping` for each window, in one UNION ALL
    statement per 100 windows. A visit may come back more than once."""
    windows = _padded(windows)
    for first in range(0, len(windows), _WINDOWS_PER_QUERY):
        parts = []
        for venue_id, start, end in windows[first:first + _WINDOWS_PER_QUERY]:
            base = (sa.select(*_VISIT_COLUMNS).select_from(_VISITS_WITH_PEOPLE)
                    .where(_V.venue_id == venue_id))
            parts += [base.where(_V.checked_in_at < start, _V.checked_out_at >= start),
                      base.where(_V.checked_in_at < start, _V.checked_out_at.is_(None)),
                      base.where(_V.checked_in_at >= start, _V.checked_in_at <= end)]
        yield from session.execute(sa.union_all(*parts))


def _heard_rows(session: Session, windows: Sequence[tuple[int, datetime, datetime]]):
    """Encounters that may meet any of the windows: two range scans per window (started inside
    it; started before it and still heard at its start), as for visits."""
    windows = _padded(windows)
    for first in range(0, len(windows), _WINDOWS_PER_QUERY):
        parts = []
        for venue_id, start, end in windows[first:first + _WINDOWS_PER_QUERY]:
            base = sa.select(*_ENCOUNTER_COLUMNS).where(_E.venue_id == venue_id)
            parts += [base.where(_E.first_seen_at < start, _E.last_seen_at >= start),
                      base.where(_E.first_seen_at >= start, _E.first_seen_at <= end)]
        yield from session.execute(sa.union_all(*parts))


def find_contacts(*, session: Session, index_visits: Sequence[VisitView], before_min: int,
                  after_min: int, now: datetime) -> ContactReport:
    """Co-present visits and rolling IDs heard, for the chosen index visits (read-only): two
    set-based queries over all the index visits' buffered windows, then the pure matching of
    tracing.contacts on plain rows."""
    report = ContactReport(list(index_visits), before_min, after_min)
    if not index_visits:
        return report
    venues = {v.id: v for v in session.exec(
        select(Venue).where(Venue.id.in_({x.venue_id for x in index_visits})))}
    if session.get_bind().dialect.name == "postgresql":
        # The "under way at an instant" ranges return a handful of rows, but PostgreSQL cannot
        # estimate two correlated time columns and plans hundreds; for a UNION of such scans
        # it then starts parallel workers, whose start-up costs more than all the scans (several
        # ms, worse on a busy machine). For this transaction only.
        session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    index_stays = [Stay(v.id, v.venue_id, v.visitor_id, v.interval) for v in index_visits]
    views: dict[int, VisitView] = {v.id: v for v in index_visits}
    windows = _merged_windows(
        (v.venue_id, v.checked_in_at - timedelta(minutes=before_min),
         v.effective_end_at + timedelta(minutes=after_min))
        for v in index_visits)
    others: dict[int, Stay] = {}
    for row in _overlapping_rows(session, windows):
        view = views.get(row[0])
        if view is None:
            view = views[row[0]] = _row_view(row, venues[row[1]], now)
        others[view.id] = Stay(view.id, view.venue_id, view.visitor_id, view.interval)
    sightings: dict[int, Sighting] = {}
    for (encounter_id, venue_id, protocol, rolling_id, first_seen_at, last_seen_at, rssi_max,
         count, visit_id) in _heard_rows(session, windows):
        if encounter_id not in sightings:
            sightings[encounter_id] = Sighting(
                id=encounter_id, place=venue_id, key=(protocol, rolling_id),
                interval=Interval(first_seen_at, max(last_seen_at, first_seen_at)),
                best_rssi=rssi_max, count=count, linked_stay_id=visit_id)
    matches = match_contacts(index_stays, others.values(), before_min=before_min,
                             after_min=after_min)
    report.contacts = [
        ContactRow(rank, views[m.index_id], views[m.id], m.overlap_min, m.simultaneous_min)
        for rank, m in enumerate(matches, start=1)
    ]
    devices = match_devices(index_stays, sightings.values(), before_min=before_min,
                            after_min=after_min)
    report.devices = [
        DeviceRow(rank, views[d.index_id], d.key[0], d.key[1], d.first_seen_at, d.last_seen_at,
                  d.duration_min, d.overlap_min, d.best_rssi, d.sightings, d.linked_stay_id)
        for rank, d in enumerate(devices, start=1)
    ]
    return report


def _query_details(report: ContactReport, channel: str, query: dict | None) -> dict:
    # The audit log outlives the retention purge, so it names people by record id only: the
    # phone or name a tracer typed would otherwise survive the deletion of everything else.
    return {
        "channel": channel,
        **(query or {}),
        "index_visitor_ids": sorted({v.visitor_id for v in report.index_visits}),
        "index_visit_ids": [v.id for v in report.index_visits],
        "before_min": report.before_min, "after_min": report.after_min,
        "encounters": len(report.devices),
    }


def query_contacts(*, session: Session, visit_ids: Iterable[int], before_min: int,
                   after_min: int, now: datetime, actor: Actor, channel: str,
                   query: dict | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> ContactReport:
    """find_contacts for a tracer: audited (who, when, the query, how many rows), committed."""
    visit_ids = list(visit_ids)
    index_visits = load_visits(session=session, visit_ids=visit_ids, now=now)
    if len(index_visits) != len(set(visit_ids)):
        raise TracingError("visit_not_found", "visit_id")
    report = find_contacts(session=session, index_visits=index_visits, before_min=before_min,
                           after_min=after_min, now=now)
    report.since, report.until = since, until
    record_audit(session=session, now=now, actor=actor, action="contacts.query",
                 target_type="visit", target_id=index_visits[0].id if index_visits else None,
                 details=_query_details(report, channel, query), row_count=len(report.contacts))
    session.commit()
    logger.info("contact query: %d index visits, %d contacts, %d devices", len(index_visits),
                len(report.contacts), len(report.devices))
    return report


# --- exports ------------------------------------------------------------------------------------

TZ_NOTE = "giờ Việt Nam"
VISIT_COLUMNS = (
    Column("Mã lượt", "number", 0.5),
    Column("Mã địa điểm", "text", 0.7),
    Column("Họ và tên", "text", 1.6),
    Column("Số điện thoại", "text", 1.0),
    Column("Số giấy tờ", "text", 1.0),
    Column(f"Giờ vào ({TZ_NOTE})", "datetime", 1.1),
    Column(f"Giờ ra ({TZ_NOTE})", "datetime", 1.1),
    Column("Cách ra", "text", 0.8),
    Column("Trạng thái", "text", 0.9),
)
CONTACT_COLUMNS = (
    Column("Hạng", "number", 0.4),
    Column("Mã lượt", "number", 0.5),
    Column("Họ và tên", "text", 1.5),
    Column("Số điện thoại", "text", 1.0),
    Column("Số giấy tờ", "text", 1.0),
    Column("Mã địa điểm", "text", 0.7),
    Column(f"Giờ vào ({TZ_NOTE})", "datetime", 1.1),
    Column(f"Giờ ra ({TZ_NOTE})", "datetime", 1.1),
    Column("Phút trùng (có khoảng đệm)", "number", 0.8),
    Column("Phút cùng lúc", "number", 0.7),
    Column("Lượt của ca bệnh", "number", 0.6),
)
DEVICE_COLUMNS = (
    Column("Hạng", "number", 0.4),
    Column("Giao thức", "text", 0.7),
    Column("Mã định danh tạm thời (rolling ID)", "text", 2.2),
    Column("Mã địa điểm", "text", 0.7),
    Column(f"Nghe thấy lần đầu ({TZ_NOTE})", "datetime", 1.1),
    Column(f"Nghe thấy lần cuối ({TZ_NOTE})", "datetime", 1.1),
    Column("Thời lượng (phút)", "number", 0.6),
    Column("Phút trùng", "number", 0.6),
    Column("RSSI mạnh nhất (dBm)", "number", 0.6),
    Column("Lượt của ca bệnh", "number", 0.6),
)


def _dialled(phone: str | None) -> str | None:
    """Phones as a tracer dials them ("0912 345 678"): no leading "+" for a spreadsheet to read
    as a formula, and the leading 0 kept (the spaces make it text, not a number)."""
    return format_phone(phone) if phone else None


def _visit_export_rows(session: Session, venue: Venue, since: datetime, until: datetime,
                       now: datetime) -> Iterator[tuple]:
    """The export's row (VISIT_COLUMNS) for each of list_visits, straight from the query's
    rows (streamed)."""
    code = venue.code
    for row, _end in _visits_meeting(session, venue, since, until, now, stream=True):
        (visit_id, _venue_id, _visitor_id, checked_in_at, checked_out_at, _opened_by, closed_by,
         status, full_name, phone, id_number, _id_type) = row
        yield (visit_id, code, full_name, _dialled(phone), id_number, checked_in_at,
               checked_out_at, CLOSED_BY_VI.get(closed_by, closed_by),
               STATUS_VI.get(status, status))


def _range_text(since: datetime, until: datetime) -> str:
    fmt = "%H:%M %d/%m/%Y"
    return (f"{since.astimezone(LOCAL_TZ).strftime(fmt)} – "
            f"{until.astimezone(LOCAL_TZ).strftime(fmt)} ({TZ_NOTE})")


def _actor_label(actor: Actor) -> str:
    return actor.username if isinstance(actor, User) else (actor or "system")


def export_visits(*, session: Session, venue: Venue, since: datetime, until: datetime, fmt: str,
                  now: datetime, actor: Actor, channel: str) -> ExportFile:
    """The venue's visit list as a file, audited with its SHA-256 and row count."""
    rows = _visit_export_rows(session, venue, since, until, now)
    title = f"Danh sách lượt vào — {venue.name} ({venue.code})"
    table = Table("Lượt vào", VISIT_COLUMNS, rows)
    export = exports.build(
        fmt, [table], filename=exports.file_stem("luot-vao", venue.code, since, until),
        title=title,
        subtitle=[f"Thời gian: {_range_text(since, until)}",
                  f"Xuất lúc {now.astimezone(LOCAL_TZ).strftime('%H:%M %d/%m/%Y')} bởi "
                  f"{_actor_label(actor)}"],
    )
    try:
        record_audit(session=session, now=now, actor=actor, action="visits.export",
                     target_type="venue", target_id=venue.id,
                     details={"channel": channel, "venue": venue.code, "format": fmt,
                              "since": iso_local(since), "until": iso_local(until),
                              "filename": export.filename},
                     row_count=export.row_count, file_sha256=export.sha256)
        session.commit()
    except BaseException:
        export.close()
        raise
    logger.info("visit list export: venue %s, %d rows, %s", venue.id, export.row_count, fmt)
    return export


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


def contact_tables(report: ContactReport) -> list[Table]:
    people = (
        (c.rank, c.visit.id, c.visit.full_name, _dialled(c.visit.phone), c.visit.id_number,
         c.visit.venue_code, c.visit.checked_in_at, c.visit.checked_out_at, c.overlap_min,
         c.simultaneous_min, c.index.id)
        for c in report.contacts
    )
    devices = (
        (d.rank, d.protocol, d.rolling_id, d.index.venue_code, d.first_seen_at, d.last_seen_at,
         d.duration_min, d.overlap_min, d.best_rssi, d.index.id)
        for d in report.devices
    )
    return [Table("Người có mặt cùng lúc", CONTACT_COLUMNS, people),
            Table("Thiết bị nghe thấy", DEVICE_COLUMNS, devices)]


def _report_range(report: ContactReport) -> tuple[datetime, datetime]:
    if report.since and report.until:
        return report.since, report.until
    return (min(v.checked_in_at for v in report.index_visits),
            max(v.effective_end_at for v in report.index_visits))


def export_contacts(*, session: Session, visit_ids: Iterable[int], before_min: int,
                    after_min: int, fmt: str, now: datetime, actor: Actor, channel: str,
                    query: dict | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> ExportFile:
    """The contact list as a file (people, then phones heard), audited with its SHA-256."""
    visit_ids = list(visit_ids)
    index_visits = load_visits(session=session, visit_ids=visit_ids, now=now)
    if not visit_ids:
        raise TracingError("no_index_visits", "visit_id")
    if len(index_visits) != len(set(visit_ids)):
        raise TracingError("visit_not_found", "visit_id")
    report = find_contacts(session=session, index_visits=index_visits, before_min=before_min,
                           after_min=after_min, now=now)
    report.since, report.until = since, until
    start, end = _report_range(report)
    venues = "-".join(sorted({v.venue_code for v in index_visits}))
    names = ", ".join(sorted({v.full_name for v in index_visits}))
    export = exports.build(
        fmt, contact_tables(report),
        filename=exports.file_stem("tiep-xuc", venues, start, end),
        title=f"Danh sách tiếp xúc — ca bệnh: {names}",
        subtitle=[f"Địa điểm: {', '.join(sorted({v.venue_code for v in index_visits}))}; "
                  f"thời gian: {_range_text(start, end)}",
                  f"Khoảng đệm: {before_min} phút trước, {after_min} phút sau",
                  f"Xuất lúc {now.astimezone(LOCAL_TZ).strftime('%H:%M %d/%m/%Y')} bởi "
                  f"{_actor_label(actor)}"],
    )
    try:
        details = _query_details(report, channel, query)
        details.update(format=fmt, filename=export.filename)
        record_audit(session=session, now=now, actor=actor, action="contacts.export",
                     target_type="visit", target_id=index_visits[0].id, details=details,
                     row_count=export.row_count, file_sha256=export.sha256)
        session.commit()
    except BaseException:
        export.close()
        raise
    logger.info("contact export: %d index visits, %d rows, %s", len(index_visits),
                export.row_count, fmt)
    return export


# --- retention ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    visits: int
    encounters: int
    declarations: int
    visitors: int
    days_folded: int

    @property
    def total(self) -> int:
        return self.visits + self.encounters + self.declarations + self.visitors


def _app_detected():
    return sa.exists().where(Encounter.visit_id == Visit.id).label("app_detected")


def _visit_rows(session: Session, *conditions) -> Iterator[VisitRow]:
    result = session.exec(
        select(Visit.venue_id, Visit.visitor_id, Visit.checked_in_at, _app_detected())
        .where(*conditions).execution_options(yield_per=_YIELD)
    )
    try:
        for venue_id, visitor_id, checked_in_at, app in result:
            yield VisitRow(venue_id, visitor_id, checked_in_at, bool(app))
    finally:
        result.close()


def _add_to_stats(session: Session, counts: dict, now: datetime) -> None:
    for (venue_id, day), c in counts.items():
        stat = session.exec(select(DailyVenueStat).where(DailyVenueStat.venue_id == venue_id,
                                                         DailyVenueStat.day == day)).first()
        if stat is None:
            stat = DailyVenueStat(venue_id=venue_id, day=day)
        # Adding keeps the counts right when a late import brings rows for an already folded day.
        stat.visits += c.visits
        stat.visitors += c.visitors
        stat.visitors_with_app += c.visitors_with_app
        stat.encounters += c.encounters
        stat.computed_at = now
        session.add(stat)
    session.flush()


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def purge_personal_data(*, session: Session, now: datetime, days: int,
                        actor: Actor) -> PurgeResult:
    """Hard-delete visits, encounters, declarations and visitors older than the retention
    period, after folding the purged days into DailyVenueStat; one transaction, audited with
    its counts whenever it deleted anything."""
    cutoff = purge_cutoff(now, days)
    old_visit = Visit.checked_in_at < cutoff
    old_declarations = select(Declaration.id).where(Declaration.submitted_at < cutoff)
    old_visits = select(Visit.id).where(old_visit)

    encounter_starts = session.exec(
        select(Encounter.venue_id, Encounter.first_seen_at)
        .where(Encounter.first_seen_at < cutoff).execution_options(yield_per=_YIELD))
    try:
        counts = fold_daily(_visit_rows(session, old_visit), encounter_starts)
    finally:
        encounter_starts.close()
    _add_to_stats(session, counts, now)

    encounters = session.exec(sa.delete(Encounter).where(Encounter.first_seen_at < cutoff)
                              .execution_options(synchronize_session=False)).rowcount
    # A phone first heard after the cut but linked to a purged visit keeps its own row.
    session.exec(sa.update(Encounter).where(Encounter.visit_id.in_(old_visits))
                 .values(visit_id=None).execution_options(synchronize_session=False))
    # A recent visit may still point at an old declaration (renewed within the fresh window).
    session.exec(sa.update(Visit).where(~old_visit, Visit.declaration_id.in_(old_declarations))
                 .values(declaration_id=None).execution_options(synchronize_session=False))
    visits = session.exec(sa.delete(Visit).where(old_visit)
                          .execution_options(synchronize_session=False)).rowcount
    session.exec(sa.update(Declaration)
                 .where(Declaration.previous_declaration_id.in_(old_declarations))
                 .values(previous_declaration_id=None)
                 .execution_options(synchronize_session=False))
    declarations = session.exec(sa.delete(Declaration).where(Declaration.submitted_at < cutoff)
                                .execution_options(synchronize_session=False)).rowcount
    visitors = _purge_visitors(session, cutoff)

    result = PurgeResult(cutoff, visits, encounters, declarations, visitors, len(counts))
    # A run that found nothing to delete changed no data: the nightly job on a quiet kiosk would
    # otherwise bury the exports the log is for under a no-op entry every day.
    if result.total:
        record_audit(session=session, now=now, actor=actor, action="retention.purge",
                     details={"cutoff": iso_local(cutoff), "days": days, "visits": visits,
                              "encounters": encounters, "declarations": declarations,
                              "visitors": visitors, "days_folded": len(counts)},
                     row_count=result.total)
    session.commit()
    session.expunge_all()  # bulk deletes bypassed the identity map: drop what it remembers
    logger.info("retention purge before %s: %d visits, %d encounters, %d declarations, "
                "%d visitors", cutoff.isoformat(), visits, encounters, declarations, visitors)
    return result


def _purge_visitors(session: Session, cutoff: datetime) -> int:
    """Visitors left with no visit and no declaration. A person a kept dependant points to (the
    adult who declared for a child) stays: they are how the dependant is reached."""
    has_visit = sa.exists().where(Visit.visitor_id == Visitor.id)
    has_declaration = sa.exists().where(Declaration.visitor_id == Visitor.id)
    doomed = set(session.exec(select(Visitor.id).where(
        Visitor.created_at < cutoff, ~has_visit, ~has_declaration)))
    if not doomed:
        return 0
    links = session.exec(select(Visitor.id, Visitor.declarant_id)
                         .where(Visitor.declarant_id.is_not(None))).all()
    changed = True
    while changed:  # a kept dependant keeps its declarant, who may keep theirs
        changed = False
        for dependant, declarant in links:
            if declarant in doomed and dependant not in doomed:
                doomed.discard(declarant)
                changed = True
    ids = sorted(doomed)
    for chunk in _chunks(ids):
        session.exec(sa.update(Visitor).where(Visitor.declarant_id.in_(chunk))
                     .values(declarant_id=None).execution_options(synchronize_session=False))
    deleted = 0
    for chunk in _chunks(ids):
        deleted += session.exec(sa.delete(Visitor).where(Visitor.id.in_(chunk))
                                .execution_options(synchronize_session=False)).rowcount
    return deleted


def daily_counts(*, session: Session, venue_ids: Iterable[int] | None, since_day: date,
                 until_day: date) -> dict[tuple[int, date], dict]:
    """Per (venue id, local day), since_day and until_day included: {visits, visitors,
    visitors_with_app}, from the live tables and, for purged days, from DailyVenueStat.
    The adoption report reads this so that old days keep their numbers after the purge."""
    if venue_ids is None:
        venue_ids = list(session.exec(select(Venue.id)))
    venue_ids = sorted(set(venue_ids))
    start, end = day_bounds(since_day, until_day)
    totals: dict[tuple[int, date], dict] = {}
    for chunk in _chunks(venue_ids):
        live = fold_daily(_visit_rows(session, Visit.venue_id.in_(chunk),
                                      Visit.checked_in_at >= start, Visit.checked_in_at < end))
        for key, c in live.items():
            totals[key] = c.as_dict()
        stats = session.exec(select(DailyVenueStat).where(
            DailyVenueStat.venue_id.in_(chunk), DailyVenueStat.day >= since_day,
            DailyVenueStat.day <= until_day))
        for stat in stats:
            day = totals.setdefault((stat.venue_id, stat.day),
                                    {"visits": 0, "visitors": 0, "visitors_with_app": 0})
            day["visits"] += stat.visits
            day["visitors"] += stat.visitors
            day["visitors_with_app"] += stat.visitors_with_app
    return dict(sorted(totals.items()))
