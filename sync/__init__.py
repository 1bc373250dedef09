"""Store and forward: a kiosk of an installation forwards every change to the central server
(outbox filled by database triggers, pushed in order and in batches, stored once centrally) and
gets venues, keys, withdrawn codes, erasures, notices and staff back; the central server enrols devices and takes their batches."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the sync API, the `device` and `sync` commands, the API document's part and the
    sync worker (a job of `kiosk run` when KIOSK_CENTRAL_URL is set)."""
    from core import health, openapi
    from core.workers import JOB, register_builder
    from sync import openapi as sync_openapi
    from sync.api import bp
    from sync.cli import COMMANDS
    from sync.health import probe
    from sync.worker import build_sync_worker

    app.register_blueprint(bp)
    for command in COMMANDS:
        app.cli.add_command(command)
    openapi.register(app, sync_openapi)
    register_builder(app, build_sync_worker, kind=JOB)
    health.register(app, "sync", probe)
    # The door's venue QR on a kiosk phones cannot reach (kiosk/views.py asks for it by name).
    app.extensions["central_phone_form_url"] = central_phone_form_url


def central_phone_form_url(app, session):
    """The central server's phone form for this kiosk's venue, as the last round gave it (None
    on a stand-alone kiosk, or before the first round)."""
    if not app.config.get("CENTRAL_URL"):
        return None
    from sqlmodel import select

    from sync.models import SyncState

    return session.exec(select(SyncState.phone_form_url).where(SyncState.id == 1)).first()
