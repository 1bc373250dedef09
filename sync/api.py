"""The central server's sync API for enrolled kiosk devices: POST /api/v1/sync/push (a batch of
rows, stored once) and GET /api/v1/sync/pull (what changed centrally since a cursor). Every call
carries the device credential (`Authorization: Bearer kbd_…`), checked on every request."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from flask_babel import lazy_gettext as _l

from core import clock
from core.db import db
from core.errors import api_error, read_json_body
from sync import downsync
from sync.devices import device_for_token
from sync.ingest import BatchError, apply_batch

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")

MESSAGES = {
    "device_unauthorized": _l("This device is not enrolled, or its credential was revoked."),
    "invalid_batch": _l("The batch could not be read."),
    "batch_too_large": _l("The batch is too large."),
    "batch_refused": _l("The batch contradicts data already stored and was not saved."),
    "invalid_cursor": _l("The sync cursor is not valid."),
    "invalid_keys": _l("The list of keys could not be read."),
    "invalid_notices": _l("The list of notices could not be read."),
}


@bp.record_once
def _setup(state):
    # Devices send JSON with their credential, never a browser session: no CSRF token.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def _device():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return device_for_token(session=db.session, token=token.strip())


def _unauthorized():
    return api_error("device_unauthorized", MESSAGES["device_unauthorized"], 401)


def _device_and_body():
    """(device, JSON body, None), or (None, None, the refusal) for a device's write call."""
    device = _device()
    if device is None:
        return None, None, _unauthorized()
    body, problem = read_json_body()
    if problem is not None:
        return None, None, problem
    return device, body, None


@bp.post("/push")
def push():
    device = _device()
    if device is None:
        return _unauthorized()
    body, problem = read_json_body()
    if problem is not None:
        return problem
    if not isinstance(body, dict) or not isinstance(body.get("rows"), dict):
        return api_error("invalid_batch", MESSAGES["invalid_batch"], 422,
                         {"rows": MESSAGES["invalid_batch"]})
    last_seq = body.get("last_seq")
    if not (isinstance(last_seq, int) and not isinstance(last_seq, bool)
            and 0 < last_seq < 2**31):
        last_seq = None
    try:
        outcome = apply_batch(session=db.session, device=device, rows=body["rows"],
                              now=clock.now(), min_stay_min=current_app.config["MIN_STAY_MIN"],
                              last_seq=last_seq)
    except BatchError as exc:
        db.session.rollback()
        return api_error(exc.code, MESSAGES[exc.code], 422, {"rows": MESSAGES[exc.code]})
    except sa.exc.IntegrityError:
        db.session.rollback()
        return api_error("batch_refused", MESSAGES["batch_refused"], 422,
                         {"rows": MESSAGES["batch_refused"]})
    return jsonify({"stored": outcome.stored, "rejected": outcome.rejected})


@bp.post("/keys")
def keys():
    """A device announces its own signing keys' public halves (every round; known ones change
    nothing). Answers with how many changed."""
    from sync.keys import KeyListError, accept_announcement, read_keys

    device, body, refusal = _device_and_body()
    if refusal is not None:
        return refusal
    try:
        announced = read_keys(body.get("keys") if isinstance(body, dict) else None)
    except KeyListError as exc:
        return api_error("invalid_keys", MESSAGES["invalid_keys"], 422,
                         {str(exc): MESSAGES["invalid_keys"]})
    changed = accept_announcement(db.session.connection(), device_id=device.id, keys=announced,
                                  now=clock.now())
    db.session.commit()
    if changed:
        from declarations.keystore import keystore_of

        keystore_of(current_app._get_current_object()).forget()
    return jsonify({"changed": changed})


@bp.post("/notices/shown")
def notices_shown():
    """A device showed these exposure notices on its door screen (ids and times)."""
    from notices.doors import mark_shown

    _device_row, body, refusal = _device_and_body()
    if refusal is not None:
        return refusal
    try:
        changed = mark_shown(db.session, items=body.get("notices") if isinstance(body, dict)
                             else None, now=clock.now())
    except ValueError:
        db.session.rollback()
        return api_error("invalid_notices", MESSAGES["invalid_notices"], 422,
                         {"notices": MESSAGES["invalid_notices"]})
    db.session.commit()
    return jsonify({"changed": changed})


def _form_link(venue_code: str) -> str | None:
    """This server's phone form for a venue, when phones can reach it (its public address)."""
    from core.public_url import public_url_message
    from declarations.venue_links import build_venue_url

    public = current_app.config.get("PUBLIC_URL")
    if public_url_message(public):
        return None
    return build_venue_url(public, venue_code, current_app.config["SECRET_KEY"])


@bp.get("/pull")
def pull():
    device = _device()
    if device is None:
        return _unauthorized()
    since = request.args.get("since") or None
    try:
        changes = downsync.changes_since(session=db.session, device=device, cursor=since,
                                         now=clock.now(),
                                         staff_held=(request.args.get("staff") or "")[:64] or None,
                                         form_link=_form_link)
    except downsync.BadCursor:
        return api_error("invalid_cursor", MESSAGES["invalid_cursor"], 422,
                         {"since": MESSAGES["invalid_cursor"]})
    device.last_seen_at = clock.now()
    db.session.add(device)
    db.session.commit()
    return jsonify(changes)
