"""Venue and kiosk-device records, and the first-run seed."""
from __future__ import annotations

import re
from datetime import datetime, time

from sqlmodel import Session, select

from core.auth import create_user, generate_password
from core.models import Kiosk, Role, User, Venue

VENUE_CODE_RE = re.compile(r"^[A-Z0-9_-]{1,32}$")


class VenueError(ValueError):
    """A venue could not be created; the message says why."""


# A stay longer than a day is not a visit: it is a forgotten check-out.
MAX_STAY_LIMIT_MIN = 24 * 60


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise VenueError("venue name must be 1-200 characters")
    return name


def _check_max_stay(max_stay_min: int | None) -> int | None:
    if max_stay_min is not None and not 1 <= max_stay_min <= MAX_STAY_LIMIT_MIN:
        raise VenueError(f"maximum stay must be 1-{MAX_STAY_LIMIT_MIN} minutes")
    return max_stay_min


def parse_closing_time(text: str | None) -> time | None:
    """'18:00' → 18:00 local time; '' or 'none' → no closing time."""
    text = (text or "").strip().lower()
    if text in ("", "none"):
        return None
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise VenueError("closing time must look like 18:00 (24-hour, local time)") from None


def create_venue(
    *, session: Session, code: str, name: str, address: str | None = None,
    unit: str | None = None, closing_time: time | None = None,
    max_stay_min: int | None = None, now: datetime,
) -> Venue:
    code = (code or "").strip().upper()
    if not VENUE_CODE_RE.match(code):
        raise VenueError("venue code must be 1-32 of A-Z, 0-9, '_' or '-'")
    name = _clean_name(name)
    if session.exec(select(Venue).where(Venue.code == code)).first():
        raise VenueError(f"venue {code} already exists")
    venue = Venue(code=code, name=name, address=(address or None), unit=(unit or None),
                  closing_time=closing_time, max_stay_min=_check_max_stay(max_stay_min),
                  created_at=now)
    session.add(venue)
    session.commit()
    return venue


def update_venue(
    *, session: Session, venue: Venue, name: str, address: str | None, unit: str | None,
    closing_time: time | None, max_stay_min: int | None,
) -> Venue:
    """Change a venue's details and its automatic check-out rules (the code never changes:
    printed posters carry it)."""
    venue.name = _clean_name(name)
    venue.address = address or None
    venue.unit = unit or None
    venue.closing_time = closing_time
    venue.max_stay_min = _check_max_stay(max_stay_min)
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
