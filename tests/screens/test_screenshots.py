"""`make screenshots`: every page people use, at the phone's, the kiosk's landscape and the
kiosk's portrait size, written as PNGs into the folder KHAIBAO_SCREENSHOTS names (the Makefile:
screenshots/). Skipped in `make test`; it checks only that each page rendered without
sideways scrolling, so that a person can then look at the pictures."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from declarations.venue_links import venue_path
from tests.conftest import PASSWORD, T0
from tests.kiosk.conftest import CCCD_TEXT
from tests.support.pages import SIZES, horizontal_overflow, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.screenshots]

FOLDER = Path(os.environ.get("KHAIBAO_SCREENSHOTS", "screenshots"))


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@pytest.fixture
def scene(session, clock, make_venue, make_user, make_visitor, make_declaration, make_token):
    venue = make_venue(code="HQ", name="Trụ sở Sở Y tế Hà Nội")
    admin = make_user("admin", username="quantri")
    desk = make_user("receptionist", username="mai")
    tracer = make_user("tracer", username="dieutra")
    return {"venue": venue, "admin": admin, "desk": desk, "tracer": tracer}


def sign_in(page, url, username):
    page.goto(url + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r".*/$"))


def shoot(page, name, size):
    assert horizontal_overflow(page) == 0, f"{name} scrolls sideways at {size}"
    screenshot(page, FOLDER, f"{name}-{size}")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_at_every_size(live_server, open_page, scene, size, api_token):
    url = live_server.url
    secret = live_server.app.config["SECRET_KEY"]
    page = open_page(**SIZES[size])

    # The visitor's phone form: empty, then after a send with mistakes.
    page.goto(url + venue_path("HQ", secret))
    shoot(page, "phone-form", size)
    page.get_by_label("Họ tên (ghi chữ IN HOA)", exact=True).fill("Phạm Thị Thu")
    page.get_by_label("Điện thoại", exact=True).fill("0912")
    page.get_by_role("button", name="Gửi tờ khai").click()
    page.locator("#error-summary").wait_for()
    shoot(page, "phone-form-errors", size)

    # The door screen (public on the kiosk itself: the test browser is on loopback).
    door = open_page(**SIZES[size])
    door.goto(url + "/kiosk")
    door.locator("#idle").wait_for()
    door.wait_for_function("() => document.body.dataset.stream === 'open'")
    shoot(door, "door-idle", size)
    # An ID card shown: the touchscreen asks the health questions; sent unanswered.
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

    # The receptionist's desk and manual form, the tracer's console, the admin pages.
    staff = open_page(**SIZES[size])
    sign_in(staff, url, "mai")
    staff.goto(url + "/kiosk/desk")
    shoot(staff, "desk", size)
    staff.goto(url + "/kiosk/manual")
    shoot(staff, "desk-manual", size)
