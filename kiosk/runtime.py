"""Which background workers `kiosk run` starts. Each builder takes the app and returns a worker
(or None when its feature is turned off); the manager in core.workers runs them."""
from __future__ import annotations

from flask import Flask

from core.workers import Worker
from tracing.worker import build_retention_worker

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


def build_workers(app: Flask) -> list[Worker]:
    from ble_beacon.worker import build_scanner, build_venue_beacon

    # features append their builder functions here, in order
    builders: list = [build_camera, build_scanner, build_venue_beacon, build_retention_worker]
    workers = []
    for build in builders:
        worker = build(app)
        if worker is not None:
            workers.append(worker)
    return workers
