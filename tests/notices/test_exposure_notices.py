"""Exposure notices, end to end: a tracer marks an index case; the co-present visitors who met the
rule find the notice on their personal page, on their next kiosk scan, in a real SMTP server's
mailbox and at the SMS gateway (a real HTTP server); nobody else gets one; the case is never
named. Delivery is retried with backoff, a failure is shown to the tracer, who can resend."""
from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from sqlmodel import select

from declarations.models import Declaration
from declarations.venue_links import venue_path
from notices.models import Exposure, ExposureNotice
from tests.declarations.test_pages import FORM, SECRET
from visits.models import Visit

LOCAL = "+07:00"
# (key, name, CCCD, phone, e-mail, venue, check-in, check-out) on 10 March 2026, local time.
PEOPLE = [
    ("A", "Lê Văn Ca", "001090000001", "0912 000 001", "", "HQ", "09:00", "10:30"),
    ("B", "Phạm Thị Bích", "001190000002", "0912 000 002", "bich@example.vn", "HQ", "09:10",
     "10:30"),  # 80 minutes with A
    ("C", "Trần Văn Cường", "001090000003", "0912 000 003", "", "HQ", "09:40", "10:00"),  # 20
    ("D", "Ngô Thị Dung", "001190000004", "0912 000 004", "dung@example.vn", "HQ", "10:45",
     "10:50"),  # 5 minutes inside A's 30-minute after-buffer: below the 15-minute rule
    ("E", "Đỗ Văn Em", "001090000005", "0912 000 005", "em@example.vn", "HQ", "12:30",
     "13:00"),  # after A left: no overlap
    ("F", "Hoàng Thị Phương", "001190000006", "0912 000 006", "phuong@example.vn", "ANNEX",
     "09:30", "10:00"),  # same time, another venue
]


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-03-10T{hhmm}:00{LOCAL}")


@pytest.fixture
def app_config(smtp_server, sms_gateway):
    return {"SMTP_URL": smtp_server.url, "SMS_WEBHOOK_URL": sms_gateway.url,
            "NOTICE_SENDER": "khaibao@so-yte.example.vn"}


@pytest.fixture
def scenario(app, session, clock, make_venue):
    """Everyone declares on their own phone (a client each) at their check-in time; the visits
    are then closed at their check-out times."""
    venues = {"HQ": make_venue(code="HQ", name="Trụ sở UBND phường Cửa Nam"),
              "ANNEX": make_venue(code="ANNEX", name="Nhà văn hóa tổ 5")}
    people = {}
    for key, name, cccd, phone, email, venue, start, end in PEOPLE:
        clock.set(at(start))
        phone_client = app.test_client()
        response = phone_client.post(venue_path(venue, SECRET), data={
            **FORM, "full_name": name, "id_number": cccd, "phone": phone, "email": email,
            "gender": "female" if cccd[3] == "1" else "male"})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        declaration_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
        declaration = session.get(Declaration, declaration_id)
        people[key] = {"client": phone_client, "declaration_id": declaration_id,
                       "visitor_id": declaration.visitor_id, "name": name, "end": at(end)}
    session.expire_all()
    for person in people.values():
        visit = session.exec(select(Visit).where(Visit.visitor_id == person["visitor_id"])).one()
        visit.checked_out_at = person["end"]
        session.add(visit)
    session.commit()
    clock.set(at("14:00"))
    return people


def _personal_page(person) -> str:
    return person["client"].get(f"/d/{person['declaration_id']}").get_data(as_text=True)


def _token(page: str) -> str:
    return re.search(r"/qr/([^\"/]+)\.png", page).group(1)


@pytest.fixture
def bearer(make_user, api_token):
    return {"Authorization": "Bearer " + api_token(make_user("receptionist",
                                                             venue_codes=["HQ", "ANNEX"]))}


def test_marking_a_case_notifies_the_co_present_visitors_everywhere(
        runner, client, scenario, smtp_server, sms_gateway, bearer, session):
    tokens = {key: _token(_personal_page(p)) for key, p in scenario.items()}
    result = runner.invoke(args=["trace", "notify", "--phone", "0912000001", "--since",
                                 "2026-03-10", "--until", "2026-03-10"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    by_name = {row["full_name"]: row for row in answer["notified"]}
    assert set(by_name) == {"Phạm Thị Bích", "Trần Văn Cường"}
    assert by_name["Phạm Thị Bích"]["channels"] == {"page": True, "kiosk": True,
                                                    "email": "sent", "sms": "sent"}
    assert by_name["Trần Văn Cường"]["channels"] == {"page": True, "kiosk": True,
                                                     "email": "none", "sms": "sent"}
    assert by_name["Phạm Thị Bích"]["overlap_min"] == 80
    assert answer["not_notified"] == [scenario["D"]["visitor_id"]]  # 5 minutes only

    # The mailbox: one message, to B, in Vietnamese then English, saying where and when.
    [mail] = smtp_server.messages
    assert mail["To"] == "bich@example.vn" and mail["From"] == "khaibao@so-yte.example.vn"
    assert mail["Subject"] == "Thông báo y tế: bạn có thể đã tiếp xúc với nguồn lây"
    body = mail.get_content()
    assert "Trụ sở UBND phường Cửa Nam ngày 10/03/2026 từ 09:10 đến 10:30" in body
    assert "1900 9095" in body and "You were at Trụ sở UBND phường Cửa Nam" in body
    # The SMS gateway: B and C, by their numbers.
    assert sorted(m["to"] for m in sms_gateway.received) == ["+84912000002", "+84912000003"]
    assert all("Trụ sở UBND phường Cửa Nam" in m["message"] for m in sms_gateway.received)
    # Never who the case was: not in any mail, SMS, page or kiosk answer.
    case = scenario["A"]
    for text in [body, *(m["message"] for m in sms_gateway.received)]:
        assert case["name"] not in text and "0912 000 001" not in text

    # Their personal pages, next time they open them.
    for key in ("B", "C"):
        page = _personal_page(scenario[key])
        assert "Thông báo y tế: bạn có thể đã tiếp xúc với nguồn lây" in page
        assert "Vui lòng tự theo dõi sức khỏe trong 14 ngày" in page
        assert case["name"] not in page
    assert "từ 09:40 đến 10:00" in _personal_page(scenario["C"])
    for key in ("A", "D", "E", "F"):
        assert "Thông báo y tế" not in _personal_page(scenario[key])

    # Their next kiosk scan: the answer carries the notice, once.
    def scan(key):
        return client.post("/api/v1/checkins", json={"venue_code": "HQ",
                                                     "payload": tokens[key]}, headers=bearer)
    first = scan("B").get_json()
    assert first["action"] == "check_in"
    assert first["notice"]["title"] == "Thông báo y tế: bạn có thể đã tiếp xúc với nguồn lây"
    assert "từ 09:10 đến 10:30" in first["notice"]["where_when"]
    assert case["name"] not in json.dumps(first, ensure_ascii=False)
    assert "notice" in scan("C").get_json()
    for key in ("D", "E", "F"):
        answer = scan(key).get_json()
        assert answer["action"] == "check_in" and "notice" not in answer
    session.expire_all()
    seen = {n.visitor_id: n for n in session.exec(select(ExposureNotice))}
    assert seen[scenario["B"]["visitor_id"]].seen_at_kiosk_at is not None


def test_a_failed_delivery_is_retried_with_backoff_shown_and_resent(
        app, runner, scenario, smtp_server, sms_gateway, clock, session, make_user, login,
        client):
    from notices.worker import DeliveryWorker

    sms_gateway.status = 503  # the gateway is down
    result = runner.invoke(args=["trace", "notify", "--phone", "0912000001", "--since",
                                 "2026-03-10", "--until", "2026-03-10"])
    answer = json.loads(result.output)
    assert {r["channels"]["sms"] for r in answer["notified"]} == {"pending"}
    worker = DeliveryWorker(app)
    worker.run_once()  # not due yet: the first retry waits 30 s
    session.expire_all()
    assert {n.sms_attempts for n in session.exec(select(ExposureNotice))} == {1}
    for wait_s in (30, 60, 120, 240):  # 30 s, then twice as long each time
        clock.advance(seconds=wait_s - 1)
        worker.run_once()
        session.expire_all()
        assert {n.sms_status for n in session.exec(select(ExposureNotice))} == {"pending"}
        clock.advance(seconds=1)
        worker.run_once()
    session.expire_all()
    notices = session.exec(select(ExposureNotice)).all()
    assert {(n.sms_status, n.sms_attempts) for n in notices} == {("failed", 5)}
    assert sms_gateway.received == []

    login(make_user("tracer"))
    page = client.get("/tracing/notices").get_data(as_text=True)
    assert page.count("gửi không được") == 2 and "Phạm Thị Bích" in page
    assert scenario["A"]["name"] not in page.split("<table")[1]  # the case is not a contact
    sms_gateway.status = 200
    for notice in notices:
        response = client.post(f"/tracing/notices/{notice.id}/resend")
        assert response.status_code == 302
    worker.run_once()
    session.expire_all()
    assert {n.sms_status for n in session.exec(select(ExposureNotice))} == {"sent"}
    assert len(sms_gateway.received) == 2
    assert len(smtp_server.messages) == 2  # B's e-mail: first pass, and again on resend


def test_retention_removes_notices_with_the_people(app, runner, scenario, clock, session):
    runner.invoke(args=["trace", "notify", "--phone", "0912000001", "--since", "2026-03-10",
                        "--until", "2026-03-10", "--no-deliver"])
    assert len(session.exec(select(ExposureNotice)).all()) == 2
    clock.advance(days=30)
    assert runner.invoke(args=["purge"]).exit_code == 0
    session.expire_all()
    assert session.exec(select(ExposureNotice)).all() == []
    assert session.exec(select(Exposure)).all() == []
