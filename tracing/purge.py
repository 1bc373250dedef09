"""The retention purge: hard-delete visits, encounters, declarations and visitors older than the
retention period, after folding the purged days into the daily counts that outlive them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.audit import record_audit
from core.db import truncate_wal
from declarations.models import Declaration
from notices.services import purge_notices
from tracing.counts import YIELD_ROWS, chunks, visit_rows
from tracing.models import DailyVenueStat
from tracing.retention import fold_daily, purge_cutoff
from tracing.visit_lists import Actor, iso_local
from visits.models import Visit, Visitor, VisitorTombstone

logger = logging.getLogger(__name__)


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
        .where(Encounter.first_seen_at < cutoff).execution_options(yield_per=YIELD_ROWS))
    try:
        counts = fold_daily(visit_rows(session, old_visit), encounter_starts)
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
    # Notices go with retention too, and before the people they were given to.
    has_visit = sa.exists().where(Visit.visitor_id == Visitor.id)
    has_declaration = sa.exists().where(Declaration.visitor_id == Visitor.id)
    purge_notices(session=session, before=cutoff, visitor_ids=list(session.exec(
        select(Visitor.id).where(Visitor.created_at < cutoff, ~has_visit, ~has_declaration))))
    visitors = _purge_visitors(session, cutoff)
    # An erased person's uid is kept as long as a code can live (codes never outlive retention).
    session.exec(sa.delete(VisitorTombstone).where(VisitorTombstone.deleted_at < cutoff)
                 .execution_options(synchronize_session=False))

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
    if result.total:
        truncate_wal(session)  # no earlier copy of the deleted rows stays in the WAL file
    logger.info("retention purge before %s: %d visits, %d encounters, %d declarations, "
                "%d visitors", cutoff.isoformat(), visits, encounters, declarations, visitors)
    return result


def _purge_visitors(session: Session, cutoff: datetime) -> int:
    """Visitors left with no visit and no declaration: their last activity is past the
    retention period, whenever the record itself was made (a paper list imported yesterday
    brings visitors whose visits are weeks old). Every path that makes a visitor makes a visit
    or a declaration in the same transaction, so a record with neither is one the purge
    emptied. A person a kept dependant points to (the adult who declared for a child) stays:
    they are how the dependant is reached."""
    has_visit = sa.exists().where(Visit.visitor_id == Visitor.id)
    has_declaration = sa.exists().where(Declaration.visitor_id == Visitor.id)
    doomed = set(session.exec(select(Visitor.id).where(~has_visit, ~has_declaration)))
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
    for chunk in chunks(ids):
        session.exec(sa.update(Visitor).where(Visitor.declarant_id.in_(chunk))
                     .values(declarant_id=None).execution_options(synchronize_session=False))
    deleted = 0
    for chunk in chunks(ids):
        deleted += session.exec(sa.delete(Visitor).where(Visitor.id.in_(chunk))
                                .execution_options(synchronize_session=False)).rowcount
    return deleted
