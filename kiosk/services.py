"""The door: what a scanned code does (check in, check out, the same answer again, or a question
for the touchscreen), the touchscreen's answers, and the desk's queue of flagged visitors. Visits
are opened and closed through the visits package; declarations come from the declarations
package."""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import format_local
from core.models import Venue
from declarations.consent import consent_version
from declarations.identity import classify_id, fold
from declarations.identity import display_name as shown_name
from declarations.messages import problem
from declarations.models import Declaration, DeclarationSource
from declarations.questions import DEFAULT_TRACING_APPS
from declarations.rules import DEFAULT_RULES, TriageRules, triage
from declarations.services import (
    DeclarationError,
    DeclarationState,
    TokenRejected,
    declaration_state,
    identify_token,
    reconfirm_declaration,
)
from declarations.tokens import KeyRing
from kiosk.answers import HealthAnswers, validate_health_answers
from kiosk.codes import CCCD, NATIONAL_QR, TOKEN, TOKEN_PREFIXES, VENUE, parse_code
from visits.events import publish_now
from visits.models import ClosedBy, OpenedBy, Visit, Visitor, VisitStatus
from visits.services import (
    close_visit,
    current_visit,
    display_name,
    lock_visitor,
    open_visit,
    open_visit_unless_inside,
    publish_visit,
    stay_at,
    visit_event,
)
from visits.stays import ScanAction, StayRules, decide_scan

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Scans at the door: one function for the camera worker, the scan API and the check-in API
# (POST /api/v1/checkins, the declarations package's route, is meant to call handle_scan too).

@dataclass(frozen=True)
class ScanSettings:
    """What a scan needs to know besides the database (built from the app config by the caller;
    services never read it themselves)."""

    rules: StayRules
    keyring: KeyRing
    # Tokens older than this are refused: their declarations have been purged anyway.
    token_max_age: timedelta | None
    # Signs the touchscreen's follow-up question (stale declaration, ID-card scan).
    ticket_secret: str
    ticket_ttl_s: int
    # For declarations made at the kiosk: the triage rules and the consent texts' retention days.
    triage_rules: TriageRules = DEFAULT_RULES
    retention_days: int = 21
    # KIOSK_TRACING_APPS: the apps the touchscreen asks about.
    tracing_app_keys: tuple[str, ...] = DEFAULT_TRACING_APPS


class ScanError(ValueError):
    """A scan that checks nobody in or out. `code` for the API, `message` (lazy or a Problem)
    for people; `field` when one request field is to blame."""

    def __init__(self, code: str, message, *, field: str | None = None,
                 errors: dict | None = None):
        super().__init__(code)
        self.code = code
        self.message = message
        self.field = field
        self.errors = dict(errors or {})
        if field is not None:
            self.errors.setdefault(field, message)


@dataclass
class ScanResult:
    action: str                        # check_in | check_out | needs_confirmation
    venue_code: str
    visit: Visit | None = None
    visitor: Visitor | None = None
    repeated: bool = False             # the same answer as a moment ago; nothing changed
    # False: no exposure notice waited for this visitor when their code was read (the answer
    # need not look again); None: not known.
    notice_waiting: bool | None = None
    # Whether the venue tells hosts of arrivals (as read before the scan; None: not read).
    hosts_enabled: bool | None = None
    confirmation: dict | None = None   # what the touchscreen must ask, with its signed ticket
    identity: dict | None = None       # pre-filled identity for the touchscreen (ID cards)

    @property
    def status(self) -> str | None:
        return self.visit.status if self.visit is not None else None

    def as_json(self) -> dict:
        """The documented answer of POST /api/v1/checkins (and /scan)."""
        body = {
            "visit_id": self.visit.id if self.visit is not None else None,
            "action": self.action,
            "status": self.status,
            "visitor": {"display_name": (display_name(self.visitor) if self.visitor is not None
                                         else identity_display_name(self.identity))},
            "repeated": self.repeated,
        }
        if self.confirmation is not None:
            body["confirmation"] = self.confirmation
        return body


CONFIRM_TICKET_SALT = "kiosk.confirm"

# What the kiosk says when a scan or an answer checks nobody in (besides the token problems of
# declarations/messages.py and the code hints of kiosk/codes.py).
MESSAGES = {
    "unknown_venue": _l("There is no venue with this code."),
    "unknown_code": _l("This code is not a personal QR code or an ID card."),
    "confirmation_expired": _l("This question has expired. Please scan your code again."),
    "identity_unreadable": _l("The name on this code could not be read. Please declare on "
                              "your phone or ask the receptionist."),
    "validation_failed": _l("Some answers need attention."),
    "identity_mismatch": _l("This card does not match our records. Please see the "
                            "receptionist."),
}


def _ticket_serializer(secret: str) -> URLSafeSerializer:
    # Expiry is checked against the service's own `now` (in the payload), not the system clock.
    return URLSafeSerializer(secret, salt=CONFIRM_TICKET_SALT)


def publish_refusal(venue_code: str, code: str, kind: str | None = None) -> None:
    """Tell the venue's screens that a scan checked nobody in or out (`code` says why: a
    refusal code, or a database fault the camera's check-in gave up waiting out)."""
    publish_now((venue_code or "").strip().upper(), {"type": "refused", "code": code,
                                                      "kind": kind})


def handle_scan(
    *,
    session: Session,
    now: datetime,
    venue_code: str,
    payload: str | bytes,
    settings: ScanSettings,
    kiosk_id: int | None = None,
    venue: Venue | None = None,
) -> ScanResult:
    """What a scanned payload does at `venue_code`: check in, check out (when inside and the
    minimum stay has passed), the same answer again (a duplicate scan), or a question for the
    touchscreen (stale declaration; ID card). Raises ScanError for anything that checks nobody
    in or out; the screens hear of every outcome. `venue`: the venue of `venue_code` when the
    caller has already read it (saves reading it again)."""
    if venue is None or not venue.is_active:
        venue = _scan_venue(session=session, venue_code=venue_code)
    hosts_enabled = bool(venue.hosts_enabled)
    code = parse_code(payload)
    try:
        if code.kind == TOKEN:
            found = _identify_token(session=session, text=code.text, now=now, settings=settings)
            result = _scan_known_visitor(session=session, now=now, venue=venue,
                                         visitor=found.visitor, settings=settings,
                                         kiosk_id=kiosk_id, claims=found.claims,
                                         state=found.state, locked=found.locked)
            result.notice_waiting = found.notice_waiting
        elif code.kind in (CCCD, NATIONAL_QR):
            result = _scan_identity(session=session, now=now, venue=venue, code=code,
                                    settings=settings, kiosk_id=kiosk_id)
        elif code.kind == VENUE:
            raise ScanError("venue_code_scanned", code.hint, field="payload")
        elif code.text.startswith(TOKEN_PREFIXES):
            # Our prefix but not our shape: a damaged or hand-typed personal code.
            raise ScanError("token_malformed", problem("token_malformed"), field="payload")
        else:
            raise ScanError("unknown_code", MESSAGES["unknown_code"], field="payload")
    except ScanError as exc:
        session.rollback()
        logger.info("scan at venue %s refused: %s (%s)", venue.id, exc.code, code.kind)
        publish_now(venue.code, {"type": "refused", "code": exc.code, "kind": code.kind})
        raise
    result.hosts_enabled = hosts_enabled
    return result


def _scan_venue(*, session: Session, venue_code) -> Venue:
    code = venue_code.strip().upper() if isinstance(venue_code, str) else ""
    venue = session.exec(select(Venue).where(Venue.code == code)).first() if code else None
    if venue is None or not venue.is_active:
        raise ScanError("unknown_venue", MESSAGES["unknown_venue"], field="venue_code")
    return venue


def _identify_token(*, session: Session, text: str, now: datetime, settings: ScanSettings):
    """Verify the personal token offline and find its visitor (the declarations package's
    rules: signature, key, age, withdrawn codes, purged visitors)."""
    try:
        return identify_token(session=session, keyring=settings.keyring, text=text, now=now,
                              max_age=settings.token_max_age,
                              fresh_for=timedelta(hours=settings.rules.fresh_hours), lock=True)
    except TokenRejected as exc:
        raise ScanError(f"token_{exc.reason}", exc.problem, field="payload") from None


def _scan_known_visitor(*, session: Session, now: datetime, venue: Venue, visitor: Visitor,
                        settings: ScanSettings, kiosk_id: int | None,
                        claims=None, state: DeclarationState | None = None,
                        locked: bool = False) -> ScanResult:
    """A scan of someone the door can name (their personal code, or an ID card of a visitor
    inside). `claims`: what their personal code says of their declaration, if they showed one;
    `state`: the newest declaration known, when the caller has read it already; `locked`: this
    transaction holds the visitor's lock already (on PostgreSQL the read of a personal code
    takes it), so the stay below is read under it.

    Otherwise the visitor's stay is read without a lock first; a check-in then takes the
    visitor's lock and inserts only if no visit is open (one statement), so the common case
    costs one read and one write. Anything else, or a check-in another scan beat us to, is
    decided again under the lock, as before."""
    if state is None:
        state = declaration_state(session=session, visitor_id=visitor.id, claims=claims)
    inside, last = stay_at(session=session, visitor_id=visitor.id, venue_id=venue.id)
    action = _decide(now=now, settings=settings, inside=inside, last=last, state=state)
    if action == ScanAction.check_in:
        visit = open_visit_unless_inside(
            session=session, visitor_id=visitor.id, venue_id=venue.id, now=now,
            opened_by=OpenedBy.scan, kiosk_id=kiosk_id,
            declaration_id=state.declaration_id,
            status=_visit_status(state.status), lock=not locked)
        if visit is not None:
            session.commit()
            return ScanResult(action="check_in", venue_code=venue.code, visitor=visitor,
                              visit=visit)
    elif action in (ScanAction.repeat_check_in, ScanAction.repeat_check_out,
                    ScanAction.needs_confirmation):
        return _answer(session=session, now=now, venue=venue, visitor=visitor,
                       settings=settings, kiosk_id=kiosk_id, state=state, action=action,
                       inside=inside, last=last)
    elif locked:  # a check-out, decided on a stay read under the lock
        return _answer(session=session, now=now, venue=venue, visitor=visitor,
                       settings=settings, kiosk_id=kiosk_id, state=state, action=action,
                       inside=inside, last=last)
    # A check-out, or a check-in that lost a race: under the visitor's lock, as it is now.
    if not locked:
        lock_visitor(session=session, visitor_id=visitor.id)
    inside, last = stay_at(session=session, visitor_id=visitor.id, venue_id=venue.id)
    action = _decide(now=now, settings=settings, inside=inside, last=last, state=state)
    return _answer(session=session, now=now, venue=venue, visitor=visitor, settings=settings,
                   kiosk_id=kiosk_id, state=state, action=action, inside=inside, last=last)


def _decide(*, now: datetime, settings: ScanSettings, inside: Visit | None, last: Visit | None,
            state: DeclarationState | None) -> ScanAction:
    return decide_scan(
        now=now,
        rules=settings.rules,
        open_since=inside.checked_in_at if inside is not None else None,
        last_scan_checkout_at=(last.checked_out_at
                               if last is not None and last.closed_by == ClosedBy.scan else None),
        declared_at=state.declared_at if state is not None else None,
    )


def _answer(*, session: Session, now: datetime, venue: Venue, visitor: Visitor,
            settings: ScanSettings, kiosk_id: int | None, state: DeclarationState | None,
            action: ScanAction, inside: Visit | None, last: Visit | None) -> ScanResult:
    """Carry out a decided scan (the visitor's lock is held when it writes)."""
    result = ScanResult(action="check_in", venue_code=venue.code, visitor=visitor)
    if action == ScanAction.check_in:
        result.visit = open_visit(
            session=session, visitor_id=visitor.id, venue_id=venue.id, now=now,
            opened_by=OpenedBy.scan, kiosk_id=kiosk_id,
            declaration_id=state.declaration_id,
            status=_visit_status(state.status), commit=False)
        session.commit()
    elif action == ScanAction.check_out:
        result.action = "check_out"
        result.visit = close_visit(session=session, visit=inside, now=now,
                                   closed_by=ClosedBy.scan)
    elif action in (ScanAction.repeat_check_in, ScanAction.repeat_check_out):
        session.rollback()  # nothing to change: release the visitor's lock
        result.repeated = True
        result.visit = inside if action == ScanAction.repeat_check_in else last
        result.action = "check_in" if action == ScanAction.repeat_check_in else "check_out"
        _, event = visit_event(session=session, visit=result.visit, action=result.action)
        publish_now(venue.code, {**event, "repeated": True})
    else:
        session.rollback()
        result.action = "needs_confirmation"
        # A stale declaration this server holds can be renewed as it was ("nothing has
        # changed"); one it knows only from the code (made elsewhere) is asked again.
        known = state is not None and state.declaration_id is not None
        result.confirmation = _ask(
            settings=settings, now=now, venue=venue, reason="stale" if known else "renew",
            visitor=visitor, declaration_id=state.declaration_id if known else None,
            declared_at=state.declared_at if state is not None else None, kiosk_id=kiosk_id)
    return result


def _visit_status(declaration_status: str) -> str:
    return (VisitStatus.needs_review if declaration_status == "needs_review"
            else VisitStatus.clear)


def _scan_identity(*, session: Session, now: datetime, venue: Venue, code,
                   settings: ScanSettings, kiosk_id: int | None) -> ScanResult:
    """A CCCD chip card or a national personal QR: leaving visitors are checked out as with a
    token; everyone else answers the health questions on the touchscreen, identity pre-filled."""
    identity = code.identity
    visitor = None
    if identity is not None and identity.id_number:
        on_record = _records_with_id_number(session, identity.id_number)
        visitor = next((v for v in on_record if card_agrees(v, identity.full_name,
                                                            identity.birth_year)), None)
        if on_record and visitor is None:
            _refuse_mismatch(session=session, now=now, venue=venue, kind=code.kind,
                             records=len(on_record))
    if visitor is not None:
        lock_visitor(session=session, visitor_id=visitor.id)
        inside = current_visit(session=session, visitor_id=visitor.id, venue_id=venue.id)
        if inside is not None:
            return _scan_known_visitor(session=session, now=now, venue=venue, visitor=visitor,
                                       settings=settings, kiosk_id=kiosk_id)
        session.rollback()
    prefill = {
        "kind": code.kind,
        "full_name": identity.full_name if identity else None,
        "id_number": identity.id_number if identity else None,
        "birth_year": identity.birth_year if identity else None,
        "gender": identity.gender if identity else None,
    }
    result = ScanResult(action="needs_confirmation", venue_code=venue.code, visitor=visitor,
                        identity=prefill)
    result.confirmation = _ask(
        settings=settings, now=now, venue=venue, reason="identity", visitor=visitor,
        declaration_id=None, kiosk_id=kiosk_id, identity=prefill)
    return result


def _records_with_id_number(session: Session, id_number: str) -> list[Visitor]:
    return list(session.exec(select(Visitor).where(Visitor.id_number == id_number)
                             .order_by(Visitor.updated_at.desc(), Visitor.id.desc())))


def card_agrees(visitor: Visitor, full_name: str | None, birth_year: int | None) -> bool:
    """Does a scanned card (or national QR) name the person stored under its ID number? The
    name must be the same, read without diacritics or case (cards print capitals, people type
    either); a birth year, when both have one, the same too. A number alone is not enough:
    printing a QR code with someone's ID number is easy."""
    if not full_name or fold(full_name) != visitor.name_folded:
        return False
    return birth_year is None or visitor.birth_year is None or birth_year == visitor.birth_year


IDENTITY_MISMATCH = "identity.mismatch"


def _refuse_mismatch(*, session: Session, now: datetime, venue: Venue, kind: str,
                     records: int) -> None:
    """The card's ID number is on record under another name or birth year: nothing stored is
    shown or used. The receptionist's desk lists it (an audit entry naming no one: the venue,
    the kind of code and how many records hold the number), and the scan is refused."""
    record_audit(session=session, now=now, actor="kiosk", action=IDENTITY_MISMATCH,
                 target_type="venue", target_id=venue.id,
                 details={"venue": venue.code, "kind": kind, "records": records})
    session.commit()
    logger.warning("scan at venue %s: an ID card did not match the record of its number",
                   venue.id)
    raise ScanError("identity_mismatch", MESSAGES["identity_mismatch"], field="payload")


def _ask(*, settings: ScanSettings, now: datetime, venue: Venue, reason: str,
         visitor: Visitor | None, declaration_id: int | None, kiosk_id: int | None,
         identity: dict | None = None, declared_at: datetime | None = None) -> dict:
    """Sign the question for the touchscreen and show it on the venue's screens. `reason`:
    stale (a declaration to renew as it was, or to answer again), renew (a stale declaration
    made elsewhere: answer the health questions again), identity (an ID card: the health
    questions and a phone number)."""
    expires_at = now + timedelta(seconds=settings.ticket_ttl_s)
    ticket = _ticket_serializer(settings.ticket_secret).dumps({
        "exp": expires_at.timestamp(),
        "reason": reason,
        "venue": venue.code,
        "kiosk": kiosk_id,
        "visitor": visitor.id if visitor is not None else None,
        "declaration": declaration_id,
        "identity": identity,
    })
    name = display_name(visitor) if visitor is not None else identity_display_name(identity)
    confirmation = {
        "reason": reason,
        "ticket": ticket,
        "expires_at": expires_at.isoformat(),
        "display_name": name,
        "declared_at": declared_at.isoformat() if declared_at is not None else None,
        "declared_local": format_local(declared_at) if declared_at is not None else None,
    }
    # The venue's screens hear the question, never its ticket: a screen answers with the
    # question's id, which only this process can turn back into the ticket (see PendingQuestions).
    event = {k: v for k, v in confirmation.items() if k != "ticket"}
    event["question"] = pending_questions.add(ticket, expires_at=expires_at, now=now)
    publish_now(venue.code, {"type": "confirm", **event})
    return confirmation


class PendingQuestions:
    """The tickets of questions this process showed on the screens, by a random id. The id is
    what the stream carries; only a caller allowed to answer (the paired screen, desk staff)
    can redeem it at POST /api/v1/checkins/confirm. Bounded: the oldest go first."""

    LIMIT = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[str, datetime]] = {}

    def add(self, ticket: str, *, expires_at: datetime, now: datetime) -> str:
        question_id = secrets.token_urlsafe(18)
        with self._lock:
            for key in [k for k, (_, exp) in self._items.items() if exp <= now]:
                del self._items[key]
            while len(self._items) >= self.LIMIT:
                del self._items[next(iter(self._items))]
            self._items[question_id] = (ticket, expires_at)
        return question_id

    def ticket(self, question_id, *, now: datetime) -> str | None:
        if not isinstance(question_id, str):
            return None
        with self._lock:
            found = self._items.get(question_id)
        if found is None or found[1] <= now:
            return None
        return found[0]


pending_questions = PendingQuestions()


def identity_display_name(identity: dict | None) -> str:
    name = (identity or {}).get("full_name")
    return shown_name(name) if name else ""


# ---------------------------------------------------------------------------------------------
# The touchscreen's answer to a question asked after a scan

def venue_consent_version(venue: Venue, *, retention_days: int) -> str:
    """The consent texts a visitor at `venue` reads (the venue's unit or name is the operator),
    as the declarations package versions them."""
    return consent_version(retention_days=retention_days, operator=venue.unit or venue.name)


def confirm_scan(
    *,
    session: Session,
    now: datetime,
    ticket: str | None = None,
    question: str | None = None,
    changed: bool,
    answers,
    settings: ScanSettings,
) -> ScanResult:
    """The visitor answered the touchscreen: "nothing has changed" (a stale declaration is
    renewed as it was), or health answers (changed since, a stale declaration made elsewhere, or
    after an ID-card scan). Makes the new declaration and the check-in in one transaction. A
    repeated answer (a double tap) checks in once."""
    if ticket is None and question is not None:  # the screen's answer to a streamed question
        ticket = pending_questions.ticket(question, now=now)
    question = _open_ticket(ticket, now=now, secret=settings.ticket_secret)
    venue = _scan_venue(session=session, venue_code=question.get("venue"))
    kiosk_id = question.get("kiosk")
    version = venue_consent_version(venue, retention_days=settings.retention_days)
    stale = question.get("reason") == "stale"
    previous = None
    if stale:
        visitor = session.get(Visitor, question.get("visitor") or 0)
        previous = session.get(Declaration, question.get("declaration") or 0)
        if visitor is None or previous is None or previous.visitor_id != visitor.id:
            raise ScanError("token_unknown_visitor", problem("token_unknown_visitor"))
        health = None
        if changed:
            health = _health_or_raise(answers, version, ask_phone=False, settings=settings)
        elif previous.consent_text_version != version:
            # Consent lasts until withdrawn, but not across a change of the texts read.
            raise ScanError("consent_changed", problem("consent_changed"))
    elif question.get("reason") == "renew":
        visitor = session.get(Visitor, question.get("visitor") or 0)
        if visitor is None:
            raise ScanError("token_unknown_visitor", problem("token_unknown_visitor"))
        health = _health_or_raise(answers, version, ask_phone=False, settings=settings)
    else:
        health = _health_or_raise(answers, version, ask_phone=True, settings=settings)
        visitor = _visitor_from_identity(session=session, identity=question.get("identity") or {},
                                         known_id=question.get("visitor"), now=now,
                                         phone=health.phone_e164)

    lock_visitor(session=session, visitor_id=visitor.id)
    inside = current_visit(session=session, visitor_id=visitor.id, venue_id=venue.id)
    result = ScanResult(action="check_in", venue_code=venue.code, visitor=visitor)
    if inside is not None and now - inside.checked_in_at < timedelta(
            minutes=max(settings.rules.min_stay_min, 1)):
        session.rollback()  # answered twice: the first answer already checked them in
        result.visit, result.repeated = inside, True
        return result
    if stale and health is None:
        # "Nothing has changed": the declarations package renews it and checks in.
        try:
            renewed = reconfirm_declaration(
                session=session, previous=previous, venue=venue, now=now,
                keyring=settings.keyring, consent_version=version, rules=settings.triage_rules,
                opened_by=OpenedBy.scan, kiosk_id=kiosk_id)
        except DeclarationError as exc:
            raise ScanError(exc.problem.code, exc.problem) from None
        result.visit = renewed.visit
        logger.info("declaration %s re-confirmed at the kiosk (visit %s)", renewed.declaration.id,
                    renewed.visit.id)
        return result
    if stale:
        declaration = _renewed_declaration(previous=previous, venue=venue, now=now,
                                           health=health, rules=settings.triage_rules)
    else:
        declaration = _kiosk_declaration(visitor=visitor, venue=venue, now=now, health=health,
                                         rules=settings.triage_rules)
    session.add(declaration)
    session.flush()
    if inside is not None:  # checked in meanwhile by other means: the visit follows the answers
        inside.declaration_id = declaration.id
        inside.status = _visit_status(declaration.status)
        session.add(inside)
        session.flush()
        publish_visit(session, inside, "check_in")
        result.visit = inside
    else:
        result.visit = open_visit(
            session=session, visitor_id=visitor.id, venue_id=venue.id, now=now,
            opened_by=OpenedBy.scan, kiosk_id=kiosk_id, declaration_id=declaration.id,
            status=_visit_status(declaration.status), commit=False)
    session.commit()
    logger.info("declaration %s made at the kiosk (%s) for visitor %s: %s (visit %s)",
                declaration.id, declaration.source, visitor.id, declaration.status,
                result.visit.id)
    return result


def _open_ticket(ticket, *, now: datetime, secret: str) -> dict:
    try:
        question = _ticket_serializer(secret).loads(ticket) if isinstance(ticket, str) else None
    except BadSignature:
        question = None
    if not isinstance(question, dict) or now.timestamp() > float(question.get("exp", 0)):
        raise ScanError("confirmation_expired", MESSAGES["confirmation_expired"])
    return question


def _health_or_raise(answers, version: str, *, ask_phone: bool,
                     settings: ScanSettings) -> HealthAnswers:
    checked = validate_health_answers(answers, consent_version=version, ask_phone=ask_phone,
                                      tracing_app_keys=settings.tracing_app_keys)
    if checked.answers is None:
        if "consent_processing" in checked.errors and \
                checked.errors["consent_processing"].code == "consent_changed":
            raise ScanError("consent_changed", problem("consent_changed"))
        raise ScanError("validation_failed", MESSAGES["validation_failed"],
                        errors=checked.errors)
    return checked.answers


def _visitor_from_identity(*, session: Session, identity: dict, known_id: int | None,
                           now: datetime, phone: str | None) -> Visitor:
    """The person on the card: known by the scan, or by ID number (a double tap made them a
    moment ago), else a new visitor with what the card says."""
    visitor = session.get(Visitor, known_id) if known_id else None
    id_number = identity.get("id_number")
    if visitor is None and id_number:  # only a record the card agrees with (card_agrees)
        visitor = next((v for v in _records_with_id_number(session, id_number)
                        if card_agrees(v, identity.get("full_name"),
                                       identity.get("birth_year"))), None)
    if visitor is None:
        name = identity.get("full_name")
        if not name:
            raise ScanError("identity_unreadable", MESSAGES["identity_unreadable"])
        visitor = Visitor(
            full_name=name, name_folded=fold(name), birth_year=identity.get("birth_year"),
            gender=identity.get("gender"), nationality="VN", id_number=id_number,
            id_type=classify_id(id_number).value if id_number else None,
            created_at=now, updated_at=now)
    if phone and not visitor.phone_e164:
        visitor.phone_e164 = phone
    visitor.updated_at = now
    session.add(visitor)
    session.flush()
    return visitor


def _renewed_declaration(*, previous: Declaration, venue: Venue, now: datetime,
                         health: HealthAnswers, rules: TriageRules) -> Declaration:
    """A stale declaration renewed with new health answers ("something has changed") and the
    consent given with them; the rest (visit details) carries over."""
    decision = triage(health, rules)
    return Declaration(
        visitor_id=previous.visitor_id, venue_id=venue.id, submitted_at=now, lang=health.lang,
        source=DeclarationSource.reconfirmation.value,
        travel_14d=health.travel_14d, travel_places=health.travel_places,
        symptoms=list(health.symptoms), exposures=list(health.exposures),
        conditions=previous.conditions,
        tracing_apps=(list(health.tracing_apps) if health.tracing_apps is not None
                      else previous.tracing_apps),
        visitor_company=previous.visitor_company,
        host_name=previous.host_name, host_department=previous.host_department,
        visit_purpose=previous.visit_purpose, visit_purpose_note=previous.visit_purpose_note,
        body_temperature_c=None, declared_for_other=previous.declared_for_other,
        status=decision.status, rules_version=decision.rules_version,
        consent_processing=True, consent_sensitive_health=True,
        consent_text_version=health.consent_text_version, consent_at=now,
        previous_declaration_id=previous.id)


def _kiosk_declaration(*, visitor: Visitor, venue: Venue, now: datetime, health: HealthAnswers,
                       rules: TriageRules) -> Declaration:
    decision = triage(health, rules)
    return Declaration(
        visitor_id=visitor.id, venue_id=venue.id, submitted_at=now, lang=health.lang,
        source=DeclarationSource.kiosk.value, travel_14d=health.travel_14d,
        travel_places=health.travel_places, symptoms=list(health.symptoms),
        exposures=list(health.exposures),
        tracing_apps=list(health.tracing_apps) if health.tracing_apps is not None else None,
        status=decision.status, rules_version=decision.rules_version, consent_processing=True,
        consent_sensitive_health=True, consent_text_version=health.consent_text_version,
        consent_at=now)


def after_check_in(*, session: Session, result: ScanResult, now: datetime,
                   email_on: bool) -> dict | None:
    """What follows a check-in at the door once it has committed (it never holds the door): the
    host the visitor's declaration names is told (as on a first arrival: a returning visitor
    scanning their personal QR arrives too), and the visitor's exposure notice not yet shown at
    a kiosk is returned (then marked shown). A repeated scan tells no host again; a check-out
    does neither. A visit with no declaration this door holds (made at another door, known from the code only)
    names no host."""
    from notices.hosts import tell_host
    from notices.services import notice_for_kiosk

    if result.action != "check_in" or result.visitor is None:
        return None
    visit = result.visit
    if not result.repeated and result.hosts_enabled is not False and visit is not None \
            and visit.declaration_id is not None:
        try:
            host_name = session.exec(select(Declaration.host_name).where(
                Declaration.id == visit.declaration_id)).first()
            venue = session.get(Venue, visit.venue_id) if host_name else None
            if venue is not None:
                tell_host(session=session, venue=venue, visitor_id=visit.visitor_id,
                          host_name=host_name, now=now, email_on=email_on)
        except Exception:  # the check-in is saved; telling the host must never undo the door
            session.rollback()
            logger.exception("host notice failed (visit %s)", visit.id)
    if result.notice_waiting is False:  # the scan read that none waits: nothing to look for
        return None
    return notice_for_kiosk(session=session, visitor_id=result.visitor.id, now=now)
