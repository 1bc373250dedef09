"""GET /healthz reports each component honestly."""
from __future__ import annotations

from app import create_app


def test_healthz_ok_without_hardware_workers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "components": {"db": "ok", "camera": "off", "ble": "off"},
    }


def test_healthz_reports_worker_states(app, client):
    class FakeCamera:  # a pure-logic stand-in for a worker's status only
        name = "camera"

        def start(self): ...

        def stop(self, timeout=5.0): ...

        def status(self):
            return "absent"

    app.extensions["workers"].add(FakeCamera())
    assert client.get("/healthz").get_json()["components"]["camera"] == "absent"


def test_healthz_reports_an_unreachable_database_with_503(tmp_path):
    app = create_app({
        "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/none.db",
    })
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["components"]["db"].startswith("error: ")
