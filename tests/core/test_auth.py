"""Staff sign-in, roles, CSRF and API bearer tokens."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from core import auth
from core.models import ApiToken
from tests.conftest import T0
from tests.support.databases import write_as_another_process


def test_login_page_is_vietnamese_by_default_and_english_on_the_toggle(client):
    page = client.get("/login").get_data(as_text=True)
    assert "Đăng nhập nhân viên" in page
    assert 'lang="vi"' in page
    client.get("/lang/en")
    page = client.get("/login").get_data(as_text=True)
    assert "Staff sign-in" in page
    assert 'lang="en"' in page


def test_wrong_password_is_refused_next_to_the_field(client, make_user, login):
    user = make_user("admin")
    response = login(user, password="not the password")
    assert response.status_code == 200
    assert "Sai tên đăng nhập hoặc mật khẩu." in response.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 302  # still anonymous


def test_sign_in_then_out(client, make_user, login):
    user = make_user("admin", display_name="Chị Lan")
    response = login(user)
    assert response.status_code == 302
    assert "Chị Lan" in client.get("/").get_data(as_text=True)
    assert client.get("/admin/users").status_code == 200
    client.post("/logout")
    assert client.get("/admin/users").status_code == 302


def test_sign_in_never_redirects_to_another_site(client, make_user):
    user = make_user("admin")
    response = client.post("/login?next=//evil.example/steal",
                           data={"username": user.username, "password": "correct horse battery"})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(("role", "status"), [("receptionist", 403), ("tracer", 403), ("admin", 200)])
def test_admin_pages_need_the_admin_role(client, make_user, login, role, status):
    login(make_user(role))
    assert client.get("/admin/users").status_code == status
    assert client.get("/admin/venues").status_code == status


def test_anonymous_staff_page_goes_to_sign_in(client):
    response = client.get("/admin/venues")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/venues")


def test_admin_creates_an_account_and_sees_its_password_once(client, make_user, login):
    login(make_user("admin"))
    page = client.post("/admin/users", data={"username": "le.thu", "role": "tracer",
                                              "display_name": "Lê Thu"}).get_data(as_text=True)
    assert "le.thu" in page and "Lê Thu" in page
    assert 'class="secret"' in page
    assert 'class="secret"' not in client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_forms_without_csrf_token_are_refused(client, make_user, app_config):
    user = make_user("admin")
    response = client.post("/login", data={"username": user.username,
                                           "password": "correct horse battery"})
    assert response.status_code == 400
    assert "Biểu mẫu đã hết hạn" in response.get_data(as_text=True)


def test_cli_token_is_accepted_by_the_api(runner, client):
    result = runner.invoke(args=["user", "create", "--username", "tracer1", "--role", "tracer",
                                 "--password", "a long enough password", "--print-token"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"username": "tracer1", "role": "tracer", "display_name": None}


@pytest.mark.parametrize("header", [None, "Bearer kbt_wrong", "Bearer ", "Basic abc", "Bearer"])
def test_missing_or_wrong_token_gets_401_json(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == "unauthorized"
    assert body["message_vi"] == "Vui lòng đăng nhập hoặc gửi mã API hợp lệ."
    assert body["message_en"] == "Sign in or send a valid API token."
    assert body["errors"] == {}


def test_token_of_a_deactivated_user_is_refused(client, session, make_user, api_token):
    user = make_user("tracer")
    token = api_token(user)
    user.is_active = False
    session.add(user)
    session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_user_create_refuses_short_password_and_bad_role(runner):
    result = runner.invoke(args=["user", "create", "--username", "x", "--role", "tracer",
                                 "--password", "short"])
    assert result.exit_code != 0
    assert "at least 10" in result.output
    result = runner.invoke(args=["user", "create", "--username", "x", "--role", "boss"])
    assert result.exit_code != 0


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_session_cookie_is_httponly_and_samesite(client, make_user, login):
    response = login(make_user("admin"))
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_admin_edits_a_venues_checkout_rules(client, session, make_user, login, make_venue):
    venue = make_venue(code="UBND", name="UBND phường")
    login(make_user("admin"))
    response = client.post("/admin/venues/UBND", data={
        "name": "UBND phường Cửa Nam", "address": "", "unit": "",
        "closing_time": "18:00", "max_stay_min": "480"})
    assert response.status_code == 302
    session.refresh(venue)
    assert (venue.name, venue.closing_time.strftime("%H:%M"), venue.max_stay_min) == (
        "UBND phường Cửa Nam", "18:00", 480)
    page = client.get("/admin/venues").get_data(as_text=True)
    assert "18:00" in page and "480 phút" in page
    bad = client.post("/admin/venues/UBND", data={"name": "", "max_stay_min": "0"})
    assert bad.status_code == 200
    session.refresh(venue)
    assert venue.name == "UBND phường Cửa Nam"
    assert client.get("/admin/venues/NOPE").status_code == 404


# --- Bearer tokens are cached briefly, never past their revocation ---------------------------

def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_token_revoked_in_this_process_is_refused_at_once(client, session, make_user,
                                                            api_token):
    token = api_token(make_user("tracer"))
    assert _me(client, token).status_code == 200  # now cached
    session.execute(update(ApiToken).values(revoked_at=T0))
    session.commit()
    assert _me(client, token).status_code == 401


def test_a_disabled_account_is_refused_at_once_though_its_token_was_cached(
        client, session, make_user, api_token):
    user = make_user("tracer")
    token = api_token(user)
    assert _me(client, token).status_code == 200
    user.is_active = False
    session.add(user)
    session.commit()
    assert _me(client, token).status_code == 401


def test_a_token_revoked_by_another_process_is_refused_within_the_default_staleness(
        app, client, make_user, api_token, monkeypatch):
    """Another process's write passes none of this process's hooks (here: a raw DB-API
    connection); the cached token still dies once BEARER_CACHE_S, as shipped, has passed."""
    token = api_token(make_user("tracer"))
    now = [1000.0]
    monkeypatch.setattr(auth, "_monotonic", lambda: now[0])
    assert _me(client, token).status_code == 200
    write_as_another_process(app, "UPDATE api_token SET revoked_at = created_at")
    assert _me(client, token).status_code == 200  # served from this process's cache...
    now[0] += auth.BEARER_CACHE_S
    assert _me(client, token).status_code == 401  # ...for BEARER_CACHE_S at most
    assert auth.BEARER_CACHE_S <= 2.0
