"""A kiosk of an installation keeps forwarded data only as long as the door needs it, so a stolen
kiosk holds as little as possible. When the outbox is empty (everything is on the central server)
and at most every TRIM_EVERY_S, one transaction, with capture off (nothing here goes to the
central server, which keeps its own copy under its own retention):

- visits are deleted once closed and older than KIOSK_KEEP_FORWARDED_H, except a flagged visit
  still waiting for a receptionist (the desk's queue);
- encounters last heard before then are deleted, and those linked to deleted visits unlinked;
- declarations made before then are deleted unless a kept visit names them;
- a visitor left with neither keeps their uid only (name, numbers, address and contact gone),
  so the code the door gave them still checks in, with what the code says of their declaration.

The door needs less: an open visit to check out, a fresh declaration to let someone in again,
today's list on the desk; a tracer works on the central server."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.db import truncate_wal
from declarations.models import Declaration
from declarations.services import NEWCOMER_UPDATED_AT
from sync.models import SyncOutbox, SyncState
from visits.models import Visit, Visitor, VisitStatus

logger = logging.getLogger(__name__)

TRIM_EVERY_S = 600.0
_PERSONAL = {"full_name": "", "name_folded": "", "birth_year": None, "gender": None,
             "id_number": None, "id_type": None, "phone_e164": None, "email": None,
             "province_code": None, "province_name": None, "ward_code": None,
             "ward_name": None, "street_address": None, "declarant_id": None,
             "updated_at": NEWCOMER_UPDATED_AT}


def trim_forwarded(*, session: Session, now: datetime, keep_hours: float) -> dict | None:
    """Trim what is forwarded and older than `keep_hours`; returns the counts, or None when
    something is still pending (nothing is trimmed then). Commits."""
    cutoff = now - timedelta(hours=keep_hours)
    # The write lock first (SQLite: one writer), so no door write slips in after the check.
    capturing = session.execute(sa.select(SyncState.capture).where(SyncState.id == 1)).scalar()
    if not capturing:
        session.rollback()
        return None
    session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=False))
    if session.execute(sa.select(SyncOutbox.seq).limit(1)).first() is not None:
        session.rollback()
        return None
    old_visit = sa.and_(Visit.checked_out_at.is_not(None), Visit.checked_in_at < cutoff,
                        Visit.status != VisitStatus.needs_review)
    old_visits = select(Visit.id).where(old_visit)
    session.execute(sa.update(Encounter).where(Encounter.visit_id.in_(old_visits))
                    .values(visit_id=None).execution_options(synchronize_session=False))
    encounters = session.execute(sa.delete(Encounter).where(Encounter.last_seen_at < cutoff)
                                 .execution_options(synchronize_session=False)).rowcount or 0
    visits = session.execute(sa.delete(Visit).where(old_visit)
                             .execution_options(synchronize_session=False)).rowcount or 0
    named = select(Visit.declaration_id).where(Visit.declaration_id.is_not(None))
    old_declarations = sa.and_(Declaration.submitted_at < cutoff, Declaration.id.not_in(named))
    session.execute(sa.update(Declaration).where(Declaration.previous_declaration_id.in_(
        select(Declaration.id).where(old_declarations))).values(previous_declaration_id=None)
        .execution_options(synchronize_session=False))
    declarations = session.execute(sa.delete(Declaration).where(old_declarations)
                                   .execution_options(synchronize_session=False)).rowcount or 0
    has_visit = sa.exists().where(Visit.visitor_id == Visitor.id)
    has_declaration = sa.exists().where(Declaration.visitor_id == Visitor.id)
    session.execute(sa.update(Visitor).where(Visitor.declarant_id.in_(
        select(Visitor.id).where(~has_visit, ~has_declaration, Visitor.full_name != "")))
        .values(declarant_id=None).execution_options(synchronize_session=False))
    stripped = session.execute(sa.update(Visitor).where(
        ~has_visit, ~has_declaration, Visitor.updated_at != NEWCOMER_UPDATED_AT)
        .values(**_PERSONAL).execution_options(synchronize_session=False)).rowcount or 0
    session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=True))
    session.commit()
    session.expunge_all()
    counts = {"visits": visits, "encounters": encounters, "declarations": declarations,
              "visitors": stripped}
    if any(counts.values()):
        truncate_wal(session)  # no earlier copy of the trimmed rows stays in the WAL file
        logger.info("forwarded data trimmed: %d visits, %d encounters, %d declarations, "
                    "%d visitors kept by uid only", visits, encounters, declarations, stripped)
    return counts


def maybe_trim(app, session: Session) -> dict | None:
    """After a sync round with nothing pending: trim, at most every TRIM_EVERY_S per process."""
    last = app.extensions.get("sync.trimmed_at")
    if last is not None and time.monotonic() - last < TRIM_EVERY_S:
        return None
    counts = trim_forwarded(session=session, now=app.extensions["clock"].now(),
                            keep_hours=float(app.config["KEEP_FORWARDED_H"]))
    if counts is not None:
        app.extensions["sync.trimmed_at"] = time.monotonic()
    return counts
