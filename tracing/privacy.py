"""A visitor's rights, assisted by an administrator: "show me what you hold about me", "stop my
QR codes", "delete my data" (Decree 13/2023 arts. 14-16). The visitor asks at reception; the
administrator finds them by phone or ID number, shows or prints the record, revokes their codes,
or hard-deletes their personal data. Every step is audited with ids and counts only."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from ble_beacon.models import Encounter
from core.audit import record_audit
from core.db import truncate_wal
from core.models import User, Venue
from declarations.models import Declaration
from notices.services import purge_notices
from tracing.folding import id_search_key, phone_search_key
from visits.models import Visit, Visitor, VisitorTombstone


class PrivacyError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class VisitorRecord:
    """Everything stored about one person (and the dependants they declared for)."""

    visitor: Visitor
    declarations: list[Declaration] = field(default_factory=list)
    visits: list[tuple[Visit, str]] = field(default_factory=list)  # (visit, venue code)
    dependants: list["VisitorRecord"] = field(default_factory=list)

    def as_json(self) -> dict:
        v = self.visitor
        return {
            "visitor": {key: getattr(v, key) for key in (
                "id", "full_name", "birth_year", "gender", "nationality", "id_number",
                "id_type", "phone_e164", "email", "province_code", "province_name",
                "ward_code", "ward_name", "street_address")}
            | {"tokens_valid_after": _iso(v.tokens_valid_after),
               "created_at": _iso(v.created_at), "updated_at": _iso(v.updated_at)},
            "declarations": [{key: _plain(getattr(d, key)) for key in (
                "id", "submitted_at", "source", "travel_14d", "travel_places", "symptoms",
                "exposures", "conditions", "visitor_company", "host_name", "host_department",
                "visit_purpose", "visit_purpose_note", "body_temperature_c", "status",
                "consent_processing", "consent_sensitive_health", "consent_text_version",
                "consent_at")} for d in self.declarations],
            "visits": [{"id": visit.id, "venue_code": code,
                        "checked_in_at": _iso(visit.checked_in_at),
                        "checked_out_at": _iso(visit.checked_out_at), "status": visit.status}
                       for visit, code in self.visits],
            "dependants": [d.as_json() for d in self.dependants],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


def find_visitors(*, session: Session, phone: str | None = None,
                  id_number: str | None = None) -> list[Visitor]:
    """By phone or ID number (exact, after normalising): a person's own key, never a name."""
    if phone and phone.strip():
        key = phone_search_key(phone)
        if key is None:
            raise PrivacyError("bad_phone")
        statement = select(Visitor).where(Visitor.phone_e164 == key)
    elif id_number and id_number.strip():
        statement = select(Visitor).where(Visitor.id_number == id_search_key(id_number))
    else:
        raise PrivacyError("query_required")
    return list(session.exec(statement.where(Visitor.declarant_id.is_(None))
                             .order_by(Visitor.id)))


def visitor_record(*, session: Session, visitor: Visitor) -> VisitorRecord:
    record = VisitorRecord(visitor=visitor)
    record.declarations = list(session.exec(
        select(Declaration).where(Declaration.visitor_id == visitor.id)
        .order_by(Declaration.submitted_at)))
    record.visits = [(visit, code) for visit, code in session.exec(
        select(Visit, Venue.code).join(Venue, Venue.id == Visit.venue_id)
        .where(Visit.visitor_id == visitor.id).order_by(Visit.checked_in_at))]
    for dependant in session.exec(select(Visitor).where(Visitor.declarant_id == visitor.id)
                                  .order_by(Visitor.id)):
        record.dependants.append(visitor_record(session=session, visitor=dependant))
    return record


def audit_view(*, session: Session, visitor: Visitor, actor: User, now: datetime,
               action: str = "privacy.view") -> None:
    record_audit(session=session, now=now, actor=actor, action=action,
                 target_type="visitor", target_id=visitor.id)
    session.commit()


def revoke_codes(*, session: Session, visitor: Visitor, actor: User, now: datetime) -> int:
    """Every personal QR issued so far (this person's and their dependants') stops working."""
    people = [visitor, *session.exec(select(Visitor).where(Visitor.declarant_id == visitor.id))]
    for person in people:
        person.tokens_valid_after = now
        session.add(person)
    record_audit(session=session, now=now, actor=actor, action="privacy.revoke",
                 target_type="visitor", target_id=visitor.id, row_count=len(people))
    session.commit()
    return len(people)


def erase_visitor(*, session: Session, visitor: Visitor, actor: User, now: datetime) -> dict:
    """Hard-delete the person, their dependants, declarations and visits in one transaction.
    Encounters heard at the door stay (they hold no personal data) but lose their link. The
    audit event keeps only the visitor id and the counts."""
    ids = [visitor.id, *session.exec(select(Visitor.id).where(Visitor.declarant_id == visitor.id))]
    # Their codes stay dead at every door of the installation (the uids only; see sync/downsync).
    for uid in session.exec(select(Visitor.uid).where(Visitor.id.in_(ids))).all():
        session.merge(VisitorTombstone(uid=uid, deleted_at=now))
    visit_ids = select(Visit.id).where(Visit.visitor_id.in_(ids))
    purge_notices(session=session, before=None, visitor_ids=ids)
    declaration_ids = select(Declaration.id).where(Declaration.visitor_id.in_(ids))
    session.exec(sa.update(Encounter).where(Encounter.visit_id.in_(visit_ids))
                 .values(visit_id=None).execution_options(synchronize_session=False))
    visits = session.exec(sa.delete(Visit).where(Visit.visitor_id.in_(ids))
                          .execution_options(synchronize_session=False)).rowcount
    session.exec(sa.update(Declaration).where(Declaration.previous_declaration_id.in_(
        declaration_ids)).values(previous_declaration_id=None)
        .execution_options(synchronize_session=False))
    declarations = session.exec(sa.delete(Declaration).where(Declaration.visitor_id.in_(ids))
                                .execution_options(synchronize_session=False)).rowcount
    dependants = session.exec(sa.delete(Visitor).where(Visitor.declarant_id == visitor.id)
                              .execution_options(synchronize_session=False)).rowcount
    session.exec(sa.delete(Visitor).where(Visitor.id == visitor.id)
                 .execution_options(synchronize_session=False))
    counts = {"visits": visits, "declarations": declarations, "dependants": dependants}
    record_audit(session=session, now=now, actor=actor, action="privacy.delete",
                 target_type="visitor", target_id=ids[0], details=counts,
                 row_count=1 + dependants)
    session.commit()
    session.expunge_all()
    truncate_wal(session)  # no earlier copy of the deleted rows stays in the WAL file
    return counts
