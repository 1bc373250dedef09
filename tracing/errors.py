"""Tracing errors: the exception the services raise, and what each code means in words the
console, the API and the CLI share."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

MESSAGES = {
    "query_required": _l("Enter a phone number, ID number or name."),
    "bad_phone": _l("This is not a phone number."),
    "bad_search_kind": _l("Search by phone, ID number or name."),
    "too_many_matches": _l("Too many people match; type more of the name."),
    "phone_or_id_number": _l("Give either a phone number or an ID number."),
    "index_not_found": _l("Nobody with this phone number or ID number is on record."),
    "visit_not_found": _l("A chosen visit does not exist (it may have been purged)."),
    "no_index_visits": _l("Choose at least one visit of the index case."),
    "venue_not_found": _l("There is no venue with this code."),
    "venue_required": _l("Choose a venue."),
    "too_many_rows": _l("Too many visits for one answer; narrow the time range or export a file."),
    "unknown_format": _l("Choose CSV, XLSX or PDF."),
    "too_many_rows_for_pdf": _l("Too many rows for a printable PDF; export CSV or XLSX instead."),
    "font_missing": _l("No font with Vietnamese letters is installed for PDF (fonts-dejavu-core)."),
}


def message_for(code: str):
    return MESSAGES.get(code, _l("The request could not be understood."))


class TracingError(ValueError):
    """A request the services cannot answer; `code` for the API, `field` for the form."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code = code
        self.field = field
