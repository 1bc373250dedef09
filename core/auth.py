"""Staff authentication: Flask-Login sessions for pages, bearer tokens for the API, one decorator
for roles."""
from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import datetime

from flask import abort, current_app, redirect, request, url_for
from flask import session as cookie_session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import delete
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import as_read, db, utcnow
from core.models import ApiToken, Role, StaffSession, User
from core.shortcache import ShortCache
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


# The key in the signed session cookie that names the server-side session (StaffSession).
SESSION_KEY = "staff_sid"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.is_active:
        return None
    # The cookie alone is not enough: its session must still be on record (signing out, a
    # password change or disabling the account deleted it).
    if not session_is_live(session=db.session, secret=cookie_session.get(SESSION_KEY),
                           user_id=user.id, now=utcnow(),
                           lifetime_s=current_app.permanent_session_lifetime.total_seconds()):
        return None
    return user


def session_is_live(*, session: Session, secret, user_id: int, now: datetime,
                    lifetime_s: float) -> bool:
    if not isinstance(secret, str) or not secret:
        return False
    row = session.exec(select(StaffSession).where(
        StaffSession.secret_sha256 == token_sha256(secret))).first()
    if row is None or row.user_id != user_id:
        return False
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(
        tzinfo=now.tzinfo)
    return (now - created).total_seconds() < lifetime_s


def start_session(*, session: Session, user: User, now: datetime) -> str:
    """Record a new signed-in browser for `user`; the returned secret goes into its cookie."""
    secret = secrets.token_urlsafe(32)
    session.add(StaffSession(user_id=user.id, secret_sha256=token_sha256(secret),
                             created_at=now))
    session.commit()
    return secret


def end_session(*, session: Session, secret) -> None:
    if isinstance(secret, str) and secret:
        session.execute(delete(StaffSession).where(
            StaffSession.secret_sha256 == token_sha256(secret)))
        session.commit()


def end_user_sessions(*, session: Session, user_id: int) -> int:
    """Sign `user_id` out everywhere (the caller commits); how many sessions ended."""
    result = session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))
    return result.rowcount or 0


def sign_in(user: User) -> None:
    """This browser is now `user`'s: a fresh cookie (no session fixation) naming a new
    server-side session."""
    lang = cookie_session.get("lang")
    cookie_session.clear()
    if lang:
        cookie_session["lang"] = lang
    login_user(user)
    cookie_session[SESSION_KEY] = start_session(session=db.session, user=user, now=utcnow())


def sign_out() -> None:
    """End this browser's session on the server and in its cookie (the language stays)."""
    end_session(session=db.session, secret=cookie_session.get(SESSION_KEY))
    lang = cookie_session.get("lang")
    logout_user()
    cookie_session.clear()
    if lang:
        cookie_session["lang"] = lang


# --- Bearer tokens ----------------------------------------------------------------------------
# Every request of a receptionist's script looks its token up; a token and its user are kept for
# BEARER_CACHE_S in this process. Any write to the staff or token tables that goes through this
# process (revoking a token, disabling an account, a password or role change; ORM or plain SQL,
# any engine) forgets every cached token at once, so this process never serves a revoked token
# after the write; another process's write is seen within BEARER_CACHE_S.
BEARER_CACHE_S = 2.0
_STAFF_TABLES = ("staff_user", "api_token")
_USER_COLUMNS = tuple(column.key for column in User.__table__.columns)
_monotonic = time.monotonic  # tests move a fake clock instead of sleeping


# Tokens are few; guesses are not kept (the limit drops them all).
bearer_cache = ShortCache(ttl_s=BEARER_CACHE_S, limit=10_000, clock=lambda: _monotonic())


def _writes_staff(statement: str) -> bool:
    head = statement.lstrip()[:6].upper()
    return head in ("UPDATE", "DELETE") and any(t in statement for t in _STAFF_TABLES)


bearer_cache.forget_when_written(_writes_staff)


@login_manager.request_loader
def _load_user_from_bearer(req) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    key = (str(current_app.config.get("DATABASE_URL")), token_sha256(token.strip()))
    found, values = bearer_cache.get(key)
    if found:
        user = as_read(db.session, User, values)  # as if read in this request's session
    else:
        generation = bearer_cache.generation
        # One query for the token and its user.
        user = db.session.exec(
            select(User).join(ApiToken, ApiToken.user_id == User.id).where(
                ApiToken.token_sha256 == key[1], ApiToken.revoked_at.is_(None)
            )
        ).first()
        if user is not None and user.is_active:
            bearer_cache.put(key, {c: getattr(user, c) for c in _USER_COLUMNS}, generation)
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


# On a kiosk of an installation, an account sent down by the central server keeps the central
# server's password: a change made here would be overwritten at the next sync round.
CENTRAL_ACCOUNT = _l("This account belongs to the central server: change its password there. "
                     "This kiosk takes the new one at its next sync, within a minute.")


class PasswordChangeError(ValueError):
    """A password could not be changed; `field` names the form field, `message` says why (lazy,
    both languages)."""

    def __init__(self, field: str, message):
        super().__init__(field)
        self.field = field
        self.message = message


def change_password(*, session: Session, user: User, current: str, new: str,
                    now: datetime) -> None:
    """A staff member changes their own password: the current one must be right and the new one
    long enough and different. Every session of the account ends (the caller signs this browser
    in again); audited without any password."""
    from core.audit import record_audit

    if user.from_central:
        raise PasswordChangeError("current_password", CENTRAL_ACCOUNT)
    if not check_password_hash(user.password_hash, current or ""):
        raise PasswordChangeError("current_password", _l("Your current password is not right."))
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise PasswordChangeError("new_password", _l(
            "The new password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if new == current:
        raise PasswordChangeError("new_password", _l(
            "The new password must differ from the current one."))
    user.password_hash = generate_password_hash(new)
    session.add(user)
    ended = end_user_sessions(session=session, user_id=user.id)
    record_audit(session=session, now=now, actor=user, action="staff.password",
                 target_type="staff_user", target_id=user.id, details={"sessions_ended": ended})
    session.commit()


def generate_password() -> str:
    return secrets.token_urlsafe(12)
