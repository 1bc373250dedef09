"""What the reception desk reads: its lists with each visitor's phone, company and host, the
day's entry/exit log and counts, finding a visitor who came to this venue, and reprinting their
personal QR. Services: keyword-only session, explicit now; no request, no app."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.models import AuditEvent, User
from declarations.identity import check_phone, fold
from declarations.models import Declaration
from declarations.services import issue_token, latest_declaration
from declarations.tokens import KeyRing
from visits.models import Visit, Visitor, VisitStatus
from visits.stays import LOCAL_TZ

logger = logging.getLogger(__name__)

# A search that matches more people than this asks the receptionist to type more.
SEARCH_LIMIT = 30
# A day's log longer than this is cut (the tracer's exports hold the full list).
LOG_LIMIT = 2000


@dataclass(frozen=True)
class DeskRow:
    visit: Visit
    visitor: Visitor
    declaration: Declaration | None

    @property
    def left_before_review(self) -> bool:
        return (self.visit.status == VisitStatus.needs_review
                and self.visit.checked_out_at is not None)


def _rows(session: Session, statement) -> list[DeskRow]:
    return [DeskRow(visit, visitor, declaration)
            for visit, visitor, declaration in session.exec(statement).all()]


def _joined():
    return (select(Visit, Visitor, Declaration)
            .join(Visitor, Visitor.id == Visit.visitor_id)
            .outerjoin(Declaration, Declaration.id == Visit.declaration_id))


def on_site_rows(*, session: Session, venue_id: int) -> list[DeskRow]:
    """Who is inside now, newest first, with what they declared about their visit."""
    return _rows(session, _joined()
                 .where(Visit.venue_id == venue_id, Visit.checked_out_at.is_(None))
                 .order_by(Visit.checked_in_at.desc()))


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The Việt Nam calendar day as a UTC-aware [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def day_log(*, session: Session, venue_id: int, day: date) -> list[DeskRow]:
    """The paper log the directives asked door staff to keep: everyone who came in that day, in
    order, with the time they left."""
    start, end = local_day_bounds(day)
    return _rows(session, _joined()
                 .where(Visit.venue_id == venue_id, Visit.checked_in_at >= start,
                        Visit.checked_in_at < end)
                 .order_by(Visit.checked_in_at, Visit.id)
                 .limit(LOG_LIMIT))


@dataclass(frozen=True)
class DayCounts:
    entries: int      # visits begun that day
    people: int       # different visitors among them
    on_site: int      # open now
    left: int         # of that day's visits, closed
    waiting: int      # flagged, no decision yet


def day_counts(*, session: Session, venue_id: int, day: date) -> DayCounts:
    start, end = local_day_bounds(day)
    that_day = (Visit.venue_id == venue_id, Visit.checked_in_at >= start,
                Visit.checked_in_at < end)
    entries, people, left = session.exec(
        select(sa.func.count(Visit.id), sa.func.count(sa.distinct(Visit.visitor_id)),
               sa.func.count(Visit.checked_out_at)).where(*that_day)).one()
    on_site = session.exec(select(sa.func.count(Visit.id)).where(
        Visit.venue_id == venue_id, Visit.checked_out_at.is_(None))).one()
    waiting = session.exec(select(sa.func.count(Visit.id)).where(
        Visit.venue_id == venue_id, Visit.status == VisitStatus.needs_review)).one()
    return DayCounts(entries=entries, people=people, on_site=on_site, left=left, waiting=waiting)


@dataclass(frozen=True)
class FoundVisitor:
    visitor: Visitor
    last_visit: Visit
    declaration: Declaration | None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_visitors(*, session: Session, venue_id: int, query: str) -> list[FoundVisitor] | None:
    """Visitors who came to this venue, by phone number or by name (any part of each word typed,
    accents optional), most recent first; None when the query is too short to search."""
    query = " ".join((query or "").split())
    if len(query) < 2:
        return None
    digits = "".join(ch for ch in query if ch.isdigit())
    statement = select(Visitor).join(Visit, Visit.visitor_id == Visitor.id).where(
        Visit.venue_id == venue_id)
    if digits and len(digits) >= len(query.replace(" ", "")) - 1:  # a phone number
        phone = check_phone(query, nationality="VN").e164
        if phone is None:
            return []
        statement = statement.where(Visitor.phone_e164 == phone)
    else:
        for word in fold(query).split():
            statement = statement.where(Visitor.name_folded.like(_like(word), escape="\\"))
    visitors = session.exec(statement.distinct().limit(SEARCH_LIMIT)).all()
    found = []
    for visitor in visitors:
        last = session.exec(select(Visit).where(Visit.visitor_id == visitor.id,
                                                Visit.venue_id == venue_id)
                            .order_by(Visit.checked_in_at.desc())).first()
        declaration = session.get(Declaration, last.declaration_id) \
            if last.declaration_id else None
        found.append(FoundVisitor(visitor, last, declaration))
    found.sort(key=lambda f: f.last_visit.checked_in_at, reverse=True)
    return found


class ReprintError(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def reprint_qr(*, session: Session, venue_id: int, visitor_id: int, actor: User,
               keyring: KeyRing, now: datetime) -> tuple[Visitor, Declaration, str]:
    """A new personal QR for a visitor who came to this venue (lost or forgotten phone), for
    their latest declaration; audited with ids only."""
    visitor = session.get(Visitor, visitor_id)
    came_here = visitor is not None and session.exec(
        select(Visit.id).where(Visit.visitor_id == visitor_id, Visit.venue_id == venue_id)
    ).first() is not None
    if not came_here:
        raise ReprintError("unknown_visitor")
    declaration = latest_declaration(session=session, visitor_id=visitor_id)
    if declaration is None:
        raise ReprintError("no_declaration")  # a paper-list row: nothing was declared
    token = issue_token(keyring, visitor=visitor, declaration=declaration, now=now)
    record_audit(session=session, now=now, actor=actor, action="visitor.qr_reprint",
                 target_type="visitor", target_id=visitor.id)
    session.commit()
    logger.info("personal QR reprinted for visitor %s at venue %s", visitor.id, venue_id)
    return visitor, declaration, token


def identity_mismatches(*, session: Session, venue_id: int, day: date) -> list[datetime]:
    """When an ID card scanned at this venue on `day` (Việt Nam time) did not match the record
    of its number (kiosk.services refused it and left an audit entry naming no one)."""
    start, end = local_day_bounds(day)
    return list(session.exec(
        select(AuditEvent.at).where(AuditEvent.action == "identity.mismatch",
                                    AuditEvent.target_type == "venue",
                                    AuditEvent.target_id == str(venue_id),
                                    AuditEvent.at >= start, AuditEvent.at < end)
        .order_by(AuditEvent.at.desc())))


def flagged_rows(*, session: Session, venue_id: int) -> list[DeskRow]:
    """Waiting for a decision, oldest first; one who left before anyone decided stays until
    someone does."""
    return _rows(session, _joined()
                 .where(Visit.venue_id == venue_id, Visit.status == VisitStatus.needs_review)
                 .order_by(Visit.checked_in_at, Visit.id))
