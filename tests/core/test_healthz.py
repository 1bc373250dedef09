"""GET /healthz reports each component honestly."""
from __future__ import annotations

from app import create_app


def test_healthz_ok_without_hardware_workers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "components": {"db": "ok", "camera": "off", "ble": "off", "public_url": "ok",
                       "sync": "off"},
    }


def test_healthz_warns_when_phones_could_not_open_the_venue_qr(app, client):
    # Check-ins still work (200, "ok"), but the QR would be dead: say so, in words an
    # administrator can act on.
    for value, problem in ((None, "unset"), ("", "unset"), ("http://127.0.0.1:5000", "loopback"),
                           ("http://localhost:5000/", "loopback"), ("http://[::1]/", "loopback"),
                           ("http://0.0.0.0:5000", "loopback")):
        app.config["PUBLIC_URL"] = value
        response = client.get("/healthz")
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "ok"
        assert body["components"]["public_url"] == f"warning: {problem}", value
        assert body["warnings"][0].startswith("KIOSK_PUBLIC_URL ")
    app.config["PUBLIC_URL"] = "https://kiosk.example.vn"
    assert "warnings" not in client.get("/healthz").get_json()


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
