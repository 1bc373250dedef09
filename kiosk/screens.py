"""Door screens are devices, not addresses: an administrator creates a one-time pairing link
(admin page or `flask kiosk pair`); the browser that opens it gets a long-lived, HttpOnly cookie
naming a server-side record, and from then on it is "the kiosk's own screen" (public door pages,
scans, the live stream) until the record is revoked. The source address and proxy headers count
for nothing."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from kiosk.models import ScreenDevice

# A pairing link works once, within this time: long enough to walk to the kiosk.
PAIRING_TTL = timedelta(minutes=30)
# The screen's cookie: the browser keeps it for years; revoking the record ends it at once.
COOKIE_NAME = "khaibao_screen"
COOKIE_MAX_AGE_S = 5 * 365 * 24 * 3600


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PairingError(ValueError):
    """The pairing code is unknown, used or expired."""


def create_pairing(*, session: Session, name: str, now: datetime) -> tuple[ScreenDevice, str]:
    """A new screen record waiting for its browser; the returned code (shown once) goes into
    the pairing link. Codes that expired unused are cleared away."""
    for stale in session.exec(select(ScreenDevice).where(
            ScreenDevice.paired_at.is_(None), ScreenDevice.pairing_expires_at < now)):
        session.delete(stale)
    code = secrets.token_urlsafe(24)
    device = ScreenDevice(name=(name or "").strip()[:100] or "screen", created_at=now,
                          pairing_sha256=_sha256(code), pairing_expires_at=now + PAIRING_TTL)
    session.add(device)
    session.commit()
    return device, code


def pair(*, session: Session, code: str, now: datetime) -> tuple[ScreenDevice, str]:
    """Use a pairing code: the screen's secret for its cookie (shown once), or PairingError."""
    if not isinstance(code, str) or not code or len(code) > 100:
        raise PairingError("unknown")
    device = session.exec(select(ScreenDevice).where(
        ScreenDevice.pairing_sha256 == _sha256(code))).first()
    if device is None or device.paired_at is not None or device.revoked_at is not None:
        raise PairingError("unknown")
    expires = device.pairing_expires_at
    if expires is None or expires <= now:
        raise PairingError("expired")
    secret = secrets.token_urlsafe(32)
    device.secret_sha256 = _sha256(secret)
    device.pairing_sha256 = None
    device.pairing_expires_at = None
    device.paired_at = now
    session.add(device)
    session.commit()
    return device, secret


def screen_for(*, session: Session, secret) -> ScreenDevice | None:
    """The paired, unrevoked screen this cookie secret names, if any."""
    if not isinstance(secret, str) or not secret or len(secret) > 100:
        return None
    return session.exec(select(ScreenDevice).where(
        ScreenDevice.secret_sha256 == _sha256(secret),
        ScreenDevice.revoked_at.is_(None))).first()


def revoke(*, session: Session, device_id: int, now: datetime) -> ScreenDevice | None:
    device = session.get(ScreenDevice, device_id)
    if device is None:
        return None
    if device.revoked_at is None:
        device.revoked_at = now
        device.pairing_sha256 = None
        session.add(device)
        session.commit()
    return device


def list_screens(*, session: Session) -> list[ScreenDevice]:
    return list(session.exec(select(ScreenDevice).order_by(ScreenDevice.id)))
