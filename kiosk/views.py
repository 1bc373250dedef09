"""The kiosk's pages: the door screen and its live event stream, the receptionist's desk (on site
now, flagged queue, manual check-in), the scan API and the venue poster. Who may see what is
described in kiosk/access.py."""
from __future__ import annotations

import io
import json
import logging
import socket
import time

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from core import clock
from core.auth import roles_required
from core.db import db
from core.models import Role, Venue
from core.services import ensure_kiosk, get_venue
from declarations.venue_links import build_venue_url
from kiosk import events, services
from kiosk.access import DESK_ROLES, screen_required
from kiosk.poster import PosterError, PosterVenue, render_poster

logger = logging.getLogger(__name__)

bp = Blueprint("kiosk", __name__)


# ---------------------------------------------------------------------------------------------
# Helpers

def kiosk_venue() -> Venue:
    """The venue this kiosk serves (KIOSK_VENUE); a clear page when it is not set up."""
    venue = get_venue(session=db.session, code=current_app.config["VENUE"])
    if venue is None or not venue.is_active:
        message = _("Venue %(code)s is not set up on this server.",
                    code=current_app.config["VENUE"])
        abort(make_response(render_template("core/error.html", status=404, message=message),
                            404))
    return venue


def device_kiosk_id(venue: Venue) -> int:
    """This server's device row at `venue` (made on first use), so visits record the kiosk."""
    cache = current_app.extensions.setdefault("kiosk.devices", {})
    if venue.id not in cache:
        device = ensure_kiosk(session=db.session, venue=venue, name=socket.gethostname()[:100],
                              now=clock.now())
        cache[venue.id] = device.id
    return cache[venue.id]


def public_base_url() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def venue_url(venue: Venue) -> str:
    return build_venue_url(public_base_url(), venue.code, current_app.config["SECRET_KEY"])


def device_status() -> dict[str, str]:
    workers = current_app.extensions["workers"]
    return {name: workers.status(name) for name in ("camera", "ble")}


# ---------------------------------------------------------------------------------------------
# The door screen

@bp.get("/kiosk")
@screen_required
def screen():
    venue = kiosk_venue()
    config = current_app.config
    return render_template(
        "kiosk/screen.html",
        venue=venue,
        status=device_status(),
        idle_s=config["SCREEN_IDLE_S"],
    )


@bp.get("/kiosk/venue-qr.svg")
def venue_qr():
    """The venue's signed link as an SVG QR code (public: it is printed on the poster too)."""
    venue = kiosk_venue()
    buffer = io.BytesIO()
    segno.make(venue_url(venue), error="m", micro=False).save(
        buffer, kind="svg", scale=10, border=4, xmldecl=False, title=venue.name
    )
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/kiosk/events")
@screen_required
def event_stream():
    """Server-sent events for the screen: check-ins and check-outs of this venue, device status,
    heartbeat comments. Holds no database session while it waits."""
    venue_code = kiosk_venue().code
    db.session.close()  # done with the database before the long wait
    workers = current_app.extensions["workers"]
    heartbeat_s = current_app.config["EVENTS_HEARTBEAT_S"]
    subscription = events.broker.subscribe(venue_code)
    response = Response(
        _sse(subscription, workers, heartbeat_s),
        mimetype="text/event-stream",
    )
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


# Device status is re-read this often while a stream waits (cheap: no I/O).
STATUS_POLL_S = 2.0


def _sse_message(kind: str, data: dict, event_id: int | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {kind}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def _sse(subscription, workers, heartbeat_s: float):
    def status():
        return {name: workers.status(name) for name in ("camera", "ble")}

    try:
        yield "retry: 3000\n\n"
        last_status = status()
        yield _sse_message("status", last_status)
        last_sent = time.monotonic()
        while True:
            event = subscription.get(timeout=min(STATUS_POLL_S, heartbeat_s))
            if event is not None:
                yield _sse_message(event.get("type", "message"), event, event.get("id"))
                last_sent = time.monotonic()
            current = status()
            if current != last_status:
                last_status = current
                yield _sse_message("status", current)
                last_sent = time.monotonic()
            if time.monotonic() - last_sent >= heartbeat_s:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
    finally:
        subscription.close()


# ---------------------------------------------------------------------------------------------
# The receptionist's desk

@bp.get("/kiosk/desk")
@roles_required(*DESK_ROLES)
def desk():
    venue = kiosk_venue()
    inside = services.on_site(session=db.session, venue_id=venue.id)
    flagged = services.flagged_queue(session=db.session, venue_id=venue.id)
    template = "kiosk/_desk_lists.html" if request.args.get("part") == "lists" else "kiosk/desk.html"
    return render_template(template, venue=venue, inside=inside, flagged=flagged,
                           status=device_status())


@bp.post("/kiosk/visits/<int:visit_id>/check-out")
@roles_required(*DESK_ROLES)
def staff_check_out(visit_id: int):
    venue = kiosk_venue()
    try:
        services.check_out_by_staff(session=db.session, visit_id=visit_id, venue_id=venue.id,
                                    now=clock.now())
    except services.VisitError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Checked out."), "success")
    return redirect(url_for("kiosk.desk"))


@bp.post("/kiosk/visits/close-all")
@roles_required(*DESK_ROLES)
def close_all():
    venue = kiosk_venue()
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm closing every open visit."), "error")
        return redirect(url_for("kiosk.desk"))
    count = services.close_all(session=db.session, venue_id=venue.id, now=clock.now(),
                               actor=current_user._get_current_object())
    flash(_("%(count)d visits closed.", count=count), "success")
    return redirect(url_for("kiosk.desk"))


@bp.post("/kiosk/visits/<int:visit_id>/review")
@roles_required(*DESK_ROLES)
def review(visit_id: int):
    venue = kiosk_venue()
    decision = request.form.get("decision")
    if decision not in ("admit", "turn_away"):
        flash(_("Choose admit or turn away."), "error")
        return redirect(url_for("kiosk.desk"))
    try:
        services.review_visit(session=db.session, visit_id=visit_id, venue_id=venue.id,
                              admit=decision == "admit", note=request.form.get("note"),
                              actor=current_user._get_current_object(), now=clock.now())
    except services.VisitError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Visitor admitted.") if decision == "admit" else _("Visitor turned away."),
              "success")
    return redirect(url_for("kiosk.desk"))


# ---------------------------------------------------------------------------------------------
# The venue poster

@bp.get("/kiosk/venues/<code>/poster.pdf")
@roles_required(Role.admin)
def poster(code: str):
    venue = get_venue(session=db.session, code=code)
    if venue is None:
        abort(404)
    try:
        pdf = render_poster(PosterVenue(venue.code, venue.name, venue.address, venue_url(venue)))
    except PosterError as exc:
        logger.warning("poster for venue %s failed: %s", venue.id, exc)
        abort(503, description=str(exc))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="poster-{venue.code}.pdf"'})
