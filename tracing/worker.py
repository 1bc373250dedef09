"""The daily retention job inside `kiosk run`: purge once at start, then every night at 02:30
(Asia/Ho_Chi_Minh), each run in its own database session."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from core.db import db
from tracing.retention import next_run_after

logger = logging.getLogger(__name__)

ACTOR = "system:retention"


class RetentionWorker:
    name = "retention"

    def __init__(self, app: Flask):
        self._app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = "stopped"
        self.runs = 0
        self.last_result = None

    def _now(self):
        return self._app.extensions["clock"].now()

    def run_once(self):
        """One purge with the configured retention; errors are logged and reported, not raised,
        so a bad night never stops the kiosk."""
        from tracing.purge import purge_personal_data

        try:
            with db.new_session(self._app) as session:
                result = purge_personal_data(session=session, now=self._now(),
                                             days=self._app.config["RETENTION_DAYS"], actor=ACTOR)
        except Exception as exc:
            logger.exception("retention purge failed")
            self._status = f"error: {type(exc).__name__}"
            return None
        self.runs += 1
        self.last_result = result
        self._status = "ok"
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            now = self._now()
            self._stop.wait(max(1.0, (next_run_after(now) - now).total_seconds()))

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._status = "starting"
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._status = "stopped"

    def status(self) -> str:
        return self._status


def build_retention_worker(app: Flask) -> RetentionWorker:
    return RetentionWorker(app)
