"""Shared pages: home, staff sign-in/out, the language toggle and the health check."""
from __future__ import annotations

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core import clock, health
from core.auth import (
    CENTRAL_ACCOUNT,
    MIN_PASSWORD_LENGTH,
    PasswordChangeError,
    authenticate,
    change_password,
    roles_required,
    sign_in,
    sign_out,
)
from core.db import db
from core.forms import LoginForm, PasswordForm
from core.models import Role
from core.public_url import public_url_message, public_url_problem
from core.security import limiter, login_limit, login_username_key, safe_next

logger = logging.getLogger(__name__)

bp = Blueprint("core", __name__)


@bp.get("/")
def home():
    from core.forms import ROLE_NAMES

    role = ROLE_NAMES.get(current_user.role) if current_user.is_authenticated else None
    return render_template("core/home.html", role_name=role)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], methods=["POST"],
               key_func=login_username_key)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(
            session=db.session,
            username=form.username.data,
            password=form.password.data,
            now=clock.now(),
        )
        if user is not None:
            sign_in(user)  # a fresh cookie and a new server-side session: no fixation
            logger.info("staff user %s signed in", user.id)
            return redirect(safe_next(request.args.get("next"), url_for("core.home")))
        form.password.errors.append(_("Wrong username or password."))
    return render_template("core/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    sign_out()  # the session ends on the server too: a copied cookie opens nothing any more
    return redirect(url_for("core.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], methods=["POST"],
               key_func=lambda: f"password:{current_user.id}")
def change_own_password():
    """Any signed-in staff member changes their own password (the current one is asked first).
    Every session of the account ends; this browser stays signed in with a new one."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            change_password(session=db.session, user=user, current=form.current_password.data,
                            new=form.new_password.data, now=clock.now())
        except PasswordChangeError as exc:
            getattr(form, exc.field).errors.append(str(exc.message))
        else:
            sign_in(user)
            logger.info("staff user %s changed their password", user.id)
            flash(_("Your password was changed. Other devices signed in as you were signed "
                    "out."), "success")
            return redirect(url_for("core.home"))
    return render_template("core/password.html", form=form, min_length=MIN_PASSWORD_LENGTH,
                           central_account=CENTRAL_ACCOUNT
                           if current_user.from_central else None), \
        422 if form.errors else 200


@bp.get("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("core.home")))


@bp.get("/api/v1/me")
@roles_required(Role.admin, Role.tracer, Role.receptionist)
def api_me():
    """Who the bearer token (or session) belongs to: lets scripts check their token."""
    return jsonify({"username": current_user.username, "role": current_user.role,
                    "display_name": current_user.display_name})


@bp.get("/api/v1/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of the JSON API (public: it holds no data)."""
    from core.openapi import build_document, fragments

    return jsonify(build_document(fragments(current_app),
                                  server_url=(request.script_root or "") + "/"))


@bp.get("/healthz")
def healthz():
    components = {"db": db.health()}
    workers = current_app.extensions["workers"]
    for name in ("camera", "ble"):
        components[name] = workers.status(name)
    # A venue QR phones cannot open: check-ins still work, so a warning, not a failure.
    problem = public_url_problem(current_app.config.get("PUBLIC_URL"))
    components["public_url"] = "ok" if problem is None else f"warning: {problem}"
    readings = health.read_all(current_app)
    for name, reading in readings.items():
        components[name] = reading.value
    # A busy or full database takes no check-ins: not healthy, whatever the devices say.
    healthy = components["db"] == "ok"
    body = {"status": "ok" if healthy else "error", "components": components}
    with force_locale("en"):
        warnings = [public_url_message(current_app.config.get("PUBLIC_URL"))] \
            if problem is not None else []
        warnings += [str(r.warning) for r in readings.values() if r.warning is not None]
    if warnings:
        body["warnings"] = warnings
    return jsonify(body), 200 if healthy else 503
