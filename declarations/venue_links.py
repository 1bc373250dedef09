"""The venue QR: a signed URL `<public base URL>/v/<VENUE_CODE>?k=<signature>` that opens the
declaration form for that venue. The signature is a truncated HMAC of the venue code under a key
derived from the app secret, so a printed poster cannot be edited into another venue's link."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

VENUE_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
# 12 bytes = 96 bits: forging one by guessing is out of reach, and the URL stays short (16 chars).
_SIGNATURE_BYTES = 12
_PURPOSE = b"khaibao venue link v1"


def normalise_venue_code(code: str) -> str | None:
    """Upper-case venue code, or None when it is not one (letters, digits, _ and -, ≤ 32)."""
    if not isinstance(code, str):
        return None
    code = code.strip().upper()
    return code if code.isascii() and VENUE_CODE.fullmatch(code) else None


def _key(secret: str | bytes) -> bytes:
    # A key of its own, so a venue signature is never valid as anything else signed with the secret.
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise ValueError("the app secret is empty")
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def venue_signature(venue_code: str, secret: str | bytes) -> str:
    code = normalise_venue_code(venue_code)
    if code is None:
        raise ValueError("not a venue code")
    digest = hmac.new(_key(secret), code.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_SIGNATURE_BYTES]).rstrip(b"=").decode("ascii")


def verify_venue_signature(venue_code: str, signature: str, secret: str | bytes) -> bool:
    code = normalise_venue_code(venue_code)
    if code is None or not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(venue_signature(code, secret), signature)


def venue_path(venue_code: str, secret: str | bytes) -> str:
    code = normalise_venue_code(venue_code)
    if code is None:
        raise ValueError("not a venue code")
    return f"/v/{code}?k={venue_signature(code, secret)}"


def build_venue_url(base_url: str, venue_code: str, secret: str | bytes) -> str:
    """E.g. https://khaibao.example.vn/v/DEMO?k=3q2-7wEBAQEBAQEB."""
    return base_url.rstrip("/") + venue_path(venue_code, secret)


@dataclass(frozen=True)
class VenueLink:
    base_url: str
    venue_code: str
    signature: str


def parse_venue_url(text: str) -> VenueLink | None:
    """A scanned text that has the shape of a venue link (signature not checked), else None.
    The camera's code registry uses it to tell a venue poster from a personal code."""
    if not isinstance(text, str) or len(text) > 2048:
        return None
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    match = re.fullmatch(r"(.*)/v/([^/]+)", parts.path)
    if not match:
        return None
    code = normalise_venue_code(match.group(2))
    signatures = parse_qs(parts.query).get("k", [])
    if code is None or code != match.group(2) or len(signatures) != 1:
        return None
    return VenueLink(f"{parts.scheme}://{parts.netloc}{match.group(1)}", code, signatures[0])
