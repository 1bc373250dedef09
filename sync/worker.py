"""The sync worker inside `kiosk run` on a kiosk of an installation: a sync round every
KIOSK_SYNC_INTERVAL_S in its own thread and database session, so the door never waits for the
network. /healthz reads its state."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from core.db import db

logger = logging.getLogger(__name__)


def central_client(app: Flask):
    from sync.client import CentralClient

    return CentralClient(app.config["CENTRAL_URL"], app.config["DEVICE_TOKEN"],
                         connect_timeout_s=app.config["SYNC_CONNECT_TIMEOUT_S"],
                         read_timeout_s=app.config["SYNC_READ_TIMEOUT_S"])


def run_sync_once(app: Flask, stop=None):
    """One round (push, then pull) for this app; returns the service's Result."""
    from sync import downsync, service

    from sync.trim import maybe_trim

    with db.new_session(app) as session:
        result = service.sync_once(session=session, client=central_client(app),
                                   now=app.extensions["clock"].now(),
                                   pull=lambda s, c: downsync.pull(s, c, app), stop=stop)
        if result.error is None and result.pending == 0:
            maybe_trim(app, session)
    return result


class SyncWorker:
    name = "sync"

    def __init__(self, app: Flask):
        self._app = app
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = "starting"
        self.rounds = 0

    def run_once(self):
        try:
            result = run_sync_once(self._app, stop=self._stop.is_set)
        except Exception as exc:  # a database fault or a bug: say so, try again next round
            logger.exception("sync round failed")
            self._status = f"error: {type(exc).__name__}"
            return None
        self.rounds += 1
        self._status = "ok" if result.error is None else f"error: {result.error}"
        return result

    def _loop(self) -> None:
        interval = self._app.config["SYNC_INTERVAL_S"]
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(interval)
            self._wake.clear()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        from sync import outbox

        # Capture from the start, before the first round reaches the network.
        with db.new_session(self._app) as session:
            outbox.enable_capture(session=session, now=self._app.extensions["clock"].now())
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._status = "stopped"

    def status(self) -> str:
        return self._status


def build_sync_worker(app: Flask):
    """A worker when this kiosk belongs to an installation (KIOSK_CENTRAL_URL set), else None."""
    if not app.config.get("CENTRAL_URL"):
        return None
    return SyncWorker(app)
