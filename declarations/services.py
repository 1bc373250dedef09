"""Declaration services: submit (visitor + declaration + check-in, one transaction), re-confirm a
stale declaration, recognise a personal QR token, and check in with one. Each takes a keyword-only
`session` and an explicit `now`, and commits its own unit of work (or nothing at all)."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, select

from core.db import as_read, new_row
from core.models import Venue
from declarations.messages import Problem, problem
from declarations.models import Declaration, DeclarationSource
from declarations.rules import DEFAULT_RULES, TriageDecision, TriageRules, triage
from declarations.schema import CleanDeclaration
from declarations.tokens import NEEDS_REVIEW, KeyRing, TokenClaims, TokenError
from notices.models import DoorNotice, ExposureNotice
from visits.models import OpenedBy, Visit, Visitor, VisitorTombstone, VisitStatus
from visits.services import (
    current_visit,
    lock_visitor,
    open_visit_unless_inside,
    opened,
    opening_values,
)

logger = logging.getLogger(__name__)

_VISITOR_FIELDS = ("full_name", "name_folded", "birth_year", "gender", "nationality", "id_number",
                   "id_type", "phone_e164", "email", "province_code", "province_name", "ward_code",
                   "ward_name", "street_address")


@dataclass(frozen=True)
class SubmitResult:
    visitor: Visitor
    declaration: Declaration
    visit: Visit
    decision: TriageDecision
    token: str


class DeclarationError(ValueError):
    """The declaration cannot be taken as asked; `problem` says why in both languages."""

    def __init__(self, problem_: Problem):
        super().__init__(problem_.code)
        self.problem = problem_


def _same_person(visitor: Visitor, clean: CleanDeclaration) -> bool:
    """Same folded name and the same phone or ID number. A phone shared in a family must not
    merge two people into one record (tracing would then call the wrong person)."""
    if visitor.name_folded != clean.name_folded:
        return False
    return bool((clean.phone_e164 and visitor.phone_e164 == clean.phone_e164)
                or (clean.id_number and visitor.id_number == clean.id_number))


def _find_visitor(session: Session, clean: CleanDeclaration, *, remembered_id: int | None,
                  declarant: Visitor | None) -> Visitor | None:
    """The record this declaration updates, or None for a new one. Only a browser that holds the
    record (its remember-me cookie, or the declarant's own page for a dependant) reaches it:
    knowing a person's name and phone or ID number never finds, changes or unlocks their record.
    A declaration from an unrecognised browser is stored apart, as a record of its own; tracing
    still finds both by phone or ID number (README "Who a declaration belongs to")."""
    if declarant is not None:
        return session.exec(
            select(Visitor).where(Visitor.declarant_id == declarant.id,
                                  Visitor.name_folded == clean.name_folded,
                                  Visitor.birth_year == clean.birth_year)
        ).first()
    if remembered_id is not None:
        remembered = session.get(Visitor, remembered_id)
        if remembered is not None and remembered.declarant_id is None \
                and _same_person(remembered, clean):
            return remembered
    return None


# The same submission again within this long (a double tap, a retry after a timeout, a burst of
# identical requests) is the declaration already made, not another person or another visit.
DUPLICATE_WINDOW = timedelta(minutes=5)


def submission_key(clean: CleanDeclaration, *, venue: Venue, remembered_id: int | None,
                   declarant_id: int | None) -> str:
    """SHA-256 of everything submitted (but the consent's timestamp, which is the request's own
    instant), the venue and the record the browser holds, if any."""
    fields = {name: value for name, value in dataclasses.asdict(clean).items()
              if name != "consent_at"}
    text = json.dumps({"v": 1, "venue": venue.id, "remembered": remembered_id,
                       "declarant": declarant_id, "fields": fields},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_TAKE_WRITER_LOCK = (Declaration.__table__.update().where(sa.false())
                     .values(id=Declaration.__table__.c.id))


def _serialise_submission(session: Session, key: str) -> None:
    """Submissions with the same key, one at a time, whatever process or thread they reach:
    PostgreSQL takes an advisory lock on the key for the transaction; SQLite takes its write
    lock (a write that changes nothing starts the transaction as a writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK, {"key": int(key[:15], 16)})
    else:
        session.execute(_TAKE_WRITER_LOCK)


_REPEAT_OF = (
    sa.select(Declaration.id)
    .where(Declaration.submission_key == sa.bindparam("key"),
           Declaration.submitted_at >= sa.bindparam("since", type_=Declaration.submitted_at.type),
           Declaration.submitted_at <= sa.bindparam("until", type_=Declaration.submitted_at.type))
    .order_by(Declaration.id.desc()).limit(1)
)


def _repeat_of(session: Session, key: str, *, now: datetime, keyring: KeyRing,
               venue: Venue) -> SubmitResult | None:
    """The declaration this same submission already made a moment ago, as its result. Almost
    always there is none: only its id is looked for, the row read when there is one."""
    previous_id = session.execute(_REPEAT_OF, {
        "key": key, "since": now - DUPLICATE_WINDOW, "until": now + DUPLICATE_WINDOW,
    }).scalar()
    if previous_id is None:
        return None
    previous = session.get(Declaration, previous_id)
    visitor = session.get(Visitor, previous.visitor_id)
    visit = session.exec(select(Visit).where(Visit.declaration_id == previous.id)
                         .order_by(Visit.checked_in_at.desc())).first() \
        or current_visit(session=session, visitor_id=visitor.id, venue_id=venue.id)
    if visit is None:
        return None
    session.commit()  # nothing written: ends the transaction and its lock
    token = issue_token(keyring, visitor=visitor, declaration=previous, now=now)
    logger.info("declaration %s submitted again: the same one returned (visit %s)", previous.id,
                visit.id)
    return SubmitResult(visitor, previous, visit,
                        TriageDecision(previous.status, (), previous.rules_version), token)


def _attach_visit(session: Session, *, visitor: Visitor, venue: Venue, declaration: Declaration,
                  now: datetime, opened_by: OpenedBy | str, kiosk_id: int | None,
                  new_visitor: bool = False) -> Visit:
    """Check in, or, when already checked in here, let the open visit follow the new answers.
    The visitor's row lock first: two declarations of one person at once open one visit. A
    visitor made in this transaction has no visit yet and no one else can see their row: no
    lock, no look. A phone-form check-in links no phone heard at the door: the form says nothing
    of where its phone stands, and a phone taken here is missing from the scan beside it."""
    if not new_visitor:
        lock_visitor(session=session, visitor_id=visitor.id)
        visit = current_visit(session=session, visitor_id=visitor.id, venue_id=venue.id)
        if visit is not None:
            visit.declaration_id = declaration.id
            visit.status = VisitStatus(declaration.status).value
            session.add(visit)
            session.flush()
            return visit
    visit = open_visit_unless_inside(
        session=session, visitor_id=visitor.id, venue_id=venue.id, now=now, opened_by=opened_by,
        kiosk_id=kiosk_id, declaration_id=declaration.id, status=declaration.status, lock=False,
        link_phone=OpenedBy(opened_by) != OpenedBy.phone_form)
    if visit is None:  # not possible under the lock; say so rather than answer without a visit
        raise RuntimeError(f"visitor {visitor.id}: a visit opened at venue {venue.id} under "
                           f"their lock")
    return visit


_VISITOR_COLUMNS = tuple(c.key for c in Visitor.__table__.columns if c.key != "id")
_DECLARATION_COLUMNS = tuple(c.key for c in Declaration.__table__.columns
                             if c.key not in ("id", "visitor_id"))
_VISIT_COLUMNS = ("uid", "venue_id", "kiosk_id", "checked_in_at", "opened_by", "status")


def _bound(table: sa.Table, prefix: str, names) -> list:
    return [sa.bindparam(f"{prefix}{name}", type_=table.c[name].type).label(name)
            for name in names]


def _first_declaration_statement():
    """PostgreSQL: a new person's visitor, declaration and check-in in one round trip (three
    data-modifying CTEs, each INSERT taking the id the one before returned)."""
    visitors, declarations, visits = (Visitor.__table__, Declaration.__table__, Visit.__table__)
    visitor = (sa.insert(visitors)
               .from_select(list(_VISITOR_COLUMNS),
                            sa.select(*_bound(visitors, "v_", _VISITOR_COLUMNS)))
               .returning(visitors.c.id).cte("new_visitor"))
    declaration = (sa.insert(declarations)
                   .from_select(["visitor_id", *_DECLARATION_COLUMNS],
                                sa.select(visitor.c.id,
                                          *_bound(declarations, "d_", _DECLARATION_COLUMNS)))
                   .returning(declarations.c.id).cte("new_declaration"))
    visit = (sa.insert(visits)
             .from_select(["visitor_id", "declaration_id", *_VISIT_COLUMNS],
                          sa.select(visitor.c.id, declaration.c.id,
                                    *_bound(visits, "s_", _VISIT_COLUMNS))
                          .select_from(visitor.join(declaration, sa.true())))
             .returning(visits.c.id).cte("new_visit"))
    return (sa.select(visitor.c.id, declaration.c.id, visit.c.id)
            .select_from(visitor.join(declaration, sa.true()).join(visit, sa.true())))


_FIRST_DECLARATION = _first_declaration_statement()
_INSERT = {model: sa.insert(model.__table__).returning(model.__table__.c.id)
           for model in (Visitor, Declaration, Visit)}


def _as_loaded(session: Session, instance, row_id: int) -> None:
    """An object just INSERTed with plain SQL joins the session as if it had been read."""
    instance.id = row_id
    make_transient_to_detached(instance)
    session.add(instance)


def _store_first(session: Session, *, visitor: Visitor, declaration: Declaration, venue: Venue,
                 now: datetime, opened_by: OpenedBy | str, kiosk_id: int | None) -> Visit:
    """A new person's visitor, declaration and check-in as plain INSERTs (one statement on
    PostgreSQL, three on SQLite), without the ORM's unit of work; `visitor` and `declaration`
    (built, not added) then join the session as if read. Nobody else can see the visitor yet:
    no lock, no open visit to look for. Only for a phone-form check-in, which links no phone."""
    visitor_values = {name: getattr(visitor, name) for name in _VISITOR_COLUMNS}
    declaration_values = {name: getattr(declaration, name) for name in _DECLARATION_COLUMNS}
    visit_values = opening_values(visitor_id=None, venue_id=venue.id, now=now,
                                  opened_by=opened_by, kiosk_id=kiosk_id, declaration_id=None,
                                  status=declaration.status)
    if session.get_bind().dialect.name == "postgresql":
        visitor_id, declaration_id, visit_id = session.execute(_FIRST_DECLARATION, {
            **{f"v_{k}": v for k, v in visitor_values.items()},
            **{f"d_{k}": v for k, v in declaration_values.items()},
            **{f"s_{k}": visit_values[k] for k in _VISIT_COLUMNS},
        }).one()
    else:
        visitor_id = session.execute(_INSERT[Visitor], visitor_values).scalar_one()
        declaration_id = session.execute(
            _INSERT[Declaration], {**declaration_values, "visitor_id": visitor_id}).scalar_one()
        visit_id = session.execute(_INSERT[Visit], {
            **visit_values, "visitor_id": visitor_id, "declaration_id": declaration_id,
        }).scalar_one()
    visit_values.update(visitor_id=visitor_id, declaration_id=declaration_id)
    declaration.visitor_id = visitor_id
    _as_loaded(session, visitor, visitor_id)
    _as_loaded(session, declaration, declaration_id)
    return opened(session=session, visit_id=visit_id, values=visit_values, app_detected=False)


def submit_declaration(*, session: Session, clean: CleanDeclaration, venue: Venue, now: datetime,
                       keyring: KeyRing, rules: TriageRules = DEFAULT_RULES,
                       source: DeclarationSource | str = DeclarationSource.phone_form,
                       opened_by: OpenedBy | str = OpenedBy.phone_form,
                       remembered_visitor_id: int | None = None,
                       declarant: Visitor | None = None,
                       kiosk_id: int | None = None) -> SubmitResult:
    """Store the visitor (new, or the same person as last time), the declaration with its triage
    decision, and a check-in at `venue`, in one transaction; then issue the personal QR token.
    A dependant (`declarant` given) is linked to the person who declared for them."""
    key = submission_key(clean, venue=venue, remembered_id=remembered_visitor_id,
                         declarant_id=declarant.id if declarant is not None else None)
    try:
        _serialise_submission(session, key)
        repeat = _repeat_of(session, key, now=now, keyring=keyring, venue=venue)
        if repeat is not None:
            return repeat
        visitor = _find_visitor(session, clean, remembered_id=remembered_visitor_id,
                                declarant=declarant)
        new_visitor = visitor is None
        # A new person checking in from the phone form: three plain INSERTs (one statement on
        # PostgreSQL) instead of the ORM's flushes. Anyone else goes through the session.
        first = new_visitor and OpenedBy(opened_by) == OpenedBy.phone_form
        if first:
            visitor = new_row(Visitor, created_at=now, updated_at=now,
                              declarant_id=declarant.id if declarant else None,
                              **{name: getattr(clean, name) for name in _VISITOR_FIELDS})
        else:
            if new_visitor:
                visitor = Visitor(full_name=clean.full_name, name_folded=clean.name_folded,
                                  created_at=now,
                                  declarant_id=declarant.id if declarant else None)
            for name in _VISITOR_FIELDS:
                setattr(visitor, name, getattr(clean, name))
            visitor.updated_at = now
            session.add(visitor)
            session.flush()
        decision = triage(clean, rules)
        declaration = (functools.partial(new_row, Declaration) if first else Declaration)(
            visitor_id=visitor.id, venue_id=venue.id, submitted_at=now, lang=clean.lang,
            source=DeclarationSource(source).value,
            travel_14d=clean.travel_14d, travel_places=clean.travel_places,
            symptoms=list(clean.symptoms), exposures=list(clean.exposures),
            conditions=list(clean.conditions) if clean.conditions is not None else None,
            tracing_apps=list(clean.tracing_apps) if clean.tracing_apps is not None else None,
            visitor_company=clean.visitor_company, host_name=clean.host_name,
            host_department=clean.host_department, visit_purpose=clean.visit_purpose,
            visit_purpose_note=clean.visit_purpose_note,
            body_temperature_c=clean.body_temperature_c,
            declared_for_other=clean.declared_for_other or declarant is not None,
            status=decision.status, rules_version=decision.rules_version,
            consent_processing=clean.consent_processing,
            consent_sensitive_health=clean.consent_sensitive_health,
            consent_text_version=clean.consent_text_version, consent_at=clean.consent_at,
            submission_key=key,
        )
        if first:
            visit = _store_first(session, visitor=visitor, declaration=declaration, venue=venue,
                                 now=now, opened_by=opened_by, kiosk_id=kiosk_id)
        else:
            session.add(declaration)
            session.flush()
            visit = _attach_visit(session, visitor=visitor, venue=venue,
                                  declaration=declaration, now=now, opened_by=opened_by,
                                  kiosk_id=kiosk_id, new_visitor=new_visitor)
        session.commit()
    except Exception:
        session.rollback()
        raise
    token = issue_token(keyring, visitor=visitor, declaration=declaration, now=now)
    logger.info("declaration %s stored for visitor %s at venue %s: %s (visit %s)",
                declaration.id, visitor.id, venue.id, decision.status, visit.id)
    return SubmitResult(visitor, declaration, visit, decision, token)


def issue_token(keyring: KeyRing, *, visitor: Visitor, declaration: Declaration,
                now: datetime) -> str:
    """The personal QR code of `visitor` with `declaration` (their latest): it names the visitor's
    global identity and says when the declaration was made and whether it was flagged."""
    return keyring.issue(visitor_uid=visitor.uid, declared_at=declaration.submitted_at,
                         flagged=declaration.status == NEEDS_REVIEW, now=now)


def latest_declaration(*, session: Session, visitor_id: int) -> Declaration | None:
    return session.exec(
        select(Declaration).where(Declaration.visitor_id == visitor_id)
        .order_by(Declaration.submitted_at.desc(), Declaration.id.desc())
    ).first()


def is_fresh(declaration: Declaration, *, now: datetime, fresh_for: timedelta) -> bool:
    return now - declaration.submitted_at < fresh_for


def reconfirm_declaration(*, session: Session, previous: Declaration, venue: Venue, now: datetime,
                          keyring: KeyRing, consent_version: str,
                          rules: TriageRules = DEFAULT_RULES,
                          body_temperature_c: float | None = None,
                          opened_by: OpenedBy | str = OpenedBy.phone_form,
                          kiosk_id: int | None = None) -> SubmitResult:
    """"Nothing has changed since …": a new declaration with the previous answers, triaged again
    under today's rules, and a check-in. A temperature is never carried over (it is measured
    now or not at all). Consent carries over (it lasts until withdrawn) unless its text changed,
    which needs the full form."""
    if previous.consent_text_version != consent_version:
        raise DeclarationError(problem("consent_changed"))
    visitor = session.get(Visitor, previous.visitor_id)
    answers = _Answers(previous.symptoms or [], previous.exposures or [], previous.travel_14d,
                       body_temperature_c)
    decision = triage(answers, rules)
    try:
        declaration = Declaration(
            visitor_id=visitor.id, venue_id=venue.id, submitted_at=now, lang=previous.lang,
            source=DeclarationSource.reconfirmation.value,
            travel_14d=previous.travel_14d, travel_places=previous.travel_places,
            symptoms=list(previous.symptoms or []), exposures=list(previous.exposures or []),
            conditions=previous.conditions, tracing_apps=previous.tracing_apps,
            visitor_company=previous.visitor_company,
            host_name=previous.host_name, host_department=previous.host_department,
            visit_purpose=previous.visit_purpose, visit_purpose_note=previous.visit_purpose_note,
            body_temperature_c=body_temperature_c, declared_for_other=previous.declared_for_other,
            status=decision.status, rules_version=decision.rules_version,
            consent_processing=previous.consent_processing,
            consent_sensitive_health=previous.consent_sensitive_health,
            consent_text_version=previous.consent_text_version, consent_at=previous.consent_at,
            previous_declaration_id=previous.id,
        )
        session.add(declaration)
        session.flush()
        visit = _attach_visit(session, visitor=visitor, venue=venue, declaration=declaration,
                              now=now, opened_by=opened_by, kiosk_id=kiosk_id)
        session.commit()
    except Exception:
        session.rollback()
        raise
    token = issue_token(keyring, visitor=visitor, declaration=declaration, now=now)
    logger.info("declaration %s re-confirms %s for visitor %s: %s (visit %s)", declaration.id,
                previous.id, visitor.id, decision.status, visit.id)
    return SubmitResult(visitor, declaration, visit, decision, token)


def check_in_declared(*, session: Session, declaration: Declaration, venue: Venue, now: datetime,
                      keyring: KeyRing, opened_by: OpenedBy | str = OpenedBy.phone_form,
                      kiosk_id: int | None = None) -> SubmitResult:
    """A returning visitor whose declaration is still fresh: check in with it, nothing new to
    declare."""
    visitor = session.get(Visitor, declaration.visitor_id)
    try:
        visit = _attach_visit(session, visitor=visitor, venue=venue, declaration=declaration,
                              now=now, opened_by=opened_by, kiosk_id=kiosk_id)
        session.commit()
    except Exception:
        session.rollback()
        raise
    token = issue_token(keyring, visitor=visitor, declaration=declaration, now=now)
    decision = TriageDecision(declaration.status, (), declaration.rules_version)
    logger.info("visitor %s checked in at venue %s with declaration %s (visit %s)", visitor.id,
                venue.id, declaration.id, visit.id)
    return SubmitResult(visitor, declaration, visit, decision, token)


@dataclass(frozen=True)
class _Answers:
    symptoms: list
    exposures: list
    travel_14d: bool
    body_temperature_c: float | None


# ---------------------------------------------------------------------------------------------
# Personal QR tokens at the door

class TokenRejected(ValueError):
    """A scanned personal code is refused; `reason` is a TokenError reason or "unknown_visitor" /
    "revoked", `problem` the bilingual message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
        self.problem = problem(f"token_{reason}")


@dataclass(frozen=True)
class DeclarationState:
    """The newest declaration a server knows of for a visitor: its own row, or what a personal
    code says of one made elsewhere (another door, the central server's phone form)."""

    declared_at: datetime
    status: str
    declaration_id: int | None  # this server's row, when it has the newest one


def declaration_state(*, session: Session, visitor_id: int,
                      claims: TokenClaims | None = None) -> DeclarationState | None:
    """The rule of the door: apply the newest declaration known, this server's latest for the
    visitor or the one the scanned code describes (None: neither)."""
    latest = latest_declaration(session=session, visitor_id=visitor_id)
    return _newest_known(None if latest is None else
                         (latest.id, latest.submitted_at, latest.status), claims)


def _newest_known(latest: tuple[int, datetime, str] | None,
                  claims: TokenClaims | None) -> DeclarationState | None:
    """`latest`: (id, submitted_at, status) of this server's latest declaration of the visitor."""
    # A code's time is rounded to the minute, never later than it was: a row at or after it is
    # that declaration or a newer one.
    if latest is not None and (claims is None or latest[1] >= claims.declared_at):
        return DeclarationState(latest[1], latest[2], latest[0])
    if claims is not None:
        return DeclarationState(claims.declared_at, claims.declaration_status, None)
    return None


def _visitor_with_latest_declaration_statement():
    """Core throughout (tables, not ORM attributes): the visitor's row is attached as read
    (core.db.as_read) for less than the ORM's own execution costs."""
    visitor, declaration = Visitor.__table__, Declaration.__table__
    exposure, door = ExposureNotice.__table__, DoorNotice.__table__
    latest = (
        sa.select(declaration.c.id).where(declaration.c.visitor_id == visitor.c.id)
        .order_by(declaration.c.submitted_at.desc(), declaration.c.id.desc())
        .limit(1).correlate(visitor).scalar_subquery()
    )
    # Whether an exposure notice waits to be shown at a kiosk: the door asks after the check-in
    # only when one does (declarations never show it; the door, above them, does).
    notice_waiting = sa.or_(
        sa.exists(sa.select(exposure.c.id).where(
            exposure.c.visitor_id == visitor.c.id, exposure.c.seen_at_kiosk_at.is_(None))
            .correlate(visitor)),
        # On a kiosk of an installation: one the central server sent down (notices/doors.py).
        sa.exists(sa.select(door.c.notice_id).where(
            door.c.visitor_uid == visitor.c.uid, door.c.seen_at.is_(None))
            .correlate(visitor))).label("notice_waiting")
    # Of the declaration, what the door decides on (the whole row is never needed at a scan).
    return (sa.select(*visitor.c, declaration.c.id.label("declaration_id"),
                      declaration.c.submitted_at.label("declaration_at"),
                      declaration.c.status.label("declaration_status"), notice_waiting)
            .select_from(visitor)
            .outerjoin(declaration, declaration.c.id == latest)
            .where(visitor.c.uid == sa.bindparam("uid")))


# Built once: every scan of a personal code runs it.
_VISITOR_WITH_LATEST = _visitor_with_latest_declaration_statement()
# PostgreSQL, for a door about to check the visitor in: the same read takes the visitor's row
# lock (visits.services.lock_visitor) and saves its own round trip.
_VISITOR_WITH_LATEST_LOCKED = _VISITOR_WITH_LATEST.with_for_update(of=Visitor.__table__,
                                                                    key_share=True)
_VISITOR_COLUMNS = tuple(Visitor.__table__.c.keys())


def _visitor_with_latest_declaration(
        session: Session, uid: str, *, lock: bool = False,
) -> tuple[Visitor | None, tuple[int, datetime, str] | None, bool]:
    """The visitor with this global identity, their latest declaration's (id, submitted_at,
    status) and whether a notice waits for them at the kiosk, in one statement (the door reads
    these for every scan). `lock`: take the visitor's row lock with it (PostgreSQL only)."""
    row = session.execute(_VISITOR_WITH_LATEST_LOCKED if lock else _VISITOR_WITH_LATEST,
                          {"uid": uid}).mappings().first()
    if row is None:
        return None, None, False
    visitor = as_read(session, Visitor, {name: row[name] for name in _VISITOR_COLUMNS})
    latest = ((row["declaration_id"], row["declaration_at"], row["declaration_status"])
              if row["declaration_id"] is not None else None)
    return visitor, latest, bool(row["notice_waiting"])


@dataclass(frozen=True)
class TokenIdentity:
    claims: TokenClaims
    visitor: Visitor
    state: DeclarationState  # the newest declaration known (this server's or the code's)
    fresh: bool
    notice_waiting: bool = True  # an exposure notice not yet shown at a kiosk (as read then)
    locked: bool = False  # this transaction holds the visitor's row lock (lock_visitor)

    @property
    def declaration_id(self) -> int | None:
        return self.state.declaration_id


def identify_token(*, session: Session, keyring: KeyRing, text: str, now: datetime,
                   max_age: timedelta | None, fresh_for: timedelta,
                   lock: bool = False) -> TokenIdentity:
    """Verify a personal token offline, then find its visitor by their global identity, and the
    newest declaration known for them (`lock`: and take the visitor's row lock on PostgreSQL, for
    a check-in; `locked` says whether it is held). A code dies with its record: once the visitor
    is deleted (retention, or on request) it names no one."""
    try:
        claims = keyring.verify(text, now=now, max_age=max_age)
    except TokenError as exc:
        raise TokenRejected(exc.reason) from None
    lock = lock and session.get_bind().dialect.name == "postgresql"
    visitor, latest, notice_waiting = _visitor_with_latest_declaration(
        session, claims.visitor_uid, lock=lock)
    if visitor is None:  # someone met elsewhere in the installation (else: purged or erased)
        visitor = _newcomer(session=session, claims=claims, keyring=keyring, now=now)
        latest, notice_waiting, lock = None, True, False  # committed: no lock is held
    if visitor.tokens_valid_after is not None and claims.issued_at < visitor.tokens_valid_after:
        raise TokenRejected("revoked")
    state = _newest_known(latest, claims)
    return TokenIdentity(claims, visitor, state, now - state.declared_at < fresh_for,
                         notice_waiting, lock)


# A newcomer's record is older than any real one: whatever the door that met them sends, or the
# central server holds, wins over it wherever the two meet (sync keeps the newest `updated_at`).
NEWCOMER_UPDATED_AT = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _newcomer(*, session: Session, claims: TokenClaims, keyring: KeyRing,
              now: datetime) -> Visitor:
    """A code signed by another signer of the installation (the central server, another door)
    names someone this server has not met: it keeps their uid only, no name or number, and the
    code's own account of their declaration applies (`declaration_state`). Committed at once, so
    a touchscreen question about them can be answered; the purge removes it if nothing follows.
    A code signed with this server's own key names someone it knew, so their record's absence
    means it was purged or erased; a person erased anywhere left a tombstone: both refused."""
    if claims.key_id not in keyring.other_signers or session.get(
            VisitorTombstone, claims.visitor_uid) is not None:
        raise TokenRejected("unknown_visitor")
    visitor = Visitor(uid=claims.visitor_uid, full_name="", name_folded="", created_at=now,
                      updated_at=NEWCOMER_UPDATED_AT)
    session.add(visitor)
    try:
        session.commit()
    except sa.exc.IntegrityError:  # the same code at the same moment at another till
        session.rollback()
        visitor = session.exec(select(Visitor).where(Visitor.uid == claims.visitor_uid)).one()
    logger.info("visitor %s known from a code signed elsewhere (key %s)", visitor.id,
                claims.key_id)
    return visitor


def dependants_of(*, session: Session, visitor_id: int) -> list[Visitor]:
    return list(session.exec(select(Visitor).where(Visitor.declarant_id == visitor_id)
                             .order_by(Visitor.id)))
