"""Which background workers `kiosk run` starts. Each builder takes the app and returns a worker
(or None when its feature is turned off); the manager in core.workers runs them."""
from __future__ import annotations

from flask import Flask

from core.workers import Worker
from tracing.worker import build_retention_worker


def build_workers(app: Flask) -> list[Worker]:
    builders: list = [build_retention_worker]  # features append their builder functions here
    workers = []
    for build in builders:
        worker = build(app)
        if worker is not None:
            workers.append(worker)
    return workers
