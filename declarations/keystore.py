"""The personal-QR key ring as every running process sees it, so that `keys rotate` and
`keys retire` act at once. The signing server's private key stays in its instance/keys files
(written to disk before it is used, so codes issued after a rotation survive a restart); the
database holds every public key an installation accepts, which ones are retired, and a version
counter bumped by each change. Each process reads that one-row counter at most every
KEY_CHECK_S seconds and reloads its ring when it moved: a retired key's codes are refused, and a
new signing key used, by every process (kiosk threads, every gunicorn worker of a central
server, every host sharing the database) within seconds."""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from declarations.models import TokenKey, TokenKeyState
from declarations.tokens import KeyRing, key_id_of, load_keyring, retire_key, rotate_signing_key

logger = logging.getLogger(__name__)

# How stale a process's ring may be: the longest a retired key's code is still accepted.
KEY_CHECK_S = 2.0

_keys = TokenKey.__table__
_state = TokenKeyState.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def read_version(connection: sa.Connection) -> int:
    return connection.execute(sa.select(_state.c.version).where(_state.c.id == 1)
                              ).scalar_one_or_none() or 0


def bump_version(connection: sa.Connection) -> None:
    """In the caller's transaction: every process reloads its ring at its next check."""
    if connection.execute(_state.update().where(_state.c.id == 1)
                          .values(version=_state.c.version + 1)).rowcount == 0:
        connection.execute(_state.insert().values(id=1, version=1))


def _publish(connection: sa.Connection, ring: KeyRing) -> bool:
    """Make this server's public keys known to the installation (once each)."""
    known = set(connection.execute(sa.select(_keys.c.kid)).scalars())
    new = [kid for kid in ring.public_keys if kid not in known]
    for kid in new:
        connection.execute(_keys.insert().values(kid=kid, public_pem=_pem(ring.public_keys[kid]),
                                                 created_at=_now(), retired_at=None))
    return bool(new)


def _ring_from(rows, local: KeyRing) -> KeyRing:
    retired = {row.kid for row in rows if row.retired_at is not None}
    public = {}
    for row in rows:
        if row.retired_at is None:
            loaded = serialization.load_pem_public_key(row.public_pem.encode())
            if isinstance(loaded, Ed25519PublicKey) and key_id_of(loaded) == row.kid:
                public[row.kid] = loaded
    for kid, key in local.public_keys.items():
        if kid not in retired:
            public.setdefault(kid, key)
    signing = local.signing_key
    if signing is not None and local.signing_key_id in retired:
        signing = None
    return KeyRing(public, signing,
                   other_signers=frozenset(kid for kid in public if kid not in local.public_keys))


class KeyStore:
    """One per app (process): `ring()` is the key ring to sign and verify with now."""

    def __init__(self, directory: Path, engine: callable, *, check_s: float = KEY_CHECK_S):
        self.directory = Path(directory)
        self._engine = engine  # called lazily: building the app opens no connection
        self.check_s = check_s
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._version: int | None = None
        self._checked = 0.0

    def ring(self) -> KeyRing:
        if self._ring is not None and time.monotonic() - self._checked < self.check_s:
            return self._ring
        with self._lock:
            if self._ring is not None and time.monotonic() - self._checked < self.check_s:
                return self._ring
            engine: Engine = self._engine()
            try:
                with engine.connect() as connection:
                    version = read_version(connection)
                if self._ring is None or version != self._version:
                    self._ring, self._version = self._load(engine)
            except sa.exc.SQLAlchemyError:
                if self._ring is None:
                    raise
                logger.warning("token keys: could not read their state; using the ring loaded")
            self._checked = time.monotonic()
            return self._ring

    def forget(self) -> None:
        """Check the database at the next use (after a change made in this process)."""
        with self._lock:
            self._checked = 0.0
            self._version = None

    def _load(self, engine: Engine) -> tuple[KeyRing, int]:
        local = load_keyring(self.directory)
        try:
            rows, version = self._publish_and_read(engine, local)
        except sa.exc.IntegrityError:
            # Another process (a sibling gunicorn worker starting at the same moment) published
            # the same key first: it is known now, read again.
            rows, version = self._publish_and_read(engine, local)
        ring = _ring_from(rows, local)
        logger.info("token keys loaded: %d accepted, signing with %s (version %d)",
                    len(ring.public_keys), ring.signing_key_id, version)
        return ring, version

    @staticmethod
    def _publish_and_read(engine: Engine, local: KeyRing):
        with engine.begin() as connection:
            if _publish(connection, local):
                bump_version(connection)
            rows = connection.execute(sa.select(_keys)).all()
            version = read_version(connection)
        return rows, version


def keystore_of(app) -> KeyStore:
    """The app's key store (one per process), made on first use."""
    store = app.extensions.get("declarations.keystore")
    if store is None:
        from core.db import db

        store = KeyStore(Path(app.instance_path) / "keys", lambda: db.engine(app),
                         check_s=float(app.config.get("KEY_CHECK_S", KEY_CHECK_S)))
        store = app.extensions.setdefault("declarations.keystore", store)
    return store


# ---------------------------------------------------------------------------------------------
# The `keys` commands

def list_keys(engine: Engine, directory: Path) -> list[tuple[str, str]]:
    """(kid, state) for every key the installation knows: signing (this server's current key),
    accepted, or retired."""
    local = load_keyring(directory)
    with engine.begin() as connection:
        if _publish(connection, local):
            bump_version(connection)
        rows = connection.execute(sa.select(_keys).order_by(_keys.c.created_at)).all()
    states = []
    for row in rows:
        state = "retired" if row.retired_at is not None else (
            "signing" if row.kid == local.signing_key_id else "accepted")
        states.append((row.kid, state))
    return states


def rotate(engine: Engine, directory: Path) -> str:
    """A new signing key: written to instance/keys first (so it outlives a restart), then
    published and the version bumped (so every process signs with it within seconds)."""
    load_keyring(directory)  # a first key to rotate from
    kid = rotate_signing_key(directory)
    local = load_keyring(directory)
    with engine.begin() as connection:
        _publish(connection, local)
        bump_version(connection)
    logger.info("token key %s is now the signing key", kid)
    return kid


def retire(engine: Engine, directory: Path, kid: str) -> None:
    """Stop accepting codes signed with `kid`, in every process within seconds. This server's
    current signing key cannot be retired (rotate first). Raises ValueError / LookupError."""
    if not isinstance(kid, str) or not re.fullmatch(r"[0-9a-f]{8}", kid):
        raise ValueError("a key id is 8 hex digits")
    local = load_keyring(directory)
    if kid == local.signing_key_id:
        raise ValueError("the current signing key cannot be retired; rotate first")
    with engine.begin() as connection:
        _publish(connection, local)
        known = connection.execute(sa.select(_keys.c.kid).where(_keys.c.kid == kid)).first()
        if known is None:
            raise LookupError(f"no key {kid}")
        connection.execute(_keys.update().where(_keys.c.kid == kid, _keys.c.retired_at.is_(None))
                           .values(retired_at=_now()))
        bump_version(connection)
    try:
        retire_key(directory, kid)  # drop the files too, when this server has them
    except FileNotFoundError:
        pass
    logger.info("token key %s retired", kid)
