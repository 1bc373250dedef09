"""Whether the configured public address (KIOSK_PUBLIC_URL) can go on a venue QR: visitors'
phones open it, so a missing one or one on this machine's loopback makes a dead QR. Every place
that shows or prints the venue QR asks here, and says the same thing."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

UNSET = "unset"
LOOPBACK = "loopback"

PROBLEMS = {
    UNSET: _l("KIOSK_PUBLIC_URL is not set: visitors' phones cannot open the venue QR code. "
              "Set it to the address phones reach (for example https://kiosk.example.vn); "
              "until then no venue QR is shown and no poster is printed."),
    LOOPBACK: _l("KIOSK_PUBLIC_URL points at this machine itself (%(host)s): visitors' phones "
                 "cannot open the venue QR code. Set it to the address phones reach; until "
                 "then no venue QR is shown and no poster is printed."),
}


def _is_local(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_url_problem(public_url: str | None) -> str | None:
    """None when `public_url` can go on a QR; otherwise UNSET or LOOPBACK."""
    if not public_url or not public_url.strip():
        return UNSET
    host = (urlsplit(public_url.strip()).hostname or "").lower()
    if not host:
        return UNSET
    return LOOPBACK if _is_local(host) else None


def public_url_message(public_url: str | None) -> str:
    """The problem in the current language ('' when there is none)."""
    problem = public_url_problem(public_url)
    if problem is None:
        return ""
    host = urlsplit((public_url or "").strip()).hostname or ""
    return str(PROBLEMS[problem]) % {"host": host} if problem == LOOPBACK else str(PROBLEMS[problem])
