"""Daily counts per venue (visits, visitors, visitors whose contact-tracing phone was detected),
from the live tables and, for days already purged, from the counts kept in DailyVenueStat; and
the adoption report built on them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.models import Venue
from tracing import adoption
from tracing.adoption import ReportError
from tracing.models import DailyVenueStat, UnitPopulation
from tracing.retention import VisitRow, day_bounds, fold_daily, local_day
from visits.models import Visit

# Bound parameters per IN (...) list, well under SQLite's and PostgreSQL's limits.
CHUNK = 500
# Rows fetched at a time from long results.
YIELD_ROWS = 1000


def _app_detected():
    return sa.exists().where(Encounter.visit_id == Visit.id).label("app_detected")


def visit_rows(session: Session, *conditions) -> Iterator[VisitRow]:
    result = session.exec(
        select(Visit.venue_id, Visit.visitor_id, Visit.checked_in_at, _app_detected())
        .where(*conditions).execution_options(yield_per=YIELD_ROWS)
    )
    try:
        for venue_id, visitor_id, checked_in_at, app in result:
            yield VisitRow(venue_id, visitor_id, checked_in_at, bool(app))
    finally:
        result.close()


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


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
    for chunk in chunks(venue_ids):
        live = fold_daily(visit_rows(session, Visit.venue_id.in_(chunk),
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


# --- the adoption report -----------------------------------------------------------------------

@dataclass(frozen=True)
class AdoptionReport:
    since: date
    until: date
    rows: list[adoption.AdoptionRow]

    def daily_totals(self) -> list[tuple[date, int, int]]:
        return adoption.daily_totals(self.rows, self.since, self.until)


def adoption_report(*, session: Session, since: date, until: date,
                    venue_codes: Iterable[str] | None = None) -> AdoptionReport:
    """Per venue and local day (both ends included): visits, visitors, visitors with a detected
    app. Days already purged by the retention job come from their kept daily counts."""
    adoption.check_range(since, until)
    query = select(Venue).order_by(Venue.code)
    if venue_codes is not None:
        codes = sorted({c.strip().upper() for c in venue_codes if c and c.strip()})
        query = query.where(Venue.code.in_(codes))
    venues = {v.id: v for v in session.exec(query)}
    if venue_codes is not None and not venues:
        raise ReportError("unknown_venue")
    # One definition of the daily counts, live and purged days alike.
    counts = daily_counts(session=session, venue_ids=list(venues), since_day=since,
                          until_day=until)
    report_rows = [
        adoption.AdoptionRow(venues[venue_id].code, venues[venue_id].name, venues[venue_id].unit,
                             day, c["visits"], c["visitors"], c["visitors_with_app"])
        for (venue_id, day), c in sorted(counts.items(),
                                         key=lambda item: (venues[item[0][0]].code, item[0][1]))
    ]
    return AdoptionReport(since, until, report_rows)


# --- adoption by administrative unit and period ------------------------------------------------

def _declared_app(apps) -> bool:
    return bool(apps) and list(apps) != ["none"]


def adoption_visits(*, session: Session, since: date, until: date,
                    venue_codes: Iterable[str] | None = None) -> Iterator[adoption.AdoptionVisit]:
    """The visits of the range (local days, both included) as the unit report needs them: from
    the live tables, so within the retention period (purged days keep only per-venue counts)."""
    from declarations.models import Declaration
    from visits.models import Visitor

    start, end = day_bounds(since, until)
    query = (
        select(Visit.visitor_id, Visit.checked_in_at, Venue.code, Venue.name, Venue.ward_code,
               Visitor.ward_code, Visitor.province_code, Declaration.tracing_apps,
               _app_detected())
        .join(Venue, Venue.id == Visit.venue_id)
        .join(Visitor, Visitor.id == Visit.visitor_id)
        .outerjoin(Declaration, Declaration.id == Visit.declaration_id)
        .where(Visit.checked_in_at >= start, Visit.checked_in_at < end)
    )
    if venue_codes is not None:
        query = query.where(Venue.code.in_(sorted({c.strip().upper() for c in venue_codes})))
    result = session.exec(query.execution_options(yield_per=YIELD_ROWS))
    try:
        for (visitor_id, checked_in_at, code, name, venue_ward, home_ward, home_province, apps,
             detected) in result:
            yield adoption.AdoptionVisit(
                visitor_id=visitor_id, day=local_day(checked_in_at), venue_code=code,
                venue_name=name, venue_ward=venue_ward, home_ward=home_ward,
                home_province=home_province, declared_app=_declared_app(apps),
                detected_app=bool(detected))
    finally:
        result.close()


def unit_populations(*, session: Session) -> dict[str, int]:
    return {p.code: p.population for p in session.exec(select(UnitPopulation))}


def import_populations(*, session: Session, populations: dict[str, int], actor,
                       now) -> int:
    """Set these units' populations (others keep theirs); audited with the count only."""
    from core.audit import record_audit

    for code, population in populations.items():
        row = session.get(UnitPopulation, code) or UnitPopulation(code=code, population=0)
        row.population = population
        row.updated_at = now
        session.add(row)
    record_audit(session=session, now=now, actor=actor, action="populations.import",
                 row_count=len(populations))
    session.commit()
    return len(populations)


@dataclass(frozen=True)
class UnitReport:
    since: date
    until: date
    by: str
    period: str
    rows: list[adoption.UnitRow]

    @property
    def has_population(self) -> bool:
        return any(r.population is not None for r in self.rows)

    def to_json(self) -> dict:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "by": self.by, "period": self.period,
                "rows": [r.to_json() for r in self.rows]}


def unit_adoption_report(*, session: Session, since: date, until: date, by: str = "venue",
                         period: str = "day", venue_codes: Iterable[str] | None = None,
                         lang: str = "vi") -> UnitReport:
    adoption.check_range(since, until)
    if by not in adoption.GROUPINGS:
        raise ReportError("unknown_grouping")
    if period not in adoption.PERIODS:
        raise ReportError("unknown_period")
    if venue_codes is not None:
        codes = [c for c in venue_codes if c and c.strip()]
        known = session.exec(select(Venue.id).where(
            Venue.code.in_(sorted({c.strip().upper() for c in codes})))).first()
        if known is None:
            raise ReportError("unknown_venue")
    rows = adoption.unit_table(
        adoption_visits(session=session, since=since, until=until, venue_codes=venue_codes),
        by=by, period=period, populations=unit_populations(session=session), lang=lang)
    return UnitReport(since, until, by, period, rows)
