"""Personal QR tokens, format 2: "KB2." + base64url (no padding) of an Ed25519-signed record that
names the visitor by their global identity (Visitor.uid, the same at every door and on the
central server) and says what a door that has never seen them needs to apply the freshness and
triage rules: when their declaration was made and whether it was flagged. At most 120 characters
(a version 7 QR code at error-correction level M). Kiosks verify offline with public keys only.

Layout of the signed record (integers big-endian):

    key id        4 bytes  the first 4 bytes of SHA-256 of the signer's raw Ed25519 public key
    issued at     4 bytes  seconds since 1970 UTC, unsigned (good until 2106)
    visitor uid  12 bytes  Visitor.uid (24 hex digits) as bytes
    declaration  varint    minutes from the declaration to the issue, times 2, plus 1 when the
                           declaration was flagged (needs review); 1 to 3 bytes, minimal encoding
    signature    64 bytes  Ed25519 over b"KhaiBao personal token v2\\0" + the bytes above

The minutes are rounded up, so a token never makes a declaration look fresher than it was; a
declaration older than MAX_DECLARED_MIN (about a year) is written as that old (it is stale anyway).
A door applies the newest declaration it knows for the visitor: its own, or the one the token
describes. Format 1 ("KB1.", which named database row ids) is recognised and refused as
superseded: a row id is neither the same at every door nor safe once its row is deleted.

Keys are PEM files in one directory (the app's instance/keys/), made on first use; rotation adds a
signing key and keeps old public keys until they are retired."""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from declarations.messages import Problem, problem

logger = logging.getLogger(__name__)

PREFIX = "KB2."
# Tokens of the first format: still recognised as ours, refused as superseded.
SUPERSEDED_PREFIXES = ("KB1.",)
MAX_TOKEN_LENGTH = 120
# Domain separation: a signature made for a token means nothing anywhere else.
_SIGNED_CONTEXT = b"KhaiBao personal token v2\0"
_KID_BYTES = 4
_TIME_BYTES = 4  # seconds since 1970, unsigned: good until 2106
UID_BYTES = 12
_UID_RE = re.compile(r"[0-9a-f]{24}")
_SIGNATURE_BYTES = 64
_DECLARED_MAX_BYTES = 3
# (minutes * 2 + flag) must fit in 3 varint bytes (21 bits): the longest token is 120 characters.
MAX_DECLARED_MIN = 2**20 - 1
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# Kiosk clocks drift when they run offline; a token a little "from the future" is still fine.
CLOCK_SKEW = timedelta(minutes=5)

CLEAR = "clear"
NEEDS_REVIEW = "needs_review"


class TokenError(ValueError):
    """Why a token was refused: reason is one of REASONS; `problem` is the bilingual message."""

    REASONS = ("malformed", "truncated", "bad_signature", "unknown_key", "expired",
               "not_yet_valid", "superseded")

    def __init__(self, reason: str):
        assert reason in self.REASONS
        super().__init__(reason)
        self.reason = reason

    @property
    def problem(self) -> Problem:
        return problem(f"token_{self.reason}")


@dataclass(frozen=True)
class TokenClaims:
    key_id: str
    visitor_uid: str
    issued_at: datetime
    # The declaration the token was issued for: when it was made (to the minute, never later
    # than it really was) and whether it was flagged.
    declared_at: datetime
    flagged: bool

    @property
    def declaration_status(self) -> str:
        return NEEDS_REVIEW if self.flagged else CLEAR


# ---------------------------------------------------------------------------------------------
# Encoding (pure)

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    value = shift = 0
    for count in range(max_bytes):
        if pos >= len(data):
            raise TokenError("truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and count:  # non-minimal encoding: one record, one spelling
                raise TokenError("malformed")
            return value, pos
    raise TokenError("malformed")


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[: 2 * _KID_BYTES]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> tuple[bytes, bool]:
    """(bytes, canonical). Not canonical = stray low bits in the last character: the same bytes
    must have one spelling only, but a cut-off token is reported as truncated first."""
    if not _BASE64URL.fullmatch(text):
        raise TokenError("malformed")
    whole = len(text) % 4 != 1  # 4n+1 characters is no base64 at all: cut off, or one extra
    if not whole:
        text = text[:-1]
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    return data, whole and _b64encode(data) == text


def is_uid(value) -> bool:
    return isinstance(value, str) and _UID_RE.fullmatch(value) is not None


def declared_minutes(issued_at: datetime, declared_at: datetime) -> int:
    """Whole minutes from the declaration to the issue, rounded up, within 0..MAX_DECLARED_MIN."""
    seconds = (issued_at - declared_at).total_seconds()
    return min(MAX_DECLARED_MIN, max(0, math.ceil(seconds / 60)))


def encode_token(private_key: Ed25519PrivateKey, *, visitor_uid: str, declared_at: datetime,
                 flagged: bool, issued_at: datetime) -> str:
    if not is_uid(visitor_uid):
        raise ValueError("visitor_uid must be 24 lower-case hex digits")
    for name, value in (("issued_at", issued_at), ("declared_at", declared_at)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")
    if not isinstance(flagged, bool):
        raise ValueError("flagged must be True or False")
    seconds = int(issued_at.timestamp())
    if not 0 <= seconds < 2 ** (8 * _TIME_BYTES):
        raise ValueError("issued_at is out of range")
    issued = datetime.fromtimestamp(seconds, UTC)  # what the token says, to the second
    declared = declared_minutes(issued, declared_at) * 2 + int(flagged)
    kid = bytes.fromhex(key_id_of(private_key.public_key()))
    body = (kid + seconds.to_bytes(_TIME_BYTES, "big") + bytes.fromhex(visitor_uid)
            + _varint(declared))
    signature = private_key.sign(_SIGNED_CONTEXT + body)
    token = PREFIX + _b64encode(body + signature)
    assert len(token) <= MAX_TOKEN_LENGTH
    return token


def decode_unverified(text: str) -> tuple[TokenClaims, bytes, bytes]:
    """Parse without checking the signature: (claims, signed body, signature)."""
    if not isinstance(text, str):
        raise TokenError("malformed")
    text = text.strip()
    if text.startswith(SUPERSEDED_PREFIXES) and len(text) <= MAX_TOKEN_LENGTH:
        raise TokenError("superseded")
    if not text.startswith(PREFIX) or len(text) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed")
    data, canonical = _b64decode(text[len(PREFIX):])
    header = _KID_BYTES + _TIME_BYTES + UID_BYTES
    if len(data) < header:
        raise TokenError("truncated")
    declared, pos = _read_varint(data, header, _DECLARED_MAX_BYTES)
    signature = data[pos:]
    if len(signature) < _SIGNATURE_BYTES:
        raise TokenError("truncated")
    if len(signature) > _SIGNATURE_BYTES or not canonical:
        raise TokenError("malformed")
    issued_at = datetime.fromtimestamp(
        int.from_bytes(data[_KID_BYTES:_KID_BYTES + _TIME_BYTES], "big"), UTC)
    claims = TokenClaims(
        key_id=data[:_KID_BYTES].hex(),
        visitor_uid=data[_KID_BYTES + _TIME_BYTES:header].hex(),
        issued_at=issued_at,
        declared_at=issued_at - timedelta(minutes=declared >> 1),
        flagged=bool(declared & 1),
    )
    return claims, data[:pos], signature


def looks_like_token(text: str) -> bool:
    """For the camera's code registry: is this scanned text meant to be one of our tokens?"""
    return isinstance(text, str) and text.strip().startswith((PREFIX, *SUPERSEDED_PREFIXES))


def code_lifetime(config) -> timedelta:
    """How long a personal code (and the phone's remember-me cookie) is accepted after it was
    issued: KIOSK_TOKEN_MAX_AGE_DAYS, but never longer than the retention period, so that no code
    outlives the data it stands for."""
    days = int(config.get("TOKEN_MAX_AGE_DAYS") or config["RETENTION_DAYS"])
    return timedelta(days=min(days, int(config["RETENTION_DAYS"])))


# ---------------------------------------------------------------------------------------------
# Key ring

@dataclass(frozen=True)
class KeyRing:
    """Public keys by key id, plus the private key that signs new tokens (None on a kiosk that
    only verifies)."""

    public_keys: dict[str, Ed25519PublicKey]
    signing_key: Ed25519PrivateKey | None = None
    # Keys of the installation's other signers (the central server, other kiosks): a code they
    # signed may name someone this server has not met yet. A code signed with this server's own
    # key names someone it knew: when that person is gone, so is the code.
    other_signers: frozenset[str] = frozenset()

    @property
    def signing_key_id(self) -> str | None:
        return key_id_of(self.signing_key.public_key()) if self.signing_key else None

    def issue(self, *, visitor_uid: str, declared_at: datetime, flagged: bool,
              now: datetime) -> str:
        """A token for the visitor `visitor_uid` whose latest declaration was made at
        `declared_at` (flagged or not), issued `now`."""
        if self.signing_key is None:
            raise RuntimeError("this key ring has no signing key (verification only)")
        return encode_token(self.signing_key, visitor_uid=visitor_uid, declared_at=declared_at,
                            flagged=flagged, issued_at=now)

    def verify(self, text: str, *, now: datetime, max_age: timedelta | None) -> TokenClaims:
        """The token's claims, or TokenError with the reason it is refused."""
        claims, body, signature = decode_unverified(text)
        public_key = self.public_keys.get(claims.key_id)
        if public_key is None:
            raise TokenError("unknown_key")
        try:
            public_key.verify(signature, _SIGNED_CONTEXT + body)
        except InvalidSignature:
            raise TokenError("bad_signature") from None
        if claims.issued_at > now + CLOCK_SKEW:
            raise TokenError("not_yet_valid")
        if max_age is not None and now - claims.issued_at > max_age:
            raise TokenError("expired")
        return claims

    def public_only(self) -> KeyRing:
        return KeyRing(dict(self.public_keys), other_signers=self.other_signers)


def generate_keyring() -> KeyRing:
    """A fresh in-memory ring (tests, or a kiosk before its keys are written)."""
    key = Ed25519PrivateKey.generate()
    return KeyRing({key_id_of(key.public_key()): key.public_key()}, key)


# Files: <kid>.public.pem for every key still accepted, <kid>.private.pem for the signing key
# only, and `current` naming the signing key's id.
_CURRENT = "current"


def _private_path(directory: Path, kid: str) -> Path:
    return directory / f"{kid}.private.pem"


def _public_path(directory: Path, kid: str) -> Path:
    return directory / f"{kid}.public.pem"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `data`, or FileExistsError. Written aside and linked into place, so a
    process reading the directory at the same time never sees a half-written key."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink()


def _new_key_files(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    kid = key_id_of(key.public_key())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(_private_path(directory, kid), private_pem, 0o600)
    _write_new(_public_path(directory, kid), public_pem, 0o644)
    return kid


def _read_current(directory: Path) -> str | None:
    try:
        return (directory / _CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def load_keyring(directory: Path, *, create: bool = True) -> KeyRing:
    """All public keys in `directory` and the current signing key. With `create`, the first call
    on an empty directory makes the first key (safe when several processes start together)."""
    directory = Path(directory)
    current = _read_current(directory)
    if current is None and create:
        kid = _new_key_files(directory)
        try:
            _write_new(directory / _CURRENT, (kid + "\n").encode(), 0o644)
            logger.info("created personal-token signing key %s", kid)
        except FileExistsError:  # another process won the race: use its key, drop ours
            _private_path(directory, kid).unlink()
            _public_path(directory, kid).unlink()
        current = _read_current(directory)
    public_keys = load_public_keys(directory)
    signing_key = None
    if current is not None:
        path = _private_path(directory, current)
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path.name} is not an Ed25519 key")
            signing_key = loaded
            public_keys[current] = loaded.public_key()
    return KeyRing(public_keys, signing_key)


def load_public_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for path in sorted(Path(directory).glob("*.public.pem")):
        try:
            pem = path.read_bytes()
        except FileNotFoundError:  # a key another process just dropped (lost a creation race)
            continue
        loaded = serialization.load_pem_public_key(pem)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError(f"{path.name} is not an Ed25519 key")
        keys[key_id_of(loaded)] = loaded
    return keys


def rotate_signing_key(directory: Path) -> str:
    """Start signing with a new key. Old public keys stay, so tokens already handed out keep
    verifying until their key is retired; old private keys are deleted (never needed again)."""
    directory = Path(directory)
    previous = _read_current(directory)
    kid = _new_key_files(directory)
    temporary = directory / f".{_CURRENT}.{kid}"
    temporary.write_text(kid + "\n")
    os.replace(temporary, directory / _CURRENT)  # atomic: readers see the old or the new id
    if previous and previous != kid:
        _private_path(directory, previous).unlink(missing_ok=True)
    logger.info("rotated personal-token signing key %s -> %s", previous, kid)
    return kid


def retire_key(directory: Path, kid: str) -> None:
    """Stop accepting tokens signed with `kid`. The current signing key cannot be retired."""
    directory = Path(directory)
    if not re.fullmatch(r"[0-9a-f]{8}", kid or ""):
        raise ValueError("a key id is 8 hex digits")
    if kid == _read_current(directory):
        raise ValueError("the current signing key cannot be retired; rotate first")
    path = _public_path(directory, kid)
    if not path.exists():
        raise FileNotFoundError(f"no key {kid}")
    path.unlink()
    _private_path(directory, kid).unlink(missing_ok=True)
    logger.info("retired personal-token key %s", kid)
