"""Who may see the kiosk pages.

The door screen (idle screen, result cards, the touchscreen questions, the event stream, camera
preview and browser-camera scanning) is public *on the kiosk's own screen*: a browser that an
administrator paired with this server once (kiosk/screens.py) and that shows its screen cookie.
The source address and proxy headers count for nothing: a browser on the device itself that was
never paired is a stranger too. Without the cookie the same pages need a signed-in receptionist
or admin, because result cards show visitors' names. Receptionist pages (on site now, flagged
queue, manual check-in) always need a signed-in receptionist or admin; the poster and pairing
screens need an admin.
"""
from __future__ import annotations

import functools

from flask import abort, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf

from core.auth import login_manager
from core.db import db
from core.errors import api_error
from core.models import Role
from kiosk.screens import COOKIE_NAME, screen_for

DESK_ROLES = (Role.receptionist, Role.admin)


def own_screen():
    """The paired screen this request comes from (its cookie names an unrevoked record), or
    None. Looked up once per request."""
    if "khaibao_screen" not in g:
        secret = request.cookies.get(COOKIE_NAME)
        g.khaibao_screen = screen_for(session=db.session, secret=secret) if secret else None
    return g.khaibao_screen


def is_own_screen() -> bool:
    """The request comes from the kiosk's own (paired) screen."""
    return own_screen() is not None


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
