"""Hosts: the people visitors come to see at a venue. A venue may keep a list (the declaration
offers it as a choice) and turn host notices on; then a host is told when their visitor arrives,
by e-mail and with a line on their own page. Ids and counts only in logs."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.models import User, Venue
from notices.delivery import DeliveryError, send_email
from notices.models import HostNotice, VenueHost
from visits.models import Visitor

logger = logging.getLogger(__name__)

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

HOST_ERRORS = {
    "host_name": _l("Give the host's name (1 to 100 characters)."),
    "host_email": _l("The e-mail address is not valid."),
    "host_twice": _l("This venue already has a host with this name."),
    "host_user": _l("No staff account with this username."),
}


class HostError(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.message = HOST_ERRORS[code]


def hosts_of(*, session: Session, venue: Venue) -> list[VenueHost]:
    return list(session.exec(select(VenueHost).where(VenueHost.venue_id == venue.id)
                             .order_by(VenueHost.name)))


def add_host(*, session: Session, venue: Venue, name: str, email: str | None,
             username: str | None, now: datetime) -> VenueHost:
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 100:
        raise HostError("host_name")
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise HostError("host_email")
    if session.exec(select(VenueHost).where(VenueHost.venue_id == venue.id,
                                            VenueHost.name == name)).first():
        raise HostError("host_twice")
    user_id = None
    if (username or "").strip():
        user = session.exec(select(User).where(User.username == username.strip())).first()
        if user is None:
            raise HostError("host_user")
        user_id = user.id
    host = VenueHost(venue_id=venue.id, name=name, email=email, user_id=user_id, created_at=now)
    session.add(host)
    session.commit()
    return host


def remove_host(*, session: Session, venue: Venue, host_id: int) -> bool:
    host = session.get(VenueHost, host_id)
    if host is None or host.venue_id != venue.id:
        return False
    for notice in session.exec(select(HostNotice).where(HostNotice.host_id == host.id)):
        session.delete(notice)
    session.delete(host)
    session.commit()
    return True


def set_hosts_enabled(*, session: Session, venue: Venue, enabled: bool) -> None:
    venue.hosts_enabled = enabled
    session.add(venue)
    session.commit()


def tell_host(*, session: Session, venue: Venue, visitor_id: int, host_name: str | None,
              now: datetime, email_on: bool) -> HostNotice | None:
    """The visitor named a host of this venue's list and the venue tells hosts: a line on the
    host's page, and an e-mail queued when the host has an address and e-mail is set up. Called
    after the check-in committed (never holds the door)."""
    if not venue.hosts_enabled or not host_name:
        return None
    host = session.exec(select(VenueHost).where(
        VenueHost.venue_id == venue.id, VenueHost.name == " ".join(host_name.split()))).first()
    if host is None:
        return None
    email = bool(email_on and host.email)
    notice = HostNotice(host_id=host.id, visitor_id=visitor_id, arrived_at=now,
                        email_status="pending" if email else "none",
                        email_next_at=now if email else None)
    session.add(notice)
    session.commit()
    logger.info("host %s told of visitor %s", host.id, visitor_id)
    return notice


ARRIVAL_SUBJECT = _l("Your visitor has arrived")
ARRIVAL_BODY = _l("%(visitor)s has checked in at %(venue)s at %(time)s and is on the way to see "
                  "you.")


def deliver_host_emails(*, session: Session, settings, now: datetime, limit: int = 50) -> dict:
    """The delivery worker's pass over hosts' e-mails (the same retries as exposure notices)."""
    from notices.services import backoff
    from notices.texts import LOCAL_TZ

    counts = {"sent": 0, "retry": 0, "failed": 0}
    due = session.exec(select(HostNotice.id).where(HostNotice.email_status == "pending",
                                                   HostNotice.email_next_at <= now)
                       .order_by(HostNotice.email_next_at).limit(limit)).all()
    for notice_id in due:
        notice = session.get(HostNotice, notice_id)
        host = session.get(VenueHost, notice.host_id)
        visitor = session.get(Visitor, notice.visitor_id)
        venue = session.get(Venue, host.venue_id)
        try:
            if not settings.smtp_url or not host.email:
                raise DeliveryError("e-mail is off or the host has no address")
            with force_locale("vi"):
                subject = str(ARRIVAL_SUBJECT)
                body = str(ARRIVAL_BODY) % {
                    "visitor": visitor.full_name if visitor else "", "venue": venue.name,
                    "time": notice.arrived_at.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")}
            with force_locale("en"):
                body += "\n\n" + str(ARRIVAL_BODY) % {
                    "visitor": visitor.full_name if visitor else "", "venue": venue.name,
                    "time": notice.arrived_at.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")}
            send_email(settings.smtp_url, sender=settings.sender, to=host.email,
                       subject=subject, body=body + "\n")
        except DeliveryError as exc:
            notice.email_attempts += 1
            notice.email_error = str(exc)[:200]
            if notice.email_attempts >= settings.max_attempts:
                notice.email_status, notice.email_next_at = "failed", None
                counts["failed"] += 1
            else:
                notice.email_next_at = now + backoff(notice.email_attempts, settings)
                counts["retry"] += 1
        else:
            notice.email_attempts += 1
            notice.email_status, notice.email_next_at, notice.email_error = "sent", None, None
            counts["sent"] += 1
        session.add(notice)
        session.commit()
    return counts


def arrivals_for(*, session: Session, user: User, since: datetime) -> list[tuple]:
    """(arrival time, visitor name, venue name, host name) for the hosts linked to this staff
    account, newest first: the host's own page."""
    rows = session.exec(
        select(HostNotice.arrived_at, Visitor.full_name, Venue.name, VenueHost.name)
        .join(VenueHost, VenueHost.id == HostNotice.host_id)
        .join(Visitor, Visitor.id == HostNotice.visitor_id)
        .join(Venue, Venue.id == VenueHost.venue_id)
        .where(VenueHost.user_id == user.id, HostNotice.arrived_at >= since)
        .order_by(HostNotice.arrived_at.desc())).all()
    return list(rows)


RECENT = timedelta(days=1)


def host_choices(*, session: Session, venue: Venue) -> list[str]:
    """The names the declaration offers for "person to meet": the venue's list, when it has one
    and host notices are on (otherwise the visitor types a name)."""
    if not venue.hosts_enabled:
        return []
    return [h.name for h in hosts_of(session=session, venue=venue)]
