"""The touchscreen's health questions and the receptionist's manual form ask which apps the
visitor runs, with an explicit answer."""
from __future__ import annotations

import pytest
from sqlmodel import select

from declarations.models import Declaration
from tests.kiosk.conftest import CCCD_TEXT
from tests.kiosk.test_api import _answers, consent_version, scan  # noqa: F401 (fixture)
from tests.kiosk.test_desk import _form


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


def test_touchscreen_answers_carry_the_apps_and_refuse_an_empty_answer(client, clock, venue,
                                                                      session, consent_version):
    page = client.get("/kiosk", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert 'name="tracing_apps" value="pc_covid"> PC-Covid' in page
    assert 'data-error-for="tracing_apps"' in page
    ticket = scan(client, CCCD_TEXT).get_json()["confirmation"]["ticket"]
    response = client.post("/api/v1/checkins/confirm", json={
        "ticket": ticket, "changed": True,
        "answers": _answers(consent_version, tracing_apps=[])})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"tracing_apps"}
    assert session.exec(select(Declaration)).all() == []
    response = client.post("/api/v1/checkins/confirm", json={
        "ticket": ticket, "changed": True,
        "answers": _answers(consent_version, tracing_apps=["none"])})
    assert response.status_code == 200, response.get_json()
    [declaration] = session.exec(select(Declaration)).all()
    assert declaration.tracing_apps == ["none"]


def test_manual_form_requires_the_answer(client, clock, venue, session, make_user, login):
    from kiosk.services import venue_consent_version

    login(make_user("receptionist", venue_codes=["HQ"]))
    version = venue_consent_version(venue, retention_days=21)
    page = client.get("/kiosk/manual?venue=HQ").get_data(as_text=True)
    assert 'id="f-tracing_apps-vneid"' in page
    form = {k: v for k, v in _form(version).items() if k != "tracing_apps"}
    response = client.post("/kiosk/manual?venue=HQ", data=form)
    assert response.status_code == 422
    assert 'href="#f-tracing_apps-bluezone"' in response.get_data(as_text=True)
    assert session.exec(select(Declaration)).all() == []
    response = client.post("/kiosk/manual?venue=HQ", data={**form, "tracing_apps": "other"})
    assert response.status_code == 200
    [declaration] = session.exec(select(Declaration)).all()
    assert declaration.tracing_apps == ["other"]
