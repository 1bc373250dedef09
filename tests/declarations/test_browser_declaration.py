"""Real Chromium in a phone viewport: a visitor scans the venue link, fills the declaration in
Vietnamese with diacritics, sees the confirmation and the personal QR; the QR is decoded from a
screenshot and used to check in through /api/v1/checkins."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from declarations.models import Declaration
from declarations.venue_links import venue_path
from kiosk.decoding import decode_image_bytes
from visits.models import Visit, Visitor

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}


def decode_qr(png: bytes) -> list[str]:
    return [d.text for d in decode_image_bytes(png)]


@pytest.fixture
def phone(open_page):
    return open_page(**PHONE)


@pytest.fixture
def venues(make_venue):
    return make_venue(code="HQ", name="Trụ sở Sở Y tế"), make_venue(code="ANNEX", name="Nhà B")


def test_declare_on_a_phone_then_check_in_with_the_qr(live_server, phone, venues, session,
                                                      make_user, api_token):
    hq, annex = venues
    phone.goto(live_server.url + venue_path("HQ", live_server.app.config["SECRET_KEY"]))
    assert phone.locator("h1").inner_text() == "Khai báo y tế"

    phone.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).fill("Nguyễn Thị Hương Giang")
    phone.get_by_label("Năm sinh", exact=True).fill("1995")
    phone.get_by_role("radio", name="Nữ").check()
    phone.get_by_label("Số hộ chiếu / CMND / CCCD", exact=True).fill("001 195 012 345")
    phone.get_by_label("Điện thoại", exact=True).fill("0987 654 321")
    phone.get_by_label("Tỉnh thành", exact=True).select_option(label="Thành phố Hà Nội")
    ward = phone.get_by_label("Phường / xã", exact=True)
    # The ward list arrives from the admin-unit API after the province is chosen.
    phone.wait_for_function(
        "() => document.getElementById('f-ward_code').options.length > 100")
    ward.select_option(label="Phường Hoàn Kiếm")
    phone.get_by_label("Số nhà, phố, tổ dân phố/thôn/đội", exact=True).fill("Số 12 phố Hàng Bạc")
    phone.locator("#group-travel_14d").get_by_role("radio", name="Không").check()
    places = phone.get_by_label("Những nơi đã đến", exact=True)
    assert not places.is_visible()  # asked only after "Có"
    phone.locator("#group-travel_14d").get_by_role("radio", name="Có").check()
    assert places.is_visible()
    phone.locator("#group-travel_14d").get_by_role("radio", name="Không").check()
    phone.get_by_label("Người cần gặp", exact=True).fill("Anh Đức")
    phone.get_by_label("Mục đích / lý do đến", exact=True).select_option(label="Họp, làm việc")
    phone.get_by_label("Nhiệt độ cơ thể (ºC)", exact=True).fill("36,6")
    for box in phone.locator(".consent input[type=checkbox]").all():
        box.check()
    phone.get_by_role("button", name="Gửi tờ khai").click()

    phone.wait_for_url(re.compile(r".*/d/\d+$"))
    status = phone.locator(".status")
    assert "Đã khai báo — mời vào" in status.inner_text()
    assert "NGUYỄN THỊ HƯƠNG GIANG" in status.inner_text()
    assert "Trụ sở Sở Y tế" in status.inner_text()
    assert status.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(10, 122, 47)"
    assert phone.get_by_role("link", name="Lưu mã QR (PNG)").is_visible()

    # What was stored: names with diacritics, codes and names of the units at declaring time.
    visitor = session.exec(select(Visitor)).one()[0]
    assert (visitor.full_name, visitor.ward_name, visitor.phone_e164) == (
        "Nguyễn Thị Hương Giang", "Phường Hoàn Kiếm", "+84987654321")
    declaration = session.exec(select(Declaration)).one()[0]
    assert (declaration.status, declaration.body_temperature_c) == ("clear", 36.6)

    # The receptionist's camera reads the QR from the phone screen.
    screenshot = phone.locator("#personal-qr").screenshot()
    texts = decode_qr(screenshot)
    assert len(texts) == 1 and texts[0].startswith("KB2.") and len(texts[0]) <= 120

    # The kiosk at the annex sends what its camera read (a device script with its API token).
    kiosk_token = api_token(make_user("receptionist"))
    response = phone.request.post(live_server.url + "/api/v1/checkins",
                                  data={"venue_code": "ANNEX", "payload": texts[0]},
                                  headers={"Authorization": f"Bearer {kiosk_token}"})
    assert response.status == 200, response.text()
    result = response.json()
    assert (result["action"], result["status"]) == ("check_in", "clear")
    assert result["visitor"] == {"display_name": "NGUYỄN THỊ HƯƠNG GIANG"}
    session.expire_all()
    visit = session.get(Visit, result["visit_id"])
    assert (visit.venue_id, visit.visitor_id, visit.opened_by) == (annex.id, visitor.id, "scan")


def test_errors_next_to_fields_in_english_on_the_toggle(live_server, phone, venues, session):
    phone.goto(live_server.url + venue_path("HQ", live_server.app.config["SECRET_KEY"]))
    phone.get_by_role("link", name="English").click()
    phone.get_by_label("Full name (CAPITAL LETTERS)", exact=True).fill("Trần An")
    phone.get_by_label("Phone", exact=True).fill("024 1234 5678")
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_selector("#phone-error")
    assert phone.locator("#phone-error").inner_text() == "Invalid phone number"
    assert phone.locator("#birth_year-error").inner_text() == "Please enter your year of birth"
    assert phone.get_by_label("Full name (CAPITAL LETTERS)", exact=True).input_value() == "Trần An"
    # The message sits in the field's own block, right under its input.
    assert phone.locator(".field:has(#f-phone) #phone-error").count() == 1
    assert session.exec(select(Declaration)).first() is None
