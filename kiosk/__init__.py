"""The entrance: the camera and its decoding, what a scanned code does, the door screen and the
reception desk."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the door's pages and API, its CLI, its part of the API document and its workers
    (the camera and its check-ins; automatic check-out as a job)."""
    from core import openapi
    from core.workers import JOB, register_builder
    from kiosk import openapi as kiosk_openapi
    from kiosk.cli import kiosk_cli, scan
    from kiosk.runtime import build_auto_checkout, build_camera, build_checkin
    from kiosk.views import bp

    from kiosk.streams import StreamSlots

    from core.security import OWN_SCREEN_CHECK
    from kiosk.access import is_own_screen

    app.extensions["kiosk.streams"] = StreamSlots(app.config["STREAM_LIMIT"])
    app.extensions[OWN_SCREEN_CHECK] = is_own_screen
    app.register_blueprint(bp)
    for command in (kiosk_cli, scan):
        app.cli.add_command(command)
    openapi.register(app, kiosk_openapi)
    register_builder(app, build_camera)
    register_builder(app, build_checkin)  # after the camera: it consumes the camera's codes
    register_builder(app, build_auto_checkout, kind=JOB)
