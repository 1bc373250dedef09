"""Kiosk devices enrolled on the central server: enrol (a credential shown once, stored as its
SHA-256), list, revoke, and recognising the device behind a sync call."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.models import Kiosk, Venue
from sync.models import SyncDevice

# Device credentials are told apart from staff tokens (kbt_) at a glance.
TOKEN_PREFIX = "kbd_"

MESSAGES = {
    "unknown_venue": _l("There is no venue with this code."),
    "bad_name": _l("The device name must be 1 to 100 characters."),
    "name_taken": _l("This venue already has a device with this name."),
    "unknown_device": _l("There is no device with this id."),
}


class DeviceError(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.message = MESSAGES[code]


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enrol_device(*, session: Session, venue_code: str, name: str,
                 now: datetime) -> tuple[SyncDevice, str]:
    """A new device of the venue (a kiosk row and its credential); the credential is returned
    once and never stored."""
    code = (venue_code or "").strip().upper()
    venue = session.exec(select(Venue).where(Venue.code == code)).first() if code else None
    if venue is None:
        raise DeviceError("unknown_venue")
    name = (name or "").strip()
    if not 0 < len(name) <= 100 or any(ord(c) < 32 for c in name):
        raise DeviceError("bad_name")
    if session.exec(select(Kiosk).where(Kiosk.venue_id == venue.id, Kiosk.name == name)).first():
        raise DeviceError("name_taken")
    kiosk = Kiosk(venue_id=venue.id, name=name, created_at=now)
    session.add(kiosk)
    session.flush()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = SyncDevice(kiosk_id=kiosk.id, venue_id=venue.id, token_sha256=token_sha256(token),
                        prefix=token[:12], created_at=now)
    session.add(device)
    session.commit()
    return device, token


def list_devices(*, session: Session) -> list[tuple[SyncDevice, Kiosk, Venue]]:
    return list(session.exec(
        select(SyncDevice, Kiosk, Venue)
        .join(Kiosk, Kiosk.id == SyncDevice.kiosk_id)
        .join(Venue, Venue.id == SyncDevice.venue_id)
        .order_by(SyncDevice.id)).all())


def revoke_device(*, session: Session, device_id: int, now: datetime) -> SyncDevice:
    device = session.get(SyncDevice, device_id) if 0 < device_id < 2**31 else None
    if device is None:
        raise DeviceError("unknown_device")
    if device.revoked_at is None:
        from sync.keys import retire_device_keys

        device.revoked_at = now
        session.add(device)
        # The keys it signed codes with are retired: a stolen kiosk signs nothing accepted.
        retire_device_keys(session.connection(), device_id=device.id, now=now)
        session.commit()
    return device


def device_for_token(*, session: Session, token: str | None) -> SyncDevice | None:
    """The enrolled, unrevoked device whose credential this is, else None (checked on every
    call: a revoked device is refused from its next request)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = token_sha256(token)
    device = session.exec(select(SyncDevice).where(SyncDevice.token_sha256 == digest)).first()
    if device is None or device.revoked_at is not None:
        return None
    if not hmac.compare_digest(device.token_sha256, digest):
        return None
    return device
