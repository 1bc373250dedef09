"""The kiosk's pages: the door screen and its live event stream, the receptionist's desk (on site
now, flagged queue, manual check-in), the scan API and the venue poster. Who may see what is
described in kiosk/access.py."""
from __future__ import annotations

import io
import json
from datetime import date
import logging
import time

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core import clock, health
from core.audit import record_audit
from core.auth import roles_required
from core.db import STORAGE_FULL, db
from core.errors import DATABASE_MESSAGES, api_error, read_json_body
from core.models import Role, Venue
from core.public_url import public_url_message
from core.security import public_limits
from core.services import get_venue
from core.venue_cache import door_venue
from core import admin_units
from declarations.consent import FALSE_DECLARATION_WARNING, consent_texts
from declarations.identity import countries, format_phone
from declarations.messages import problem
from declarations.models import DeclarationSource
from notices.hosts import host_choices, tell_host
from declarations.questions import (
    CONDITIONS,
    EXPOSURES,
    GENDERS,
    LABELS,
    SYMPTOMS,
    VISIT_PURPOSES,
    tracing_app_choices,
)
from declarations.schema import form_to_mapping, validate_declaration
from declarations.tokens import TokenError
from declarations.venue_links import build_venue_url
from kiosk import desk as desk_services
from kiosk import runtime, services, streams
from kiosk.access import DESK_ROLES, scan_caller_required, screen_required
from kiosk.camera import OK as CAMERA_OK
from kiosk.camera import STATUS_MESSAGES as CAMERA_MESSAGES
from kiosk.codes import HINTS, VENUE, parse_code
from kiosk.decoding import MAX_IMAGE_BYTES, ImageError, decode_image_bytes, make_decoder
from kiosk.poster import PosterError, PosterVenue, render_poster
from visits import events
from visits import services as visit_services
from visits.models import OpenedBy

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


def desk_venues() -> list[Venue]:
    """The active venues the signed-in staff member may work the desk of (core.staff's scope:
    an admin every venue, a receptionist the venues assigned to them), by code."""
    from core.services import list_venues
    from core.staff import venue_scope

    scope = venue_scope(session=db.session, user=current_user._get_current_object())
    return [v for v in list_venues(session=db.session) if v.is_active and scope.allows(v.id)]


def desk_venue() -> Venue:
    """The venue a desk page acts on: the one asked for (?venue= or the form's `venue`) if the
    user may act on it, else this kiosk's own venue, else the user's first. A receptionist
    assigned nowhere gets a page saying so; another venue's code is refused, never shown."""
    venues = desk_venues()
    asked = request.values.get("venue")
    by_code = {v.code: v for v in venues}
    if asked:
        venue = by_code.get(asked.strip().upper())
        if venue is None:
            abort(404)
        return venue
    if current_app.config["VENUE"] in by_code:
        return by_code[current_app.config["VENUE"]]
    if not venues:
        message = _("You are not assigned to any venue yet: ask an administrator to assign you.")
        abort(make_response(render_template("core/error.html", status=403, message=message),
                            403))
    return venues[0]


def _to_desk(venue: Venue):
    return redirect(url_for("kiosk.desk", venue=venue.code))


def device_kiosk_id(venue: Venue) -> int | None:
    """Visits taken at this kiosk's own venue record this device; other venues (a central server
    taking scans for many) record none."""
    if venue.code != current_app.config["VENUE"]:
        return None
    return runtime.device_kiosk_id(current_app._get_current_object(), db.session, venue)


def public_url_warning() -> str:
    """Why the venue QR cannot be shown or printed ('' when it can): KIOSK_PUBLIC_URL unset or
    on loopback would make a QR that visitors' phones cannot open (unless the central server of
    this kiosk's installation gave its own phone form's link)."""
    message = public_url_message(current_app.config.get("PUBLIC_URL"))
    if message and _central_form_url() is not None:
        return ""
    return message


def _central_form_url() -> str | None:
    """On a kiosk of an installation: the central server's phone form for this kiosk's venue,
    as the last sync round gave it (None on a stand-alone kiosk, or before the first round)."""
    provider = current_app.extensions.get("central_phone_form_url")  # sync's, when installed
    return provider(current_app, db.session) if provider is not None else None


def venue_url(venue: Venue) -> str | None:
    """The venue's signed link: on this server's public address, or, on a kiosk whose phones
    cannot reach it, the central server's phone form for the kiosk's own venue (a declaration
    made there reaches the central server whatever the kiosk's network). None: no link."""
    if not public_url_message(current_app.config.get("PUBLIC_URL")):
        return build_venue_url(current_app.config["PUBLIC_URL"], venue.code,
                               current_app.config["SECRET_KEY"])
    if venue.code == current_app.config["VENUE"]:
        return _central_form_url()
    return None


def device_status() -> dict[str, str]:
    workers = current_app.extensions["workers"]
    return {name: workers.status(name) for name in ("camera", "ble")}


def device_messages(workers, database: str = "ok") -> dict[str, str]:
    """What the screen says about the camera, the Bluetooth scanner and (when it cannot take
    check-ins) the database, in the current language (each worker words its own state; an
    absent worker is off; a working database says nothing)."""
    from ble_beacon.scanner import STATUS_MESSAGES as BLE_MESSAGES
    from kiosk.camera import STATUS_MESSAGES as CAMERA_MESSAGES

    messages = {}
    for name, off in (("camera", CAMERA_MESSAGES["off"]), ("ble", BLE_MESSAGES["off"])):
        worker = workers.get(name)
        info = getattr(worker, "status_info", None) if worker is not None else None
        messages[name] = str(info().message if info is not None else off)
    messages["db"] = database_line(database)
    return messages


# The screen's line while the database cannot take check-ins (a lock held by another program, a
# full disk, a broken one); the camera's check-ins wait meanwhile (runtime.CameraCheckIn).
DATABASE_LINES = {
    "busy": _l("The database is busy: scans are waiting to be saved."),
    STORAGE_FULL: _l("The kiosk's storage is full: scans are waiting to be saved. Please tell "
                     "reception."),
    "error": _l("The kiosk cannot save scans right now. Please tell reception."),
}


def database_state(app) -> str:
    """ok | busy | error: <fault>, as /healthz words it. No I/O while no write has failed (the
    screen polls this); after a failed write, /healthz's probe says whether the fault lasts."""
    if db.fault(app) is None:
        return "ok"
    return db.health(app)


def database_line(state: str) -> str:
    if state == "ok":
        return ""
    if state == "busy":
        return str(DATABASE_LINES["busy"])
    if state == f"error: {STORAGE_FULL}":
        return str(DATABASE_LINES[STORAGE_FULL])
    return str(DATABASE_LINES["error"])


# ---------------------------------------------------------------------------------------------
# The door screen

# Words for the device states the workers report (core.workers, kiosk.camera, ble_beacon).
STATUS_WORDS = {
    "off": _l("off"),
    "absent": _l("not connected"),
    "ok": _l("working"),
    "starting": _l("starting…"),
    "reconnecting": _l("reconnecting…"),
    "error": _l("error"),
}
DEVICE_NAMES = {"camera": _l("Camera"), "ble": _l("Bluetooth")}
VISIT_STATUSES = {
    "clear": _l("clear"),
    "needs_review": _l("waiting for a decision"),
    "admitted": _l("admitted"),
    "turned_away": _l("turned away"),
}
# Seconds a result card stays up: long enough to read at arm's length, short enough for a queue.
CARD_S = 6
# Browser-camera mode: one frame posted for decoding this often.
BROWSER_SCAN_INTERVAL_MS = 700


# What the door says about reading codes and saving them: only what a visitor can act on (the
# devices' own states and messages are on the desk and /healthz).
DOOR_LINES = {
    "camera_ok": CAMERA_MESSAGES[CAMERA_OK],
    "browser_camera": _l("This screen’s camera is reading codes: hold your QR code or CCCD card "
                         "up to it."),
    "no_camera": _l("Codes cannot be read at this entrance right now: please show your QR code "
                    "at reception."),
    "starting": "",
    "db_wait": _l("Saving takes a little longer right now: please wait for the green screen."),
    "db_down": _l("Check-ins cannot be saved right now: please go to reception."),
}


def door_state(camera_status: str, database: str) -> dict[str, str]:
    """Which DOOR_LINES the screen shows for these device and database states."""
    camera = camera_status.split(":")[0]
    if camera == "ok":
        camera_line = "camera_ok"
    elif camera == "starting":
        camera_line = "starting"
    else:
        camera_line = "no_camera"
    db_line = "ok" if database == "ok" else ("db_wait" if database == "busy" else "db_down")
    return {"camera": camera_line, "db": db_line}


def refusal_messages() -> dict[str, str]:
    """What the screen says for each refused scan (the event carries only the code)."""
    messages = {f"token_{reason}": str(problem(f"token_{reason}"))
                for reason in (*TokenError.REASONS, "unknown_visitor", "revoked")}
    messages.update({code: str(text) for code, text in services.MESSAGES.items()})
    messages["venue_code_scanned"] = str(HINTS[VENUE])
    # A camera scan the database could not take in time (runtime.CameraCheckIn gave up).
    messages.update({code: str(text) for code, text in DATABASE_MESSAGES.items()})
    return messages


def screen_texts() -> dict[str, str]:
    return {
        "welcome": _("Welcome!"),
        "see_reception": _("Please see the receptionist"),
        "goodbye": _("Goodbye! You are checked out"),
        "already_in": _("You are already checked in"),
        "already_out": _("You are already checked out"),
        "admitted": _("Admitted by the receptionist"),
        "turned_away": _("Entry not permitted: please see the receptionist"),
        "not_accepted": _("Code not accepted"),
        "not_saved": _("Your scan could not be saved"),
        "checked_in_at": _("Checked in at %(time)s", time="{time}"),
        "app_detected": _("Contact-tracing app detected"),
        "checked_out_at": _("Checked out at %(time)s", time="{time}"),
        "hello": _("Hello, %(name)s!", name="{name}"),
        "changed_since": _("Your last health declaration was at %(when)s. Has anything changed "
                           "since then?", when="{when}"),
        "health_title": _("Health questions"),
        "identity_from_card": _("From your card: %(name)s", name="{name}"),
        "network": _("The kiosk cannot reach its server. Please try again."),
        "camera_failed": _("This device’s camera could not be opened."),
    }


@bp.get("/kiosk")
@screen_required
def screen():
    venue = kiosk_venue()
    config = current_app.config
    lang = str(get_locale() or "vi")
    camera = runtime.camera_of(current_app)
    screen_config = {
        "venue_code": venue.code,
        "lang": lang,
        "events_url": url_for("kiosk.event_stream"),
        "scan_url": url_for("kiosk.api_scan"),
        "confirm_url": url_for("kiosk.api_confirm"),
        "home_lang_url": url_for("core.set_language", code=config["BABEL_DEFAULT_LOCALE"],
                                 next=url_for("kiosk.screen")),
        "default_lang": config["BABEL_DEFAULT_LOCALE"],
        "idle_s": config["SCREEN_IDLE_S"],
        "card_s": CARD_S,
        "browser_scan_interval_ms": BROWSER_SCAN_INTERVAL_MS,
        "text": screen_texts(),
        "refusals": refusal_messages(),
        "not_saved_codes": sorted(DATABASE_MESSAGES),
        "door_lines": {key: str(line) for key, line in DOOR_LINES.items()},
    }
    status = device_status()
    return render_template(
        "kiosk/screen.html",
        venue=venue,
        venue_qr=not public_url_warning(),
        door_state=door_state(status["camera"], database_state(current_app)),
        door_lines=DOOR_LINES,
        camera_preview=camera is not None,
        labels=LABELS,
        symptoms=SYMPTOMS,
        exposures=EXPOSURES,
        tracing_apps=tracing_app_choices(config["TRACING_APPS"]),
        consent=consent_texts(lang, retention_days=config["RETENTION_DAYS"],
                              operator=venue.unit or venue.name),
        screen_config=screen_config,
    )


@bp.get("/kiosk/venue-qr.svg")
def venue_qr():
    """The venue's signed link as an SVG QR code (public: it is printed on the poster too)."""
    venue = kiosk_venue()
    link = venue_url(venue)
    if link is None:
        abort(404)  # a QR that phones cannot open is worse than none
    buffer = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
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
    # The door's own screen follows its venue; desk staff may follow any venue they work at.
    venue_code = (desk_venue() if request.args.get("venue") and current_user.is_authenticated
                  else kiosk_venue()).code
    db.session.close()  # done with the database before the long wait
    app = current_app._get_current_object()
    workers = app.extensions["workers"]
    heartbeat_s = app.config["EVENTS_HEARTBEAT_S"]
    lang = str(get_locale() or "vi")

    def status() -> dict[str, str]:
        return {**{name: workers.status(name) for name in ("camera", "ble")},
                "db": database_state(app)}

    def messages(current: dict[str, str]) -> dict[str, str]:
        with app.app_context(), force_locale(lang):
            return device_messages(workers, current["db"])

    slot = streams.slots_of(app).acquire()
    if slot is None:
        return _too_many_streams()
    subscription = events.broker.subscribe(venue_code)
    response = Response(
        streams.SlotStream(_sse(subscription, status, heartbeat_s, messages), slot),
        mimetype="text/event-stream",
    )
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


TOO_MANY_STREAMS = _l("This server is showing as many live screens as it can right now; "
                      "this one will try again shortly.")
# Seconds a refused stream waits before it tries again.
STREAM_RETRY_AFTER_S = 5


def _too_many_streams():
    """Over the stream bound: refused at once with a clear status (never queued), so the
    threads stay free for check-ins and the phone form."""
    response = api_error("too_many_streams", TOO_MANY_STREAMS, 503)
    response.headers["Retry-After"] = str(STREAM_RETRY_AFTER_S)
    return response


# Device status is re-read this often while a stream waits (cheap: no I/O unless a database
# write has failed, see database_state).
STATUS_POLL_S = 2.0


def _sse_message(kind: str, data: dict, event_id: int | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {kind}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def _sse(subscription, status, heartbeat_s: float, messages):
    try:
        yield "retry: 3000\n\n"
        last_status = status()
        yield _sse_message("status", {**last_status, "messages": messages(last_status)})
        last_sent = time.monotonic()
        while True:
            event = subscription.get(timeout=min(STATUS_POLL_S, heartbeat_s))
            if event is not None:
                yield _sse_message(event.get("type", "message"), event, event.get("id"))
                last_sent = time.monotonic()
            current = status()
            if current != last_status:
                last_status = current
                yield _sse_message("status", {**current, "messages": messages(current)})
                last_sent = time.monotonic()
            if time.monotonic() - last_sent >= heartbeat_s:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
    finally:
        subscription.close()


# ---------------------------------------------------------------------------------------------
# The receptionist's desk

def _desk_context(venue: Venue) -> dict:
    today = desk_services.local_today(clock.now())
    return dict(
        venue=venue,
        inside=desk_services.on_site_rows(session=db.session, venue_id=venue.id),
        flagged=desk_services.flagged_rows(session=db.session, venue_id=venue.id),
        mismatches=desk_services.identity_mismatches(session=db.session, venue_id=venue.id,
                                                     day=today),
        counts=desk_services.day_counts(session=db.session, venue_id=venue.id, day=today),
        today=today,
        visit_statuses=VISIT_STATUSES, symptoms=SYMPTOMS, exposures=EXPOSURES,
        purposes=VISIT_PURPOSES, format_phone=format_phone,
    )


@bp.get("/kiosk/desk")
@roles_required(*DESK_ROLES)
def desk():
    venue = desk_venue()
    if request.args.get("part") == "lists":  # desk.js refreshes just the lists
        return render_template("kiosk/_desk_lists.html", **_desk_context(venue))
    query = request.args.get("q", "")
    found = desk_services.find_visitors(session=db.session, venue_id=venue.id, query=query) \
        if query.strip() else None
    return render_template(
        "kiosk/desk.html", **_desk_context(venue), query=query, found=found,
        search_limit=desk_services.SEARCH_LIMIT,
        status=device_status(), status_words=STATUS_WORDS, device_names=DEVICE_NAMES,
        device_messages=device_messages(current_app.extensions["workers"],
                                        database_state(current_app)),
        public_url_warning=public_url_warning(),
        health_warnings=[r.warning for r in health.read_all(current_app).values()
                         if r.warning is not None],
        password_url=_password_url(), desk_venues=desk_venues())


def _password_url() -> str | None:
    """The staff's own password page (core's /account/password, built by the trust work), once
    it is there."""
    endpoint = "core.change_own_password"
    return url_for(endpoint) if endpoint in current_app.view_functions else None


@bp.get("/kiosk/log")
@roles_required(*DESK_ROLES)
def day_log():
    """Today's entry/exit log (or another day's: ?day=YYYY-MM-DD), printable."""
    venue = desk_venue()
    today = desk_services.local_today(clock.now())
    try:
        day = date.fromisoformat(request.args.get("day", "")) if request.args.get("day") \
            else today
    except ValueError:
        flash(_("Choose a date as YYYY-MM-DD."), "error")
        return redirect(url_for("kiosk.day_log", venue=venue.code))
    rows = desk_services.day_log(session=db.session, venue_id=venue.id, day=day)
    return render_template("kiosk/log.html", venue=venue, day=day, today=today, rows=rows,
                           counts=desk_services.day_counts(session=db.session, venue_id=venue.id,
                                                  day=day),
                           limit=desk_services.LOG_LIMIT, visit_statuses=VISIT_STATUSES,
                           closed_by_words=CLOSED_BY_WORDS, format_phone=format_phone,
                           purposes=VISIT_PURPOSES)


@bp.post("/kiosk/visitors/<int:visitor_id>/qr")
@roles_required(*DESK_ROLES)
def reprint_qr(visitor_id: int):
    """A new copy of a visitor's personal QR (they lost it or forgot their phone)."""
    venue = desk_venue()
    app = current_app._get_current_object()
    try:
        visitor, _declaration, token = desk_services.reprint_qr(
            session=db.session, venue_id=venue.id, visitor_id=visitor_id,
            actor=current_user._get_current_object(), keyring=runtime.token_keyring(app),
            now=clock.now())
    except desk_services.ReprintError as exc:
        flash(str(REPRINT_ERRORS[exc.code]), "error")
        return _to_desk(venue)
    return render_template("kiosk/reprint.html", venue=venue, token=token,
                           name=visit_services.display_name(visitor))


REPRINT_ERRORS = {
    "unknown_visitor": _l("No such visitor at this venue."),
    "no_declaration": _l("This visitor came from a paper list and has no declaration, so no "
                         "personal QR can be made: ask them to declare."),
}
CLOSED_BY_WORDS = {
    "scan": _l("scanned out"),
    "staff": _l("checked out at the desk"),
    "close_all": _l("closed at the end of the day"),
    "automatic": _l("closed automatically"),
}


@bp.post("/kiosk/visits/<int:visit_id>/check-out")
@roles_required(*DESK_ROLES)
def staff_check_out(visit_id: int):
    venue = desk_venue()
    try:
        visit_services.check_out_by_staff(session=db.session, visit_id=visit_id, venue_id=venue.id,
                                    now=clock.now())
    except visit_services.VisitError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Checked out."), "success")
    return _to_desk(venue)


@bp.post("/kiosk/visits/close-all")
@roles_required(*DESK_ROLES)
def close_all():
    venue = desk_venue()
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm closing every open visit."), "error")
        return _to_desk(venue)
    count = visit_services.close_all(session=db.session, venue_id=venue.id, now=clock.now(),
                               actor=current_user._get_current_object())
    flash(_("%(count)d visits closed.", count=count), "success")
    return _to_desk(venue)


@bp.post("/kiosk/visits/<int:visit_id>/review")
@roles_required(*DESK_ROLES)
def review(visit_id: int):
    venue = desk_venue()
    decision = request.form.get("decision")
    if decision not in ("admit", "turn_away"):
        flash(_("Choose admit or turn away."), "error")
        return _to_desk(venue)
    try:
        visit_services.review_visit(session=db.session, visit_id=visit_id, venue_id=venue.id,
                              admit=decision == "admit", note=request.form.get("note"),
                              actor=current_user._get_current_object(), now=clock.now())
    except visit_services.VisitError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Visitor admitted.") if decision == "admit" else _("Visitor turned away."),
              "success")
    return _to_desk(venue)


# ---------------------------------------------------------------------------------------------
# Pairing the door screen (kiosk/screens.py): the screen is a device, not an address

PAIRING_REFUSED = _l("This pairing link is unknown, already used or expired: ask an "
                     "administrator for a new one.")


@bp.get("/kiosk/pair/<code>")
def pair_screen(code: str):
    """Opened once on the door screen's browser: it becomes this kiosk's own screen (a
    long-lived, HttpOnly cookie naming its record) and goes to the door screen."""
    from kiosk import screens
    from kiosk.access import own_screen

    previous = own_screen()
    try:
        device, secret = screens.pair(session=db.session, code=code, now=clock.now())
    except screens.PairingError:
        return render_template("core/error.html", status=404, message=PAIRING_REFUSED), 404
    if previous is not None:  # one browser, one screen record
        screens.revoke(session=db.session, device_id=previous.id, now=clock.now())
    logger.info("screen %s paired", device.id)
    response = redirect(url_for("kiosk.screen"))
    response.set_cookie(screens.COOKIE_NAME, secret, max_age=screens.COOKIE_MAX_AGE_S,
                        httponly=True, samesite="Lax", path="/",
                        secure=bool(current_app.config["SESSION_COOKIE_SECURE"])
                        or request.is_secure)
    return response


@bp.route("/kiosk/screens", methods=["GET", "POST"])
@roles_required(Role.admin)
def screens_page():
    """The screens paired with this server; a new pairing link (shown once); revoking one."""
    from kiosk import screens

    link = None
    if request.method == "POST":
        name = (request.form.get("name") or "").strip() or _("Door screen")
        device, code = screens.create_pairing(session=db.session, name=name, now=clock.now())
        record_audit(session=db.session, now=clock.now(),
                     actor=current_user._get_current_object(), action="screen.pair",
                     target_type="screen_device", target_id=device.id)
        db.session.commit()
        # On the configured public address when there is one, else the path on this server:
        # never built from the request's Host header.
        link = pairing_link(current_app.config.get("PUBLIC_URL") or "", code)
    return render_template("kiosk/screens.html", link=link,
                           screens=screens.list_screens(session=db.session),
                           ttl_min=int(screens.PAIRING_TTL.total_seconds() // 60))


@bp.post("/kiosk/screens/<int:device_id>/revoke")
@roles_required(Role.admin)
def revoke_screen(device_id: int):
    from kiosk import screens

    device = screens.revoke(session=db.session, device_id=device_id, now=clock.now())
    if device is None:
        abort(404)
    record_audit(session=db.session, now=clock.now(), actor=current_user._get_current_object(),
                 action="screen.revoke", target_type="screen_device", target_id=device.id)
    db.session.commit()
    flash(_("Screen %(name)s can no longer act as the door screen.", name=device.name),
          "success")
    return redirect(url_for("kiosk.screens_page"))


def pairing_link(base_url: str, code: str) -> str:
    return base_url.rstrip("/") + url_for("kiosk.pair_screen", code=code)


# ---------------------------------------------------------------------------------------------
# The venue poster

@bp.get("/kiosk/venues/<code>/poster.pdf")
@roles_required(Role.admin)
def poster(code: str):
    venue = get_venue(session=db.session, code=code)
    if venue is None:
        abort(404)
    link = venue_url(venue)
    if link is None:
        message = public_url_message(current_app.config.get("PUBLIC_URL"))
        abort(make_response(render_template("core/error.html", status=409,
                                            message=message), 409))
    try:
        pdf = render_poster(PosterVenue(venue.code, venue.name, venue.address, link))
    except PosterError as exc:
        logger.warning("poster for venue %s failed: %s", venue.id, exc)
        abort(503, description=str(exc))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="poster-{venue.code}.pdf"'})


# ---------------------------------------------------------------------------------------------
# Scanning: the JSON API (the camera worker calls the same service). POST /api/v1/checkins is
# the declarations package's route; it is meant to call services.handle_scan the same way.


def _scan_error(exc: services.ScanError):
    return api_error(exc.code, exc.message, 422, exc.errors)


def _scan(venue_code, payload):
    venue = None
    if isinstance(venue_code, str):
        venue = door_venue(session=db.session, code=venue_code)
    try:
        result = services.handle_scan(
            session=db.session, now=clock.now(), venue_code=venue_code, payload=payload,
            settings=runtime.scan_settings(current_app._get_current_object()),
            kiosk_id=device_kiosk_id(venue) if venue is not None else None, venue=venue)
    except services.ScanError as exc:
        return _scan_error(exc)
    return jsonify(_with_notice(result))


def _with_notice(result) -> dict:
    """The answer, plus `notice` when the visitor just checked in has an exposure notice not yet
    shown at a kiosk; their host is told (both after the check-in committed)."""
    body = result.as_json()
    notice = services.after_check_in(
        session=db.session, result=result, now=clock.now(),
        email_on=bool(current_app.config.get("SMTP_URL")))
    if notice is not None:
        body["notice"] = notice
    return body


def _decoded(response) -> bool:
    """A browser-camera frame without a code is the idle screen polling, not a check-in: it does
    not spend the venue's budget (the per-client limit still applies to other callers)."""
    if response.status_code != 422:
        return True
    body = response.get_json(silent=True)
    return not (isinstance(body, dict) and body.get("code") == "no_code_found")


@bp.post("/api/v1/checkins")
@public_limits()
@scan_caller_required
def api_checkins():
    """`{venue_code, payload}` where payload is any scanned text: the same path as the camera."""
    data, error = read_json_body()
    if error is not None:
        return error
    if not isinstance(data, dict):
        return api_error("body_not_object", _l("The request body must be a JSON object."), 422)
    venue_code, payload = data.get("venue_code"), data.get("payload")
    errors = {}
    if not isinstance(venue_code, str) or not venue_code.strip():
        errors["venue_code"] = _l("Give the venue code.")
    if not isinstance(payload, str) or not payload.strip():
        errors["payload"] = _l("Give the scanned text as payload.")
    if errors:
        return api_error("invalid_request", _l("Some fields need attention."), 422, errors)
    return _scan(venue_code, payload)


@bp.post("/api/v1/scan")
@public_limits(venue_deduct_when=_decoded)
@scan_caller_required
def api_scan():
    """Multipart `image` + `venue_code`: decode the image, then as /api/v1/checkins."""
    upload = request.files.get("image")
    venue_code = request.form.get("venue_code")
    errors = {}
    if upload is None:
        errors["image"] = _l("Send a photo of the QR code as the image field.")
    if not venue_code or not venue_code.strip():
        errors["venue_code"] = _l("Give the venue code.")
    if errors:
        return api_error("invalid_request", _l("Some fields need attention."), 422, errors)
    try:
        detections = decode_image_bytes(
            upload.read(), decoder=_decoder(current_app.config["DECODER"]),
            max_bytes=current_app.config["MAX_CONTENT_LENGTH"] or MAX_IMAGE_BYTES,
            max_pixels=current_app.config["IMAGE_MAX_PIXELS"])
    except ImageError as exc:
        return api_error(exc.code, exc.message, 422, {"image": exc.message})
    if not detections:
        return api_error("no_code_found", _l("No QR code was found in the image."), 422,
                         {"image": _l("No QR code was found in the image.")})
    # Several codes in one frame (a card beside a phone): prefer one the kiosk recognises.
    texts = [d.text for d in detections]
    payload = next((t for t in texts if parse_code(t).kind != "unknown"), texts[0])
    return _scan(venue_code, payload)


@bp.post("/api/v1/checkins/confirm")
@public_limits(per_venue=False)  # the ticket names the visit; the scan that asked was counted
@scan_caller_required
def api_confirm():
    """The touchscreen's answer to a `needs_confirmation`: `{ticket, changed: false}` ("nothing
    has changed"; the door screen sends the streamed `question` id instead of a ticket) or `{ticket, changed: true, answers: {travel_14d, travel_places, symptoms,
    exposures, consent_processing, consent_sensitive_health, consent_text_version[, phone]}}`;
    answers as /api/v1/scan."""
    data, error = read_json_body()
    if error is not None:
        return error
    if not isinstance(data, dict):
        return api_error("body_not_object", _l("The request body must be a JSON object."), 422)
    try:
        ticket = data.get("ticket")
        result = services.confirm_scan(
            session=db.session, now=clock.now(), ticket=ticket,
            question=data.get("question") if ticket is None else None,
            changed=data.get("changed") is True, answers=data.get("answers"),
            settings=runtime.scan_settings(current_app._get_current_object()))
    except services.ScanError as exc:
        return _scan_error(exc)
    return jsonify(_with_notice(result))


_decoders: dict = {}


def _decoder(name: str):
    """One decoder per kind, shared by the request threads (the decoders are stateless)."""
    if name not in _decoders:
        _decoders[name] = make_decoder(name)
    return _decoders[name]


@bp.record_once
def _exempt_api_from_form_csrf(state) -> None:
    """The API checks the CSRF header itself for browser callers (kiosk/access.py); bearer-token
    scripts have no form token to send."""
    csrf = state.app.extensions["csrf"]
    for view in (api_checkins, api_scan, api_confirm):
        csrf.exempt(f"{__name__}.{view.__name__}")


# ---------------------------------------------------------------------------------------------
# Live camera preview (MJPEG) with the detected code outlined

# At most this many preview frames per second per screen: a guide for aiming, not a video feed.
PREVIEW_MAX_FPS = 8
# Resend the last frame this often when the camera is idle, so a closed tab is noticed (the
# write to a gone client fails) and its stream slot freed within seconds.
PREVIEW_KEEPALIVE_S = 2.0


@bp.get("/kiosk/preview.mjpg")
@screen_required
def preview():
    """The camera's frames as MJPEG while the camera works; without a working camera a 404 at
    once (the screen shows no preview box then), never a response that waits without a byte."""
    camera = runtime.camera_of(current_app)
    if camera is None or camera.status().split(":")[0] != CAMERA_OK:
        abort(404)
    slot = streams.slots_of(current_app).acquire()
    if slot is None:
        return _too_many_streams()
    db.session.close()
    return Response(streams.SlotStream(_mjpeg(camera), slot),
                    mimetype="multipart/x-mixed-replace; boundary=frame")


def _mjpeg(camera):
    seq, last = 0, None
    min_gap = 1.0 / PREVIEW_MAX_FPS
    sent_at = 0.0
    while True:
        got = camera.preview_jpeg(after=seq, timeout=PREVIEW_KEEPALIVE_S)
        if got is None:
            # Nothing new: resend the last frame (the keepalive) while the camera works; end the
            # stream when it stopped or never gave a frame (the page hides the preview then).
            if last is None or camera.status().split(":")[0] != CAMERA_OK:
                return
        else:
            seq, last = got
        wait = min_gap - (time.monotonic() - sent_at)
        if wait > 0:
            time.sleep(wait)  # throttle: the camera may deliver 30 frames a second
        sent_at = time.monotonic()
        yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
               + str(len(last)).encode() + b"\r\n\r\n" + last + b"\r\n")


# ---------------------------------------------------------------------------------------------
# Manual check-in (a visitor without a phone): the phone form's fields and its one schema

def _manual_context(venue: Venue, values: dict, *, errors=None, warnings=None,
                    confirm_warnings=False) -> dict:
    """What declarations/form.html needs (the phone form, filled in by the receptionist)."""
    lang = str(get_locale() or "vi")
    province_code = values.get("province_code")
    return dict(
        venue=venue, values=values, errors=errors or {}, warnings=warnings or {},
        dependant=False, declarant=None, action=url_for("kiosk.manual", venue=venue.code),
        labels=LABELS, symptoms=SYMPTOMS, exposures=EXPOSURES, genders=GENDERS,
        purposes=VISIT_PURPOSES, conditions=CONDITIONS,
        tracing_apps=tracing_app_choices(current_app.config["TRACING_APPS"]),
        hosts=host_choices(session=db.session, venue=venue),
        collect_conditions=current_app.config["COLLECT_CONDITIONS"],
        countries=countries(lang), provinces=admin_units.provinces(),
        wards=admin_units.wards_of(province_code if isinstance(province_code, str) else ""),
        consent=consent_texts(lang, retention_days=current_app.config["RETENTION_DAYS"],
                              operator=venue.unit or venue.name),
        warning_text=FALSE_DECLARATION_WARNING["en" if lang == "en" else "vi"],
        lang=lang, confirm_warnings=confirm_warnings, staff=True,
    )


@bp.route("/kiosk/manual", methods=["GET", "POST"])
@roles_required(*DESK_ROLES)
def manual():
    """The receptionist checks in someone without a phone: the declaration's questions, written
    for the receptionist (who records that the visitor consented; the ID number is optional),
    the same schema as the phone form, then the check-in, recorded as opened by staff."""
    from declarations.services import submit_declaration

    venue = desk_venue()
    if request.method == "GET":
        return render_template("declarations/form.html",
                               **_manual_context(venue, {"nationality": "VN"}))
    data = form_to_mapping(request.form)
    data["lang"] = str(get_locale() or "vi")
    now = clock.now()
    app = current_app._get_current_object()
    version = services.venue_consent_version(venue, retention_days=app.config["RETENTION_DAYS"])
    result = validate_declaration(data, now=now, consent_version=version, id_optional=True,
                                  collect_conditions=app.config["COLLECT_CONDITIONS"],
                                  tracing_app_keys=app.config["TRACING_APPS"],
                                  require_tracing_apps=True)
    if not result.ok or (result.warnings and request.form.get("confirm_warnings") != "1"):
        return render_template("declarations/form.html", **_manual_context(
            venue, data, errors=result.errors, warnings=result.warnings,
            confirm_warnings=result.ok)), 422 if not result.ok else 200
    submitted = submit_declaration(
        session=db.session, clean=result.declaration, venue=venue, now=now,
        keyring=runtime.token_keyring(app), rules=runtime.triage_rules(app),
        source=DeclarationSource.staff, opened_by=OpenedBy.staff,
        kiosk_id=device_kiosk_id(venue))
    tell_host(session=db.session, venue=venue, visitor_id=submitted.visitor.id,
              host_name=result.declaration.host_name, now=now,
              email_on=bool(app.config.get("SMTP_URL")))
    return render_template("kiosk/manual_done.html", venue=venue, submitted=submitted,
                           name=visit_services.display_name(submitted.visitor))
