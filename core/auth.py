"""Staff authentication: Flask-Login sessions for pages, bearer tokens for the API, one decorator
for roles."""
from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from flask import abort, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import db
from core.models import ApiToken, Role, User
from core.staff import add_assignments, check_assignable, venues_by_code

login_manager = LoginManager()
login_manager.login_view = "core.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"

TOKEN_PREFIX = "kbt_"
MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B asks for at least 8; staff see health data


class AuthError(ValueError):
    """A staff account could not be created or changed; the message says why."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.is_active else None


@login_manager.request_loader
def _load_user_from_bearer(req) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    # One query for the token and its user: every bearer request pays for it.
    user = db.session.exec(
        select(User).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_sha256 == token_sha256(token.strip()), ApiToken.revoked_at.is_(None)
        )
    ).first()
    if user is None or not user.is_active:
        return None
    request.environ["khaibao.auth"] = "bearer"
    return user


@login_manager.unauthorized_handler
def _unauthorized():
    if _is_api_request():
        from core.errors import api_error

        return api_error("unauthorized", _l("Sign in or send a valid API token."), 401)
    return redirect(url_for("core.login", next=request.full_path.rstrip("?")))


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def roles_required(*roles: Role | str):
    """Allow the view to users with one of `roles` (pages redirect to sign-in, the API answers
    401/403 JSON). Cookie-authenticated API writes must carry the CSRF header."""
    allowed = {Role(r) for r in roles}

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if Role(current_user.role) not in allowed:
                if _is_api_request():
                    from core.errors import api_error

                    return api_error("forbidden", _l("Your role may not do this."), 403)
                abort(403)
            if (
                _is_api_request()
                and request.method not in ("GET", "HEAD", "OPTIONS")
                and request.environ.get("khaibao.auth") != "bearer"
            ):
                try:
                    validate_csrf(request.headers.get("X-CSRFToken"))
                except Exception as exc:  # flask_wtf raises ValidationError
                    raise CSRFError(str(exc)) from exc
            return view(*args, **kwargs)

        wrapper.required_roles = tuple(sorted(r.value for r in allowed))
        return wrapper

    return decorator


def create_user(
    *,
    session: Session,
    username: str,
    role: str,
    password: str,
    display_name: str | None = None,
    venue_codes: Iterable[str] = (),
    now: datetime,
) -> User:
    """A staff account; a receptionist may be given the codes of the venues they work at (an
    unknown code, or venues for another role, is a StaffError and creates nothing)."""
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise AuthError("username must be 1-64 letters, digits, '.', '_' or '-'")
    try:
        role = Role(role).value
    except ValueError:
        raise AuthError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.username == username)).first():
        raise AuthError(f"user {username!r} already exists")
    venues = venues_by_code(session=session, codes=venue_codes)
    check_assignable(role, venues)
    user = User(
        username=username,
        role=role,
        password_hash=generate_password_hash(password),
        display_name=display_name,
        created_at=now,
    )
    session.add(user)
    session.flush()
    add_assignments(session=session, user=user, venues=venues, now=now)
    session.commit()
    return user


def authenticate(*, session: Session, username: str, password: str, now: datetime) -> User | None:
    user = session.exec(select(User).where(User.username == (username or "").strip().lower())).first()
    if user is None or not user.is_active:
        # Spend the same time as a real check so response times do not reveal usernames.
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    user.last_login_at = now
    session.add(user)
    session.commit()
    return user


_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def issue_api_token(*, session: Session, user: User, now: datetime) -> str:
    """Create a bearer token for `user`; the returned secret is never stored or shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_sha256=token_sha256(token),
            prefix=token[:12],
            created_at=now,
        )
    )
    session.commit()
    return token


def generate_password() -> str:
    return secrets.token_urlsafe(12)
