"""Issue 15, point 8: a staff session ends when it should, wherever its cookie went. On main a
session cookie captured before signing out still opened the desk for 12 hours, and staff could
not change their own password."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import utcnow
from core.models import AuditEvent, StaffSession, User
from tests.conftest import PASSWORD

COOKIE = "khaibao_session"
NEW_PASSWORD = "a much longer passphrase"


@pytest.fixture
def app_config():
    return {"LOGIN_RATE_LIMIT": "1000 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute"}


@pytest.fixture
def lan(make_venue, make_user):
    make_venue(code="HQ", name="Trụ sở chính")
    return make_user("receptionist", username="lan", venue_codes=["HQ"])


def _signed_in(app, user, password=PASSWORD):
    browser = app.test_client()
    response = browser.post("/login", data={"username": user.username, "password": password})
    assert response.status_code == 302, "could not sign in"
    return browser


def _copy_of_cookie(app, browser):
    """Another browser holding a copy of `browser`'s session cookie (stolen, or kept from before
    signing out)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, browser.get_cookie(COOKIE).value)
    return thief


def _opens_the_desk(browser) -> bool:
    response = browser.get("/kiosk/desk")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_signing_out_ends_the_session_for_a_copied_cookie_too(app, lan):
    desk = _signed_in(app, lan)
    copy = _copy_of_cookie(app, desk)
    assert _opens_the_desk(copy)
    assert desk.post("/logout").status_code == 302
    assert not _opens_the_desk(desk)
    assert not _opens_the_desk(copy)
    assert copy.get("/kiosk/desk").headers["Location"].startswith("/login")


def test_each_sign_in_is_its_own_session(app, lan, session):
    first, second = _signed_in(app, lan), _signed_in(app, lan)
    first.post("/logout")
    assert _opens_the_desk(second), "signing out at one desk signed out another"
    session.expire_all()
    assert len(session.exec(select(StaffSession)).all()) == 1
    # The cookie names the session by a secret the database keeps only as a hash.
    stored = session.exec(select(StaffSession)).one().secret_sha256
    assert stored not in second.get_cookie(COOKIE).value


def test_disabling_an_account_ends_its_sessions_even_after_it_is_enabled_again(
        app, client, lan, make_user, login):
    desk = _signed_in(app, lan)
    login(make_user("admin"))
    client.post(f"/admin/users/{lan.id}/active", data={"active": "0"})
    client.post(f"/admin/users/{lan.id}/active", data={"active": "1"})
    assert not _opens_the_desk(desk)
    assert _opens_the_desk(_signed_in(app, lan))


def test_a_session_ends_after_a_shift_on_the_server_too(app, lan, session):
    desk = _signed_in(app, lan)
    row = session.exec(select(StaffSession)).one()
    row.created_at = utcnow() - app.permanent_session_lifetime - timedelta(minutes=1)
    session.add(row)
    session.commit()
    assert not _opens_the_desk(desk)


def test_staff_change_their_own_password_and_other_sessions_end(app, lan, session):
    here, elsewhere = _signed_in(app, lan), _signed_in(app, lan)
    page = here.get("/account/password")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Đổi mật khẩu" in text and "Mật khẩu hiện tại" in text
    response = here.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Đã đổi mật khẩu" in here.get(response.headers["Location"]).get_data(as_text=True)
    assert _opens_the_desk(here), "the browser that changed the password stays signed in"
    assert not _opens_the_desk(elsewhere)
    assert app.test_client().post("/login", data={
        "username": "lan", "password": PASSWORD}).status_code == 200  # the old one is refused
    _signed_in(app, lan, NEW_PASSWORD)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.password")).one()
    assert event.actor_user_id == lan.id and event.details == {"sessions_ended": 2}
    assert PASSWORD not in str(event.details) and NEW_PASSWORD not in str(event.details)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"current_password": "wrong guess!", "new_password": NEW_PASSWORD,
      "confirm_password": NEW_PASSWORD}, "current_password", "Mật khẩu hiện tại không đúng."),
    ({"current_password": PASSWORD, "new_password": "short",
      "confirm_password": "short"}, "new_password", "Mật khẩu mới phải có ít nhất 10 ký tự."),
    ({"current_password": PASSWORD, "new_password": NEW_PASSWORD,
      "confirm_password": NEW_PASSWORD + "x"}, "confirm_password",
     "Hai lần nhập mật khẩu mới không giống nhau."),
    ({"current_password": PASSWORD, "new_password": PASSWORD,
      "confirm_password": PASSWORD}, "new_password", "Mật khẩu mới phải khác mật khẩu hiện tại."),
])
def test_a_refused_change_says_why_and_changes_nothing(app, lan, session, fields, field,
                                                       message):
    here, elsewhere = _signed_in(app, lan), _signed_in(app, lan)
    before = session.get(User, lan.id).password_hash
    response = here.post("/account/password", data=fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, lan.id).password_hash == before
    assert _opens_the_desk(elsewhere)
    here.get("/lang/en")
    english = here.post("/account/password", data=fields)
    assert english.status_code == 422
    assert 'class="error"' in english.get_data(as_text=True)
    assert message not in english.get_data(as_text=True)


def test_the_password_page_needs_a_signed_in_user(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_password_form_needs_its_csrf_token(app, lan, session):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    browser.post("/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token})
    before = session.get(User, lan.id).password_hash
    response = browser.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(User, lan.id).password_hash == before


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "3 per minute"}])
def test_guessing_the_current_password_is_rate_limited(app, lan, app_config):
    here = _signed_in(app, lan)
    wrong = {"current_password": "guess guess", "new_password": NEW_PASSWORD,
             "confirm_password": NEW_PASSWORD}
    statuses = [here.post("/account/password", data=wrong).status_code for _ in range(4)]
    assert statuses[:2] == [422, 422] and statuses[-1] == 429
