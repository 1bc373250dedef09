"""Search keys for the tracer console: accent-free lower-case names, normalised phone and ID numbers.

Stand-in until declarations/identity.py lands on main (branch `decl`); the lead should switch the
imports to that module so search and storage fold names the same way.
"""
from __future__ import annotations

import re
import unicodedata

# Letters that NFD does not decompose into a base letter plus marks.
_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})
_SPACES = re.compile(r"\s+")
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()/]")


def fold_name(name: str) -> str:
    """'  Nguyễn  Văn ĐẠT ' → 'nguyen van dat' (what Visitor.name_folded holds)."""
    decomposed = unicodedata.normalize("NFD", (name or "").translate(_EXTRA))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _SPACES.sub(" ", stripped.translate(_EXTRA).casefold()).strip()


def phone_search_key(text: str) -> str | None:
    """A typed phone number as E.164 (+84… for Vietnamese numbers), or None if it is not one."""
    raw = _PHONE_PUNCTUATION.sub("", text or "")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        digits = raw[1:]
        return raw if digits.isdigit() and 8 <= len(digits) <= 15 else None
    if not raw.isdigit():
        return None
    if raw.startswith("84") and len(raw) in (11, 12):
        return "+" + raw
    if raw.startswith("0") and len(raw) in (10, 11):
        return "+84" + raw[1:]
    return None


def id_search_key(text: str) -> str:
    """ID numbers are stored upper-case without spaces (passports carry letters)."""
    return re.sub(r"\s+", "", text or "").upper()
