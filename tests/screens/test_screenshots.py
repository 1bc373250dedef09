"""`make screenshots`: every page people use, at the phone's (390x844), the kiosk's landscape
(1280x800) and the kiosk's portrait (1080x1920) size, written as PNGs into the folder
KHAIBAO_SCREENSHOTS names (the Makefile: screenshots/), for a person to look at. Skipped in
`make test`; each page is checked only for sideways scrolling here (the browser tests of each
feature assert what a person sees)."""
from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from declarations.venue_links import venue_path
from tests.conftest import T0
from tests.kiosk.conftest import CCCD_TEXT
from tests.support.pages import SIZES, horizontal_overflow, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.screenshots]

FOLDER = Path(os.environ.get("KHAIBAO_SCREENSHOTS", "screenshots"))


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@pytest.fixture
def scene(session, clock, make_venue, make_user, make_visitor, make_visit, make_declaration):
    clock.advance(hours=2)
    venue = make_venue(code="HQ", name="Trụ sở Sở Y tế Hà Nội")
    make_venue(code="ANNEX", name="Nhà B")
    lan = make_visitor(full_name="Phạm Thị Lan", phone_e164="+84987654321",
                       id_number="001185012345")
    make_visit(visitor=lan, venue=venue, checked_in_at=T0,
               declaration_id=make_declaration(visitor=lan, visitor_company="Công ty Sông Hồng",
                                               host_name="Anh Đức", host_department="Kế toán").id)
    hoa = make_visitor(full_name="Lê Thị Hoa", phone_e164="+84912000002", id_number=None)
    make_visit(visitor=hoa, venue=venue, checked_in_at=T0 + timedelta(minutes=20),
               status="needs_review",
               declaration_id=make_declaration(visitor=hoa, status="needs_review",
                                               symptoms=["fever", "cough"],
                                               body_temperature_c=38.2).id)
    binh = make_visitor(full_name="Trần Văn Bình", phone_e164="+84912000003",
                        id_number="001090077777")  # the scanned card is not his
    make_visit(visitor=binh, venue=venue, checked_in_at=T0 - timedelta(minutes=30),
               checked_out_at=T0 + timedelta(minutes=50), closed_by="scan")
    return {"venue": venue, "admin": make_user("admin", username="quantri"),
            "desk": make_user("receptionist", username="mai", venue_codes=["HQ", "ANNEX"]),
            "tracer": make_user("tracer", username="dieutra"), "lan": lan}


def shoot(page, name, size):
    assert horizontal_overflow(page) == 0, f"{name} scrolls sideways at {size}"
    screenshot(page, FOLDER, f"{name}-{size}")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_at_every_size(live_server, open_page, scene, size, api_token):
    url = live_server.url
    secret = live_server.app.config["SECRET_KEY"]

    # The visitor's phone: the form, after a send with mistakes, then the confirmation.
    page = open_page(**SIZES[size])
    page.goto(url + venue_path("HQ", secret))
    shoot(page, "phone-form", size)
    page.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).fill("Phạm Thị Thu")
    page.get_by_label("Điện thoại", exact=True).fill("0912")
    page.get_by_role("button", name="Gửi tờ khai").click()
    page.locator("#error-summary").wait_for()
    shoot(page, "phone-form-errors", size)
    page.get_by_label("Năm sinh", exact=True).fill("1988")
    page.get_by_role("radio", name="Nữ").check()
    page.get_by_label("Số hộ chiếu / CMND / CCCD", exact=True).fill("001188012345")
    page.get_by_label("Điện thoại", exact=True).fill("0912 345 678")
    page.get_by_label("Tỉnh thành", exact=True).select_option(label="Thành phố Hà Nội")
    page.wait_for_function("() => document.getElementById('f-ward_code').options.length > 100")
    page.get_by_label("Phường / xã", exact=True).select_option(label="Phường Hoàn Kiếm")
    page.get_by_label("Số nhà, phố, tổ dân phố/thôn/đội", exact=True).fill("Số 3 Lý Thái Tổ")
    page.locator("#group-travel_14d").get_by_role("radio", name="Không").check()
    for row in page.locator(".each-yes-no .item").all():
        row.get_by_role("radio", name="Không", exact=True).check()
    page.locator("#f-tracing_apps-bluezone").check()  # the apps question wants an answer too
    for box in page.locator(".consent input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Gửi tờ khai").click()
    page.wait_for_url(re.compile(r".*/d/\d+$"))
    shoot(page, "phone-done", size)

    # The door screen (public on the kiosk's own paired screen).
    door = open_page(**SIZES[size])
    door.goto(live_server.pairing_link())
    door.wait_for_function("() => document.body.dataset.stream === 'open'")
    shoot(door, "door-idle", size)
    token = api_token(scene["desk"])
    response = door.request.post(url + "/api/v1/checkins",
                                 data={"venue_code": "HQ", "payload": CCCD_TEXT},
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.json()["action"] == "needs_confirmation"
    door.locator("#health").wait_for()
    shoot(door, "door-health", size)
    door.get_by_role("button", name="Gửi và ghi nhận vào").click()
    door.locator('[data-error-for="travel_14d"]:visible').wait_for()
    shoot(door, "door-health-errors", size)

    # The receptionist's desk, its search and QR reprint, the day's log, the manual form.
    staff = open_page(**SIZES[size])
    sign_in(staff, url, "mai")
    shoot(staff, "home-receptionist", size)
    staff.goto(url + "/kiosk/desk")
    shoot(staff, "desk", size)
    staff.goto(url + "/kiosk/desk?q=lan")
    shoot(staff, "desk-search", size)
    staff.get_by_role("button", name="In lại mã QR của khách").first.click()
    staff.locator("#reprint").wait_for()
    shoot(staff, "desk-reprint", size)
    staff.goto(url + "/kiosk/log")
    shoot(staff, "desk-log", size)
    staff.goto(url + "/kiosk/manual")
    shoot(staff, "desk-manual", size)
    staff.goto(url + "/account/password")
    shoot(staff, "account-password", size)

    # The tracer's console and the administrator's pages.
    tracer = open_page(**SIZES[size])
    sign_in(tracer, url, "dieutra")
    tracer.goto(url + "/tracing/")
    shoot(tracer, "tracing-console", size)
    tracer.goto(url + "/tracing/import")
    shoot(tracer, "tracing-import", size)
    admin = open_page(**SIZES[size])
    sign_in(admin, url, "quantri")
    admin.goto(url + "/tracing/?q=0987654321")
    admin.goto(url + "/tracing/audit")
    shoot(admin, "tracing-audit", size)
    admin.goto(url + "/admin/users")
    shoot(admin, "admin-users", size)
    admin.goto(url + "/admin/venues")
    shoot(admin, "admin-venues", size)
    admin.goto(url + "/kiosk/desk")
    shoot(admin, "desk-admin-venues", size)
    admin.goto(url + "/kiosk/screens")
    shoot(admin, "admin-screens", size)
    admin.goto(url + "/admin/venues/HQ/hosts")
    shoot(admin, "admin-hosts", size)
    admin.goto(url + "/admin/adoption")
    shoot(admin, "admin-adoption", size)
    admin.goto(url + "/tracing/privacy?search=1&phone=0987654321")
    shoot(admin, "tracing-privacy", size)
