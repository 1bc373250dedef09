"""Venue and kiosk-device records, and the first-run seed."""
from __future__ import annotations

import re
from datetime import datetime, time

from sqlmodel import Session, select

from core import admin_units
from core.auth import create_user, generate_password
from core.models import Kiosk, Role, User, Venue

VENUE_CODE_RE = re.compile(r"^[A-Z0-9_-]{1,32}$")


class VenueError(ValueError):
    """A venue could not be created; the message says why."""


class WardError(VenueError):
    """The administrative unit given for a venue is not in the built-in list (or not in the
    province given with it). Its text is bilingual: the CLI has no language to choose."""


def check_ward(ward_code: str | None, province_code: str | None = None) -> str | None:
    """A ward code from the built-in list (the province must be its own when given), or None for
    none. Raises WardError."""
    code = (ward_code or "").strip()
    if not code:
        if (province_code or "").strip():
            raise WardError("Chọn phường/xã của địa điểm. / Choose the venue's ward or commune.")
        return None
    ward = admin_units.ward(code)
    if ward is None:
        raise WardError(f"Không có phường/xã mã {code} trong danh mục. / "
                        f"No ward or commune with code {code} in the list.")
    if (province_code or "").strip() and ward.province_code != province_code.strip():
        raise WardError("Phường/xã không thuộc tỉnh/thành phố đã chọn. / "
                        "The ward or commune is not in the chosen province.")
    return ward.code


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
    max_stay_min: int | None = None, ward_code: str | None = None, now: datetime,
) -> Venue:
    code = (code or "").strip().upper()
    if not VENUE_CODE_RE.match(code):
        raise VenueError("venue code must be 1-32 of A-Z, 0-9, '_' or '-'")
    name = _clean_name(name)
    ward_code = check_ward(ward_code)
    if session.exec(select(Venue).where(Venue.code == code)).first():
        raise VenueError(f"venue {code} already exists")
    venue = Venue(code=code, name=name, address=(address or None), unit=(unit or None),
                  closing_time=closing_time, max_stay_min=_check_max_stay(max_stay_min),
                  ward_code=ward_code, created_at=now)
    session.add(venue)
    session.commit()
    return venue


def update_venue(
    *, session: Session, venue: Venue, name: str, address: str | None, unit: str | None,
    closing_time: time | None, max_stay_min: int | None, ward_code: str | None = None,
) -> Venue:
    """Change a venue's details, its administrative unit and its automatic check-out rules (the
    code never changes: printed posters carry it)."""
    venue.name = _clean_name(name)
    venue.ward_code = check_ward(ward_code)
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
                     address="Số 1 Tràng Tiền, Hà Nội", ward_code="00070", now=now)
        made["venue"] = "DEMO"
    if session.exec(select(User).where(User.role == Role.admin)).first() is None:
        password = generate_password()
        create_user(session=session, username="admin", role=Role.admin, password=password,
                    display_name="Quản trị viên", now=now)
        made["admin"] = ("admin", password)
    return made
