"""Hosts: a venue keeps a list of the people visitors come to see and turns host notices on; the
declaration then offers the list, and the host chosen is told on arrival by e-mail (a real SMTP
server) and with a line on their own page. Off, nobody is told."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from declarations.venue_links import venue_path
from notices.models import HostNotice, VenueHost
from notices.worker import DeliveryWorker
from tests.conftest import PASSWORD
from tests.declarations.test_pages import FORM, SECRET


@pytest.fixture
def app_config(smtp_server):
    return {"SMTP_URL": smtp_server.url}


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở Sở Y tế")


def test_the_chosen_host_is_told_by_e_mail_and_on_their_page(app, client, session, venue,
                                                             make_user, login, smtp_server):
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    login(make_user("admin"))
    page = client.get("/admin/venues/HQ/hosts").get_data(as_text=True)
    assert "Thông báo cho người tiếp khách đang tắt." in page
    # A bad address is refused with a message, nothing is added.
    response = client.post("/admin/venues/HQ/hosts", data={
        "action": "add", "name": "Chị Lan", "email": "lan@", "username": "lan"})
    assert response.status_code == 422
    assert "Địa chỉ thư điện tử không hợp lệ." in response.get_data(as_text=True)
    assert session.exec(select(VenueHost)).all() == []
    for name, email, username in (("Chị Lan", "lan@so-yte.example.vn", "lan"),
                                  ("Anh Minh", "", "")):
        response = client.post("/admin/venues/HQ/hosts", data={
            "action": "add", "name": name, "email": email, "username": username})
        assert response.status_code == 302
    client.post("/admin/venues/HQ/hosts", data={"action": "enabled", "enabled": "1"})
    client.post("/logout")

    phone = app.test_client()
    link = venue_path("HQ", SECRET)
    form_page = phone.get(link).get_data(as_text=True)
    assert re.search(r'<select id="f-host_name" name="host_name"', form_page)
    assert '<option value="Chị Lan">Chị Lan</option>' in form_page
    response = phone.post(link, data={**FORM, "host_name": "Chị Lan"})
    assert response.status_code == 302
    [notice] = session.exec(select(HostNotice)).all()
    assert notice.email_status == "pending"
    DeliveryWorker(app).run_once()
    [mail] = smtp_server.messages
    assert mail["To"] == "lan@so-yte.example.vn" and mail["Subject"] == "Khách của bạn đã đến"
    assert "Nguyễn Văn An đã vào Trụ sở Sở Y tế lúc 09:00 10/03/2026" in mail.get_content()

    staff = app.test_client()
    staff.post("/login", data={"username": lan.username, "password": PASSWORD})
    own = staff.get("/host").get_data(as_text=True)
    assert "09:00 10/03/2026 — Nguyễn Văn An đã đến Trụ sở Sở Y tế" in own


def test_with_host_notices_off_nobody_is_told(app, session, venue, smtp_server):
    session.add(VenueHost(venue_id=venue.id, name="Chị Lan", email="lan@so-yte.example.vn"))
    session.commit()
    phone = app.test_client()
    link = venue_path("HQ", SECRET)
    assert 'id="f-host_name" name="host_name" type="text"' in phone.get(link).get_data(
        as_text=True)
    assert phone.post(link, data={**FORM, "host_name": "Chị Lan"}).status_code == 302
    assert session.exec(select(HostNotice)).all() == []
    DeliveryWorker(app).run_once()
    assert smtp_server.messages == []


def test_notices_deliver_is_one_pass_for_a_central_server(app, runner, session, venue,
                                                          smtp_server, clock):
    from notices.models import HostNotice, VenueHost
    from tests.conftest import T0  # noqa: F401

    venue.hosts_enabled = True
    session.add(venue)
    host = VenueHost(venue_id=venue.id, name="Chị Lan", email="lan@so-yte.example.vn")
    session.add(host)
    session.commit()
    phone = app.test_client()
    assert phone.post(venue_path("HQ", SECRET),
                      data={**FORM, "host_name": "Chị Lan"}).status_code == 302
    result = runner.invoke(args=["notices", "deliver"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == '{"sent": 1, "retry": 0, "failed": 0}'
    assert [m["To"] for m in smtp_server.messages] == ["lan@so-yte.example.vn"]
    session.expire_all()
    assert session.exec(select(HostNotice.email_status)).all() == ["sent"]


def _returning_visitor(app, session, venue, clock):
    """Hosts on, Chị Lan on the list; a visitor declares on their phone naming her (arrival 1)
    and keeps the personal QR their page shows."""
    from tests.notices.test_exposure_notices import _token

    venue.hosts_enabled = True
    session.add(venue)
    session.add(VenueHost(venue_id=venue.id, name="Chị Lan", email="lan@so-yte.example.vn"))
    session.commit()
    phone = app.test_client()
    response = phone.post(venue_path("HQ", SECRET), data={**FORM, "host_name": "Chị Lan"})
    assert response.status_code == 302
    return _token(phone.get(response.headers["Location"]).get_data(as_text=True))


def _arrivals(session) -> list:
    session.expire_all()
    return session.exec(select(HostNotice.arrived_at).order_by(HostNotice.id)).all()


def test_a_returning_visitor_scanning_their_qr_at_the_door_is_announced_to_the_host(
        app, client, session, venue, clock, make_user, api_token, smtp_server):
    token = _returning_visitor(app, session, venue, clock)
    first = clock.now()
    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist",
                                                               venue_codes=["HQ"]))}

    def scan():
        response = client.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": token},
                               headers=bearer)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    clock.advance(minutes=40)
    assert scan()["action"] == "check_out"  # leaving tells nobody
    assert len(_arrivals(session)) == 1
    clock.advance(hours=2)
    back = clock.now()
    assert scan()["action"] == "check_in"  # back after lunch: Chị Lan is told again
    assert scan()["repeated"] is True  # the same code held up twice: not twice
    assert [a.replace(microsecond=0) for a in _arrivals(session)] == [first, back]
    DeliveryWorker(app).run_once()
    assert [m["To"] for m in smtp_server.messages] == ["lan@so-yte.example.vn"] * 2


def test_the_camera_at_the_door_announces_a_returning_visitor_too(app, session, venue, clock,
                                                                  smtp_server):
    from kiosk import runtime

    token = _returning_visitor(app, session, venue, clock)
    app.config["VENUE"] = "HQ"
    clock.advance(minutes=40)
    assert runtime.handle_camera_scan(app, token, at=clock.now()).action == "check_out"
    clock.advance(hours=2)
    assert runtime.handle_camera_scan(app, token, at=clock.now()).action == "check_in"
    assert len(_arrivals(session)) == 2


def test_a_visit_known_only_from_a_code_made_elsewhere_names_no_host(app, session, venue, clock,
                                                                     smtp_server):
    """The door holds no declaration for a visitor known from their code only: no host."""
    from types import SimpleNamespace

    from kiosk.services import after_check_in

    venue.hosts_enabled = True
    session.add(venue)
    session.add(VenueHost(venue_id=venue.id, name="Chị Lan", email="lan@so-yte.example.vn"))
    session.commit()
    result = SimpleNamespace(action="check_in", repeated=False, hosts_enabled=True,
                             notice_waiting=None, visitor=SimpleNamespace(id=None),
                             visit=SimpleNamespace(id=1, declaration_id=None, venue_id=venue.id,
                                                   visitor_id=1))
    assert after_check_in(session=session, result=result, now=clock.now(), email_on=True) is None
    assert _arrivals(session) == []
