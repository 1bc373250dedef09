"""Security baseline for every response: headers and a strict Content Security Policy (no inline
scripts), cookies marked Secure whenever the request came over TLS, and rate limiting."""
from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from core.ratelimit import (  # noqa: F401 (LeanMemoryStorage registers memory://)
    Budget,
    LeanMemoryStorage,
    spend,
    use_lean_fallback,
)

# Everything is served from the kiosk itself (offline kiosks, no CDN): 'self' only. Images may be
# data:/blob: (QR codes, camera snapshots); media blob: (getUserMedia preview).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Venue links carry a signature in the query string: never leak URLs to other sites.
    "Referrer-Policy": "no-referrer",
    # The kiosk page itself may use the camera (browser-camera mode); nothing else may.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

limiter = Limiter(key_func=get_remote_address)


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def login_username_key() -> str:
    """Per account, so guessing one password from many addresses is slowed down too."""
    return "user:" + (request.form.get("username") or "").strip().lower()[:64]


def public_limit() -> str:
    return current_app.config["PUBLIC_RATE_LIMIT"]


def venue_limit() -> str:
    return current_app.config["VENUE_RATE_LIMIT"]


def client_key() -> str:
    """The client's address (after ProxyFix, when KIOSK_TRUSTED_PROXIES says there are proxies)."""
    return "client:" + (get_remote_address() or "?")


def venue_key_from(code) -> str:
    """One counter per venue code as the service would read it (case and spaces do not make a
    new venue); anything that cannot be a venue code shares one counter."""
    if isinstance(code, str):
        code = code.strip().upper()
        if 0 < len(code) <= 32 and code.replace("-", "").replace("_", "").isalnum():
            return "venue:" + code
    return "venue:?"


def request_venue_key() -> str:
    """The venue a public request is about: the URL's `code`, else the JSON body's or the
    form's `venue_code`."""
    code = (request.view_args or {}).get("code")
    if code is None:
        if request.is_json:
            body = request.get_json(silent=True)
            code = body.get("venue_code") if isinstance(body, dict) else None
        else:
            code = request.form.get("venue_code")
    return venue_key_from(code)


# The feature that knows the door's own screen registers its check here (kiosk: a paired
# screen's cookie); core knows no feature. Never the source address or proxy headers.
OWN_SCREEN_CHECK = "khaibao.own_screen"


def from_own_device() -> bool:
    """The door's own screen, as the registered check says (False when none is registered)."""
    check = current_app.extensions.get(OWN_SCREEN_CHECK)
    return bool(check()) if check is not None else False


def trusted_caller() -> bool:
    """Exempt from the per-client limit (not from the per-venue one): the door's own screen
    sends every scan of a rush from one address, and signed-in or bearer-token staff are
    accountable people, not anonymous scripts."""
    from flask_login import current_user

    return from_own_device() or bool(current_user.is_authenticated)


def public_limits(*, per_venue: bool = True, venue_deduct_when=None):
    """The abuse limits of a public write endpoint: per client address (trusted callers exempt)
    and per venue for every caller. Each counter is shared by all the public write endpoints
    (a declaration and a scan spend the same budget); only POSTs count. Counted by
    core.ratelimit.spend on Flask-Limiter's strategy and store (Flask-Limiter itself skips these
    endpoints: its per-request work cost a tenth of a check-in)."""

    def decorator(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if request.method != "POST" or not limiter.enabled:
                return view(*args, **kwargs)
            budgets = []
            if not trusted_caller():
                budgets.append(Budget(public_limit(), client_key(), "public-client"))
            if per_venue:
                budgets.append(Budget(venue_limit(), request_venue_key(), "public-venue",
                                      venue_deduct_when))
            return spend(limiter, budgets,
                         lambda: current_app.make_response(view(*args, **kwargs)))

        limited.public_limits = True
        return limited

    return decorator


@limiter.request_filter
def _counted_by_public_limits() -> bool:
    """Flask-Limiter has nothing to count on the public write endpoints (public_limits does)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "public_limits", False)


# What a browser drops from a URL before reading it (WHATWG URL: tab, LF and CR anywhere).
_URL_IGNORED = re.compile(r"[\t\n\r]")


def safe_next(target: str | None, fallback: str) -> str:
    """`target` when it is a path on this site, else `fallback`: a crafted ?next= must never send
    anyone to another site. Read as a browser reads it (tabs and newlines dropped, backslashes
    taken as slashes), it must start with one slash and name no scheme or host; what is returned
    is that normalised form, so the browser follows exactly what was checked."""
    if not isinstance(target, str) or not target:
        return fallback
    cleaned = _URL_IGNORED.sub("", target).replace("\\", "/")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned):
        return fallback
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return fallback
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc:
        return fallback
    return cleaned


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _add_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        # Pages and API answers may hold personal data: a shared kiosk browser must not keep them.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


# Said before the app runs (no language chosen yet): both languages at once.
UNKNOWN_HOST_VI = "Máy chủ này không phục vụ tên miền được yêu cầu."
UNKNOWN_HOST_EN = "This server does not serve the requested host name."


class AllowedHosts:
    """WSGI middleware: a request naming a host outside KIOSK_ALLOWED_HOSTS (after the trusted
    proxies' X-Forwarded-Host) gets a 400 before the app sees it, so no link, redirect or QR code
    is ever built from a forged Host header."""

    def __init__(self, wsgi_app, hosts: list[str]):
        self.wsgi_app = wsgi_app
        self.hosts = list(hosts)

    def __call__(self, environ, start_response):
        from werkzeug.exceptions import SecurityError
        from werkzeug.wsgi import get_host

        try:
            get_host(environ, trusted_hosts=self.hosts)
        except SecurityError:
            return self._refuse(environ, start_response)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _refuse(environ, start_response):
        import json

        if (environ.get("PATH_INFO") or "").startswith("/api/"):
            body = json.dumps({"code": "unknown_host", "message": UNKNOWN_HOST_VI,
                               "message_vi": UNKNOWN_HOST_VI, "message_en": UNKNOWN_HOST_EN,
                               "errors": {}}, ensure_ascii=False).encode()
            kind = "application/json"
        else:
            body = f"{UNKNOWN_HOST_VI}\n{UNKNOWN_HOST_EN}\n".encode()
            kind = "text/plain; charset=utf-8"
        start_response("400 Bad Request", [("Content-Type", kind),
                                           ("Content-Length", str(len(body))),
                                           ("Cache-Control", "no-store"),
                                           *SECURITY_HEADERS.items()])
        return [body]


def _check_hosts(app: Flask) -> None:
    """Innermost, under ProxyFix when there is one, so the host checked is the one links use."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hosts = app.config["ALLOWED_HOSTS"]
    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = AllowedHosts(app.wsgi_app.app, hosts)
    else:
        app.wsgi_app = AllowedHosts(app.wsgi_app, hosts)


def init_app(app: Flask) -> None:
    _check_hosts(app)
    app.session_interface = _SessionInterface()
    app.after_request(_add_headers)
    limiter.init_app(app)
    use_lean_fallback(limiter)
