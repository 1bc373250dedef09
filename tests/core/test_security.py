"""Security baseline: headers and CSP on every response, Secure cookies over TLS, sign-in limits."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/", "/login", "/healthz", "/api/v1/me"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    with client.get("/static/css/app.css") as response:
        assert response.status_code == 200
        assert response.headers.get("Cache-Control") != "no-store"


def test_session_cookie_is_secure_when_the_request_came_over_tls(client, make_user):
    user = make_user("admin")
    response = client.post("/login", base_url="https://kiosk.test",
                           data={"username": user.username, "password": "correct horse battery"})
    assert "Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers


def test_session_cookie_not_secure_on_plain_http_kiosk(client, make_user):
    user = make_user("admin")
    response = client.post("/login", data={"username": user.username,
                                           "password": "correct horse battery"})
    assert "Secure" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "3 per minute"}])
def test_sign_in_attempts_are_rate_limited_with_a_bilingual_page(client, make_user, app_config):
    make_user("admin", username="lan")
    for _ in range(3):
        assert client.post("/login", data={"username": "lan", "password": "guess"}).status_code == 200
    response = client.post("/login", data={"username": "lan", "password": "guess"})
    assert response.status_code == 429
    assert "Quá nhiều yêu cầu" in response.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # reading the page is not limited


@pytest.mark.parametrize("app_config", [{"LOGIN_ACCOUNT_RATE_LIMIT": "2 per hour"}])
def test_one_account_is_protected_across_client_addresses(client, make_user, app_config):
    make_user("admin", username="lan")
    for n in range(2):
        client.post("/login", data={"username": "lan", "password": "guess"},
                    environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
    response = client.post("/login", data={"username": "lan", "password": "guess"},
                           environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert response.status_code == 429
