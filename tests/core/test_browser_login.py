"""Real Chromium: a staff member signs in in Vietnamese, switches to English."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sign_in_in_vietnamese_then_switch_to_english(live_server, page, make_user):
    make_user("admin", username="lan", display_name="Trần Thị Lan")
    page.goto(live_server.url + "/login")
    assert page.locator("h1").inner_text() == "Đăng nhập nhân viên"
    page.get_by_label("Tên đăng nhập").fill("lan")
    page.get_by_label("Mật khẩu").fill("correct horse battery")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(live_server.url + "/")
    assert "Trần Thị Lan" in page.locator("header").inner_text()
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("button", name="Sign out").is_visible()
