"""Sync fixtures: the suite's database is the central server (SQLite or PostgreSQL, served over
real HTTP), and each kiosk is a second app on its own migrated SQLite file, as on a device."""
from __future__ import annotations

import shutil

import pytest
from alembic import command as alembic_command

from app import create_app
from core.cli import alembic_config
from core.db import db
from core.services import create_venue
from sync.devices import enrol_device
from tests.conftest import T0
from tests.declarations.test_schema import DESIGN_EXAMPLE

# Private (reserved for documentation) addresses: a kiosk's declaration never looks like a flood.
PHONE = {"REMOTE_ADDR": "192.0.2.10"}


@pytest.fixture(scope="session")
def kiosk_template(tmp_path_factory):
    """A migrated kiosk database, copied for each kiosk (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("kiosk-template") / "kiosk.db"
    alembic_command.upgrade(alembic_config(f"sqlite:///{path}"), "head")
    return path


@pytest.fixture
def central(app):
    """The central server: the suite's app and database on a real threaded HTTP server."""
    from werkzeug.serving import make_server
    import threading
    from types import SimpleNamespace

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="central", daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.port}", app=app)
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def enrol(session):
    """enrol(venue_code, name) → the device credential, on the central server."""

    def make(venue_code: str = "HQ", name: str = "Cổng A") -> str:
        _device, token = enrol_device(session=session, venue_code=venue_code, name=name, now=T0)
        return token

    return make


@pytest.fixture
def make_kiosk(kiosk_template, tmp_path):
    """make_kiosk(name, central_url=…, token=…, venue="HQ") → a kiosk app on its own SQLite copy,
    with its venue."""
    apps = []

    def make(name: str = "a", *, central_url: str | None = None, token: str | None = None,
             venue: str = "HQ", **config):
        folder = tmp_path / f"kiosk-{name}"
        folder.mkdir()
        shutil.copy(kiosk_template, folder / "kiosk.db")
        kiosk = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": f"sqlite:///{folder / 'kiosk.db'}",
            "INSTANCE_PATH": str(folder / "instance"), "WTF_CSRF_ENABLED": False,
            "PUBLIC_URL": "http://kiosk.test", "CAMERA_SOURCE": "none", "BLE": "off",
            "PUBLIC_RATE_LIMIT": "100000 per hour", "VENUE_RATE_LIMIT": "100000 per hour",
            "VENUE": venue, "CENTRAL_URL": central_url, "DEVICE_TOKEN": token, **config})
        with db.new_session(kiosk) as session:
            create_venue(session=session, code=venue, name="Trụ sở chính", now=T0)
        apps.append(kiosk)
        return kiosk

    yield make
    for kiosk in apps:
        db.dispose(kiosk)


def declaration(**changes) -> dict:
    return {**DESIGN_EXAMPLE, "symptoms": [], "exposures": [], "venue_code": "HQ", **changes}


def declare(kiosk, **changes) -> dict:
    """A visitor declares on the kiosk's own API (and is checked in)."""
    response = kiosk.test_client().post("/api/v1/declarations", json=declaration(**changes),
                                        environ_base=PHONE)
    assert response.status_code == 201, response.get_json()["errors"]
    return response.get_json()
