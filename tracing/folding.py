"""Search keys for the tracer console, made with the declaration form's own rules
(declarations.identity), so what a tracer types matches what the form and the import stored."""
from __future__ import annotations

from declarations.identity import check_phone, clean_id_number, fold

# Any nationality but VN: check_phone then accepts foreign numbers too (a tracer may look up a
# foreign visitor) while Vietnamese numbers, in any of their written forms, still become +84….
_ANY_COUNTRY = "ZZ"


def fold_name(name: str) -> str:
    """'Nguyễn  Văn ĐẠT' → 'nguyen van dat' (what Visitor.name_folded holds)."""
    return fold(name or "")


def phone_search_key(text: str) -> str | None:
    """A typed phone number as E.164, or None if it cannot be one."""
    if not text or not text.strip():
        return None
    return check_phone(text, nationality=_ANY_COUNTRY).e164


def id_search_key(text: str) -> str:
    """ID numbers are stored upper-case without spaces or hyphens."""
    return clean_id_number(text or "")
