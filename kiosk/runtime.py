"""The kiosk's background workers (camera, camera check-in, automatic check-out) and the wiring
between them and the check-in service. Each builder takes the app and returns a worker (or None
when its feature is turned off); kiosk/__init__.py registers them, the other features register
theirs, and the manager in core.workers runs what `kiosk run` builds."""
from __future__ import annotations

import logging
import queue
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from core.db import database_fault, db
from core.services import ensure_kiosk, get_venue
from core.workers import JOB, OFF, WORKER, Worker, build_registered
from declarations.rules import TriageRules, rules_from_config
from declarations.keystore import keystore_of
from declarations.tokens import KeyRing, code_lifetime
from kiosk import services
from visits import services as visit_services
from visits.stays import StayRules

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# What a scan needs from the app (services never read the config themselves)

def token_keyring(app: Flask) -> KeyRing:
    """The personal-token key ring as it is now, shared with the declarations package (which
    signs with the same ring): a rotation or a retirement reaches this process within seconds."""
    return keystore_of(app).ring()


def triage_rules(app: Flask) -> TriageRules:
    rules = app.extensions.get("declarations.rules")
    if rules is None:
        rules = rules_from_config(app.config.get("TRIAGE_RULES"))
        app.extensions["declarations.rules"] = rules
    return rules


def scan_settings(app: Flask) -> services.ScanSettings:
    config = app.config
    return services.ScanSettings(
        rules=StayRules(
            min_stay_min=config["MIN_STAY_MIN"],
            repeat_scan_s=config["REPEAT_SCAN_S"],
            fresh_hours=config["DECLARATION_FRESH_HOURS"],
        ),
        keyring=token_keyring(app),
        # The declarations package's token lifetime, never longer than the retention period.
        token_max_age=code_lifetime(config),
        ticket_secret=config["SECRET_KEY"],
        ticket_ttl_s=config["CONFIRM_TTL_S"],
        triage_rules=triage_rules(app),
        retention_days=config["RETENTION_DAYS"],
        tracing_app_keys=tuple(config["TRACING_APPS"]),
    )


def now(app: Flask):
    return app.extensions["clock"].now()


def device_kiosk_id(app: Flask, session, venue) -> int:
    """This server's device row at `venue` (made on first use, cached), so visits record the
    kiosk that took them."""
    cache = app.extensions.setdefault("kiosk.devices", {})
    if venue.id not in cache:
        device = ensure_kiosk(session=session, venue=venue, name=socket.gethostname()[:100],
                              now=now(app))
        cache[venue.id] = device.id
    return cache[venue.id]


# ---------------------------------------------------------------------------------------------
# Camera → check-in

# The camera worker of this process, once built: later builders (the check-in consumer) take
# decoded codes from it with `camera.subscribe()` or `camera.add_listener(callback)`.
CAMERA_EXTENSION = "kiosk.camera"


def build_camera(app: Flask) -> Worker | None:
    """The camera named by KIOSK_CAMERA_SOURCE; None when it is `none` (/healthz says "off")."""
    from kiosk.camera import CameraWorker, parse_source

    spec = parse_source(app.config["CAMERA_SOURCE"])
    if spec.kind == "none":
        return None
    camera = CameraWorker(spec, decoder=app.config["DECODER"])
    app.extensions[CAMERA_EXTENSION] = camera
    return camera


def camera_of(app: Flask):
    """The CameraWorker built for this process, or None (no camera, or not `kiosk run`)."""
    return app.extensions.get(CAMERA_EXTENSION)


# A camera check-in the database cannot take (another writer holds the lock, the disk is full)
# is kept and tried again: soon at first, then every few seconds, for a bounded time after the
# code was shown. Then the screen shows an error card and the visitor scans again or sees
# reception. A retried scan keeps the time it was first tried, and the stay rules make a second
# presentation in the meantime the same answer, so a held check-in is stored exactly once.
SAVE_RETRY_INITIAL_S = 0.5
SAVE_RETRY_MAX_S = 4.0
SAVE_GIVE_UP_S = 180.0


class CameraCheckIn:
    """Hands each code the camera reads to handle_scan, in a thread of its own (a slow database
    never stalls decoding). Subscribes when built, so no code read after the camera starts is
    lost; runs while the camera runs. A database fault (core.db.database_fault) holds the scan
    and retries it with backoff; its status is then `waiting: <fault>`."""

    name = "checkin"

    def __init__(self, app: Flask, camera, *, retry_initial_s: float = SAVE_RETRY_INITIAL_S,
                 retry_max_s: float = SAVE_RETRY_MAX_S, give_up_s: float = SAVE_GIVE_UP_S,
                 utcnow=None):
        self.app = app
        self._utcnow = utcnow or (lambda: datetime.now(timezone.utc))  # the camera's clock
        self._scans: queue.Queue = camera.subscribe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.give_up_s = give_up_s
        self._waiting: str | None = None  # the database fault a held scan is waiting out
        self.handled = 0
        self.retries = 0  # attempts made again after a database fault

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera-checkin", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> str:
        if self._thread is None or not self._thread.is_alive():
            return OFF
        waiting = self._waiting
        return f"waiting: {waiting}" if waiting else "ok"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                scan = self._scans.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._check_in(scan)
            except Exception:  # one bad scan must not stop the door
                logger.exception("camera check-in failed")
            finally:
                self._waiting = None
            self.handled += 1

    def _check_in(self, scan) -> None:
        at = now(self.app)  # when the code was first tried: kept across retries
        seen_at = getattr(scan, "seen_at", None) or self._utcnow()
        give_up_at = seen_at + timedelta(seconds=self.give_up_s)
        delay = self.retry_initial_s
        while True:
            try:
                handle_camera_scan(self.app, scan.text, at=at)
                return
            except sa.exc.DBAPIError as exc:
                fault = database_fault(exc)
                if fault is None:
                    raise
            # Nothing was stored (the transaction was rolled back): say so, wait, try again.
            db.note_fault(fault, self.app)
            self._waiting = fault
            if self._utcnow() + timedelta(seconds=delay) > give_up_at:
                logger.error("camera check-in not saved: database %s for %.0f s", fault,
                             self.give_up_s)
                self._give_up(scan, fault)
                return
            logger.warning("camera check-in held: database %s, retrying in %.1f s", fault, delay)
            if self._stop.wait(delay):
                logger.error("camera check-in not saved: stopped while the database was %s",
                             fault)
                return
            delay = min(delay * 2, self.retry_max_s)
            self.retries += 1

    def _give_up(self, scan, fault: str) -> None:
        """The screen shows an error card: this code was not checked in or out."""
        try:
            services.publish_refusal(self.app.config["VENUE"], fault,
                                     getattr(scan, "kind", None))
        except Exception:
            logger.exception("could not show the unsaved check-in")


def handle_camera_scan(app: Flask, payload: str, *, at=None) -> services.ScanResult | None:
    """One code from the camera, at this kiosk's venue; the outcome goes to the screens. `at`:
    when it was shown (default now). Database faults propagate (CameraCheckIn retries them)."""
    with app.app_context(), db.new_session(app) as session:
        venue = get_venue(session=session, code=app.config["VENUE"])
        if venue is None:
            logger.warning("camera scan ignored: venue %s is not set up", app.config["VENUE"])
            return None
        kiosk_id = device_kiosk_id(app, session, venue)
        try:
            result = services.handle_scan(session=session, now=at or now(app),
                                          venue_code=venue.code, payload=payload,
                                          settings=scan_settings(app), kiosk_id=kiosk_id)
        except services.ScanError:
            return None  # already shown on the screen as refused
        logger.info("camera scan: %s%s (visit %s)", result.action,
                    " again" if result.repeated else "",
                    result.visit.id if result.visit is not None else None)
        if result.action == "check_in" and result.visitor is not None:
            _publish_notice(app, session, venue.code, result, at or now(app))
        return result


def _publish_notice(app: Flask, session, venue_code: str, result, moment) -> None:
    """After a check-in: the host is told, and an exposure notice for the visitor goes to the
    door screen as its own event (an amber card after the greeting)."""
    try:
        notice = services.after_check_in(session=session, result=result, now=moment,
                                         email_on=bool(app.config.get("SMTP_URL")))
    except Exception:  # the check-in is saved; a notice lookup must never undo the door
        logger.exception("notice lookup failed (visit %s)", result.visit.id if result.visit
                         else None)
        return
    if notice is not None:
        services.publish_now(venue_code, {"type": "notice", "notice": notice,
                                          "display_name": result.as_json()["visitor"]
                                          ["display_name"]})


def build_checkin(app: Flask) -> Worker | None:
    camera = camera_of(app)
    return CameraCheckIn(app, camera) if camera is not None else None


# ---------------------------------------------------------------------------------------------
# Automatic check-out

class AutoCheckout:
    """Closes overdue visits (venue closing time, maximum stay) every AUTO_CHECKOUT_INTERVAL_S."""

    name = "auto_checkout"

    def __init__(self, app: Flask):
        self.app = app
        self.interval_s = app.config["AUTO_CHECKOUT_INTERVAL_S"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = OFF

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="auto-checkout", daemon=True)
        self._thread.start()
        self._state = "ok"

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._state = OFF

    def status(self) -> str:
        return self._state

    def run_once(self) -> int:
        with self.app.app_context(), db.new_session(self.app) as session:
            return visit_services.close_overdue_visits(
                session=session, now=now(self.app),
                default_max_stay_min=self.app.config["MAX_STAY_MIN"])

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
                self._state = "ok"
            except Exception as exc:  # a database hiccup: try again next round
                logger.exception("automatic check-out failed")
                self._state = f"error: {type(exc).__name__}"
            if self._stop.wait(self.interval_s):
                return


def build_auto_checkout(app: Flask) -> Worker | None:
    return AutoCheckout(app)


def build_workers(app: Flask) -> list[Worker]:
    """The hardware workers every feature registered (camera, check-in, BLE, daily purge)."""
    return build_registered(app, WORKER)


def build_jobs(app: Flask) -> list[Worker]:
    """The periodic jobs of a kiosk process (no hardware): automatic check-out."""
    return build_registered(app, JOB)
