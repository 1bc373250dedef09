"""Real Chromium keeps the door screen open while check-ins happen elsewhere (the API, as a
tablet, a staff script or the camera worker would), and the result cards appear from the event
stream; then a visitor answers the touchscreen questions."""
from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import T0, chromium_path
from tests.kiosk.conftest import CCCD_TEXT

pytestmark = pytest.mark.browser

NO_CAMERA_VI = "Lối vào này tạm thời chưa đọc được mã: vui lòng đưa mã QR của bạn cho lễ tân."
BROWSER_CAMERA_VI = ("Camera của màn hình này đang đọc mã: hãy đưa mã QR hoặc thẻ CCCD của bạn "
                     "vào trước màn hình.")
TRAVEL_REQUIRED = "Vui lòng trả lời câu hỏi về những nơi đã đến"


@pytest.fixture
def app_config():
    return {"VENUE": "HQ", "SCREEN_IDLE_S": 5}


def _call(request) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return json.load(error)


@pytest.fixture
def bearer(make_user, api_token):
    return api_token(make_user("receptionist"))


@pytest.fixture
def checkin(live_server, bearer):
    """A photo of the code POSTed to /api/v1/scan over real HTTP, as a tablet or a staff script
    with a receptionist's bearer token would."""
    import segno

    def post(payload: str) -> dict:
        image = io.BytesIO()
        segno.make(payload, error="m").save(image, kind="png", scale=6, border=4)
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"venue_code\"\r\n\r\n"
                f"HQ\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"frame.png\"\r\nContent-Type: image/png\r\n\r\n").encode() \
            + image.getvalue() + f"\r\n--{boundary}--\r\n".encode()
        return _call(urllib.request.Request(
            live_server.url + "/api/v1/scan", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Authorization": f"Bearer {bearer}"}))

    return post


@pytest.fixture
def checkin_json(live_server, bearer):
    """POST /api/v1/checkins (the declarations package's route) with a scanned text."""

    def post(payload: str) -> dict:
        return _call(urllib.request.Request(
            live_server.url + "/api/v1/checkins",
            data=json.dumps({"venue_code": "HQ", "payload": payload}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}))

    return post


def open_screen(page, live_server):
    # Paired once, as an administrator's link does it; the pairing leads to the door screen.
    page.goto(live_server.pairing_link())
    expect(page).to_have_url(live_server.url + "/kiosk")
    expect(page.locator("body")).to_have_attribute("data-stream", "open")
    expect(page.locator("#idle")).to_be_visible()


def test_result_cards_appear_from_the_event_stream(live_server, page, clock, venue, checkin,
                                                   checkin_json, make_visitor, make_declaration,
                                                   make_token):
    fresh = make_visitor(full_name="Nguyễn Văn An")
    token = make_token(fresh, make_declaration(visitor=fresh, submitted_at=T0))
    flagged = make_visitor(full_name="Lê Thị Hoa", id_number="001190012346")
    flagged_token = make_token(flagged, make_declaration(visitor=flagged, submitted_at=T0,
                                                         status="needs_review"))
    clock.advance(minutes=10)
    open_screen(page, live_server)
    expect(page.locator("#idle-title")).to_have_text("Khai báo y tế và ghi nhận ra vào")

    assert checkin(token)["action"] == "check_in"
    card = page.locator("#card")
    expect(card).to_be_visible()
    expect(page.locator("#idle")).to_be_hidden()
    expect(card).to_have_class("kiosk-card card-green")
    expect(page.locator("#card-title")).to_have_text("Xin mời vào!")
    expect(page.locator("#card-name")).to_have_text("NGUYỄN VĂN AN")
    expect(page.locator("#card-time")).to_have_text("Giờ vào: 09:10")
    # The card goes away by itself and the idle screen comes back.
    expect(page.locator("#idle")).to_be_visible(timeout=15_000)
    expect(card).to_be_hidden()

    assert checkin(flagged_token)["status"] == "needs_review"
    expect(card).to_have_class("kiosk-card card-amber")
    expect(page.locator("#card-title")).to_have_text("Vui lòng gặp lễ tân")
    expect(page.locator("#card-name")).to_have_text("LÊ THỊ HOA")

    assert checkin("WIFI:S:Cafe;;")["code"] == "unknown_code"
    expect(card).to_have_class("kiosk-card card-red")
    expect(page.locator("#card-title")).to_have_text("Mã không được chấp nhận")
    expect(page.locator("#card-detail")).to_have_text(
        "Mã này không phải mã QR cá nhân hay thẻ căn cước.")

    clock.advance(hours=2)
    assert checkin_json(token)["action"] == "check_out"
    expect(card).to_have_class("kiosk-card card-green")
    expect(page.locator("#card-title")).to_have_text("Tạm biệt! Đã ghi nhận bạn ra về")


def test_stale_declaration_is_reconfirmed_on_the_touchscreen(live_server, page, clock, venue,
                                                             checkin, session, make_visitor,
                                                             make_declaration, make_token):
    from kiosk.services import venue_consent_version

    visitor = make_visitor()
    declaration = make_declaration(
        visitor=visitor, submitted_at=T0,
        consent_text_version=venue_consent_version(venue, retention_days=21))
    token = make_token(visitor, declaration)
    clock.advance(days=2)
    open_screen(page, live_server)
    assert checkin(token)["action"] == "needs_confirmation"
    expect(page.locator("#reconfirm")).to_be_visible()
    expect(page.locator("#reconfirm-title")).to_have_text("Xin chào NGUYỄN VĂN AN!")
    expect(page.locator("#reconfirm-question")).to_contain_text("09:00 10/03/2026")
    page.get_by_role("button", name="Không có gì thay đổi").click()
    expect(page.locator("#card")).to_have_class("kiosk-card card-green")
    expect(page.locator("#card-title")).to_have_text("Xin mời vào!")
    session.expire_all()
    from sqlmodel import select

    from visits.models import Visit

    [visit] = session.exec(select(Visit)).all()
    assert visit.opened_by == "scan"


def test_id_card_then_health_questions_on_the_touchscreen(live_server, page, clock, venue,
                                                          checkin, session):
    open_screen(page, live_server)
    assert checkin(CCCD_TEXT)["action"] == "needs_confirmation"
    form = page.locator("#health")
    expect(form).to_be_visible()
    expect(page.locator("#idle")).to_be_hidden()
    expect(page.locator("#reconfirm")).to_be_hidden()
    expect(page.locator("#health-identity")).to_have_text("Theo thẻ của bạn: NGUYỄN VĂN AN")
    # Sending without answering: each message beside its question, nothing is stored.
    page.get_by_role("button", name="Gửi và ghi nhận vào").click()
    expect(page.locator('[data-error-for="travel_14d"]')).to_have_text(TRAVEL_REQUIRED)
    expect(page.locator('[data-error-for="symptoms"]')).to_have_text(
        "Vui lòng chọn Có hoặc Không cho từng mục")
    expect(page.locator('[data-error-for="consent_processing"]')).to_be_visible()
    expect(page.locator('[data-error-for="consent_sensitive_health"]')).to_be_visible()
    expect(page.locator('[data-error-for="tracing_apps"]')).to_have_text(
        "Vui lòng đánh dấu các ứng dụng bạn dùng, hoặc “Tôi không dùng ứng dụng nào trong số này”")
    # Every sign and contact unanswered is marked on its own row.
    expect(page.locator(".kiosk-item.has-error")).to_have_count(9)
    expect(page.locator("#health-error")).to_be_hidden()
    page.locator('input[name="travel_14d"][value="false"]').check()
    for row in page.locator(".kiosk-item").all():
        answer = "yes" if row.get_attribute("data-item") == "symptoms.fever" else "no"
        row.locator(f'input[value="{answer}"]').check()
    page.locator('input[name="tracing_apps"][value="bluezone"]').check()
    page.locator('input[name="tracing_apps"][value="none"]').check()  # "none" clears the app
    expect(page.locator('input[name="tracing_apps"][value="bluezone"]')).not_to_be_checked()
    page.locator("#health-phone").fill("0912")
    page.locator('input[name="consent_processing"]').check()
    page.locator('input[name="consent_sensitive_health"]').check()
    page.get_by_role("button", name="Gửi và ghi nhận vào").click()
    expect(page.locator('[data-error-for="phone"]')).to_have_text("Số điện thoại không hợp lệ")
    expect(page.locator('[data-error-for="travel_14d"]')).to_be_hidden()
    expect(page.locator(".kiosk-item.has-error")).to_have_count(0)
    page.locator("#health-phone").fill("0912 345 678")
    page.get_by_role("button", name="Gửi và ghi nhận vào").click()
    expect(page.locator("#card")).to_have_class("kiosk-card card-amber")
    expect(page.locator("#card-name")).to_have_text("NGUYỄN VĂN AN")
    from sqlmodel import select

    from visits.models import Visitor

    session.expire_all()
    [visitor] = session.exec(select(Visitor)).all()
    assert (visitor.id_number, visitor.phone_e164) == ("001090012345", "+84912345678")


def test_english_toggle_and_back_to_vietnamese_when_idle(live_server, page, venue):
    open_screen(page, live_server)
    page.get_by_role("link", name="English").click()
    expect(page.locator("#idle-title")).to_have_text("Health declaration and check-in")
    # Nobody touches the screen: the next visitor gets Vietnamese again.
    expect(page.locator("#idle-title")).to_have_text("Khai báo y tế và ghi nhận ra vào", timeout=20_000)


def test_the_desk_list_follows_the_event_stream(live_server, page, clock, venue, checkin,
                                                make_user, make_visitor, make_declaration,
                                                make_token):
    receptionist = make_user("receptionist", username="mai", venue_codes=["HQ"])
    page.goto(live_server.url + "/login")
    page.get_by_label("Tên đăng nhập").fill("mai")
    page.get_by_label("Mật khẩu").fill("correct horse battery")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(live_server.url + "/")
    page.get_by_role("link", name="Bàn lễ tân").click()
    expect(page.get_by_text("Không có ai đang ở trong.")).to_be_visible()
    visitor = make_visitor(full_name="Trần Văn Bình")
    token = make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0))
    clock.advance(minutes=1)
    assert checkin(token)["action"] == "check_in"
    expect(page.get_by_text("TRẦN VĂN BÌNH")).to_be_visible()
    expect(page.locator("#inside-title")).to_have_text("Đang có mặt (1)")
    page.get_by_role("button", name="Ghi nhận ra").click()
    expect(page.get_by_text("Đã ghi nhận ra về.")).to_be_visible()
    assert receptionist.id


def _write_y4m(path, frame_gray, frames: int = 30) -> None:
    """A raw YUV 4:2:0 video Chromium can play as its fake camera (grey, neutral chroma)."""
    import numpy as np

    height, width = frame_gray.shape
    chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8).tobytes()
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + frame_gray.tobytes() + chroma + chroma)


@pytest.fixture
def camera_page(browser, tmp_path):
    """Chromium whose camera films a visitor holding up a code (a fake capture device playing
    a video file), so the page's getUserMedia gets real frames."""
    pages = {}

    def open_with(payload: str):
        import cv2

        from tests.support.qrframes import Placement, camera_frame

        frame = cv2.cvtColor(camera_frame([Placement(payload, size_px=300)], seed=7,
                                          size=(640, 480)), cv2.COLOR_BGR2GRAY)
        video = tmp_path / "visitor.y4m"
        _write_y4m(video, frame)
        other = browser.browser_type.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"])
        context = other.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
        context.set_default_timeout(20_000)
        pages["browser"], pages["page"] = other, context.new_page()
        return pages["page"]

    yield open_with
    if "browser" in pages:
        pages["browser"].close()


def test_browser_camera_mode_checks_in_from_the_tablets_own_camera(
        live_server, camera_page, clock, venue, session, make_visitor, make_declaration,
        make_token):
    visitor = make_visitor()
    token = make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0))
    clock.advance(minutes=2)
    page = camera_page(token)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    open_screen(page, live_server)
    # No kiosk camera: the door says codes cannot be read here, until the tablet's camera runs.
    expect(page.locator("#camera-line")).to_have_text(NO_CAMERA_VI)
    page.get_by_role("button", name="Dùng camera của thiết bị này").click()
    expect(page.locator("body")).to_have_attribute("data-browser-camera", "on")
    expect(page.locator("#camera-line")).to_have_text(BROWSER_CAMERA_VI)
    expect(page.locator("#card")).to_have_class("kiosk-card card-green")
    expect(page.locator("#card-name")).to_have_text("NGUYỄN VĂN AN")
    from sqlmodel import select

    from visits.models import Visit

    session.expire_all()
    [visit] = session.exec(select(Visit)).all()
    assert visit.opened_by == "scan"
    assert errors == []


def _box(page, selector) -> dict:
    return page.locator(selector).bounding_box()


@pytest.mark.parametrize("size", ["landscape", "portrait"])
def test_the_door_screen_at_kiosk_sizes_shows_visitors_only_what_they_can_act_on(
        live_server, open_page, venue, size, tmp_path):
    from kiosk.runtime import build_workers
    from tests.support.pages import (
        SIZES,
        horizontal_overflow,
        small_touch_targets,
        untranslated,
    )

    # A kiosk whose camera is missing: the worker runs and says "absent".
    app = live_server.app
    app.config["CAMERA_SOURCE"] = str(tmp_path / "no-such-camera.mp4")
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        if worker.name == "camera":
            manager.add(worker)
    manager.start()
    try:
        page = open_page(**SIZES[size])
        open_screen(page, live_server)
        text = page.locator("body").inner_text()
        # No device jargon, no staff instructions: those are on the desk and /healthz.
        for staff_words in ("Camera:", "Bluetooth:", "D-Bus", "Bluetooth đang tắt", "kết nối",
                            "KIOSK_"):
            assert staff_words not in text, staff_words
        expect(page.locator("#camera-line")).to_have_text(NO_CAMERA_VI)
        # No empty black box where there is no camera picture.
        expect(page.locator("#camera-preview")).to_be_hidden()
        assert page.locator(".camera-preview:visible").count() == 0
        assert horizontal_overflow(page) == 0
        assert small_touch_targets(page) == []
        assert untranslated(page) == []

        width, height = SIZES[size]["viewport"]["width"], SIZES[size]["viewport"]["height"]
        qr, steps = _box(page, ".venue-qr img"), _box(page, ".kiosk-steps")
        if size == "landscape":
            # The QR on the left, the steps beside it, all on one screen.
            assert qr["x"] + qr["width"] <= steps["x"]
            assert qr["y"] + qr["height"] <= height
        else:
            # Portrait: a large QR above the steps, the screen used from top to bottom.
            assert qr["width"] >= 0.6 * width
            assert qr["y"] + qr["height"] <= steps["y"]
            assert steps["y"] + steps["height"] >= 0.6 * height
    finally:
        manager.stop()


@pytest.mark.parametrize("size", ["landscape", "phone"])
def test_the_desk_as_a_receptionist_sees_it(live_server, open_page, clock, venue, size,
                                            make_user, make_visitor, make_visit,
                                            make_declaration):
    from tests.support.pages import (
        SIZES,
        horizontal_overflow,
        sign_in,
        small_touch_targets,
        untranslated,
    )
    from visits.services import close_visit

    clock.advance(hours=2)
    lan = make_visitor(full_name="Phạm Thị Lan", phone_e164="+84987654321")
    make_visit(visitor=lan, venue=venue, checked_in_at=T0,
               declaration_id=make_declaration(visitor=lan, visitor_company="Công ty Sông Hồng",
                                               host_name="Anh Đức").id)
    hoa = make_visitor(full_name="Lê Thị Hoa", phone_e164="+84912000002")
    flagged = make_visit(visitor=hoa, venue=venue, checked_in_at=T0, status="needs_review",
                         declaration_id=make_declaration(visitor=hoa, status="needs_review",
                                                         symptoms=["fever"],
                                                         body_temperature_c=38.2).id)
    from datetime import timedelta

    from sqlmodel import Session

    from core.db import db

    with Session(db.engine(live_server.app)) as other:
        close_visit(session=other, visit=other.get(type(flagged), flagged.id),
                    now=T0 + timedelta(minutes=30), closed_by="scan")
    make_user("receptionist", username="mai", venue_codes=["HQ"])
    page = open_page(**SIZES[size])
    sign_in(page, live_server.url, "mai")
    page.get_by_role("link", name="Bàn lễ tân").click()

    row = page.locator('#desk-lists li[data-visit]', has_text="PHẠM THỊ LAN")
    expect(row.locator('[data-fact="phone"]')).to_have_text("Điện thoại: 0987 654 321")
    expect(row.locator('[data-fact="company"]')).to_have_text("Đơn vị: Công ty Sông Hồng")
    expect(row.locator('[data-fact="host"]')).to_have_text("Người cần gặp: Anh Đức")
    expect(page.locator('[data-count="entries"]')).to_have_text("2 lượt vào")
    # The flagged visitor who left before anyone decided is still there, shown as gone.
    waiting = page.locator(".desk-flagged li", has_text="LÊ THỊ HOA")
    expect(waiting.locator("[data-left]")).to_have_text("Đã ra lúc 09:30 khi chưa có quyết định")
    expect(waiting).to_contain_text("38,2 °C")  # a decimal comma
    assert horizontal_overflow(page) == 0
    assert small_touch_targets(page) == []
    assert untranslated(page) == []

    # Find a visitor by phone and print their QR again.
    page.get_by_label("Tìm khách (họ tên hoặc số điện thoại)").fill("0987654321")
    page.get_by_role("button", name="Tìm", exact=True).click()
    found = page.locator("#desk-found li")
    expect(found).to_have_count(1)
    found.get_by_role("button", name="In lại mã QR của khách").click()
    expect(page.locator("#reprint .card-name")).to_have_text("PHẠM THỊ LAN")
    expect(page.locator("#reprint img")).to_be_visible()
    assert page.locator("#reprint img").evaluate("img => img.naturalWidth") > 0

    # Today's log, printable.
    page.goto(live_server.url + "/kiosk/log")
    rows = page.locator("#day-log tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("09:00")
    expect(page.get_by_role("button", name="In", exact=True)).to_be_visible()
    assert horizontal_overflow(page) == 0
    assert untranslated(page) == []
