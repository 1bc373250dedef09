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
from tracing.models import DailyVenueStat
from tracing.retention import VisitRow, day_bounds, fold_daily
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
