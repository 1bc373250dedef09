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


def answer_every_question(page, yes=()):
    """Each sign and contact is its own Có / Không question: answer them all (Không unless
    named in `yes`)."""
    for row in page.locator(".each-yes-no .item").all():
        key = row.get_attribute("id").split("-", 2)[2]
        row.get_by_role("radio", name="Có" if key in yes else "Không", exact=True).check()
    page.locator("#f-tracing_apps-bluezone").check()  # the apps question wants an answer too


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
    answer_every_question(phone)
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


def _focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def test_a_failed_send_keeps_every_answer_lists_the_fields_and_focuses_the_first(
        live_server, phone, venues, session):
    from tests.support.pages import horizontal_overflow, small_touch_targets, untranslated

    phone.goto(live_server.url + venue_path("HQ", live_server.app.config["SECRET_KEY"]))
    # Every sign and contact is asked on its own, with nothing chosen for the visitor.
    rows = phone.locator(".each-yes-no .item")
    assert rows.count() == 9
    assert phone.locator(".each-yes-no input:checked").count() == 0
    fever = phone.locator("#row-symptoms-fever")
    assert fever.locator("legend").inner_text() == "Sốt"
    assert [r.inner_text().strip() for r in fever.locator("label").all()] == ["Có", "Không"]

    phone.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).fill("Phạm Thị Thu")
    phone.get_by_label("Năm sinh", exact=True).fill("1988")
    phone.get_by_role("radio", name="Nữ").check()
    phone.get_by_label("Số hộ chiếu / CMND / CCCD", exact=True).fill("001188012345")
    phone.get_by_label("Điện thoại", exact=True).fill("0912")  # too short: the one mistake
    phone.get_by_label("Tỉnh thành", exact=True).select_option(label="Thành phố Hà Nội")
    phone.wait_for_function("() => document.getElementById('f-ward_code').options.length > 100")
    phone.get_by_label("Phường / xã", exact=True).select_option(label="Phường Hoàn Kiếm")
    phone.get_by_label("Số nhà, phố, tổ dân phố/thôn/đội", exact=True).fill("Số 3 Lý Thái Tổ")
    phone.locator("#group-travel_14d").get_by_role("radio", name="Không").check()
    answer_every_question(phone, yes={"cough"})
    phone.get_by_label("Nhiệt độ cơ thể (ºC)", exact=True).fill("37,2")
    for box in phone.locator(".consent input[type=checkbox]").all():
        box.check()
    phone.get_by_role("button", name="Gửi tờ khai").click()

    summary = phone.locator("#error-summary")
    summary.wait_for()
    # The summary names the field and its problem, as a link; focus is on that field.
    links = summary.get_by_role("link")
    assert links.all_inner_texts() == ["Điện thoại: Số điện thoại không hợp lệ"]
    assert links.first.get_attribute("href") == "#f-phone"
    phone.wait_for_function("() => document.activeElement.id === 'f-phone'")
    assert phone.locator(".field:has(#f-phone) .error").inner_text() == "Số điện thoại không hợp lệ"
    # Every answer is still there, the two consent ticks and each Có / Không included.
    assert phone.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).input_value() == "Phạm Thị Thu"
    assert phone.get_by_role("radio", name="Nữ").is_checked()
    assert phone.get_by_label("Phường / xã", exact=True).input_value() != ""
    assert phone.get_by_label("Nhiệt độ cơ thể (ºC)", exact=True).input_value() == "37,2"
    assert all(box.is_checked() for box in phone.locator(".consent input[type=checkbox]").all())
    assert phone.locator("#row-symptoms-cough").get_by_role("radio", name="Có").is_checked()
    assert phone.locator("#row-symptoms-fever").get_by_role("radio", name="Không").is_checked()
    assert phone.locator(".each-yes-no input:checked").count() == 9
    assert horizontal_overflow(phone) == 0
    assert small_touch_targets(phone) == []
    assert untranslated(phone) == []

    # Only the phone is fixed: the declaration goes through with everything kept.
    phone.get_by_label("Điện thoại", exact=True).fill("0912 345 678")
    phone.get_by_role("button", name="Gửi tờ khai").click()
    phone.wait_for_url(re.compile(r".*/d/\d+$"))
    declaration = session.exec(select(Declaration)).one()[0]
    assert (declaration.symptoms, declaration.exposures) == (["cough"], [])
    assert declaration.body_temperature_c == 37.2
    assert (declaration.consent_processing, declaration.consent_sensitive_health) == (True, True)


def test_every_message_beside_its_field_and_each_question_must_be_answered(
        live_server, phone, venues, session):
    from tests.support.pages import horizontal_overflow

    phone.goto(live_server.url + venue_path("HQ", live_server.app.config["SECRET_KEY"]))
    phone.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).fill("Võ Văn Kiệt")
    answer_every_question(phone)
    # A rushed visitor skips one sign and one contact.
    phone.locator("#row-symptoms-fatigue input").evaluate_all(
        "els => els.forEach(e => e.checked = false)")
    phone.locator("#row-exposures-contact_from_affected_country input").evaluate_all(
        "els => els.forEach(e => e.checked = false)")
    phone.get_by_label("Nhiệt độ cơ thể (ºC)", exact=True).fill("43")
    phone.get_by_role("button", name="Gửi tờ khai").click()
    summary = phone.locator("#error-summary")
    summary.wait_for()
    texts = summary.get_by_role("link").all_inner_texts()
    # In the order of the form, each with its field's name.
    assert texts[0] == "Năm sinh: Bạn chưa nhập năm sinh"
    assert "Giới tính: Bạn chưa chọn giới tính" in texts
    assert any(t.startswith("Trong vòng 14 ngày qua, Anh/Chị có thấy xuất hiện dấu hiệu nào")
               and t.endswith("Vui lòng chọn Có hoặc Không cho từng mục") for t in texts)
    assert "Nhiệt độ cơ thể (ºC): Nhiệt độ cơ thể phải từ 34,0 đến 42,0 ºC" in texts
    assert texts[-2:] == ["Đồng ý xử lý dữ liệu: Vui lòng đánh dấu vào ô này để gửi tờ khai",
                          "Dữ liệu sức khỏe nhạy cảm: Vui lòng đánh dấu vào ô này để gửi tờ khai"]
    phone.wait_for_function("() => document.activeElement.id === 'f-birth_year'")

    # The skipped questions carry their own message; the answered ones do not.
    assert phone.locator("#row-symptoms-fatigue .error").inner_text() == "Vui lòng chọn Có hoặc Không"
    assert phone.locator("#row-exposures-contact_from_affected_country .error").is_visible()
    assert phone.locator(".each-yes-no .item .error").count() == 2
    # Each message is inside its own field's block.
    for name in ("birth_year", "id_number", "phone", "street_address", "body_temperature_c",
                 "consent_processing", "consent_sensitive_health"):
        assert phone.locator(f".field:has(#f-{name}) #{name}-error").is_visible(), name
    assert phone.locator("#group-gender #gender-error").is_visible()
    assert phone.locator("#group-travel_14d #travel_14d-error").is_visible()

    # A summary link takes the visitor to the skipped question.
    summary.get_by_role("link", name=re.compile("dấu hiệu")).click()
    assert _focused_id(phone) == "f-symptoms-fatigue-yes"
    assert phone.locator("#row-symptoms-fatigue").is_visible()
    assert horizontal_overflow(phone) == 0
    assert session.exec(select(Declaration)).first() is None


def test_numbers_use_a_decimal_comma_in_vietnamese(live_server, phone, venues):
    phone.goto(live_server.url + venue_path("HQ", live_server.app.config["SECRET_KEY"]))
    temperature = phone.locator(".field:has(#f-body_temperature_c)")
    assert temperature.locator(".hint").inner_text() == "Không bắt buộc. Ví dụ 36,8"
    assert phone.locator("#f-body_temperature_c").get_attribute("placeholder") == "36,8"
    phone.get_by_role("link", name="English").click()
    from playwright.sync_api import expect

    expect(temperature.locator(".hint")).to_have_text("Optional. For example 36.8")
    assert phone.locator("#f-body_temperature_c").get_attribute("placeholder") == "36.8"
