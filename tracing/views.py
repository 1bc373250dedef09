"""The tracer console (/tracing/…): find an index case, pick visits, see and export contacts; venue
visit lists; paper-list import; the administrator's audit log. Tracers and admins only."""
from __future__ import annotations

import json
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select

from core import clock
from core.audit import verify_chain
from core.auth import roles_required
from core.db import db
from core.input_limits import valid_id
from core.models import AuditEvent, Role
from core.services import get_venue, list_venues
from tracing import contact_query, errors, exporting, search, visit_lists
from tracing.contacts import LOCAL_TZ
from tracing.audit_words import action_words, detail_lines
from tracing.health_notes import health_notes
from tracing.errors import message_for
from tracing.exports import ExportError, ExportFile
from tracing.parsing import (
    DEFAULT_AFTER_MIN,
    DEFAULT_BEFORE_MIN,
    MAX_BUFFER_MIN,
    InputError,
    parse_minutes,
    parse_window,
)

bp = Blueprint("tracing", __name__, url_prefix="/tracing")

# Two weeks: the incubation period a tracer looks back over.
DEFAULT_LOOKBACK_DAYS = 14
AUDIT_PAGE = 100
SEARCH_KINDS = ("auto", "phone", "id_number", "name")


@bp.app_template_filter("phone")
def _phone(number: str | None) -> str:
    """Vietnamese numbers as people read and dial them (0912 345 678); others as E.164."""
    from declarations.identity import format_phone

    return format_phone(number) if number else "—"


def _actor():
    return current_user._get_current_object()


def _default_days() -> tuple[str, str]:
    today = clock.now().astimezone(LOCAL_TZ).date()
    return ((today - timedelta(days=DEFAULT_LOOKBACK_DAYS - 1)).isoformat(), today.isoformat())


def _send(export: ExportFile) -> Response:
    """Stream the finished, already audited file; its hash goes along for checking."""
    response = Response(stream_with_context(export.chunks()), mimetype=export.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response.headers["Content-Length"] = str(export.size)
    response.headers["X-Content-SHA256"] = export.sha256
    response.headers["Cache-Control"] = "no-store"  # personal data: never in a shared cache
    response.call_on_close(export.close)
    return response


def _buffers(args) -> tuple[int, int]:
    return (parse_minutes(args.get("before_min"), field="before_min", default=DEFAULT_BEFORE_MIN),
            parse_minutes(args.get("after_min"), field="after_min", default=DEFAULT_AFTER_MIN))


def _visit_ids(args) -> list[int]:
    try:
        ids = [int(v) for v in args.getlist("visit_id")]
    except ValueError:
        raise InputError("visit_id", message_for("visit_not_found")) from None
    if not all(valid_id(i) for i in ids):  # no such row (and beyond the INTEGER column)
        raise InputError("visit_id", message_for("visit_not_found"))
    if not ids:
        raise InputError("visit_id", message_for("no_index_visits"))
    return ids


@bp.get("/")
@roles_required(Role.tracer, Role.admin)
def console():
    args = request.args
    default_since, default_until = _default_days()
    form = {"q": args.get("q", "").strip(), "by": args.get("by", "auto"),
            "since": args.get("since") or default_since,
            "until": args.get("until") or default_until,
            "before_min": DEFAULT_BEFORE_MIN, "after_min": DEFAULT_AFTER_MIN}
    errors, candidates = {}, None
    if form["q"]:
        try:
            if form["by"] not in SEARCH_KINDS:
                raise errors.TracingError("bad_search_kind", "by")
            window = parse_window(form["since"], form["until"])
            candidates = search.search_index_cases(
                session=db.session, query=form["q"], by=form["by"], since=window.since,
                until=window.until, now=clock.now(), actor=_actor(), channel="console")
        except InputError as exc:
            errors[exc.field] = exc.message
        except errors.TracingError as exc:
            errors[exc.field or "q"] = message_for(exc.code)
    status = 422 if errors else 200
    return render_template("tracing/console.html", form=form, errors=errors,
                           candidates=candidates, kinds=SEARCH_KINDS,
                           max_buffer=MAX_BUFFER_MIN), status


@bp.get("/contacts")
@roles_required(Role.tracer, Role.admin)
def contacts():
    args = request.args
    try:
        visit_ids = _visit_ids(args)
        before, after = _buffers(args)
        report = contact_query.query_contacts(session=db.session, visit_ids=visit_ids,
                                         before_min=before, after_min=after, now=clock.now(),
                                         actor=_actor(), channel="console",
                                         query={"by": "visits"})
    except InputError as exc:
        return _contacts_error(exc.message)
    except errors.TracingError as exc:
        return _contacts_error(message_for(exc.code))
    notes = health_notes(session=db.session, visit_ids=[c.visit.id for c in report.contacts])
    return render_template("tracing/contacts.html", report=report, visit_ids=visit_ids,
                           max_buffer=MAX_BUFFER_MIN, notes=notes,
                           door_statuses=DOOR_STATUSES)


# How a visit fared at the door, for the contact list's health column.
DOOR_STATUSES = {"needs_review": _l("flagged, waiting for a decision"),
                 "admitted": _l("flagged, admitted"), "turned_away": _l("flagged, turned away")}


def _contacts_error(message):
    return render_template("core/error.html", status=422, message=message), 422


@bp.get("/contacts/export")
@roles_required(Role.tracer, Role.admin)
def contacts_export():
    args = request.args
    fmt = args.get("format", "csv")
    try:
        visit_ids = _visit_ids(args)
        before, after = _buffers(args)
        export = exporting.export_contacts(session=db.session, visit_ids=visit_ids,
                                          before_min=before, after_min=after, fmt=fmt,
                                          now=clock.now(), actor=_actor(), channel="console",
                                          query={"by": "visits"})
    except InputError as exc:
        return _contacts_error(exc.message)
    except (errors.TracingError, ExportError) as exc:
        return _contacts_error(message_for(exc.code))
    return _send(export)


def _visit_form(args) -> dict:
    today = clock.now().astimezone(LOCAL_TZ).date()
    return {"venue": (args.get("venue") or "").strip().upper(),
            "since": args.get("since") or f"{today.isoformat()}T00:00",
            "until": args.get("until") or f"{(today + timedelta(days=1)).isoformat()}T00:00"}


@bp.get("/visits")
@roles_required(Role.tracer, Role.admin)
def visits():
    form = _visit_form(request.args)
    errors, rows, venue = {}, None, None
    if "venue" in request.args:
        try:
            window = parse_window(form["since"], form["until"])
            venue = get_venue(session=db.session, code=form["venue"])
            if venue is None:
                raise errors.TracingError("venue_not_found", "venue")
            rows = visit_lists.query_visits(session=db.session, venue=venue, since=window.since,
                                         until=window.until, now=clock.now(), actor=_actor(),
                                         channel="console")
        except InputError as exc:
            errors[exc.field] = exc.message
        except errors.TracingError as exc:
            errors[exc.field or "venue"] = message_for(exc.code)
    return render_template("tracing/visits.html", form=form, errors=errors, rows=rows,
                           venue=venue, venues=list_venues(session=db.session)), (
        422 if errors else 200)


@bp.get("/visits/export")
@roles_required(Role.tracer, Role.admin)
def visits_export():
    form = _visit_form(request.args)
    try:
        window = parse_window(form["since"], form["until"])
        venue = get_venue(session=db.session, code=form["venue"])
        if venue is None:
            raise errors.TracingError("venue_not_found", "venue")
        export = exporting.export_visits(session=db.session, venue=venue, since=window.since,
                                        until=window.until, fmt=request.args.get("format", "csv"),
                                        now=clock.now(), actor=_actor(), channel="console")
    except InputError as exc:
        return _contacts_error(exc.message)
    except (errors.TracingError, ExportError) as exc:
        return _contacts_error(message_for(exc.code))
    return _send(export)


@bp.route("/import", methods=["GET", "POST"])
@roles_required(Role.tracer, Role.admin)
def import_visits():
    """Upload a paper sign-in list; a refused file is listed line by line and nothing is kept."""
    from tracing.importing import COLUMNS, ImportRejected, RowProblem
    from tracing.importing import import_visits as run_import

    problems = []
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            problems = [RowProblem(0, None, _("Choose a CSV file."))]
        else:
            try:
                result = run_import(session=db.session, data=upload.read(), now=clock.now(),
                                    retention_days=current_app.config["RETENTION_DAYS"],
                                    actor=_actor(), channel="console",
                                    filename=upload.filename[:200])
            except ImportRejected as exc:
                problems = exc.problems
            else:
                flash(_("Imported %(visits)d visits (%(people)d new people).",
                        visits=result.visits, people=result.new_visitors), "success")
                return redirect(url_for("tracing.import_visits"))
    return render_template("tracing/import.html", problems=problems, columns=COLUMNS), (
        422 if problems else 200)


@bp.get("/audit")
@roles_required(Role.admin)
def audit():
    """The audit log, newest first, and on request a verification of the whole chain."""
    before = request.args.get("before", type=int)
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(AUDIT_PAGE)
    if before:
        query = query.where(AuditEvent.seq < before)
    events = list(db.session.exec(query))
    check = verify_chain(session=db.session) if request.args.get("verify") else None
    return render_template("tracing/audit.html", events=events, check=check,
                           page=AUDIT_PAGE, action_words=action_words,
                           detail_lines=detail_lines)


# ---------------------------------------------------------------------------------------------
# "Show me / delete my data": an administrator helps a visitor at reception (tracing/privacy.py)

PRIVACY_ERRORS = {
    "bad_phone": _l("That is not a phone number."),
    "query_required": _l("Give a phone number or an ID number."),
}


def _privacy_visitor(visitor_id: int):
    from visits.models import Visitor

    visitor = db.session.get(Visitor, visitor_id)
    if visitor is None or visitor.declarant_id is not None:
        abort(404)
    return visitor


@bp.get("/privacy")
@roles_required(Role.admin)
def privacy():
    """Find the person by phone or ID number; each record shown is audited as viewed."""
    from tracing import privacy as rights

    phone = (request.args.get("phone") or "").strip()
    id_number = (request.args.get("id_number") or "").strip()
    records, error = [], None
    if phone or id_number or "search" in request.args:
        try:
            found = rights.find_visitors(session=db.session, phone=phone, id_number=id_number)
        except rights.PrivacyError as exc:
            error = PRIVACY_ERRORS[exc.code]
        else:
            for visitor in found:
                records.append(rights.visitor_record(session=db.session, visitor=visitor))
                rights.audit_view(session=db.session, visitor=visitor, actor=_actor(),
                                  now=clock.now())
    status = 422 if error else 200
    from flask_babel import get_locale

    from declarations.identity import country_name
    from declarations.questions import EXPOSURES, GENDERS, SYMPTOMS

    lang = "en" if str(get_locale()) == "en" else "vi"
    return render_template("tracing/privacy.html", records=records, error=error, phone=phone,
                           id_number=id_number, searched=bool(phone or id_number),
                           genders=GENDERS, symptom_labels=SYMPTOMS, exposure_labels=EXPOSURES,
                           result_labels=DECLARATION_RESULTS,
                           country=lambda code: country_name(code, lang) or code), status


# A declaration's triage result, on the visitor's record.
DECLARATION_RESULTS = {"clear": _l("no symptom or exposure declared"),
                       "needs_review": _l("flagged for a receptionist")}


@bp.get("/privacy/<int:visitor_id>.json")
@roles_required(Role.admin)
def privacy_download(visitor_id: int):
    """The record as a file the visitor can take away (a copy, as the law requires)."""
    from tracing import privacy as rights

    visitor = _privacy_visitor(visitor_id)
    record = rights.visitor_record(session=db.session, visitor=visitor)
    body = json.dumps(record.as_json(), ensure_ascii=False, indent=2)
    rights.audit_view(session=db.session, visitor=visitor, actor=_actor(), now=clock.now(),
                      action="privacy.copy")
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="khaibao-du-lieu-{visitor_id}.json"'})


@bp.post("/privacy/<int:visitor_id>/revoke")
@roles_required(Role.admin)
def privacy_revoke(visitor_id: int):
    from tracing import privacy as rights

    visitor = _privacy_visitor(visitor_id)
    key = visitor.id_number
    rights.revoke_codes(session=db.session, visitor=visitor, actor=_actor(), now=clock.now())
    flash(_("Every personal QR code of this person no longer works."), "success")
    query = {"id_number": key} if key else {"phone": visitor.phone_e164 or ""}
    return redirect(url_for("tracing.privacy", **query))


@bp.post("/privacy/<int:visitor_id>/delete")
@roles_required(Role.admin)
def privacy_delete(visitor_id: int):
    from tracing import privacy as rights

    visitor = _privacy_visitor(visitor_id)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm the deletion."), "error")
        query = {"id_number": visitor.id_number} if visitor.id_number else {
            "phone": visitor.phone_e164 or ""}
        return redirect(url_for("tracing.privacy", **query))
    counts = rights.erase_visitor(session=db.session, visitor=visitor, actor=_actor(),
                                  now=clock.now())
    flash(_("Deleted: the person, %(declarations)d declarations and %(visits)d visits.",
            declarations=counts["declarations"], visits=counts["visits"]), "success")
    return redirect(url_for("tracing.privacy"))
