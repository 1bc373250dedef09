"""Issue 15, point 12: absolute links come from configuration only, and unknown hosts are refused.
On main, without KIOSK_PUBLIC_URL, a forged Host header ended up in `qr_png_url` (and could in
the venue QR): a phone would fetch its personal QR from the forger's site."""
from __future__ import annotations

import pytest

from core.settings import ConfigError
from tests.hardening.conftest import ALICE, counts, declaration_body

EVIL = {"Host": "evil.example"}


def _declare(client, **kwargs):
    return client.post("/api/v1/declarations", json=declaration_body(), environ_base=ALICE,
                       **kwargs)


@pytest.mark.parametrize("app_config", [{"PUBLIC_URL": None}])
def test_without_a_public_address_a_forged_host_reaches_no_link(client, session, venue,
                                                                app_config):
    before = counts(session)
    refused = _declare(client, headers=EVIL)
    assert refused.status_code == 400
    body = refused.get_json()
    assert body["code"] == "unknown_host"
    assert body["message_vi"] and body["message_en"] and body["message_vi"] != body["message_en"]
    assert counts(session) == before  # nothing stored
    # A host this server answers to: the links are paths on it, never built from the header.
    made = _declare(client).get_json()
    assert made["qr_png_url"] == f"/qr/{made['token']}.png"
    assert made["qr_svg_url"] == f"/qr/{made['token']}.svg"


def test_with_a_public_address_links_are_on_it(client, venue):
    made = _declare(client).get_json()
    assert made["qr_png_url"] == f"http://kiosk.test/qr/{made['token']}.png"


@pytest.mark.parametrize("path", ["/", "/healthz", "/kiosk/venue-qr.svg", "/login",
                                  "/v/HQ?k=x"])
def test_pages_refuse_an_unknown_host_in_both_languages(client, venue, path):
    response = client.get(path, headers=EVIL)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Máy chủ này không phục vụ tên miền được yêu cầu." in text
    assert "This server does not serve the requested host name." in text
    assert "evil.example" not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("host", ["kiosk.test", "kiosk.test:8443", "localhost:5000",
                                  "127.0.0.1"])
def test_the_public_host_and_loopback_are_served(client, venue, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_proxy_the_forwarded_host_is_checked(client, venue, app_config):
    forged = client.get("/healthz", headers={"X-Forwarded-Host": "evil.example",
                                             "X-Forwarded-For": "192.0.2.1"})
    assert forged.status_code == 400
    public = client.get("/healthz", headers={"X-Forwarded-Host": "kiosk.test",
                                             "X-Forwarded-For": "192.0.2.1"})
    assert public.status_code == 200


@pytest.mark.parametrize("app_config", [{"ALLOWED_HOSTS": "kiosk.lan, .example.vn"}])
def test_the_allowed_hosts_can_be_configured(client, venue, app_config):
    assert client.get("/healthz", headers={"Host": "kiosk.lan"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "door.example.vn"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "kiosk.test"}).status_code == 400


def test_a_wrong_allowed_hosts_value_stops_the_start(tmp_path):
    from app import create_app

    with pytest.raises(ConfigError, match="KIOSK_ALLOWED_HOSTS"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                    "INSTANCE_PATH": str(tmp_path / "i"), "ALLOWED_HOSTS": [1, 2]})
