"""A visitor whose phone cannot reach the kiosk (a kiosk on the agency's own network, without a
public address) still declares: the door's venue QR is the central server's phone form for the
kiosk's venue, as the central server gives it at each sync round, and the declaration lands on
the central server. A kiosk with its own public address keeps its own; with neither, no QR."""
from __future__ import annotations

import pytest
from sqlmodel import select

from core.db import db
from declarations.models import Declaration
from declarations.venue_links import build_venue_url
from tests.declarations.test_pages import FORM
from visits.models import Visitor


def _sync(kiosk):
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": "https://khaibao.so-yte.example.vn"}


def test_a_kiosk_phones_cannot_reach_shows_the_central_servers_phone_form(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol(), PUBLIC_URL=None)
    door = kiosk.test_client()
    assert door.get("/kiosk/venue-qr.svg").status_code == 404  # nothing to show yet
    _sync(kiosk)
    expected = build_venue_url("https://khaibao.so-yte.example.vn", "HQ", app.config["SECRET_KEY"])
    with kiosk.test_request_context():
        from core.services import get_venue
        from kiosk.views import public_url_warning, venue_url

        assert venue_url(get_venue(session=db.session, code="HQ")) == expected
        assert public_url_warning() == ""
    qr = door.get("/kiosk/venue-qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    # The phone opens it on the central server and declares there.
    phone = app.test_client()
    path = expected.removeprefix("https://khaibao.so-yte.example.vn")
    response = phone.post(path, data=FORM, environ_base={"REMOTE_ADDR": "192.0.2.50"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    declaration = session.exec(select(Declaration)).one()
    assert session.get(Visitor, declaration.visitor_id).full_name == FORM["full_name"]


def test_a_kiosk_with_its_own_public_address_keeps_its_own_link(app, central, make_venue, enrol,
                                                               make_kiosk):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol(), PUBLIC_URL="http://10.0.0.5")
    _sync(kiosk)
    with kiosk.test_request_context():
        from core.services import get_venue
        from kiosk.views import venue_url

        assert venue_url(get_venue(session=db.session, code="HQ")) == build_venue_url(
            "http://10.0.0.5", "HQ", kiosk.config["SECRET_KEY"])


@pytest.mark.parametrize("central_public", [None, "http://127.0.0.1:5000"])
def test_no_link_phones_could_open_means_no_qr(app, central, make_venue, enrol, make_kiosk,
                                               central_public):
    app.config["PUBLIC_URL"] = central_public
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol(), PUBLIC_URL=None)
    _sync(kiosk)
    assert kiosk.test_client().get("/kiosk/venue-qr.svg").status_code == 404
