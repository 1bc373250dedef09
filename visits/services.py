"""Visits: opening and closing them. Every path into a visit (a scan at the door, the phone form,
staff, a paper list) goes through here so each records how it was opened and closed, and every
change is published to the venue's screens after it is committed. The phone flow
(declarations) and the door (kiosk) both build on this package; it imports neither."""
from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import lazy_gettext as _l
import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.services import (
    link_encounter_to_visit,
    link_parameters,
    take_strongest_statement,
)
from core.audit import record_audit
from core.db import as_read, new_uid, row_instance
from core.i18n import format_local
from core.models import User, Venue
from visits import events
from visits.models import ClosedBy, OpenedBy, Visit, Visitor, VisitStatus
from visits.stays import auto_checkout_at, latest_overdue_check_in

logger = logging.getLogger(__name__)

# Longest receptionist note kept with a review decision (the column's size).
REVIEW_NOTE_MAX = 500


class VisitError(ValueError):
    """A visit could not be opened or closed; `code` names the reason for the API, the message
    (a lazy string) says it to people."""

    def __init__(self, message, code: str = "visit_error"):
        super().__init__(message)
        self.code = code
        self.message = message


def display_name(visitor: Visitor | None) -> str:
    """Names are shown in capitals, as on the tokhaiyte form ("NGUYỄN VĂN AN")."""
    return visitor.full_name.upper() if visitor is not None else ""


def visit_event(*, session: Session, visit: Visit, action: str) -> tuple[str, dict]:
    """The (venue code, event) a screen shows for a visit change. Built before the commit so the
    after-commit hook does no database work."""
    venue = session.get(Venue, visit.venue_id)
    visitor = session.get(Visitor, visit.visitor_id)
    at = visit.checked_out_at if action == "check_out" else visit.checked_in_at
    return venue.code, {
        "type": "visit",
        "action": action,
        "visit_id": visit.id,
        "status": visit.status,
        "display_name": display_name(visitor),
        "at": at.isoformat(),
        "local_time": format_local(at, "%H:%M"),
        "opened_by": visit.opened_by,
        "closed_by": visit.closed_by,
    }


def publish_visit(session: Session, visit: Visit, action: str) -> None:
    """Show a change of this visit on its venue's screens once the transaction commits."""
    topic, event = visit_event(session=session, visit=visit, action=action)
    events.publish_after_commit(session, topic, event)


def _finish(session: Session, commit: bool) -> None:
    if commit:
        session.commit()
    else:
        session.flush()


_visitor = Visitor.__table__
# PostgreSQL: the visitor's row lock, without writing the row (an UPDATE, even one that changes
# nothing, leaves a dead row version behind and wakes the sync trigger's comparison). FOR NO KEY
# UPDATE is the lock an UPDATE of the row takes: a transaction that has updated the visitor
# (a declaration) already holds it, where asking for the stronger FOR UPDATE would deadlock
# with the transactions queued behind it; and it leaves inserts naming the visitor alone.
_LOCK_VISITOR = (sa.select(_visitor.c.id).where(_visitor.c.id == sa.bindparam("visitor_id"))
                 .with_for_update(key_share=True))
# SQLite: one writer at a time. A write that matches no row takes the writer lock and begins the
# transaction (core.db: BEGIN IMMEDIATE) without touching the visitor (their row changed would
# be captured for forwarding, as if their record had been edited).
_TAKE_WRITER_LOCK = (_visitor.update().where(_visitor.c.id == sa.bindparam("visitor_id"),
                                             sa.false())
                     .values(updated_at=_visitor.c.updated_at))


def lock_visitor(*, session: Session, visitor_id: int) -> None:
    """Serialise check-ins of one visitor (camera and API racing on the same code) before we
    look for an open visit, so two identical scans cannot both open one: the visitor's row lock
    on PostgreSQL, the writer lock on SQLite (all writes wait for it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_VISITOR, {"visitor_id": visitor_id})
    else:
        session.execute(_TAKE_WRITER_LOCK, {"visitor_id": visitor_id})


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


def last_closed_visit(*, session: Session, visitor_id: int, venue_id: int) -> Visit | None:
    return session.exec(
        select(Visit)
        .where(
            Visit.visitor_id == visitor_id,
            Visit.venue_id == venue_id,
            Visit.checked_out_at.is_not(None),
        )
        .order_by(Visit.checked_out_at.desc())
    ).first()


def _stay_statement():
    """A Core statement (the rows are attached as read by stay_at): the ORM's own execution
    costs a scan more than the read itself."""
    table = Visit.__table__
    closed = table.alias("closed")
    last_closed = (
        sa.select(closed.c.id)
        .where(closed.c.visitor_id == sa.bindparam("visitor_id"),
               closed.c.venue_id == sa.bindparam("venue_id"),
               closed.c.checked_out_at.is_not(None))
        .order_by(closed.c.checked_out_at.desc())
        .limit(1).scalar_subquery()
    )
    return (
        sa.select(table)
        .where(table.c.visitor_id == sa.bindparam("visitor_id"),
               table.c.venue_id == sa.bindparam("venue_id"),
               sa.or_(table.c.checked_out_at.is_(None), table.c.id == last_closed))
        .order_by(table.c.checked_in_at.desc())
    )


# Built once: the door runs these on every scan, only the parameters change.
_STAY = _stay_statement()
_OPENED_COLUMNS = ("uid", "visitor_id", "venue_id", "kiosk_id", "declaration_id",
                   "checked_in_at", "opened_by", "status")


# Why not a partial unique index on open visits (visitor_id, venue_id WHERE checked_out_at IS
# NULL) instead of the lock: the central server keeps each door's open visit of a multi-door
# venue until sync/doors.py merges them (one visitor, one venue, two open visits for a while),
# so the index would refuse a door's batch; with the door in the key, check-ins without a
# device (kiosk_id NULL) escape it, and a database already holding such pairs could not be
# upgraded. The visitor's row lock serialises their check-ins on every database instead.
def _open_unless_inside_statement():
    table = Visit.__table__
    inside = table.alias("inside")
    source = sa.select(
        *(sa.bindparam(f"p_{name}", type_=table.c[name].type).label(name)
          for name in _OPENED_COLUMNS)
    ).where(~sa.exists(
        sa.select(inside.c.id).where(inside.c.visitor_id == sa.bindparam("p_visitor_id"),
                                     inside.c.venue_id == sa.bindparam("p_venue_id"),
                                     inside.c.checked_out_at.is_(None))))
    return sa.insert(table).from_select(list(_OPENED_COLUMNS), source).returning(table.c.id)


_OPEN_UNLESS_INSIDE = _open_unless_inside_statement()
_UNSET_AT_OPENING = {column.key: None for column in Visit.__table__.columns
                     if column.key not in _OPENED_COLUMNS and column.key != "id"}


def _open_and_link_statement(with_kiosk: bool):
    """PostgreSQL: the check-in and its phone link in one round trip. The INSERT of
    _OPEN_UNLESS_INSIDE and ble_beacon's take of the strongest phone heard, as two
    data-modifying CTEs of one statement; the take runs only when the visit was opened. Returns
    (visit id or NULL, linked encounter id or NULL)."""
    opened = _open_unless_inside_statement().cte("opened")
    take = take_strongest_statement(with_kiosk, sa.select(opened.c.id).scalar_subquery())
    take = take.where(sa.exists(sa.select(opened.c.id)))
    linked = take.cte("linked")
    return sa.select(sa.select(opened.c.id).scalar_subquery().label("visit_id"),
                     sa.select(linked.c.id).scalar_subquery().label("encounter_id"))


_OPEN_AND_LINK = {False: _open_and_link_statement(False), True: _open_and_link_statement(True)}


def stay_at(*, session: Session, visitor_id: int, venue_id: int
            ) -> tuple[Visit | None, Visit | None]:
    """(open visit, last closed visit) of the visitor at this venue in one statement: what
    current_visit and last_closed_visit would answer (the last closed one only matters when no
    visit is open, as a scan needs it)."""
    rows = [as_read(session, Visit, dict(row)) for row in session.execute(
        _STAY, {"visitor_id": visitor_id, "venue_id": venue_id}).mappings()]
    inside = next((v for v in rows if v.checked_out_at is None), None)
    last = None if inside is not None else next(
        (v for v in rows if v.checked_out_at is not None), None)
    return inside, last


def open_visit_unless_inside(
    *,
    session: Session,
    visitor_id: int,
    venue_id: int,
    now: datetime,
    opened_by: OpenedBy | str,
    kiosk_id: int | None = None,
    declaration_id: int | None = None,
    status: VisitStatus | str = VisitStatus.clear,
    lock: bool = True,
    link_phone: bool = True,
) -> Visit | None:
    """open_visit for the hot paths, in few statements: the visitor's lock (PostgreSQL; on
    SQLite the INSERT waits for the one writer's lock), then one `INSERT … SELECT … WHERE NOT
    EXISTS` (an open visit at the venue) that returns the new id, then the phone link (on
    PostgreSQL in the same statement as the INSERT). None (nothing written) when the visitor is
    inside after all: a concurrent scan opened their visit since the caller looked. The caller
    commits; the screens hear of the visit once it does. The capture triggers of sync/ see the
    row as any other. `lock=False`: the caller holds the visitor's lock already (or made the
    visitor in this transaction); `link_phone=False`: no phone heard at the door belongs to this
    check-in."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if lock and postgresql:  # on SQLite the INSERT itself waits for the one writer's lock
        lock_visitor(session=session, visitor_id=visitor_id)
    values = opening_values(visitor_id=visitor_id, venue_id=venue_id, now=now,
                            opened_by=opened_by, kiosk_id=kiosk_id,
                            declaration_id=declaration_id, status=status)
    parameters = {f"p_{name}": value for name, value in values.items()}
    if link_phone and postgresql:
        visit_id, encounter_id = session.execute(
            _OPEN_AND_LINK[kiosk_id is not None],
            {**parameters, **link_parameters(venue_id=venue_id, kiosk_id=kiosk_id, now=now)},
        ).one()
        app_detected = encounter_id is not None
        if app_detected:
            logger.info("visit %s: phone detected (encounter %s)", visit_id, encounter_id)
    else:
        visit_id = session.execute(_OPEN_UNLESS_INSIDE, parameters).scalar_one_or_none()
        app_detected = visit_id is not None and link_phone and link_encounter_to_visit(
            session=session, visit_id=visit_id, venue_id=venue_id, kiosk_id=kiosk_id, now=now,
            commit=False, new_visit=True) is not None
    if visit_id is None:
        return None
    return opened(session=session, visit_id=visit_id, values=values, app_detected=app_detected)


def opening_values(*, visitor_id: int | None, venue_id: int, now: datetime,
                   opened_by: OpenedBy | str, kiosk_id: int | None, declaration_id: int | None,
                   status: VisitStatus | str) -> dict:
    """The columns of a visit being opened (the others are NULL until it closes or is
    reviewed): what an INSERT of the hot paths sends."""
    return {"uid": new_uid(), "visitor_id": visitor_id, "venue_id": venue_id,
            "kiosk_id": kiosk_id, "declaration_id": declaration_id, "checked_in_at": now,
            "opened_by": OpenedBy(opened_by).value, "status": VisitStatus(status).value}


def opened(*, session: Session, visit_id: int, values: dict, app_detected: bool) -> Visit:
    """A visit an INSERT of the hot paths just opened (`values`: opening_values): the row as
    stored, without reading it back, and its check-in on the screens once the caller commits."""
    # The columns not given are NULL: no column of a new visit has a default (closed_by,
    # checked_out_at, reviewed_* come later).
    visit = row_instance(Visit, {**_UNSET_AT_OPENING, **values, "id": visit_id})
    topic, event = visit_event(session=session, visit=visit, action="check_in")
    events.publish_after_commit(session, topic, {**event, "app_detected": app_detected})
    logger.info("visit %s opened (%s, %s)", visit_id, visit.opened_by, visit.status)
    return visit


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
    declaration that led to it); the screens hear of it only once that commit happens."""
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
    session.flush()
    if visit.opened_by != OpenedBy.import_:  # a paper list is history: nobody is at the door
        # The strongest contact-tracing phone heard at the door just now ("Bluezone detected").
        app_detected = link_encounter_to_visit(
            session=session, visit_id=visit.id, venue_id=venue_id, kiosk_id=kiosk_id, now=now,
            commit=False, new_visit=True) is not None
        topic, event = visit_event(session=session, visit=visit, action="check_in")
        events.publish_after_commit(session, topic, {**event, "app_detected": app_detected})
    _finish(session, commit)
    logger.info("visit %s opened (%s, %s)", visit.id, visit.opened_by, visit.status)
    return visit


def close_visit(
    *, session: Session, visit: Visit, now: datetime, closed_by: ClosedBy | str,
    commit: bool = True,
) -> Visit:
    if visit.checked_out_at is not None:
        raise VisitError(_l("This visit is already closed."), "visit_closed")
    visit.checked_out_at = max(now, visit.checked_in_at)
    visit.closed_by = ClosedBy(closed_by).value
    session.add(visit)
    session.flush()
    if visit.opened_by != OpenedBy.import_:
        publish_visit(session, visit, "check_out")
    _finish(session, commit)
    logger.info("visit %s closed (%s)", visit.id, visit.closed_by)
    return visit


def get_open_visit_at(*, session: Session, visit_id: int, venue_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None or visit.venue_id != venue_id:
        raise VisitError(_l("No such visit at this venue."), "unknown_visit")
    if visit.checked_out_at is not None:
        raise VisitError(_l("This visit is already closed."), "visit_closed")
    return visit


def check_out_by_staff(*, session: Session, visit_id: int, venue_id: int, now: datetime) -> Visit:
    """A receptionist checks one visitor out from the "on site now" list."""
    visit = get_open_visit_at(session=session, visit_id=visit_id, venue_id=venue_id)
    return close_visit(session=session, visit=visit, now=now, closed_by=ClosedBy.staff)


def close_all(*, session: Session, venue_id: int, now: datetime, actor: User) -> int:
    """End of the day: close every open visit at the venue in one unit of work (audited)."""
    visits = list(
        session.exec(
            select(Visit).where(Visit.venue_id == venue_id, Visit.checked_out_at.is_(None))
        )
    )
    for visit in visits:
        close_visit(session=session, visit=visit, now=now, closed_by=ClosedBy.close_all,
                    commit=False)
    record_audit(session=session, now=now, actor=actor, action="visits.close_all",
                 target_type="venue", target_id=venue_id, row_count=len(visits))
    session.commit()
    logger.info("venue %s: %d visits closed by close-all", venue_id, len(visits))
    return len(visits)


# Venues per statement of the automatic check-out (a central server has hundreds).
_OVERDUE_VENUES_PER_QUERY = 200


def close_overdue_visits(*, session: Session, now: datetime, default_max_stay_min: int) -> int:
    """Automatic check-out: close every open visit whose venue closing time or maximum stay has
    passed, recording the moment it was due rather than the moment this job noticed.

    Only visits that can be due are read: for each venue with someone inside, the visits that
    began at or before its latest_overdue_check_in (a range of ix_visit_venue_stay); each is
    then held to auto_checkout_at. The job runs every minute beside the door's requests: reading
    every open visit (15,000 after a busy day) held the interpreter for a quarter of a second,
    and every check-in and declaration then waited that long (bench, declaration open loop)."""
    venue_ids = session.exec(
        select(Visit.venue_id).where(Visit.checked_out_at.is_(None)).distinct()).all()
    venues = {venue.id: venue for venue in session.exec(
        select(Venue).where(Venue.id.in_(venue_ids))).all()} if venue_ids else {}
    bounds = [
        sa.and_(Visit.venue_id == venue.id, Visit.checked_in_at <= latest_overdue_check_in(
            now, closing_time=venue.closing_time, max_stay_min=venue.max_stay_min,
            default_max_stay_min=default_max_stay_min))
        for venue in venues.values()
    ]
    closed = 0
    for start in range(0, len(bounds), _OVERDUE_VENUES_PER_QUERY):
        visits = session.exec(
            select(Visit).where(Visit.checked_out_at.is_(None),
                                sa.or_(*bounds[start:start + _OVERDUE_VENUES_PER_QUERY]))
        ).all()
        for visit in visits:
            venue = venues[visit.venue_id]
            due = auto_checkout_at(
                visit.checked_in_at,
                closing_time=venue.closing_time,
                max_stay_min=venue.max_stay_min,
                default_max_stay_min=default_max_stay_min,
            )
            if due <= now:
                close_visit(session=session, visit=visit, now=due, closed_by=ClosedBy.automatic,
                            commit=False)
                closed += 1
    session.commit()
    if closed:
        logger.info("automatic check-out closed %d visits", closed)
    return closed


def on_site(*, session: Session, venue_id: int) -> list[tuple[Visit, Visitor]]:
    """Who is inside now, newest first."""
    return list(
        session.exec(
            select(Visit, Visitor)
            .join(Visitor, Visitor.id == Visit.visitor_id)
            .where(Visit.venue_id == venue_id, Visit.checked_out_at.is_(None))
            .order_by(Visit.checked_in_at.desc())
        ).all()
    )


def review_visit(
    *, session: Session, visit_id: int, venue_id: int, admit: bool, note: str | None,
    actor: User, now: datetime,
) -> Visit:
    """A receptionist admits a flagged visitor or turns them away; both are audited. Turning away
    also closes the visit (they did not stay). A visitor who left before anyone decided is
    still decided on (the decision is what the record keeps); their visit stays as it closed."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.venue_id != venue_id:
        raise VisitError(_l("No such visit at this venue."), "unknown_visit")
    if visit.status != VisitStatus.needs_review:
        raise VisitError(_l("This visitor is not waiting for a decision."), "not_flagged")
    note = " ".join((note or "").split()) or None
    if note is not None and len(note) > REVIEW_NOTE_MAX:
        raise VisitError(
            _l("The note is too long (at most %(n)d characters).", n=REVIEW_NOTE_MAX),
            "note_too_long",
        )
    visit.status = VisitStatus.admitted if admit else VisitStatus.turned_away
    visit.review_note = note
    visit.reviewed_by_id = actor.id
    visit.reviewed_at = now
    session.add(visit)
    # The note may name people or symptoms: it stays on the visit, the audit trail says only
    # who decided what and whether a note was written.
    record_audit(session=session, now=now, actor=actor,
                 action="visit.admit" if admit else "visit.turn_away",
                 target_type="visit", target_id=visit.id,
                 details={"with_note": note is not None})
    if visit.checked_out_at is not None:
        session.flush()
        publish_visit(session, visit, "reviewed")  # the desks refresh; the door shows no card
        session.commit()
    elif admit:
        session.flush()
        publish_visit(session, visit, "admitted")
        session.commit()
    else:
        close_visit(session=session, visit=visit, now=now, closed_by=ClosedBy.staff, commit=False)
        session.commit()
    logger.info("visit %s reviewed: %s", visit.id, visit.status)
    return visit
