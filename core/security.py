"""Security baseline for every response: headers and a strict Content Security Policy (no inline
scripts), cookies marked Secure whenever the request came over TLS, and rate limiting."""
from __future__ import annotations

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

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
