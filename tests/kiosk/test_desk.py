"""The receptionist's desk: flagged queue decisions, on-site list with check-out, close-all; in
Vietnamese and English; receptionists and admins only."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from core.models import AuditEvent
from tests.conftest import T0
from visits.models import Visit


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@pytest.fixture
def receptionist(venue, make_user, login):
    user = make_user("receptionist", display_name="Chị Mai", venue_codes=["HQ"])
    login(user)
    return user


def test_desk_lists_flagged_and_inside_visitors(client, venue, receptionist, make_visitor,
                                                make_visit, make_declaration):
    hoa = make_visitor(full_name="Lê Thị Hoa")
    reasons = make_declaration(visitor=hoa, status="needs_review", symptoms=["fever"],
                               exposures=["contact_confirmed_or_suspected"])
    make_visit(visitor=hoa, venue=venue, checked_in_at=T0, status="needs_review",
               declaration_id=reasons.id)
    make_visit(visitor=make_visitor(full_name="Trần Văn Bình"), venue=venue,
               checked_in_at=T0 + timedelta(minutes=5))
    make_visit(visitor=make_visitor(full_name="Đã Về"), venue=venue, checked_in_at=T0,
               checked_out_at=T0 + timedelta(minutes=30))
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Bàn lễ tân" in page
    assert "Đang chờ quyết định (1)" in page and "LÊ THỊ HOA" in page
    assert "<li>Sốt</li>" in page  # why they were flagged, for the receptionist to ask about
    assert "Đang có mặt (2)" in page and "TRẦN VĂN BÌNH" in page
    assert "ĐÃ VỀ" not in page
    assert "đến lúc 09:00" in page  # local time
    client.get("/lang/en")
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Waiting for a decision (1)" in page and "On site now (2)" in page
    lists = client.get("/kiosk/desk?part=lists").get_data(as_text=True)
    assert "<html" not in lists and "LÊ THỊ HOA" in lists


@pytest.mark.parametrize(("role", "status"), [("tracer", 403), ("admin", 200)])
def test_desk_roles(client, venue, make_user, login, role, status):
    assert client.get("/kiosk/desk").status_code == 302
    login(make_user(role))
    assert client.get("/kiosk/desk").status_code == status


def test_admit_with_a_note_and_turn_away(client, clock, session, venue, receptionist,
                                         make_visitor, make_visit):
    first = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0, status="needs_review")
    second = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0,
                        status="needs_review")
    response = client.post(f"/kiosk/visits/{first.id}/review",
                           data={"decision": "admit", "note": "Nhiệt độ 36,9"})
    assert response.status_code == 302
    assert "Đã cho khách vào." in client.get("/kiosk/desk").get_data(as_text=True)
    client.post(f"/kiosk/visits/{second.id}/review", data={"decision": "turn_away"})
    session.expire_all()
    first, second = session.get(Visit, first.id), session.get(Visit, second.id)
    assert (first.status, first.review_note, first.reviewed_by_id) == (
        "admitted", "Nhiệt độ 36,9", receptionist.id)
    assert (second.status, second.closed_by) == ("turned_away", "staff")
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["visit.admit", "visit.turn_away"]
    # A bad decision changes nothing.
    response = client.post(f"/kiosk/visits/{first.id}/review", data={"decision": "maybe"})
    assert "Hãy chọn cho vào hoặc từ chối." in client.get(response.headers["Location"]).get_data(
        as_text=True)


def test_check_out_and_close_all(client, clock, session, venue, receptionist, make_visitor,
                                 make_visit):
    one = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)
    others = [make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0) for _ in range(2)]
    clock.advance(hours=1)
    client.post(f"/kiosk/visits/{one.id}/check-out")
    session.expire_all()
    assert session.get(Visit, one.id).closed_by == "staff"
    # Close-all asks for a confirmation tick first.
    client.post("/kiosk/visits/close-all", data={})
    session.expire_all()
    assert all(session.get(Visit, v.id).checked_out_at is None for v in others)
    client.post("/kiosk/visits/close-all", data={"confirm": "yes"})
    session.expire_all()
    assert [session.get(Visit, v.id).closed_by for v in others] == ["close_all", "close_all"]
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Đã kết thúc 2 lượt ra vào." in page and "Không có ai đang ở trong." in page


def _form(consent_version: str, **overrides) -> dict:
    from core import admin_units

    ward = admin_units.wards_of("01")[0]
    return {"full_name": "Phạm Thị Lan", "birth_year": "1985", "gender": "female",
            "nationality": "VN", "id_number": "001185012345", "phone": "0987 654 321",
            "province_code": "01", "ward_code": ward.code, "street_address": "Số 5 Hàng Bài",
            "travel_14d": "no", "consent_processing": "yes", "consent_sensitive_health": "yes",
            "consent_text_version": consent_version, "tracing_apps": "none", **overrides}


def test_manual_check_in_with_the_declaration_schema(client, clock, session, venue,
                                                     receptionist):
    from declarations.models import Declaration
    from kiosk.services import venue_consent_version
    from visits.models import Visitor

    version = venue_consent_version(venue, retention_days=21)
    page = client.get("/kiosk/manual").get_data(as_text=True)
    assert "Họ tên (ghi chữ IN HOA)" in page and 'action="/kiosk/manual?venue=HQ"' in page
    # The one schema: a bad phone number and no consent are refused, nothing stored.
    response = client.post("/kiosk/manual", data=_form(version, phone="12",
                                                       consent_processing=""))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Số điện thoại không hợp lệ" in page
    assert "Vui lòng đánh dấu vào ô này để gửi tờ khai" in page
    assert session.exec(select(Visit)).all() == []

    response = client.post("/kiosk/manual", data=_form(version, symptoms=["cough"]))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "PHẠM THỊ LAN" in page and "Vui lòng gặp lễ tân" in page
    assert "/qr/KB2." in page
    [visit] = session.exec(select(Visit)).all()
    assert (visit.opened_by, visit.status) == ("staff", "needs_review")
    assert visit.kiosk_id is not None
    declaration = session.get(Declaration, visit.declaration_id)
    assert declaration.source == "staff" and declaration.symptoms == ["cough"]
    visitor = session.get(Visitor, visit.visitor_id)
    assert visitor.phone_e164 == "+84987654321"


def test_manual_check_in_is_for_desk_staff(client, venue, make_user, login):
    assert client.get("/kiosk/manual").status_code == 302
    login(make_user("tracer"))
    assert client.get("/kiosk/manual").status_code == 403


def test_the_receptionists_own_form_records_the_visitors_consent(client, session, venue,
                                                                 receptionist):
    """Written for the receptionist: no first-person consent, the warning as something to tell
    the visitor, a way back to the desk; no ID number needed when the visitor has none."""
    from declarations.models import Declaration
    from kiosk.services import venue_consent_version
    from visits.models import Visitor

    page = client.get("/kiosk/manual").get_data(as_text=True)
    assert "Ghi nhận khách vào thủ công" in page
    assert "Khách đã nghe nội dung này và đồng ý." in page
    assert "Nhắc khách:" in page
    assert "Ghi nhận khách vào</button>" in page and "Gửi tờ khai" not in page
    assert 'href="/kiosk/desk?venue=HQ"' in page
    version = venue_consent_version(venue, retention_days=21)
    response = client.post("/kiosk/manual", data=_form(version, id_number=""))
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    [visit] = session.exec(select(Visit)).all()
    visitor = session.get(Visitor, visit.visitor_id)
    assert visitor.id_number is None and visitor.phone_e164 == "+84987654321"
    declaration = session.get(Declaration, visit.declaration_id)
    assert (declaration.source, declaration.consent_processing,
            declaration.consent_sensitive_health, declaration.consent_text_version) == (
        "staff", True, True, version)
    # The phone is still needed: health officers must be able to reach the visitor.
    response = client.post("/kiosk/manual", data=_form(version, id_number="", phone=""))
    assert response.status_code == 422
    assert "Bạn chưa nhập điện thoại" in response.get_data(as_text=True)


def test_the_desk_shows_phone_company_host_and_the_days_counts(client, clock, venue,
                                                               receptionist, make_visitor,
                                                               make_visit, make_declaration):
    clock.set(T0 + timedelta(hours=3))
    lan = make_visitor(full_name="Phạm Thị Lan", phone_e164="+84987654321")
    declared = make_declaration(visitor=lan, visitor_company="Công ty Sông Hồng",
                                host_name="Anh Đức", host_department="Kế toán")
    make_visit(visitor=lan, venue=venue, checked_in_at=T0, declaration_id=declared.id)
    gone = make_visitor(full_name="Đã Về")
    make_visit(visitor=gone, venue=venue, checked_in_at=T0, checked_out_at=T0 + timedelta(hours=1))
    make_visit(visitor=gone, venue=venue, checked_in_at=T0 - timedelta(days=1),
               checked_out_at=T0 - timedelta(days=1, hours=-1))  # yesterday: not counted
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Điện thoại: 098 765 4321" in page or "Điện thoại: 0987 654 321" in page
    assert "Đơn vị: Công ty Sông Hồng" in page
    assert "Người cần gặp: Anh Đức (Kế toán)" in page
    assert "2 lượt vào" in page and "2 người" in page and "1 người đang ở trong" in page
    assert "1 lượt đã ra" in page and "0 người chờ quyết định" in page


def test_a_flagged_visitor_who_scans_out_stays_until_someone_decides(
        client, clock, session, venue, receptionist, make_visitor, make_visit, make_declaration):
    from visits.services import close_visit

    hoa = make_visitor(full_name="Lê Thị Hoa")
    flagged = make_visit(visitor=hoa, venue=venue, checked_in_at=T0, status="needs_review",
                         declaration_id=make_declaration(visitor=hoa, status="needs_review",
                                                         symptoms=["fever"]).id)
    close_visit(session=session, visit=flagged, now=T0 + timedelta(minutes=10), closed_by="scan")
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Đang chờ quyết định (1)" in page and "LÊ THỊ HOA" in page
    assert "Đã ra lúc 09:10 khi chưa có quyết định" in page
    assert "Đang có mặt (0)" in page
    response = client.post(f"/kiosk/visits/{flagged.id}/review",
                           data={"decision": "admit", "note": "Đã gọi điện hỏi lại"})
    assert response.status_code == 302
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Đang chờ quyết định (0)" in page
    session.expire_all()
    assert session.get(Visit, flagged.id).status == "admitted"


def test_find_a_visitor_and_print_their_qr_again(client, clock, session, venue, receptionist,
                                                 make_visitor, make_visit, make_declaration,
                                                 make_venue):
    lan = make_visitor(full_name="Phạm Thị Lan", phone_e164="+84987654321")
    make_visit(visitor=lan, venue=venue, checked_in_at=T0,
               declaration_id=make_declaration(visitor=lan).id)
    elsewhere = make_visitor(full_name="Phạm Văn Khác", phone_e164="+84912000111")
    make_visit(visitor=elsewhere, venue=make_venue(code="ANNEX"), checked_in_at=T0)
    paper = make_visitor(full_name="Phạm Giấy", phone_e164="+84912000222")
    make_visit(visitor=paper, venue=venue, checked_in_at=T0, opened_by="import")

    for query in ("pham lan", "Lan", "0987 654 321", "+84987654321"):
        page = client.get("/kiosk/desk", query_string={"q": query}).get_data(as_text=True)
        found = page[page.index('id="desk-found"'):page.index('id="desk-lists"')]
        assert "PHẠM THỊ LAN" in found, query
        assert "PHẠM VĂN KHÁC" not in found  # another venue's visitor is not shown here
    page = client.get("/kiosk/desk", query_string={"q": "x"}).get_data(as_text=True)
    assert "Hãy nhập ít nhất hai chữ cái hoặc chữ số." in page
    page = client.get("/kiosk/desk", query_string={"q": "Khác"}).get_data(as_text=True)
    assert "Không có khách nào đã đến địa điểm này khớp với tìm kiếm." in page

    response = client.post(f"/kiosk/visitors/{lan.id}/qr")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "PHẠM THỊ LAN" in page and "/qr/KB2." in page
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "visitor.qr_reprint")).one()
    assert audit.target_id == str(lan.id)
    # Not for someone who never came here, nor for a paper-list row with no declaration.
    response = client.post(f"/kiosk/visitors/{elsewhere.id}/qr")
    assert response.status_code == 302
    assert "Không có khách này tại địa điểm." in client.get("/kiosk/desk").get_data(as_text=True)
    client.post(f"/kiosk/visitors/{paper.id}/qr")
    assert "chưa có tờ khai" in client.get("/kiosk/desk").get_data(as_text=True)


def test_the_days_log_lists_entries_and_exits_and_prints(client, clock, venue, receptionist,
                                                         make_visitor, make_visit):
    clock.set(T0 + timedelta(hours=5))
    make_visit(visitor=make_visitor(full_name="Một Người", phone_e164="+84912000001"),
               venue=venue, checked_in_at=T0, checked_out_at=T0 + timedelta(hours=1),
               closed_by="scan")
    make_visit(visitor=make_visitor(full_name="Hai Người"), venue=venue,
               checked_in_at=T0 + timedelta(hours=2))
    make_visit(visitor=make_visitor(full_name="Hôm Qua"), venue=venue,
               checked_in_at=T0 - timedelta(days=1))
    page = client.get("/kiosk/log").get_data(as_text=True)
    table = page[page.index('id="day-log"'):]
    assert table.index("MỘT NGƯỜI") < table.index("HAI NGƯỜI")
    assert "HÔM QUA" not in table
    assert "09:00" in table and "10:00" in table and "quét mã ra" in table
    assert "chưa ra" in table
    assert "data-print" in page
    yesterday = client.get("/kiosk/log?day=2026-03-09").get_data(as_text=True)
    assert "HÔM QUA" in yesterday and "MỘT NGƯỜI" not in yesterday
    assert client.get("/kiosk/log?day=notaday").status_code == 302


def test_a_receptionist_works_the_desk_of_each_of_their_venues_and_no_other(
        client, clock, session, make_venue, make_user, login, make_visitor, make_visit):
    """The desk follows core.staff's scope: every venue a receptionist is assigned to (a picker
    when there are several), another venue's lists and actions refused."""
    hq, annex, other = (make_venue(code="HQ", name="Trụ sở"), make_venue(code="ANNEX", name="Nhà B"),
                        make_venue(code="OTHER", name="Nơi khác"))
    at_annex = make_visit(visitor=make_visitor(full_name="Ở Nhà B"), venue=annex, checked_in_at=T0)
    at_other = make_visit(visitor=make_visitor(full_name="Ở Nơi Khác"), venue=other,
                          checked_in_at=T0, status="needs_review")
    login(make_user("receptionist", username="mai", venue_codes=["HQ", "ANNEX"]))

    page = client.get("/kiosk/desk").get_data(as_text=True)  # the kiosk's own venue first
    assert "Bàn lễ tân — Trụ sở" in page and 'id="desk-venues"' in page
    assert "Nhà B" in page and "Nơi khác" not in page
    page = client.get("/kiosk/desk?venue=ANNEX").get_data(as_text=True)
    assert "Bàn lễ tân — Nhà B" in page and "Ở NHÀ B" in page
    assert 'name="venue" value="ANNEX"' in page
    # Another venue: neither its lists, nor its log, nor its actions.
    assert client.get("/kiosk/desk?venue=OTHER").status_code == 404
    assert client.get("/kiosk/log?venue=OTHER").status_code == 404
    assert client.get("/kiosk/events?venue=OTHER").status_code == 404
    assert client.post(f"/kiosk/visits/{at_other.id}/review",
                       data={"decision": "admit", "venue": "OTHER"}).status_code == 404
    # An id of another venue's visit sent with one's own venue changes nothing either.
    client.post(f"/kiosk/visits/{at_other.id}/review", data={"decision": "admit", "venue": "HQ"})
    client.post(f"/kiosk/visits/{at_other.id}/check-out", data={"venue": "ANNEX"})
    session.expire_all()
    assert session.get(Visit, at_other.id).status == "needs_review"
    assert session.get(Visit, at_other.id).checked_out_at is None
    # Their own venue's visitor is checked out from that venue's desk.
    response = client.post(f"/kiosk/visits/{at_annex.id}/check-out", data={"venue": "ANNEX"})
    assert response.headers["Location"].endswith("/kiosk/desk?venue=ANNEX")
    session.expire_all()
    assert session.get(Visit, at_annex.id).closed_by == "staff"


def test_one_venue_keeps_the_desk_simple_and_none_says_so(client, make_venue, make_user, login):
    make_venue(code="HQ", name="Trụ sở")
    make_venue(code="ANNEX", name="Nhà B")
    login(make_user("receptionist", username="mot", venue_codes=["HQ"]))
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert 'id="desk-venues"' not in page and "Bàn lễ tân — Trụ sở" in page
    client.post("/logout")
    login(make_user("receptionist", username="khong", venue_codes=[]))
    response = client.get("/kiosk/desk")
    assert response.status_code == 403
    assert "chưa được phân công địa điểm" in response.get_data(as_text=True)


def test_an_admin_sees_every_venue(client, make_venue, make_user, login):
    make_venue(code="HQ", name="Trụ sở")
    make_venue(code="ANNEX", name="Nhà B")
    login(make_user("admin", username="quantri"))
    page = client.get("/kiosk/desk").get_data(as_text=True)
    assert "Trụ sở" in page and "Nhà B" in page and 'id="desk-venues"' in page


def test_the_desk_links_to_the_staff_members_own_password_page(app, client, venue,
                                                               receptionist):
    page = client.get("/kiosk/desk").get_data(as_text=True)
    if "core.change_own_password" in app.view_functions:
        assert 'href="/account/password"' in page and "Đổi mật khẩu" in page
    else:  # not built yet on this checkout: no dead link
        assert "Đổi mật khẩu" not in page
