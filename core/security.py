"""Security baseline for every response: headers and a strict Content Security Policy (no inline
scripts), cookies marked Secure whenever the request came over TLS, and rate limiting."""
from __future__ import annotations

import ipaddress

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from core.ratelimit import LeanMemoryStorage, use_lean_fallback  # noqa: F401 (registers memory://)

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


# Headers a reverse proxy adds: a request that passed through one is not from the device itself.
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


def from_own_device() -> bool:
    """A browser on the kiosk device itself (loopback, no proxy in between)."""
    if any(request.headers.get(name) for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def trusted_caller() -> bool:
    """Exempt from the per-client limit (not from the per-venue one): the door's own screen
    sends every scan of a rush from one address, and signed-in or bearer-token staff are
    accountable people, not anonymous scripts."""
    from flask_login import current_user

    return from_own_device() or bool(current_user.is_authenticated)


def public_limits(*, per_venue: bool = True, venue_deduct_when=None):
    """The abuse limits of a public write endpoint: per client address (trusted callers exempt)
    and per venue for every caller. Each counter is shared by all the public write endpoints
    (a declaration and a scan spend the same budget); only POSTs count."""

    def decorator(view):
        if per_venue:
            view = limiter.shared_limit(venue_limit, "public-venue", key_func=request_venue_key,
                                        methods=["POST"], deduct_when=venue_deduct_when)(view)
        return limiter.shared_limit(public_limit, "public-client", key_func=client_key,
                                    methods=["POST"], exempt_when=trusted_caller)(view)

    return decorator


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


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.after_request(_add_headers)
    limiter.init_app(app)
    use_lean_fallback(limiter)
