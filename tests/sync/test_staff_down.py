"""Staff who may use a kiosk reach it: the central server's receptionists of the kiosk's venue
sign in at the door's desk after its next round, offline too; nobody else is sent (admins,
tracers, other venues' receptionists); a password changed or an account disabled centrally
takes effect at the door at the next round and ends the sessions there; the password itself
never travels (only its salted hash), and the list is sent only when it changed."""
from __future__ import annotations

import json

from sqlmodel import select
from werkzeug.security import generate_password_hash

from core.auth import create_user
from core.db import db
from core.models import User
from core.staff import set_user_active
from sync.client import CentralClient
from tests.conftest import PASSWORD, T0

NEW_PASSWORD = "mat-khau-moi-2026"


def _sync(kiosk) -> dict:
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _sign_in(kiosk, username, password):
    browser = kiosk.test_client()
    response = browser.post("/login", data={"username": username, "password": password},
                            environ_base={"REMOTE_ADDR": "192.0.2.40"})
    return browser, response.status_code == 302 and "/login" not in response.headers.get(
        "Location", "/login")


def test_the_venues_receptionists_sign_in_at_the_door_and_central_changes_follow(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    make_venue(code="ANNEX", name="Nhà văn hóa", closing_time=None)
    lan = create_user(session=session, username="lan", role="receptionist", password=PASSWORD,
                      display_name="Nguyễn Thị Lan", venue_codes=["HQ"], now=T0)
    for username, role, venues in (("minh", "receptionist", ["ANNEX"]), ("tra", "tracer", []),
                                   ("quantri", "admin", [])):
        create_user(session=session, username=username, role=role, password=PASSWORD,
                    venue_codes=venues, now=T0)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as kiosk_session:  # a local account of the same name: replaced
        create_user(session=kiosk_session, username="lan", role="receptionist",
                    password="mot-mat-khau-cu-khac", venue_codes=["HQ"], now=T0)
    _sync(kiosk)
    with db.new_session(kiosk) as kiosk_session:
        held = {u.username: u for u in kiosk_session.exec(select(User)).all()}
    assert set(held) == {"lan"} and held["lan"].from_central
    assert held["lan"].display_name == "Nguyễn Thị Lan"
    assert PASSWORD not in held["lan"].password_hash and held["lan"].password_hash.startswith(
        "scrypt:")

    # Offline, Lan signs in at the door's desk with her central password; the others cannot.
    kiosk.config["CENTRAL_URL"] = "http://127.0.0.1:9"
    browser, ok = _sign_in(kiosk, "lan", PASSWORD)
    assert ok and "Nguyễn Thị Lan" in browser.get("/kiosk/desk").get_data(as_text=True)
    for username in ("minh", "tra", "quantri"):
        assert not _sign_in(kiosk, username, PASSWORD)[1], username
    kiosk.config["CENTRAL_URL"] = central.url

    # Unchanged: the next answer carries no list.
    client = CentralClient(central.url, kiosk.config["DEVICE_TOKEN"])
    from sync.staff import digest, held_here

    with db.new_session(kiosk) as kiosk_session:
        mine = digest(held_here(kiosk_session))
    assert client.call("GET", f"/api/v1/sync/pull?staff={mine}")["staff"] is None
    assert [a["username"] for a in client.call("GET", "/api/v1/sync/pull")["staff"]] == ["lan"]

    # The central office changes Lan's password: the old one stops at the door, her session
    # there ends, the new one works.
    lan = session.get(User, lan.id)
    lan.password_hash = generate_password_hash(NEW_PASSWORD)
    session.add(lan)
    session.commit()
    _sync(kiosk)
    assert browser.get("/kiosk/desk").status_code in (302, 401)
    assert not _sign_in(kiosk, "lan", PASSWORD)[1]
    browser, ok = _sign_in(kiosk, "lan", NEW_PASSWORD)
    assert ok

    # Disabled centrally: refused at the door from the next round, session ended.
    set_user_active(session=session, user=lan, active=False, actor="test", now=T0)
    _sync(kiosk)
    assert browser.get("/kiosk/desk").status_code in (302, 401)
    assert not _sign_in(kiosk, "lan", NEW_PASSWORD)[1]


def test_a_receptionist_moved_to_another_venue_is_disabled_at_the_old_door(
        app, central, make_venue, enrol, make_kiosk, session):
    from core.staff import set_user_venues

    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    make_venue(code="ANNEX", name="Nhà văn hóa", closing_time=None)
    lan = create_user(session=session, username="lan", role="receptionist", password=PASSWORD,
                      venue_codes=["HQ"], now=T0)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    _sync(kiosk)
    assert _sign_in(kiosk, "lan", PASSWORD)[1]
    set_user_venues(session=session, user=lan, codes=["ANNEX"], actor="test", now=T0)
    _sync(kiosk)
    assert not _sign_in(kiosk, "lan", PASSWORD)[1]


def test_a_central_account_changes_its_password_on_the_central_server_not_at_the_door(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    create_user(session=session, username="lan", role="receptionist", password=PASSWORD,
                venue_codes=["HQ"], now=T0)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    _sync(kiosk)
    browser, ok = _sign_in(kiosk, "lan", PASSWORD)
    assert ok
    page = browser.get("/account/password").get_data(as_text=True)
    assert "Tài khoản này thuộc máy chủ trung tâm: hãy đổi mật khẩu tại đó." in page
    response = browser.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "hãy đổi mật khẩu tại đó" in response.get_data(as_text=True)
    assert _sign_in(kiosk, "lan", PASSWORD)[1]  # unchanged
    assert not _sign_in(kiosk, "lan", NEW_PASSWORD)[1]
