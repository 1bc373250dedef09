"""The kiosk's background workers (camera, BLE scanner, daily jobs) behind one manager.

Nothing starts in the app factory: `flask --app app kiosk run` builds the workers and calls
start(); /healthz reads their status. Each worker owns only its own lifecycle.
"""
from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)

# Status words shown on the kiosk screen and in /healthz.
OFF = "off"          # not running in this process (disabled, or a central server)
ABSENT = "absent"    # enabled, but the hardware is not there


class Worker(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def status(self) -> str: ...


class WorkerManager:
    def __init__(self) -> None:
        self._workers: dict[str, Worker] = {}
        self._running = False

    def add(self, worker: Worker) -> None:
        if worker.name in self._workers:
            raise ValueError(f"worker {worker.name!r} already added")
        self._workers[worker.name] = worker

    def get(self, name: str) -> Worker | None:
        return self._workers.get(name)

    def names(self) -> list[str]:
        return list(self._workers)

    def start(self) -> None:
        for worker in self._workers.values():
            logger.info("starting worker %s", worker.name)
            try:
                worker.start()
            except Exception:  # one broken device must not keep the door from opening
                logger.exception("worker %s failed to start", worker.name)
        self._running = True

    def stop(self, timeout: float = 5.0) -> None:
        for worker in reversed(list(self._workers.values())):
            logger.info("stopping worker %s", worker.name)
            try:
                worker.stop(timeout)
            except Exception:
                logger.exception("worker %s failed to stop cleanly", worker.name)
        self._running = False

    def status(self, name: str) -> str:
        worker = self._workers.get(name)
        if worker is None:
            return OFF
        try:
            return worker.status()
        except Exception as exc:
            return f"error: {type(exc).__name__}"
