"""Who may see the kiosk pages.

The door screen (idle screen, result cards, the touchscreen questions, the event stream, camera
preview and browser-camera scanning) is public *on the kiosk's own screen*: Chromium in kiosk
mode on the device itself, talking to the local server over the loopback interface. From any
other address the same pages need a signed-in receptionist or admin, because result cards show
visitors' names. Receptionist pages (on site now, flagged queue, manual check-in) always need a
signed-in receptionist or admin; the poster needs an admin.
"""
from __future__ import annotations

import functools
import ipaddress

from flask import abort, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf

from core.auth import login_manager
from core.errors import api_error
from core.models import Role

DESK_ROLES = (Role.receptionist, Role.admin)
# Headers a reverse proxy adds: a request that passed through one is not from the device's own
# screen, even when the proxy itself connects over loopback.
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


def is_own_screen() -> bool:
    """The request comes from a browser on the kiosk device itself."""
    if any(request.headers.get(name) for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def is_desk_staff() -> bool:
    return current_user.is_authenticated and Role(current_user.role) in DESK_ROLES


def can_see_screen() -> bool:
    # Staff first: resolving the user also marks bearer-token requests (no CSRF for scripts).
    return is_desk_staff() or is_own_screen()


def _refuse():
    if current_user.is_authenticated:
        if request.path.startswith("/api/"):
            return api_error("forbidden", _l("Your role may not do this."), 403)
        abort(403)
    return login_manager.unauthorized()


def check_csrf_header() -> None:
    """Browser callers (cookie or own screen) must send the page's CSRF token; bearer-token
    scripts need not, a cross-site page cannot forge the header."""
    if request.environ.get("khaibao.auth") == "bearer":
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except Exception as exc:  # flask_wtf raises ValidationError
        raise CSRFError(str(exc)) from exc


def screen_required(view):
    """The door screen's pages: the device's own screen, or signed-in desk staff."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not can_see_screen():
            return _refuse()
        return view(*args, **kwargs)

    wrapper.screen_public = True
    return wrapper


def scan_caller_required(view):
    """Scan API: desk staff (bearer token or signed in) or the device's own screen; browser
    callers must send the CSRF header (these views are exempt from the form-based check)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not can_see_screen():
            return _refuse()
        check_csrf_header()
        return view(*args, **kwargs)

    return wrapper
