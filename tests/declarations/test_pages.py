"""The visitor's phone pages through the real app: venue link → form → confirmation with the
personal QR; errors next to their fields; returning phones; dependants."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from declarations.models import Declaration
from declarations.venue_links import venue_path
from visits.models import Visit, Visitor

SECRET = "test-secret-key"

FORM = {
    "full_name": "Nguyễn Văn An", "birth_year": "1990", "gender": "male", "nationality": "VN",
    "id_number": "001090012345", "phone": "0912 345 678", "email": "",
    "province_code": "01", "ward_code": "00004", "street_address": "Số 1 Tràng Tiền",
    "travel_14d": "no", "visit_purpose": "meeting", "host_name": "Chị Lan",
    "consent_processing": "yes", "consent_sensitive_health": "yes",
    "tracing_apps": "bluezone",
}


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


@pytest.fixture
def link(venue):
    return venue_path("HQ", SECRET)


def count(session, model):
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()[0]


def test_the_form_in_vietnamese_with_reference_labels(client, link):
    page = client.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for label in ("Họ tên (ghi chữ IN HOA)", "Năm sinh", "Giới tính", "Quốc tịch",
                  "Số hộ chiếu / CMND / CCCD", "Địa chỉ liên lạc tại Việt Nam", "Tỉnh thành",
                  "Phường / xã", "Số nhà, phố, tổ dân phố/thôn/đội", "Điện thoại",
                  "Trong vòng 14 ngày qua, Anh/Chị có tiếp xúc với", "Khó thở", "Mệt mỏi",
                  "Người từ nước có bệnh COVID-19", "Người cần gặp", "Nhiệt độ cơ thể (ºC)",
                  "Khai hộ", "Khuyến cáo: Khai báo thông tin sai là vi phạm pháp luật Việt Nam",
                  "Công ty ABC", "91/2025/QH15"):
        assert label in html, label
    # Two unticked consent boxes; no underlying-conditions list by default.
    assert len(re.findall(r'name="consent_\w+" value="yes" id="[^"]+"(?! checked)', html)) == 2
    assert "Bệnh gan mãn tính" not in html
    assert "<script>" not in html and "style=" not in html  # strict CSP: no inline code


def test_english_through_the_language_toggle(client, link):
    client.get("/lang/en")
    html = client.get(link).get_data(as_text=True)
    assert "Full name (CAPITAL LETTERS)" in html and "Person to meet" in html
    assert "Ha Noi City" in html


def test_the_conditions_list_only_behind_its_setting(client, link, app):
    app.config["COLLECT_CONDITIONS"] = True
    assert "Bệnh gan mãn tính" in client.get(link).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/v/HQ", "/v/HQ?k=AAAAAAAAAAAAAAAAAAAAAA", "/v/NOPE?k=x"])
def test_a_link_without_a_valid_signature_is_refused(client, venue, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "không hợp lệ" in response.get_data(as_text=True)


def test_a_link_signed_for_another_venue_is_refused(client, venue, make_venue):
    make_venue(code="ANNEX", name="Nhà B")
    forged = venue_path("HQ", SECRET).replace("/v/HQ", "/v/ANNEX")
    assert client.get(forged).status_code == 404


def test_errors_appear_next_to_their_fields_and_nothing_is_stored(client, session, link):
    response = client.post(link, data={**FORM, "phone": "0241234567", "full_name": "",
                                       "consent_sensitive_health": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="full_name-error">Bạn chưa nhập họ tên<' in html
    assert 'id="phone-error">Số điện thoại không hợp lệ<' in html
    assert 'id="consent_sensitive_health-error"' in html
    assert 'value="Số 1 Tràng Tiền"' in html  # what was typed is kept
    assert count(session, Declaration) == count(session, Visitor) == count(session, Visit) == 0


def test_a_submission_stores_everything_and_shows_the_confirmation(client, session, link, venue):
    response = client.post(link, data=FORM)
    assert response.status_code == 302
    declaration = session.exec(select(Declaration)).one()[0]
    assert response.location.endswith(f"/d/{declaration.id}")
    assert "khaibao_visitor=" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    visit = session.exec(select(Visit)).one()[0]
    assert (visit.opened_by, visit.declaration_id, visit.venue_id) == (
        "phone_form", declaration.id, venue.id)
    assert declaration.consent_text_version.startswith("2026.1-21d-")
    page = client.get(response.location).get_data(as_text=True)
    assert "NGUYỄN VĂN AN" in page and "Trụ sở chính" in page
    assert "status-clear" in page and "Đã khai báo — mời vào" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" viewBox=' in page
    assert "Thêm người khai cùng" in page


def test_the_confirmation_is_private_to_the_phone_that_declared(client, app, link, session):
    location = client.post(link, data=FORM).location
    stranger = app.test_client()
    assert stranger.get(location).status_code == 404


def test_symptoms_give_an_amber_confirmation(client, link):
    location = client.post(link, data={**FORM, "symptoms": ["cough"]}).location
    page = client.get(location).get_data(as_text=True)
    assert "status-needs_review" in page and "Vui lòng gặp lễ tân" in page


def test_soft_warnings_ask_once_then_accept(client, session, link):
    response = client.post(link, data={**FORM, "birth_year": "1991"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Vui lòng kiểm tra lại: số CCCD này ứng với năm sinh 1990" in html
    assert 'name="confirm_warnings" value="1"' in html
    assert count(session, Declaration) == 0
    again = client.post(link, data={**FORM, "birth_year": "1991", "confirm_warnings": "1"})
    assert again.status_code == 302 and count(session, Declaration) == 1


def test_a_returning_phone_with_a_fresh_declaration_checks_in_with_one_tap(
        client, session, link, clock):
    client.post(link, data=FORM)
    clock.advance(hours=2)
    first_visit = session.exec(select(Visit)).one()[0]
    first_visit.checked_out_at, first_visit.closed_by = clock.now(), "staff"
    session.add(first_visit)
    session.commit()
    clock.advance(hours=1)
    page = client.get(link).get_data(as_text=True)
    assert "Chào mừng bạn trở lại, NGUYỄN VĂN AN" in page
    assert "vẫn còn hiệu lực" in page
    declaration_id = re.search(r'name="declaration_id" value="(\d+)"', page).group(1)
    response = client.post(link.replace("/v/HQ", "/v/HQ/again"),
                           data={"declaration_id": declaration_id})
    assert response.status_code == 302
    assert count(session, Declaration) == 1 and count(session, Visit) == 2


def test_a_stale_declaration_is_re_confirmed_on_one_screen(client, session, link, clock):
    client.post(link, data={**FORM, "body_temperature_c": "36,9"})
    clock.advance(hours=25)
    page = client.get(link).get_data(as_text=True)
    assert "Có gì thay đổi kể từ" in page
    declaration_id = re.search(r'name="declaration_id" value="(\d+)"', page).group(1)
    response = client.post(link.replace("/v/HQ", "/v/HQ/again"),
                           data={"declaration_id": declaration_id})
    assert response.status_code == 302
    newest = session.exec(select(Declaration).order_by(Declaration.id.desc())).first()[0]
    assert (newest.source, newest.previous_declaration_id) == ("reconfirmation",
                                                               int(declaration_id))
    assert newest.submitted_at == clock.now() and newest.body_temperature_c is None
    # The prefilled full form stays available ("something changed").
    form = client.get(link + "&new=1").get_data(as_text=True)
    assert 'value="Nguyễn Văn An"' in form and 'value="0912 345 678"' in form


def test_add_another_person_without_a_phone(client, session, link):
    location = client.post(link, data=FORM).location
    add = client.get(location + "/add")
    assert add.status_code == 200
    html = add.get_data(as_text=True)
    assert 'value="Số 1 Tràng Tiền"' in html  # address carried over from the declarant
    child = {k: v for k, v in FORM.items() if k not in ("phone", "id_number")}
    child.update(full_name="Nguyễn Bảo Na", birth_year="2019", gender="female")
    response = client.post(location + "/add", data=child)
    assert response.status_code == 302, response.get_data(as_text=True)
    na = session.exec(select(Visitor).where(Visitor.full_name == "Nguyễn Bảo Na")).one()[0]
    an = session.exec(select(Visitor).where(Visitor.full_name == "Nguyễn Văn An")).one()[0]
    assert na.declarant_id == an.id and na.phone_e164 is None
    declaration = session.exec(select(Declaration).where(
        Declaration.visitor_id == na.id)).one()[0]
    assert declaration.declared_for_other is True
    assert session.exec(select(Visit).where(Visit.visitor_id == na.id)).one()[0].status == "clear"
    own = client.get(response.location).get_data(as_text=True)
    assert "NGUYỄN BẢO NA" in own and "<svg" in own
    group = client.get(location).get_data(as_text=True)
    assert "Người khai cùng bạn" in group and "NGUYỄN BẢO NA" in group
    assert group.count("<svg") == 2


def test_forget_me_on_a_shared_phone(client, link):
    client.post(link, data=FORM)
    response = client.post("/forget", data={"next": link})
    assert "khaibao_visitor=;" in response.headers["Set-Cookie"]
    assert "Chào mừng" not in client.get(link).get_data(as_text=True)


def test_qr_images_only_for_valid_tokens(client):
    assert client.get("/qr/KB2.AAAA.png").status_code == 404
    assert client.get("/qr/hello.svg").status_code == 404


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.declarations.test_schema import FIELDS  # noqa: E402


@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS),
       value=st.text(max_size=40) | st.lists(st.text(max_size=10), max_size=3))
def test_any_text_in_any_form_field_never_breaks_the_page(client, session, link, field, value):
    response = client.post(link, data={**FORM, "phone": "1", field: value})
    assert response.status_code in (200, 422)
    assert count(session, Declaration) == 0
