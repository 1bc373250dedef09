"""Staff who may use a kiosk: the central server's receptionists assigned to the kiosk's venue
reach it with each pull (username, display name, whether active, and the password's salted
scrypt hash, never the password), so they sign in at the door's desk offline too. Admins and
tracers are never sent: they work on the central server. The list comes only when it changed
(the kiosk sends a digest of what it holds); accounts the central server no longer lists are
disabled on the kiosk, and a changed password or a disabled account ends that person's
sessions there. The device's own accounts (`user create` on the kiosk) are left alone unless
the central server has an account of the same name: then the central one is kept."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime

from sqlmodel import Session, select

from core.auth import end_user_sessions
from core.models import Role, StaffVenue, User, Venue

logger = logging.getLogger(__name__)

FIELDS = ("username", "display_name", "password_hash", "is_active")
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MAX_STAFF = 500


def digest(accounts: list[dict]) -> str:
    """The same on both sides for the same active accounts."""
    active = sorted((a for a in accounts if a["is_active"]), key=lambda a: a["username"])
    text = json.dumps([[a[f] for f in FIELDS] for a in active], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def for_venue(session: Session, venue_id: int) -> list[dict]:
    """On the central server: the receptionists assigned to this venue, as sent down."""
    rows = session.exec(select(User).join(StaffVenue, StaffVenue.user_id == User.id).where(
        StaffVenue.venue_id == venue_id, User.role == Role.receptionist)
        .order_by(User.username)).all()
    return [{f: getattr(user, f) for f in FIELDS} for user in rows]


def held_here(session: Session) -> list[dict]:
    """On a kiosk: the central server's accounts it holds."""
    rows = session.exec(select(User).where(User.from_central.is_(True))
                        .order_by(User.username)).all()
    return [{f: getattr(user, f) for f in FIELDS} for user in rows]


def _valid(item) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("username"), str)
            and _USERNAME.fullmatch(item["username"]) is not None
            and isinstance(item.get("password_hash"), str)
            and 0 < len(item["password_hash"]) <= 256
            and (item.get("display_name") is None or (isinstance(item["display_name"], str)
                                                      and len(item["display_name"]) <= 100))
            and isinstance(item.get("is_active"), bool))


def apply(session: Session, *, accounts, venue_code: str, now: datetime) -> int:
    """On a kiosk, in the caller's transaction: make its central accounts those listed. Returns
    the accounts changed."""
    if not isinstance(accounts, list) or len(accounts) > MAX_STAFF:
        return 0
    venue = session.exec(select(Venue).where(Venue.code == venue_code)).first()
    listed = {}
    for item in accounts:
        if _valid(item):
            listed[item["username"]] = item
    changed = 0
    for username, item in listed.items():
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, role=Role.receptionist, from_central=True,
                        password_hash=item["password_hash"], display_name=item["display_name"],
                        is_active=item["is_active"], created_at=now)
            session.add(user)
            session.flush()
            changed += 1
        else:
            before = {f: getattr(user, f) for f in FIELDS} | {"role": user.role,
                                                              "from_central": user.from_central}
            ends = (user.password_hash != item["password_hash"] or not item["is_active"]
                    or user.role != Role.receptionist)
            for field in FIELDS[1:]:
                setattr(user, field, item[field])
            user.role, user.from_central = Role.receptionist, True
            session.add(user)
            if before != {f: getattr(user, f) for f in FIELDS} | {"role": user.role,
                                                                  "from_central": True}:
                changed += 1
                if ends:
                    end_user_sessions(session=session, user_id=user.id)
        if venue is not None and session.exec(select(StaffVenue).where(
                StaffVenue.user_id == user.id, StaffVenue.venue_id == venue.id)).first() is None:
            session.add(StaffVenue(user_id=user.id, venue_id=venue.id, created_at=now))
    for user in session.exec(select(User).where(User.from_central.is_(True),
                                                User.is_active.is_(True))).all():
        if user.username not in listed:
            user.is_active = False
            session.add(user)
            end_user_sessions(session=session, user_id=user.id)
            changed += 1
    if changed:
        logger.info("staff from the central server: %d accounts changed", changed)
    return changed


def unchanged(session: Session, venue_id: int, held: str | None) -> tuple[bool, list[dict]]:
    """On the central server: (the kiosk already holds this list, the list)."""
    accounts = for_venue(session, venue_id)
    return held is not None and held == digest(accounts), accounts


