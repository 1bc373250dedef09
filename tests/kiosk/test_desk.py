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
def receptionist(make_user, login):
    user = make_user("receptionist", display_name="Chị Mai")
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
    from declarations import admin_units

    ward = admin_units.wards_of("01")[0]
    return {"full_name": "Phạm Thị Lan", "birth_year": "1985", "gender": "female",
            "nationality": "VN", "id_number": "001185012345", "phone": "0987 654 321",
            "province_code": "01", "ward_code": ward.code, "street_address": "Số 5 Hàng Bài",
            "travel_14d": "no", "consent_processing": "yes", "consent_sensitive_health": "yes",
            "consent_text_version": consent_version, **overrides}


def test_manual_check_in_with_the_declaration_schema(client, clock, session, venue,
                                                     receptionist):
    from declarations.models import Declaration
    from kiosk.services import venue_consent_version
    from visits.models import Visitor

    version = venue_consent_version(venue, retention_days=21)
    page = client.get("/kiosk/manual").get_data(as_text=True)
    assert "Họ tên (ghi chữ IN HOA)" in page and 'action="/kiosk/manual"' in page
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
