"""A tracer marks an index case's visits as an exposure: the co-present visitors whose overlap
meets the minimum get a notice (notices.services), and the tracer gets who was notified and how.
The index case is never named to anyone notified."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlmodel import Session

from notices.models import ExposureNotice
from notices.services import DeliverySettings, NoticeTarget, give_notices
from tracing.contact_query import find_contacts
from tracing.errors import TracingError
from tracing.visit_lists import iso_local, load_visits

# A stay shorter than this next to a case is rarely an exposure (the usual "close contact" rule).
DEFAULT_MIN_OVERLAP_MIN = 15


def channels(notice: ExposureNotice) -> dict:
    """How this notice reaches the visitor: always their page and the next kiosk scan; e-mail
    and SMS when they gave an address and the channel is on, with the delivery state."""
    return {"page": True, "kiosk": True, "email": notice.email_status,
            "sms": notice.sms_status}


def notify_exposure(*, session: Session, visit_ids: Iterable[int], before_min: int,
                    after_min: int, min_overlap_min: int, settings: DeliverySettings, actor,
                    now: datetime) -> dict:
    visit_ids = sorted(set(visit_ids))
    index_visits = load_visits(session=session, visit_ids=visit_ids, now=now)
    if not index_visits or len(index_visits) != len(visit_ids):
        raise TracingError("visit_not_found", "visit_id")
    report = find_contacts(session=session, index_visits=index_visits, before_min=before_min,
                           after_min=after_min, now=now)
    index_people = {v.visitor_id for v in index_visits}
    contacts = [c for c in report.contacts if c.visit.visitor_id not in index_people]
    targets = [
        NoticeTarget(
            visitor_id=c.visit.visitor_id, venue_id=c.visit.venue_id,
            exposed_from=max(c.visit.checked_in_at,
                             c.index.checked_in_at - timedelta(minutes=before_min)),
            exposed_until=min(c.visit.effective_end_at,
                              c.index.effective_end_at + timedelta(minutes=after_min)),
            overlap_min=c.overlap_min)
        for c in contacts]
    names = {c.visit.visitor_id: c.visit.full_name for c in contacts}
    venues = {c.visit.venue_id: c.visit.venue_code for c in contacts}
    exposure, notices = give_notices(
        session=session, targets=targets, index_visit_ids=visit_ids, before_min=before_min,
        after_min=after_min, min_overlap_min=min_overlap_min, settings=settings, actor=actor,
        now=now)
    notified = {n.visitor_id for n in notices}
    return {
        "exposure_id": exposure.id,
        "index_visit_ids": visit_ids,
        "min_overlap_min": min_overlap_min,
        "notified": [
            {"notice_id": n.id, "visitor_id": n.visitor_id, "full_name": names[n.visitor_id],
             "venue_code": venues[n.venue_id], "from": iso_local(n.exposed_from),
             "until": iso_local(n.exposed_until), "overlap_min": n.overlap_min,
             "channels": channels(n)}
            for n in notices],
        "not_notified": sorted({c.visit.visitor_id for c in contacts} - notified),
    }


def refresh(session: Session, result: dict) -> dict:
    """The same answer with each notice's delivery state as it is now."""
    for row in result["notified"]:
        notice = session.get(ExposureNotice, row["notice_id"])
        session.refresh(notice)
        row["channels"] = channels(notice)
    return result
