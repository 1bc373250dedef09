"""What a scanned QR payload is: one registry of pure parsers (our personal token, the CCCD
chip-card QR, the 2021 unified personal QR, our venue QR), anything else "unknown". No I/O."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from flask_babel import lazy_gettext as _l

TOKEN = "token"
CCCD = "cccd"
NATIONAL_QR = "national_qr"
VENUE = "venue"
UNKNOWN = "unknown"
KINDS = (TOKEN, CCCD, NATIONAL_QR, VENUE, UNKNOWN)

# A QR code holds at most 7,089 digits; anything longer did not come from one.
MAX_PAYLOAD_CHARS = 7089
# Fixed with the declarations helper: short tokens decode far more reliably (qr-decoding.md).
# "KB2." is the current format (declarations/tokens.py); "KB1." codes are still recognised as
# personal codes, so the door can tell their holders that theirs is from an earlier version.
TOKEN_PREFIXES = ("KB2.", "KB1.")
TOKEN_MAX_CHARS = 120
_TOKEN_RE = re.compile(r"KB[12]\.[A-Za-z0-9_\-.]+")
_VENUE_PATH_RE = re.compile(r"(?:^|/)v/([A-Z0-9_-]{1,32})\Z")
NAME_MAX_CHARS = 100

# Provinces of birth registration, the first three digits of a 12-digit personal number
# (declaration-form.md §4.1; the 2025 merger did not renumber cards).
PROVINCE_CODES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035"
    " 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072"
    " 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)

# Soft-check results the touchscreen turns into a "please check" prompt (never a rejection).
BIRTH_YEAR_MISMATCH = "birth_year_mismatch"
GENDER_MISMATCH = "gender_mismatch"

HINTS = {
    VENUE: _l("This is the venue code. Scan it with your phone to declare."),
    UNKNOWN: _l("Unrecognised code."),
}


@dataclass(frozen=True)
class Identity:
    """Identity fields read from a card or national QR, for pre-filling the declaration.
    Personal data: repr hides it so it cannot end up in a log by accident."""

    id_number: str | None = field(default=None, repr=False)  # None when absent or masked
    full_name: str | None = field(default=None, repr=False)
    birth_date: date | None = field(default=None, repr=False)
    birth_year: int | None = field(default=None, repr=False)
    gender: str | None = field(default=None, repr=False)  # "male" | "female" | None
    id_masked: bool = False


@dataclass(frozen=True)
class ScannedCode:
    kind: str
    text: str = field(repr=False)  # the payload as read (for kind token: the token itself)
    venue_code: str | None = None
    identity: Identity | None = None
    warnings: tuple[str, ...] = ()

    @property
    def hint(self):
        """A lazy, translatable sentence for the screen, or None when the code needs no hint."""
        return HINTS.get(self.kind)


# --- parsers: each takes the stripped payload and returns a ScannedCode or None --------------


def parse_token(text: str) -> ScannedCode | None:
    if len(text) <= TOKEN_MAX_CHARS and _TOKEN_RE.fullmatch(text):
        return ScannedCode(TOKEN, text)
    return None


def parse_venue(text: str) -> ScannedCode | None:
    """`<public base URL>/v/<VENUE_CODE>?k=<signature>`; the signature is checked elsewhere."""
    if "/v/" not in text or any(ch.isspace() for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if not parts.scheme or not parts.netloc:
        return None
    match = _VENUE_PATH_RE.search(parts.path)
    if not match:
        return None
    try:
        signature = parse_qs(parts.query, keep_blank_values=True).get("k")
    except ValueError:
        return None
    if not signature or not signature[0]:
        return None
    return ScannedCode(VENUE, text, venue_code=match.group(1))


def parse_cccd(text: str) -> ScannedCode | None:
    """`CCCD|CMND|full name|DDMMYYYY|sex|address|DDMMYYYY(issue)`. The address is dropped here
    (data minimisation); so is the old CMND number. Extra trailing fields are tolerated."""
    fields = text.split("|")
    if len(fields) < 7:
        return None
    id_number, old_id, name, birth, sex, _address, issued = fields[:7]
    if not _is_personal_number(id_number):
        return None
    if old_id and not (old_id.isascii() and old_id.isdigit() and len(old_id) in (9, 12)):
        return None
    birth_date = _ddmmyyyy(birth)
    if birth_date is None or (issued and _ddmmyyyy(issued) is None):
        return None
    identity = Identity(
        id_number=id_number,
        full_name=_clean_name(name),
        birth_date=birth_date,
        birth_year=birth_date.year,
        gender=_card_sex(sex),
    )
    return ScannedCode(CCCD, text, identity=identity, warnings=_soft_checks(identity))


_NATIONAL_BIRTH_RE = re.compile(r"([0-9]{4})-([0-9]{2}|\*{2})-([0-9]{2}|\*{2})")
_DOCUMENT_RE = re.compile(r"[A-Za-z0-9*]{5,20}")


def parse_national_qr(text: str) -> ScannedCode | None:
    """`SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT` (MIC guidance 2021). The document number is
    often masked with `*`: a masked number is never used as an ID. QID, phone and insurance
    number in EXT are not kept."""
    fields = text.split("|")
    if len(fields) < 6:
        return None
    document, name, birth, declared_by, qid = fields[:5]
    extras = "|".join(fields[5:]).split("<")
    if declared_by not in ("0", "1") or not qid or not qid.isprintable():
        return None
    if not _DOCUMENT_RE.fullmatch(document):
        return None
    match = _NATIONAL_BIRTH_RE.fullmatch(birth)
    if match is None:
        return None
    year = int(match.group(1))
    if not 1900 <= year <= 2100:
        return None
    birth_date = None
    if "*" not in birth:
        try:
            birth_date = date(year, int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    elif match.group(2) != "**" and not 1 <= int(match.group(2)) <= 12:
        return None
    masked = "*" in document
    gender = {"1": "male", "2": "female"}.get(extras[1]) if len(extras) > 1 else None
    identity = Identity(
        id_number=None if masked else document.upper(),
        full_name=_clean_name(name),
        birth_date=birth_date,
        birth_year=year,
        gender=gender,
        id_masked=masked,
    )
    warnings = _soft_checks(identity) if identity.id_number and _is_personal_number(
        identity.id_number) else ()
    return ScannedCode(NATIONAL_QR, text, identity=identity, warnings=warnings)


# The one table of payload types, tried in order; the first parser that accepts wins.
PARSERS: tuple[tuple[str, Callable[[str], ScannedCode | None]], ...] = (
    (TOKEN, parse_token),
    (VENUE, parse_venue),
    (CCCD, parse_cccd),
    (NATIONAL_QR, parse_national_qr),
)


def parse_code(payload: str | bytes) -> ScannedCode:
    """Recognise a scanned payload. Any input, however garbled, gives a ScannedCode."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            return ScannedCode(UNKNOWN, bytes(payload).decode("utf-8", errors="replace"))
    else:
        text = str(payload)
    if len(text) > MAX_PAYLOAD_CHARS:
        return ScannedCode(UNKNOWN, text)
    stripped = text.strip()
    for _kind, parser in PARSERS:
        code = parser(stripped)
        if code is not None:
            return code
    return ScannedCode(UNKNOWN, text)


# --- helpers ------------------------------------------------------------------------------------


def _is_personal_number(value: str) -> bool:
    """12 digits whose first three are a province code (the hard check of §4.1)."""
    return len(value) == 12 and value.isascii() and value.isdigit() and value[:3] in PROVINCE_CODES


def _ddmmyyyy(value: str) -> date | None:
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        return None
    try:
        parsed = date(int(value[4:]), int(value[2:4]), int(value[:2]))
    except ValueError:
        return None
    return parsed if parsed.year >= 1900 else None


def _fold(value: str) -> str:
    """Lower case without diacritics, so "Nữ", "NỮ" and "Nu" compare equal."""
    decomposed = unicodedata.normalize("NFD", value.strip().casefold().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _card_sex(value: str) -> str | None:
    return {"nam": "male", "nu": "female", "male": "male", "female": "female"}.get(_fold(value))


_NAME_PUNCTUATION = frozenset(" '-.")


def _clean_name(value: str) -> str | None:
    """NFC, single spaces; None unless it looks like a person's name (letters and a little
    punctuation), so a garbled field never pre-fills the form."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name or len(name) > NAME_MAX_CHARS:
        return None
    for ch in name:
        if ch in _NAME_PUNCTUATION:
            continue
        if unicodedata.category(ch)[0] not in ("L", "M"):
            return None
    return name


def _soft_checks(identity: Identity) -> tuple[str, ...]:
    """Century/sex digit and birth year of a 12-digit number against the other fields (§4.1)."""
    number = identity.id_number
    if not number or not _is_personal_number(number):
        return ()
    century_sex = int(number[3])
    year = (19 + century_sex // 2) * 100 + int(number[4:6])
    warnings = []
    if identity.birth_year is not None and identity.birth_year != year:
        warnings.append(BIRTH_YEAR_MISMATCH)
    if identity.gender is not None and identity.gender != ("male", "female")[century_sex % 2]:
        warnings.append(GENDER_MISMATCH)
    return tuple(warnings)
