"""The kiosk's background workers (camera, BLE scanner, daily jobs) behind one manager.

Nothing starts in the app factory: each feature registers the builders of its workers with the
app (`register_builder`, at its `init_app`), and `flask --app app kiosk run` builds them and
calls start(); /healthz reads their status. Each worker owns only its own lifecycle.
"""
from __future__ import annotations

import logging
from typing import Callable, Protocol

logger = logging.getLogger(__name__)

# Status words shown on the kiosk screen and in /healthz.
OFF = "off"          # not running in this process (disabled, or a central server)
ABSENT = "absent"    # enabled, but the hardware is not there


class Worker(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def status(self) -> str: ...


_BUILDERS_KEY = "workers.builders"
# Hardware workers and what consumes them, then daily jobs: started together by `kiosk run`.
WORKER = "worker"
# Periodic jobs with no hardware (a kiosk process runs them besides its workers).
JOB = "job"


def register_builder(app, builder: Callable, *, kind: str = WORKER) -> None:
    """A feature adds a builder: `builder(app)` returns a worker, or None when the feature is
    turned off. Builders run in the order they were registered."""
    if kind not in (WORKER, JOB):
        raise ValueError(f"unknown worker kind {kind!r}")
    app.extensions.setdefault(_BUILDERS_KEY, []).append((kind, builder))


def build_registered(app, kind: str = WORKER) -> list:
    """The workers of one kind that the registered builders make for this app."""
    workers = []
    for builder_kind, build in app.extensions.get(_BUILDERS_KEY, ()):
        if builder_kind != kind:
            continue
        worker = build(app)
        if worker is not None:
            workers.append(worker)
    return workers


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
