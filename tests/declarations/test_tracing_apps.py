"""The declaration asks which contact-tracing or health apps the visitor runs: on the phone form,
the receptionist's manual form and the kiosk touchscreen an explicit answer is required (the apps
ticked, or "none of these"); the API stores what it is sent and still takes declarations that
leave the question out (older scripts)."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from core.settings import ConfigError
from declarations.models import Declaration
from declarations.schema import check_tracing_apps
from declarations.venue_links import venue_path
from tests.declarations.test_pages import FORM, SECRET
from tests.declarations.test_schema import DESIGN_EXAMPLE


def test_the_answer_is_keys_of_the_list_in_its_order_or_none_alone():
    assert check_tracing_apps(["vneid", "bluezone"], required=True) == ("bluezone", "vneid")
    assert check_tracing_apps("none", required=True) == ("none",)
    assert check_tracing_apps(None, required=False) is None
    for value, code in ((None, "tracing_apps_required"), ([], "tracing_apps_required"),
                        ("", "tracing_apps_required"), (["zalo"], "tracing_apps_invalid"),
                        ([1], "tracing_apps_invalid"), ({"bluezone": True}, "tracing_apps_invalid"),
                        (["none", "bluezone"], "tracing_apps_none_alone")):
        with pytest.raises(ValueError) as caught:
            check_tracing_apps(value, required=True)
        assert caught.value.args[0] == code
    assert check_tracing_apps(["sskdt"], ("bluezone", "sskdt"), required=True) == ("sskdt",)
    with pytest.raises(ValueError):
        check_tracing_apps(["vneid"], ("bluezone", "sskdt"), required=True)


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


def _declarations(session):
    session.expire_all()
    return session.exec(select(Declaration)).all()


def test_phone_form_asks_and_requires_an_answer(client, session, venue):
    link = venue_path("HQ", SECRET)
    page = client.get(link).get_data(as_text=True)
    assert "Bạn đang dùng ứng dụng truy vết hoặc y tế nào trên điện thoại?" in page
    for key, label in (("bluezone", "Bluezone"), ("pc_covid", "PC-Covid"), ("vneid", "VNeID"),
                       ("other", "Ứng dụng truy vết hoặc y tế khác"),
                       ("none", "Tôi không dùng ứng dụng nào trong số này")):
        assert re.search(rf'value="{key}" id="f-tracing_apps-{key}"> {label}', page), key

    unanswered = {k: v for k, v in FORM.items() if k != "tracing_apps"}
    response = client.post(link, data={**unanswered, "symptoms.fever": "", "answer_each": "1"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    summary = page[page.index('id="error-summary"'):page.index("</ul>")]
    # The summary keeps the form's order: health questions, then the apps, then the visit.
    links = re.findall(r'href="#([^"]+)"', summary)
    assert links == ["f-symptoms-fever-yes", "f-exposures-contact_confirmed_or_suspected-yes",
                     "f-tracing_apps-bluezone"]
    assert "Vui lòng đánh dấu các ứng dụng bạn dùng" in summary
    assert _declarations(session) == []

    both = client.post(link, data={**FORM, "tracing_apps": ["none", "vneid"]})
    assert both.status_code == 422
    assert "không thể đánh dấu cùng với một ứng dụng" in both.get_data(as_text=True)
    assert _declarations(session) == []

    response = client.post(link, data={**FORM, "tracing_apps": ["vneid", "bluezone"]})
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    [declaration] = _declarations(session)
    assert declaration.tracing_apps == ["bluezone", "vneid"]


def test_the_api_stores_the_answer_and_keeps_older_callers_working(client, session, venue):
    body = dict(DESIGN_EXAMPLE, symptoms=[], exposures=[], venue_code="HQ")
    body.pop("tracing_apps", None)
    assert client.post("/api/v1/declarations", json=body).status_code == 201
    assert _declarations(session)[0].tracing_apps is None  # not asked
    bad = client.post("/api/v1/declarations", json={**body, "tracing_apps": []})
    assert bad.status_code == 422
    answer = bad.get_json()
    assert set(answer["errors"]) == {"tracing_apps"}
    assert len(_declarations(session)) == 1
    ok = client.post("/api/v1/declarations", json={**body, "tracing_apps": ["pc_covid"]})
    assert ok.status_code == 201
    assert _declarations(session)[-1].tracing_apps == ["pc_covid"]


class TestConfigured:
    @pytest.fixture
    def app_config(self):
        return {"TRACING_APPS": "bluezone,sskdt"}

    def test_the_list_is_configurable(self, client, venue):
        page = client.get(venue_path("HQ", SECRET)).get_data(as_text=True)
        keys = re.findall(r'name="tracing_apps" value="([a-z_]+)"', page)
        assert keys == ["bluezone", "sskdt", "none"]
        assert "Sổ sức khỏe điện tử" in page


@pytest.mark.parametrize("value", ["", "bluezone,none", "Blue Zone", "a,a"])
def test_a_bad_list_stops_the_start(value, database_url, tmp_path):
    from app import create_app

    with pytest.raises(ConfigError, match="KIOSK_TRACING_APPS"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": database_url,
                    "INSTANCE_PATH": str(tmp_path), "TRACING_APPS": value})
