"""The delivery worker inside `kiosk run` (and a central server's process that runs jobs):
every few seconds, one pass of notices.services.deliver_due in its own session. A check-in never
waits for it: notices are delivered here, after the fact."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from core.db import db
from notices.hosts import deliver_host_emails
from notices.services import DeliverySettings, deliver_due

logger = logging.getLogger(__name__)


def delivery_settings(app: Flask) -> DeliverySettings:
    config = app.config
    return DeliverySettings(
        smtp_url=config.get("SMTP_URL") or None,
        sms_webhook_url=config.get("SMS_WEBHOOK_URL") or None,
        sender=config["NOTICE_SENDER"], max_attempts=int(config["NOTICE_MAX_ATTEMPTS"]),
        retry_s=int(config["NOTICE_RETRY_S"]))


class DeliveryWorker:
    name = "notices"

    def __init__(self, app: Flask):
        self._app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = "stopped"
        self.passes = 0

    def run_once(self) -> dict | None:
        try:
            # An app context: the texts are rendered in the visitor's language (Flask-Babel).
            with self._app.app_context(), db.new_session(self._app) as session:
                settings = delivery_settings(self._app)
                moment = self._app.extensions["clock"].now()
                counts = deliver_due(session=session, settings=settings, now=moment)
                hosts = deliver_host_emails(session=session, settings=settings, now=moment)
                counts = {k: counts[k] + hosts[k] for k in counts}
        except Exception as exc:
            logger.exception("notice delivery pass failed")
            self._status = f"error: {type(exc).__name__}"
            return None
        self.passes += 1
        self._status = "ok"
        return counts

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(float(self._app.config["NOTICE_INTERVAL_S"]))

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._status = "starting"
        self._thread = threading.Thread(target=self._loop, name="notices", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._status = "stopped"

    def status(self) -> str:
        return self._status


def build_delivery_worker(app: Flask) -> DeliveryWorker | None:
    """None when neither e-mail nor SMS is configured: the pages and the kiosk still show notices."""
    if not (app.config.get("SMTP_URL") or app.config.get("SMS_WEBHOOK_URL")):
        return None
    return DeliveryWorker(app)
