"""Venue and kiosk-device records, and the first-run seed."""
from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from core.auth import create_user, generate_password
from core.models import Kiosk, Role, User, Venue

VENUE_CODE_RE = re.compile(r"^[A-Z0-9_-]{1,32}$")


class VenueError(ValueError):
    """A venue could not be created; the message says why."""


def create_venue(
    *, session: Session, code: str, name: str, address: str | None = None,
    unit: str | None = None, now: datetime,
) -> Venue:
    code = (code or "").strip().upper()
    if not VENUE_CODE_RE.match(code):
        raise VenueError("venue code must be 1-32 of A-Z, 0-9, '_' or '-'")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise VenueError("venue name must be 1-200 characters")
    if session.exec(select(Venue).where(Venue.code == code)).first():
        raise VenueError(f"venue {code} already exists")
    venue = Venue(code=code, name=name, address=(address or None), unit=(unit or None),
                  created_at=now)
    session.add(venue)
    session.commit()
    return venue


def get_venue(*, session: Session, code: str) -> Venue | None:
    return session.exec(select(Venue).where(Venue.code == (code or "").strip().upper())).first()


def list_venues(*, session: Session) -> list[Venue]:
    return list(session.exec(select(Venue).order_by(Venue.code)))


def ensure_kiosk(*, session: Session, venue: Venue, name: str, now: datetime) -> Kiosk:
    """The device record for this kiosk process (created on first start)."""
    kiosk = session.exec(
        select(Kiosk).where(Kiosk.venue_id == venue.id, Kiosk.name == name)
    ).first()
    if kiosk is None:
        kiosk = Kiosk(venue_id=venue.id, name=name, created_at=now)
    kiosk.last_seen_at = now
    session.add(kiosk)
    session.commit()
    return kiosk


def seed_demo(*, session: Session, now: datetime) -> dict:
    """First run: a DEMO venue and an admin account, only when none exist. Returns what was made
    (the admin password only here, once)."""
    made: dict = {}
    if get_venue(session=session, code="DEMO") is None:
        create_venue(session=session, code="DEMO", name="Địa điểm trình diễn (Demo venue)",
                     address="Số 1 Tràng Tiền, Hà Nội", now=now)
        made["venue"] = "DEMO"
    if session.exec(select(User).where(User.role == Role.admin)).first() is None:
        password = generate_password()
        create_user(session=session, username="admin", role=Role.admin, password=password,
                    display_name="Quản trị viên", now=now)
        made["admin"] = ("admin", password)
    return made
