"""Signing keys across an installation. Every signer (the central server, each kiosk) signs
personal QR codes with its own Ed25519 key and keeps the private half to itself; the public
halves travel: a kiosk announces its own at every sync round (POST /api/v1/sync/keys), the
central server records which enrolled device published each, and every pull answer carries the
whole list with the retired ones marked. So a code signed anywhere is verified offline at every
door, a key retired centrally is refused at every connected door after its next round, and
revoking a device retires the keys it published (a stolen kiosk's key signs nothing anyone
accepts)."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from declarations.keystore import bump_version
from declarations.models import TokenKey
from declarations.tokens import key_id_of, load_keyring

logger = logging.getLogger(__name__)

_keys = TokenKey.__table__
# A signer has a handful of keys (one per rotation); more in one call is not a kiosk's doing.
MAX_KEYS = 50
# Keys a device may have accepted at once (not retired): a rotation a month for most of a year.
MAX_KEYS_PER_DEVICE = 10
MAX_PEM = 400


class KeyListError(ValueError):
    pass


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise KeyListError("retired_at")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise KeyListError("retired_at") from None
    if parsed.tzinfo is None:
        raise KeyListError("retired_at")
    return parsed


def read_keys(items) -> list[dict]:
    """Check a list of keys from the other side: each {kid, public_pem, retired_at}, the kid
    being the key's own id (so a key cannot be published under another's name). Raises
    KeyListError."""
    if not isinstance(items, list) or len(items) > MAX_KEYS:
        raise KeyListError("keys")
    keys = []
    for item in items:
        if not isinstance(item, dict):
            raise KeyListError("keys")
        kid, pem = item.get("kid"), item.get("public_pem")
        if not isinstance(kid, str) or not isinstance(pem, str) or len(pem) > MAX_PEM:
            raise KeyListError("kid")
        try:
            loaded = serialization.load_pem_public_key(pem.encode())
        except (ValueError, TypeError):
            raise KeyListError("public_pem") from None
        if not isinstance(loaded, Ed25519PublicKey) or key_id_of(loaded) != kid:
            raise KeyListError("kid")
        keys.append({"kid": kid, "public_pem": pem, "retired_at": _parse_time(
            item.get("retired_at"))})
    return keys


def all_keys(connection: sa.Connection) -> list[dict]:
    """What a pull answer carries: every key the installation knows, retired ones marked."""
    rows = connection.execute(sa.select(_keys.c.kid, _keys.c.public_pem, _keys.c.retired_at)
                              .order_by(_keys.c.created_at, _keys.c.kid)).all()
    return [{"kid": kid, "public_pem": pem, "retired_at": _iso(retired)}
            for kid, pem, retired in rows]


def own_keys(connection: sa.Connection, directory: Path) -> list[dict]:
    """A kiosk's announcement: the public halves of its own keys (its instance/keys), each with
    its retirement as this kiosk's database records it."""
    local = load_keyring(directory)
    retired = dict(connection.execute(sa.select(_keys.c.kid, _keys.c.retired_at).where(
        _keys.c.kid.in_(list(local.public_keys)))).all())
    return [{"kid": kid, "public_pem": key.public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
             "retired_at": _iso(retired.get(kid))}
            for kid, key in sorted(local.public_keys.items())]


def accept_announcement(connection: sa.Connection, *, device_id: int, keys: list[dict],
                        now: datetime) -> int:
    """On the central server, in the caller's transaction: a device's own keys. New ones are
    published under the device; a key the device retired is retired. A key already known as
    another signer's is left alone (a device speaks for its own keys only). Returns the changes."""
    changed = 0
    held = connection.execute(sa.select(sa.func.count()).select_from(_keys).where(
        _keys.c.device_id == device_id, _keys.c.retired_at.is_(None))).scalar_one()
    for key in keys:
        row = connection.execute(sa.select(_keys.c.device_id, _keys.c.retired_at)
                                 .where(_keys.c.kid == key["kid"])).first()
        if row is None:
            if key["retired_at"] is None and held >= MAX_KEYS_PER_DEVICE:
                logger.warning("device %s: announced more keys than it may hold; ignored",
                               device_id)
                continue
            held += key["retired_at"] is None
            connection.execute(_keys.insert().values(
                kid=key["kid"], public_pem=key["public_pem"], created_at=now,
                retired_at=key["retired_at"], device_id=device_id))
            changed += 1
        elif row.device_id == device_id and key["retired_at"] is not None \
                and row.retired_at is None:
            connection.execute(_keys.update().where(_keys.c.kid == key["kid"])
                               .values(retired_at=key["retired_at"]))
            changed += 1
    if changed:
        bump_version(connection)
        logger.info("device %s: %d key changes", device_id, changed)
    return changed


def apply_installation_keys(connection: sa.Connection, keys: list[dict], now: datetime) -> int:
    """On a kiosk, in the caller's transaction: every signer's public key is accepted, and a key
    retired anywhere is retired here. Returns the changes (the key ring reloads when any)."""
    changed = 0
    for key in keys:
        row = connection.execute(sa.select(_keys.c.retired_at)
                                 .where(_keys.c.kid == key["kid"])).first()
        if row is None:
            connection.execute(_keys.insert().values(
                kid=key["kid"], public_pem=key["public_pem"], created_at=now,
                retired_at=key["retired_at"]))
            changed += 1
        elif key["retired_at"] is not None and row.retired_at is None:
            connection.execute(_keys.update().where(_keys.c.kid == key["kid"])
                               .values(retired_at=key["retired_at"]))
            changed += 1
    if changed:
        bump_version(connection)
    return changed


def retire_device_keys(connection: sa.Connection, *, device_id: int, now: datetime) -> int:
    """A revoked device's keys are retired: codes it signed are refused everywhere."""
    result = connection.execute(_keys.update().where(_keys.c.device_id == device_id,
                                                     _keys.c.retired_at.is_(None))
                                .values(retired_at=now))
    if result.rowcount:
        bump_version(connection)
    return result.rowcount or 0
