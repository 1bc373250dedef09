"""Finding an index case: one search box for phone, ID number or name (accent-insensitive), and
the case's visits in a window. Lookups from the console are audited like exports."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from core.audit import record_audit
from tracing.errors import TracingError
from tracing.folding import fold_name, id_search_key, phone_search_key
from tracing.visit_lists import Actor, VisitView, iso_local, visits_of
from visits.models import Visitor

# A search that matches more people than this is too vague to show; the tracer narrows it.
SEARCH_LIMIT = 50


@dataclass
class IndexCandidate:
    visitor: Visitor
    visits: list[VisitView]


def classify_query(text: str) -> str:
    """'phone', 'id_number' or 'name' for what a tracer typed in the one search box."""
    compact = id_search_key(text)
    if compact.isdigit() and len(compact) in (9, 12):   # CMND (9) or CCCD (12)
        return "id_number"
    if phone_search_key(text):
        return "phone"
    if compact[:1].isalpha() and compact[1:].isdigit() and 7 <= len(compact) <= 9:  # passport
        return "id_number"
    return "name"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_visitors(*, session: Session, query: str, by: str = "auto") -> list[Visitor]:
    """Visitors by phone, ID number or name; names match accent-insensitively on every word."""
    query = (query or "").strip()
    if not query:
        raise TracingError("query_required", "q")
    if by == "auto":
        by = classify_query(query)
    statement = select(Visitor)
    if by == "phone":
        key = phone_search_key(query)
        if key is None:
            raise TracingError("bad_phone", "q")
        statement = statement.where(Visitor.phone_e164 == key)
    elif by == "id_number":
        statement = statement.where(Visitor.id_number == id_search_key(query))
    elif by == "name":
        words = fold_name(query).split()
        if not words:
            raise TracingError("query_required", "q")
        for word in words:
            statement = statement.where(
                Visitor.name_folded.like(f"%{_like_escape(word)}%", escape="\\")
            )
    else:
        raise TracingError("bad_search_kind", "by")
    statement = statement.order_by(Visitor.name_folded, Visitor.id).limit(SEARCH_LIMIT + 1)
    found = list(session.exec(statement))
    if len(found) > SEARCH_LIMIT:
        raise TracingError("too_many_matches", "q")
    if by == "name":  # the exact name first, then the rest alphabetically
        exact = fold_name(query)
        found.sort(key=lambda v: (v.name_folded != exact, v.name_folded, v.id))
    return found


def find_index_cases(*, session: Session, query: str, by: str, since: datetime, until: datetime,
                     now: datetime) -> list[IndexCandidate]:
    visitors = search_visitors(session=session, query=query, by=by)
    visits = visits_of(session=session, visitor_ids=[v.id for v in visitors], since=since,
                       until=until, now=now)
    return [IndexCandidate(v, [x for x in visits if x.visitor_id == v.id]) for v in visitors]


def search_index_cases(*, session: Session, query: str, by: str, since: datetime,
                       until: datetime, now: datetime, actor: Actor,
                       channel: str) -> list[IndexCandidate]:
    """find_index_cases for the console: looking people up is audited too (who looked for whom,
    by record id), since abuse of a tracing database starts with lookups, not exports."""
    found = find_index_cases(session=session, query=query, by=by, since=since, until=until,
                             now=now)
    record_audit(session=session, now=now, actor=actor, action="index.search",
                 details={"channel": channel, "by": by if by != "auto" else classify_query(query),
                          "visitor_ids": [c.visitor.id for c in found],
                          "since": iso_local(since), "until": iso_local(until)},
                 row_count=len(found))
    session.commit()
    return found


def resolve_index(*, session: Session, phone: str | None = None, id_number: str | None = None,
                  since: datetime, until: datetime, now: datetime) -> list[VisitView]:
    """Every visit in the window of whoever has this phone or ID number (CLI and API)."""
    if bool(phone) == bool(id_number):
        raise TracingError("phone_or_id_number", "phone")
    if phone:
        visitors = search_visitors(session=session, query=phone, by="phone")
    else:
        visitors = search_visitors(session=session, query=id_number, by="id_number")
    if not visitors:
        raise TracingError("index_not_found", "phone" if phone else "id_number")
    return visits_of(session=session, visitor_ids=[v.id for v in visitors], since=since,
                     until=until, now=now)
