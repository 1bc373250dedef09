"""The contact query: co-present visits and the contact-tracing phones heard, for an index case's
chosen visits. Two set-based queries over all the index visits' buffered windows, then the pure
matching of tracing.contacts on plain rows; audited for tracers."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.audit import record_audit
from core.models import Venue
from tracing import contact_sql
from tracing.contacts import Interval, Sighting, Stay, match_contacts, match_devices
from tracing.errors import TracingError
from tracing.visit_lists import (
    VISIT_ROW_COLUMNS,
    VISITS_WITH_PEOPLE,
    Actor,
    V,
    VisitView,
    iso_local,
    load_visits,
    visit_row_view,
)

logger = logging.getLogger(__name__)

_E = Encounter.__table__.c
ENCOUNTER_ROW_COLUMNS = (_E.id, _E.venue_id, _E.protocol, _E.rolling_id, _E.first_seen_at,
                         _E.last_seen_at, _E.rssi_max, _E.count, _E.visit_id)
# Windows per statement: each gives 3 (visits) or 2 (encounters) SELECTs of a UNION ALL, well
# under SQLite's 500 compound terms.
_WINDOWS_PER_QUERY = 100


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
            base = (sa.select(*VISIT_ROW_COLUMNS).select_from(VISITS_WITH_PEOPLE)
                    .where(V.venue_id == venue_id))
            parts += [base.where(V.checked_in_at < start, V.checked_out_at >= start),
                      base.where(V.checked_in_at < start, V.checked_out_at.is_(None)),
                      base.where(V.checked_in_at >= start, V.checked_in_at <= end)]
        yield from session.execute(sa.union_all(*parts))


def _heard_rows(session: Session, windows: Sequence[tuple[int, datetime, datetime]]):
    """Encounters that may meet any of the windows: two range scans per window (started inside
    it; started before it and still heard at its start), as for visits."""
    windows = _padded(windows)
    for first in range(0, len(windows), _WINDOWS_PER_QUERY):
        parts = []
        for venue_id, start, end in windows[first:first + _WINDOWS_PER_QUERY]:
            base = sa.select(*ENCOUNTER_ROW_COLUMNS).where(_E.venue_id == venue_id)
            parts += [base.where(_E.first_seen_at < start, _E.last_seen_at >= start),
                      base.where(_E.first_seen_at >= start, _E.first_seen_at <= end)]
        yield from session.execute(sa.union_all(*parts))


def find_contacts(*, session: Session, index_visits: Sequence[VisitView], before_min: int,
                  after_min: int, now: datetime) -> ContactReport:
    """Co-present visits and rolling IDs heard, for the chosen index visits (read-only). On
    PostgreSQL the database matches, ranks and groups (tracing.contact_sql) and returns only the
    final rows; elsewhere (a kiosk's SQLite) two set-based queries fetch the candidate rows and
    the pure matching of tracing.contacts decides. Both give the same answers."""
    if session.get_bind().dialect.name == "postgresql":
        return find_contacts_in_sql(session=session, index_visits=index_visits,
                                    before_min=before_min, after_min=after_min, now=now)
    return find_contacts_in_python(session=session, index_visits=index_visits,
                                   before_min=before_min, after_min=after_min, now=now)


def _venues(session: Session, index_visits: Sequence[VisitView]) -> dict[int, Venue]:
    return {v.id: v for v in session.exec(
        select(Venue).where(Venue.id.in_({x.venue_id for x in index_visits})))}


def _plan_for_instant_ranges(session: Session) -> None:
    # The "under way at an instant" ranges return a handful of rows, but PostgreSQL cannot
    # estimate two correlated time columns and plans hundreds; for a UNION of such scans it
    # then starts parallel workers, whose start-up costs more than all the scans (several ms,
    # worse on a busy machine). The same misestimate makes a case with many index visits look
    # expensive enough to JIT-compile, which costs tens of ms more than the query itself. For
    # this transaction only (SET LOCAL), in one round trip.
    session.execute(sa.text("SELECT set_config('max_parallel_workers_per_gather', '0', true), "
                            "set_config('jit', 'off', true)"))


def find_contacts_in_sql(*, session: Session, index_visits: Sequence[VisitView],
                         before_min: int, after_min: int, now: datetime) -> ContactReport:
    """find_contacts by PostgreSQL (tracing.contact_sql): two statements, final rows only."""
    report = ContactReport(list(index_visits), before_min, after_min)
    if not index_visits:
        return report
    if before_min < 0 or after_min < 0:
        raise ValueError("buffers cannot be negative")
    _plan_for_instant_ranges(session)
    views: dict[int, VisitView] = {v.id: v for v in index_visits}
    params = contact_sql.parameters(
        [(v.id, v.venue_id, v.visitor_id, v.checked_in_at, v.effective_end_at)
         for v in index_visits], before_min=before_min, after_min=after_min, now=now)
    for rank, (visit_id, venue_id, visitor_id, checked_in_at, checked_out_at, opened_by,
               closed_by, status, full_name, phone, id_number, id_type, end, index_id,
               overlap_s, simultaneous_s) in enumerate(
            session.execute(contact_sql.CONTACTS_STATEMENT, params).all(), start=1):
        index = views[index_id]
        view = views.get(visit_id)
        if view is None:   # a contact is at its index visit's venue
            view = views[visit_id] = VisitView(
                id=visit_id, venue_id=venue_id, venue_code=index.venue_code,
                venue_name=index.venue_name, visitor_id=visitor_id, full_name=full_name,
                phone=phone, id_number=id_number, id_type=id_type, checked_in_at=checked_in_at,
                checked_out_at=checked_out_at, effective_end_at=end, opened_by=opened_by,
                closed_by=closed_by, status=status)
        report.contacts.append(ContactRow(rank, index, view, round(overlap_s / 60, 1),
                                          round(simultaneous_s / 60, 1)))
    for rank, (index_id, protocol, rolling_id, first_seen_at, last_seen_at, duration_s,
               overlap_s, best_rssi, sightings, linked) in enumerate(
            session.execute(contact_sql.DEVICES_STATEMENT, params).all(), start=1):
        report.devices.append(DeviceRow(
            rank, views[index_id], protocol, rolling_id, first_seen_at, last_seen_at,
            round(duration_s / 60, 1), round(overlap_s / 60, 1), best_rssi, sightings, linked))
    return report


def find_contacts_in_python(*, session: Session, index_visits: Sequence[VisitView],
                            before_min: int, after_min: int, now: datetime) -> ContactReport:
    """find_contacts by the pure matching of tracing.contacts on plain rows: two set-based
    queries over all the index visits' buffered windows fetch the candidates."""
    report = ContactReport(list(index_visits), before_min, after_min)
    if not index_visits:
        return report
    venues = _venues(session, index_visits)
    if session.get_bind().dialect.name == "postgresql":
        _plan_for_instant_ranges(session)
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
            view = views[row[0]] = visit_row_view(row, venues[row[1]], now)
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


def audit_details(report: ContactReport, channel: str, query: dict | None) -> dict:
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
                 details=audit_details(report, channel, query), row_count=len(report.contacts))
    session.commit()
    logger.info("contact query: %d index visits, %d contacts, %d devices", len(index_visits),
                len(report.contacts), len(report.devices))
    return report
