"""The visitor's own phone (venue QR → form → confirmation with the personal QR, dependants,
returning visitors) and the declaration API (declarations, check-in with a personal QR, admin
units). Views parse, validate with the one schema, call one service, render."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup
from sqlmodel import select

from core import clock
from core.audit import record_audit
from core.auth import roles_required
from core.db import db
from core.errors import api_error, read_json_body
from core.models import Role, Venue
from core.security import public_limits
from core.venue_cache import door_venue
from core import admin_units
from declarations.consent import FALSE_DECLARATION_WARNING, consent_texts, consent_version
from declarations.identity import countries, display_name, format_phone
from declarations.models import Declaration, DeclarationSource
from declarations.qr import qr_png, qr_svg
from notices.hosts import host_choices, tell_host
from notices.services import notices_for_page
from declarations.questions import (
    CONDITIONS,
    EXPOSURES,
    GENDERS,
    LABELS,
    SYMPTOMS,
    VISIT_PURPOSES,
    tracing_app_choices,
)
from declarations.rules import rules_from_config
from declarations.schema import form_to_mapping, validate_declaration
from declarations.services import (
    DeclarationError,
    check_in_declared,
    dependants_of,
    is_fresh,
    issue_token,
    latest_declaration,
    reconfirm_declaration,
    submit_declaration,
)
from declarations.keystore import keystore_of
from declarations.tokens import TokenError, code_lifetime, is_uid
from declarations.venue_links import normalise_venue_code, verify_venue_signature
from visits.models import OpenedBy, Visit, Visitor

logger = logging.getLogger(__name__)

bp = Blueprint("declarations", __name__)

REMEMBER_COOKIE = "khaibao_visitor"
_REMEMBER_SALT = "khaibao.remember-visitor.v2"
# Declarations this browser made and may show again (the confirmation pages): a short list.
_SESSION_KEY = "declared"
_SESSION_KEEP = 20
MAX_PAYLOAD = 4096


@bp.record_once
def _setup(state):
    app = state.app
    # Fail at start-up, not at the first visitor, when KIOSK_TRIAGE_RULES is wrong.
    app.extensions["declarations.rules"] = rules_from_config(app.config.get("TRIAGE_RULES"))
    # The JSON API is for scripts and kiosks: JSON bodies only (a browser cannot send one
    # cross-site without CORS), so it needs no CSRF token; the phone form keeps it.
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(api_submit)


# ---------------------------------------------------------------------------------------------
# Helpers

def keyring():
    """The token key ring as it is now (declarations/keystore.py): a rotation or a retirement
    made by any process reaches this one within seconds."""
    return keystore_of(current_app._get_current_object()).ring()


def _rules():
    return current_app.extensions["declarations.rules"]


def _fresh_for() -> timedelta:
    return timedelta(hours=current_app.config["DECLARATION_FRESH_HOURS"])


def _token_max_age() -> timedelta:
    return code_lifetime(current_app.config)


def _operator(venue: Venue) -> str | None:
    return venue.unit or venue.name


def _consent_version(venue: Venue) -> str:
    return consent_version(retention_days=current_app.config["RETENTION_DAYS"],
                           operator=_operator(venue))


def _lang() -> str:
    return str(get_locale() or "vi")


def _active_venue(code: str) -> Venue | None:
    code = normalise_venue_code(code)
    if code is None:
        return None
    venue = door_venue(session=db.session, code=code)
    return venue if venue is not None and venue.is_active else None


def _public_url(endpoint: str, **values) -> str:
    """An absolute link on KIOSK_PUBLIC_URL; without one, the path alone (never a link built from
    the request's Host header, which the caller chooses)."""
    base = current_app.config.get("PUBLIC_URL")
    path = url_for(endpoint, **values)
    return (base.rstrip("/") + path) if base else path


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_REMEMBER_SALT)


def _remembered_visitor() -> Visitor | None:
    """The visitor this phone declared as before: the cookie holds the visitor's signed global
    identity only (never a row id, which a deleted visitor's successor could be given)."""
    raw = request.cookies.get(REMEMBER_COOKIE)
    if not raw or len(raw) > 200:
        return None
    try:
        visitor_uid, signed_at = _serializer().loads(
            raw, max_age=int(_token_max_age().total_seconds()), return_timestamp=True)
    except (BadSignature, SignatureExpired):
        return None
    if not is_uid(visitor_uid):
        return None
    visitor = db.session.exec(select(Visitor).where(Visitor.uid == visitor_uid)).first()
    if visitor is None or visitor.declarant_id is not None:
        return None
    if visitor.tokens_valid_after is not None and signed_at < visitor.tokens_valid_after:
        return None
    return visitor


def _remember(response: Response, visitor: Visitor) -> Response:
    response.set_cookie(REMEMBER_COOKIE, _serializer().dumps(visitor.uid),
                        max_age=int(_token_max_age().total_seconds()), httponly=True,
                        samesite="Lax", secure=request.is_secure, path="/")
    return response


def _allow(declaration_id: int) -> None:
    kept = [i for i in session.get(_SESSION_KEY, []) if i != declaration_id]
    session[_SESSION_KEY] = (kept + [declaration_id])[-_SESSION_KEEP:]


def _may_see(declaration: Declaration) -> bool:
    if declaration.id in session.get(_SESSION_KEY, []):
        return True
    remembered = _remembered_visitor()
    if remembered is None:
        return False
    visitor = db.session.get(Visitor, declaration.visitor_id)
    return visitor is not None and remembered.id in (visitor.id, visitor.declarant_id)


def _form_context(venue: Venue, values: dict, *, errors=None, warnings=None, dependant=False,
                  action: str, declarant: Visitor | None = None, confirm_warnings=False):
    lang = _lang()
    province_code = values.get("province_code") or ""
    texts = consent_texts(lang, retention_days=current_app.config["RETENTION_DAYS"],
                          operator=_operator(venue))
    return dict(
        venue=venue, values=values, errors=errors or {}, warnings=warnings or {},
        dependant=dependant, declarant=declarant, action=action,
        labels=LABELS, symptoms=SYMPTOMS, exposures=EXPOSURES, genders=GENDERS,
        purposes=VISIT_PURPOSES, conditions=CONDITIONS,
        tracing_apps=tracing_app_choices(current_app.config["TRACING_APPS"]),
        hosts=host_choices(session=db.session, venue=venue),
        collect_conditions=current_app.config["COLLECT_CONDITIONS"],
        countries=countries(lang), provinces=admin_units.provinces(),
        wards=admin_units.wards_of(province_code if isinstance(province_code, str) else ""),
        consent=texts, warning_text=FALSE_DECLARATION_WARNING[lang if lang == "en" else "vi"],
        lang=lang, confirm_warnings=confirm_warnings,
    )


def _values_from_visitor(visitor: Visitor) -> dict:
    return {
        "full_name": visitor.full_name, "birth_year": visitor.birth_year,
        "gender": visitor.gender, "nationality": visitor.nationality,
        "id_number": visitor.id_number, "phone": format_phone(visitor.phone_e164 or ""),
        "email": visitor.email, "province_code": visitor.province_code,
        "ward_code": visitor.ward_code, "street_address": visitor.street_address,
    }


def _address_from(visitor: Visitor) -> dict:
    return {"province_code": visitor.province_code, "ward_code": visitor.ward_code,
            "street_address": visitor.street_address, "nationality": visitor.nationality}


# ---------------------------------------------------------------------------------------------
# The phone pages

_INVALID_LINK = (_l("This venue link is not valid"),
                 _l("Please scan the QR code at the entrance again, or ask reception."))


def _invalid_link():
    """In both languages: whoever holds a bad link has not chosen a language yet."""
    lang = _lang()
    other = "en" if lang == "vi" else "vi"
    with force_locale(other):
        other_texts = [str(text) for text in _INVALID_LINK]
    return render_template("declarations/invalid_link.html", other_lang=other,
                           other_texts=other_texts), 404


@bp.route("/v/<code>", methods=["GET", "POST"])
@public_limits()
def new(code: str):
    """The page a venue QR opens: the declaration form (or, for a returning phone, "anything
    changed since …?")."""
    signature = request.args.get("k", "")
    venue = _active_venue(code)
    if venue is None or not verify_venue_signature(venue.code, signature,
                                                   current_app.config["SECRET_KEY"]):
        return _invalid_link()
    action = url_for("declarations.new", code=venue.code, k=signature)
    remembered = _remembered_visitor()
    if request.method == "GET":
        previous = latest_declaration(session=db.session, visitor_id=remembered.id) \
            if remembered is not None else None
        if previous is not None and not request.args.get("new"):
            return render_template(
                "declarations/returning.html", venue=venue, visitor=remembered,
                notices=notices_for_page(session=db.session, visitor_ids=[remembered.id],
                                         now=clock.now()),
                previous=previous, fresh=is_fresh(previous, now=clock.now(),
                                                  fresh_for=_fresh_for()),
                consent_current=previous.consent_text_version == _consent_version(venue),
                signature=signature, symptoms=SYMPTOMS, exposures=EXPOSURES,
                display_name=display_name(remembered.full_name),
                form_url=url_for("declarations.new", code=venue.code, k=signature, new=1))
        values = _values_from_visitor(remembered) if remembered is not None else {
            "nationality": "VN"}
        return render_template("declarations/form.html",
                               **_form_context(venue, values, action=action))

    data = form_to_mapping(request.form)
    data["lang"] = _lang()
    now = clock.now()
    result = validate_declaration(data, now=now, consent_version=_consent_version(venue),
                                  collect_conditions=current_app.config["COLLECT_CONDITIONS"],
                                  tracing_app_keys=current_app.config["TRACING_APPS"],
                                  require_tracing_apps=True)
    if not result.ok or (result.warnings and request.form.get("confirm_warnings") != "1"):
        status = 422 if not result.ok else 200
        return render_template("declarations/form.html", **_form_context(
            venue, data, errors=result.errors, warnings=result.warnings, action=action,
            confirm_warnings=result.ok)), status
    submitted = submit_declaration(
        session=db.session, clean=result.declaration, venue=venue, now=now, keyring=keyring(),
        rules=_rules(), remembered_visitor_id=remembered.id if remembered else None)
    tell_host(session=db.session, venue=venue, visitor_id=submitted.visitor.id,
              host_name=result.declaration.host_name, now=now,
              email_on=bool(current_app.config.get("SMTP_URL")))
    _allow(submitted.declaration.id)
    response = redirect(url_for("declarations.done", declaration_id=submitted.declaration.id))
    return _remember(response, submitted.visitor)


@bp.post("/v/<code>/again")
@public_limits()
def returning(code: str):
    """The returning phone's one tap: check in with a fresh declaration, or re-confirm a stale
    one ("nothing has changed")."""
    signature = request.args.get("k", "")
    venue = _active_venue(code)
    if venue is None or not verify_venue_signature(venue.code, signature,
                                                   current_app.config["SECRET_KEY"]):
        return _invalid_link()
    remembered = _remembered_visitor()
    previous = latest_declaration(session=db.session, visitor_id=remembered.id) \
        if remembered is not None else None
    form_url = url_for("declarations.new", code=venue.code, k=signature, new=1)
    if previous is None or request.form.get("declaration_id") != str(previous.id):
        return redirect(form_url)  # the page was stale: show the form
    now = clock.now()
    if is_fresh(previous, now=now, fresh_for=_fresh_for()):
        result = check_in_declared(session=db.session, declaration=previous, venue=venue,
                                   now=now, keyring=keyring())
    else:
        try:
            result = reconfirm_declaration(session=db.session, previous=previous, venue=venue,
                                           now=now, keyring=keyring(), rules=_rules(),
                                           consent_version=_consent_version(venue))
        except DeclarationError as exc:
            flash(str(exc.problem), "error")
            return redirect(form_url)
    _allow(result.declaration.id)
    return _remember(redirect(url_for("declarations.done",
                                      declaration_id=result.declaration.id)), result.visitor)


def _qr_entry(visitor: Visitor, declaration: Declaration, now) -> dict:
    token = issue_token(keyring(), visitor=visitor, declaration=declaration, now=now)
    return {
        "visitor": visitor, "declaration": declaration, "token": token,
        "display_name": display_name(visitor.full_name),
        "svg": Markup(qr_svg(token, title=display_name(visitor.full_name))),
        "png_url": url_for("declarations.qr_image", token=token, kind="png"),
        "svg_url": url_for("declarations.qr_image", token=token, kind="svg"),
    }


@bp.get("/d/<int:declaration_id>")
def done(declaration_id: int):
    """The confirmation a receptionist can read from a metre away, with the personal QR."""
    declaration = db.session.get(Declaration, declaration_id)
    if declaration is None or not _may_see(declaration):
        abort(404)
    now = clock.now()
    visitor = db.session.get(Visitor, declaration.visitor_id)
    visit = db.session.exec(select(Visit).where(Visit.declaration_id == declaration.id)
                            .order_by(Visit.checked_in_at.desc())).first()
    venue = db.session.get(Venue, visit.venue_id if visit else declaration.venue_id)
    others = []
    for dependant in dependants_of(session=db.session, visitor_id=visitor.id):
        latest = latest_declaration(session=db.session, visitor_id=dependant.id)
        if latest is not None:
            _allow(latest.id)
            others.append(_qr_entry(dependant, latest, now))
    declarant = db.session.get(Visitor, visitor.declarant_id) if visitor.declarant_id else None
    declarant_declaration = latest_declaration(session=db.session, visitor_id=declarant.id) \
        if declarant is not None else None
    notices = notices_for_page(session=db.session,
                               visitor_ids=[visitor.id, *(o["visitor"].id for o in others)],
                               now=now)
    return render_template(
        "declarations/done.html", me=_qr_entry(visitor, declaration, now), venue=venue,
        notices=notices,
        visit=visit, declaration=declaration, dependants=others, declarant=declarant,
        declarant_declaration=declarant_declaration,
        at=visit.checked_in_at if visit else declaration.submitted_at)


@bp.route("/d/<int:declaration_id>/add", methods=["GET", "POST"])
@public_limits(per_venue=False)  # only a phone that has just declared can reach it
def add_dependant(declaration_id: int):
    """"Add another person": a child or relative without a phone, declared by this visitor."""
    declaration = db.session.get(Declaration, declaration_id)
    if declaration is None or not _may_see(declaration):
        abort(404)
    declarant = db.session.get(Visitor, declaration.visitor_id)
    if declarant.declarant_id is not None:  # dependants do not declare for others
        declarant = db.session.get(Visitor, declarant.declarant_id)
    venue = db.session.get(Venue, declaration.venue_id)
    if venue is None or not venue.is_active:
        abort(404)
    action = url_for("declarations.add_dependant", declaration_id=declaration_id)
    if request.method == "GET":
        values = {**_address_from(declarant), "declared_for_other": True,
                  "visitor_company": declaration.visitor_company,
                  "host_name": declaration.host_name,
                  "host_department": declaration.host_department,
                  "visit_purpose": declaration.visit_purpose,
                  "visit_purpose_note": declaration.visit_purpose_note}
        return render_template("declarations/form.html", **_form_context(
            venue, values, action=action, dependant=True, declarant=declarant))
    data = form_to_mapping(request.form)
    data["lang"] = _lang()
    data["declared_for_other"] = True
    now = clock.now()
    result = validate_declaration(data, now=now, consent_version=_consent_version(venue),
                                  dependant=True,
                                  collect_conditions=current_app.config["COLLECT_CONDITIONS"],
                                  tracing_app_keys=current_app.config["TRACING_APPS"],
                                  require_tracing_apps=True)
    if not result.ok or (result.warnings and request.form.get("confirm_warnings") != "1"):
        return render_template("declarations/form.html", **_form_context(
            venue, data, errors=result.errors, warnings=result.warnings, action=action,
            dependant=True, declarant=declarant, confirm_warnings=result.ok)), \
            422 if not result.ok else 200
    submitted = submit_declaration(session=db.session, clean=result.declaration, venue=venue,
                                   now=now, keyring=keyring(), rules=_rules(),
                                   declarant=declarant)
    _allow(submitted.declaration.id)
    return redirect(url_for("declarations.done", declaration_id=submitted.declaration.id))


@bp.post("/forget")
def forget():
    """"Not me": this phone stops remembering who declared on it (shared phones)."""
    from core.views import safe_next

    session.pop(_SESSION_KEY, None)
    response = redirect(safe_next(request.form.get("next"), url_for("core.home")))
    response.delete_cookie(REMEMBER_COOKIE, path="/")
    return response


@bp.get("/qr/<token>.<kind>")
def qr_image(token: str, kind: str):
    """The personal QR as an image to save or print. Only our own valid tokens are drawn (no
    open QR generator); the image holds nothing but the token."""
    if kind not in ("svg", "png"):
        abort(404)
    try:
        keyring().verify(token, now=clock.now(), max_age=_token_max_age())
    except TokenError:
        abort(404)
    if kind == "svg":
        response = Response(qr_svg(token), mimetype="image/svg+xml")
    else:
        response = Response(qr_png(token), mimetype="image/png")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="khaibao-qr.{kind}"'
    return response


# ---------------------------------------------------------------------------------------------
# The JSON API

_VALIDATION_MESSAGE = _l("Some fields need attention.")


@bp.get("/api/v1/admin-units/provinces")
def api_provinces():
    response = jsonify({
        "source": admin_units.source(),
        "provinces": [{"code": p.code, "name": p.name, "ascii_name": p.ascii_name,
                       "type": p.type, "label_en": p.label("en")}
                      for p in admin_units.provinces()],
    })
    response.headers["Cache-Control"] = "public, max-age=86400"  # public facts, no personal data
    return response


@bp.get("/api/v1/admin-units/provinces/<code>/wards")
def api_wards(code: str):
    province = admin_units.province(code)
    if province is None:
        return api_error("not_found", _l("Not found."), 404)
    response = jsonify({
        "province": {"code": province.code, "name": province.name},
        "wards": [{"code": w.code, "name": w.name, "ascii_name": w.ascii_name, "type": w.type,
                   "label_en": w.label("en")} for w in admin_units.wards_of(province.code)],
    })
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.post("/api/v1/declarations")
@public_limits()
def api_submit():
    body, error = read_json_body()
    if error is not None:
        return error
    lang = body.get("lang") if isinstance(body, dict) else None
    lang = lang if lang in current_app.config["LANGUAGES"] else _lang()
    with force_locale(lang):
        venue = None
        errors = {}
        if isinstance(body, dict) and isinstance(body.get("venue_code"), str):
            venue = _active_venue(body["venue_code"])
        now = clock.now()
        consent = _consent_version(venue) if venue is not None else ""
        result = validate_declaration(body, now=now, consent_version=consent,
                                      require_venue=True,
                                      collect_conditions=current_app.config["COLLECT_CONDITIONS"],
                                      tracing_app_keys=current_app.config["TRACING_APPS"])
        errors.update(result.errors)
        if venue is None and "venue_code" not in errors and "body" not in errors:
            errors["venue_code"] = _problem("venue_unknown")
        if errors:
            return api_error("validation_failed", _VALIDATION_MESSAGE, 422, errors)
        submitted = submit_declaration(
            session=db.session, clean=result.declaration, venue=venue, now=now,
            keyring=keyring(), rules=_rules(), source=DeclarationSource.phone_form,
            opened_by=OpenedBy.phone_form)
        tell_host(session=db.session, venue=venue, visitor_id=submitted.visitor.id,
                  host_name=result.declaration.host_name, now=now,
                  email_on=bool(current_app.config.get("SMTP_URL")))
        token = submitted.token
        response = jsonify({
            "declaration_id": submitted.declaration.id,
            "visitor_id": submitted.visitor.id,
            "visit_id": submitted.visit.id,
            "status": submitted.declaration.status,
            "token": token,
            "qr_png_url": _public_url("declarations.qr_image", token=token, kind="png"),
            "qr_svg_url": _public_url("declarations.qr_image", token=token, kind="svg"),
            "warnings": {field: str(p) for field, p in result.warnings.items()},
        })
    response.status_code = 201
    return response


def _problem(code: str):
    from declarations.messages import problem

    return problem(code)


@bp.get("/api/v1/declarations/<int:declaration_id>")
@roles_required(Role.admin, Role.receptionist, Role.tracer)
def api_declaration(declaration_id: int):
    """Staff: one declaration with its visitor. Underlying conditions are never sent out. Every
    read is audited (health data is sensitive)."""
    from flask_login import current_user

    from core.staff import venue_scope

    actor = current_user._get_current_object()
    declaration = db.session.get(Declaration, declaration_id)
    # A receptionist reads only declarations made at their own venues; any other is "not found"
    # (ids are sequential: a loop over them must learn nothing).
    if declaration is None or not venue_scope(session=db.session, user=actor).allows(
            declaration.venue_id):
        return api_error("not_found", _l("Not found."), 404)
    visitor = db.session.get(Visitor, declaration.visitor_id)
    venue = db.session.get(Venue, declaration.venue_id) if declaration.venue_id else None
    record_audit(session=db.session, now=clock.now(), actor=actor,
                 action="declaration.view", target_type="declaration", target_id=declaration.id)
    db.session.commit()
    record = _declaration_record(declaration, visitor, venue)
    if Role(actor.role) == Role.receptionist:
        record = {key: record[key] for key in DOOR_DECLARATION_FIELDS}
    return jsonify(record)


# What the door needs to decide about a visitor (admit or turn away, call them): who, when, the
# health answers and the visit. Never their ID number, birth year, address, email or consent
# trail: those are for tracers and administrators.
DOOR_DECLARATION_FIELDS = (
    "declaration_id", "visitor_id", "venue_code", "submitted_at", "full_name", "display_name",
    "phone", "travel_14d", "travel_places", "symptoms", "exposures", "visitor_company",
    "host_name", "host_department", "visit_purpose", "visit_purpose_note", "body_temperature_c",
    "status", "consent_text_version",
)


def _declaration_record(declaration, visitor, venue) -> dict:
    return {
        "declaration_id": declaration.id,
        "visitor_id": visitor.id,
        "venue_code": venue.code if venue else None,
        "submitted_at": declaration.submitted_at.isoformat(),
        "source": declaration.source,
        "lang": declaration.lang,
        "full_name": visitor.full_name,
        "display_name": display_name(visitor.full_name),
        "birth_year": visitor.birth_year,
        "gender": visitor.gender,
        "nationality": visitor.nationality,
        "id_number": visitor.id_number,
        "id_type": visitor.id_type,
        "phone": visitor.phone_e164,
        "email": visitor.email,
        "province_code": visitor.province_code,
        "province_name": visitor.province_name,
        "ward_code": visitor.ward_code,
        "ward_name": visitor.ward_name,
        "street_address": visitor.street_address,
        "travel_14d": declaration.travel_14d,
        "travel_places": declaration.travel_places,
        "symptoms": list(declaration.symptoms or []),
        "exposures": list(declaration.exposures or []),
        "visitor_company": declaration.visitor_company,
        "host_name": declaration.host_name,
        "host_department": declaration.host_department,
        "visit_purpose": declaration.visit_purpose,
        "visit_purpose_note": declaration.visit_purpose_note,
        "body_temperature_c": declaration.body_temperature_c,
        "declared_for_other": declaration.declared_for_other,
        "declarant_id": visitor.declarant_id,
        "status": declaration.status,
        "rules_version": declaration.rules_version,
        "consent_processing": declaration.consent_processing,
        "consent_sensitive_health": declaration.consent_sensitive_health,
        "consent_text_version": declaration.consent_text_version,
        "consent_at": declaration.consent_at.isoformat(),
        "previous_declaration_id": declaration.previous_declaration_id,
    }
