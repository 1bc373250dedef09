"""The audit log in people's words: what each recorded action means, and each detail with its
name (no raw codes or JSON on the page). The audit page sits in the tracer's console, above every
feature, so it may name every feature's actions; a new action needs its words here (a test reads
every `action="…"` the code records)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

ACTIONS = {
    "contacts.query": _l("Contact list viewed"),
    "contacts.export": _l("Contact list exported"),
    "declaration.view": _l("Declaration read"),
    "identity.mismatch": _l("An ID card did not match the stored record"),
    "index.search": _l("Index case searched"),
    "privacy.copy": _l("Copy of a visitor's data given"),
    "privacy.delete": _l("A visitor's data deleted"),
    "privacy.revoke": _l("A visitor's QR codes stopped"),
    "populations.import": _l("Unit populations imported"),
    "exposure.notify": _l("Exposure notices sent"),
    "exposure.resend": _l("Exposure notice queued again"),
    "retention.purge": _l("Old data deleted (retention)"),
    "staff.enable": _l("Staff account enabled"),
    "staff.disable": _l("Staff account disabled"),
    "staff.venues": _l("Staff venues changed"),
    "staff.password": _l("Own password changed"),
    "screen.pair": _l("Door screen pairing link made"),
    "screen.revoke": _l("Door screen revoked"),
    "visit.admit": _l("Flagged visitor admitted"),
    "visit.turn_away": _l("Flagged visitor turned away"),
    "visitor.qr_reprint": _l("Personal QR printed again"),
    "visits.close_all": _l("All visits closed"),
    "visits.export": _l("Visit list exported"),
    "visits.import": _l("Paper list imported"),
    "visits.query": _l("Visit list viewed"),
}

DETAIL_NAMES = {
    "channel": _l("through"),
    "by": _l("searched by"),
    "venue": _l("venue"),
    "venues": _l("venues"),
    "venue_ids": _l("venue ids"),
    "format": _l("format"),
    "filename": _l("file"),
    "since": _l("from"),
    "until": _l("until"),
    "before_min": _l("minutes before"),
    "after_min": _l("minutes after"),
    "encounters": _l("phones heard"),
    "index_visitor_ids": _l("index case (visitor ids)"),
    "index_visit_ids": _l("index visits (ids)"),
    "new_visitors": _l("new visitors"),
    "with_note": _l("with a note"),
    "cutoff": _l("older than"),
    "days": _l("days kept"),
    "visits": _l("visits"),
    "declarations": _l("declarations"),
    "dependants": _l("dependants"),
    "visitors": _l("visitors"),
    "days_folded": _l("days counted"),
    "query": _l("query"),
    "visitor_ids": _l("visitors found (ids)"),
    "sessions_ended": _l("sessions ended"),
    "min_overlap_min": _l("minimum minutes together"),
    "notice_ids": _l("notices (ids)"),
    "channels": _l("channels"),
    "kind": _l("code scanned"),
    "records": _l("records with that ID number"),
}

VALUE_WORDS = {
    "console": _l("the console"),
    "cli": _l("the command line"),
    "api": _l("the API"),
    "phone": _l("phone"),
    "id_number": _l("ID number"),
    "name": _l("name"),
    "visits": _l("chosen visits"),
    "cccd": _l("chip ID card (CCCD)"),
    "national_qr": _l("national personal QR"),
}


def action_words(action: str) -> str:
    word = ACTIONS.get(action)
    return str(word) if word is not None else action


def _value(value) -> str:
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{_name(k)}: {_value(v)}" for k, v in value.items())
    if isinstance(value, str):
        if value in VALUE_WORDS:
            return str(VALUE_WORDS[value])
        try:  # an ISO time as people read it
            return datetime.fromisoformat(value).strftime("%H:%M %d/%m/%Y")
        except ValueError:
            return value
    if value is None:
        return "—"
    return str(value)


def _name(key: str) -> str:
    name = DETAIL_NAMES.get(key)
    return str(name) if name is not None else key.replace("_", " ")


def detail_lines(details: dict | None) -> list[tuple[str, str]]:
    """(name, value) pairs in the current language, for a definition list."""
    return [(_name(key), _value(value)) for key, value in (details or {}).items()]
