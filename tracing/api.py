"""JSON API for tracers: GET /api/v1/contacts and GET /api/v1/visits (bearer token or session)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core import clock
from core.auth import roles_required
from core.db import db
from core.errors import api_error
from core.input_limits import valid_id
from core.models import Role
from core.services import get_venue
from core.staff import venue_scope
from tracing import contact_query, errors, search, visit_lists
from tracing.errors import message_for
from tracing.parsing import (
    DEFAULT_AFTER_MIN,
    DEFAULT_BEFORE_MIN,
    InputError,
    parse_minutes,
    parse_window,
)

bp = Blueprint("tracing_api", __name__, url_prefix="/api/v1")

def _invalid(field: str, message, code: str = "invalid", status: int = 422):
    return api_error(code, _l("Some fields need attention."), status, {field: message})


def _visit_ids() -> list[int]:
    try:
        ids = [int(v) for v in request.args.getlist("visit_id")]
    except ValueError:
        raise InputError("visit_id", message_for("visit_not_found")) from None
    if not all(valid_id(i) for i in ids):  # no such row (and beyond the INTEGER column)
        raise InputError("visit_id", message_for("visit_not_found"))
    return ids


@bp.get("/contacts")
@roles_required(Role.tracer, Role.admin)
def contacts():
    """?phone=P|id_number=N&since=T&until=T, or visit_id=… (repeated); [before_min, after_min]"""
    args = request.args
    try:
        before = parse_minutes(args.get("before_min"), field="before_min",
                               default=DEFAULT_BEFORE_MIN)
        after = parse_minutes(args.get("after_min"), field="after_min",
                              default=DEFAULT_AFTER_MIN)
        visit_ids = _visit_ids()
        window = None
        if not visit_ids:
            if not (args.get("phone") or args.get("id_number")):
                raise InputError("phone", message_for("phone_or_id_number"))
            window = parse_window(args.get("since"), args.get("until"))
    except InputError as exc:
        return _invalid(exc.field, exc.message)
    now = clock.now()
    session = db.session
    actor = current_user._get_current_object()
    try:
        if window is not None:
            index = search.resolve_index(session=session, phone=args.get("phone"),
                                           id_number=args.get("id_number"),
                                           since=window.since, until=window.until, now=now)
            visit_ids = [v.id for v in index]
            query = {"by": "phone" if args.get("phone") else "id_number",
                     "since": window.since.isoformat(), "until": window.until.isoformat()}
        else:
            query = {"by": "visits"}
        report = contact_query.query_contacts(
            session=session, visit_ids=visit_ids, before_min=before, after_min=after, now=now,
            actor=actor, channel="api", query=query,
            since=window.since if window else None, until=window.until if window else None)
    except errors.TracingError as exc:
        if exc.code == "index_not_found":
            return api_error(exc.code, message_for(exc.code), 404)
        return _invalid(exc.field or "phone", message_for(exc.code), exc.code)
    return jsonify(report.as_json())


@bp.get("/visits")
@roles_required(Role.admin, Role.tracer, Role.receptionist)
def visits():
    """?venue=C&since=T&until=T: everyone at the venue during the range, by check-in time."""
    args = request.args
    if not (args.get("venue") or "").strip():
        return _invalid("venue", message_for("venue_required"))
    try:
        window = parse_window(args.get("since"), args.get("until"))
    except InputError as exc:
        return _invalid(exc.field, exc.message)
    actor = current_user._get_current_object()
    venue = get_venue(session=db.session, code=args["venue"])
    # A receptionist reads only the venues they work at; another venue is answered as if it did
    # not exist (its existence is nobody's business at this door).
    if venue is None or not venue_scope(session=db.session, user=actor).allows(venue.id):
        return api_error("venue_not_found", message_for("venue_not_found"), 404)
    try:
        rows = visit_lists.query_visits(session=db.session, venue=venue, since=window.since,
                                     until=window.until, now=clock.now(),
                                     actor=actor, channel="api")
    except errors.TracingError as exc:
        return _invalid(exc.field or "until", message_for(exc.code), exc.code)
    door_only = Role(actor.role) == Role.receptionist
    return jsonify({"venue": {"code": venue.code, "name": venue.name},
                    "since": visit_lists.iso_local(window.since),
                    "until": visit_lists.iso_local(window.until),
                    "count": len(rows),
                    "visits": [_door_view(v.as_json()) if door_only else v.as_json()
                               for v in rows]})


# What a receptionist's list carries of a visitor: who they are to the desk (name, phone), never
# their ID number (the door has no use for it once the visit is made).
_DOOR_VISITOR_FIELDS = ("id", "full_name", "phone")


def _door_view(row: dict) -> dict:
    return {**row, "visitor": {k: row["visitor"][k] for k in _DOOR_VISITOR_FIELDS}}
