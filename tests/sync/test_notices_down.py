"""Exposure notices reach the doors: a tracer marks a case on the central server; the contact's
next scan at any door of the installation carries the amber card (once), the tracer sees it as
shown, and the other doors drop it; nobody else gets a card; the door keeps nothing after."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import select

from core.auth import create_user, issue_api_token
from core.db import db
from notices.models import DoorNotice, ExposureNotice
from notices.worker import delivery_settings
from tests.conftest import PASSWORD, T0
from tests.sync.conftest import declare
from tracing.notify import notify_exposure
from visits.models import Visit, Visitor

PEOPLE = {  # key: (name, CCCD, phone)
    "case": ("Lê Văn Ca", "001090000001", "0912000001"),
    "contact": ("Phạm Thị Bích", "001190000002", "0912000002"),
    "later": ("Đỗ Văn Em", "001090000005", "0912000005"),
}


def _desk(kiosk) -> str:
    with db.new_session(kiosk) as session:
        user = create_user(session=session, username="letan", role="receptionist",
                           password=PASSWORD, venue_codes=["HQ"], now=T0)
        return issue_api_token(session=session, user=user, now=T0)


def _sync(kiosk) -> dict:
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_a_notice_made_centrally_is_shown_once_at_whichever_door_the_contact_scans(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở UBND phường Cửa Nam", closing_time=None)
    a = make_kiosk("a", central_url=central.url, token=enrol(name="Cổng A"))
    b = make_kiosk("b", central_url=central.url, token=enrol(name="Cổng B"))
    bearers = {a: _desk(a), b: _desk(b)}
    codes = {}
    for key, (name, cccd, phone) in PEOPLE.items():
        codes[key] = declare(a, full_name=name, id_number=cccd, phone=phone,
                             gender="female" if cccd[3] == "1" else "male")["token"]
    _sync(a)
    # On the central server: the case and the contact overlapped an hour yesterday morning;
    # the third visitor came after the case had left.
    yesterday = datetime.now().astimezone() - timedelta(days=1)
    at = lambda h, m: yesterday.replace(hour=h, minute=m, second=0, microsecond=0)  # noqa: E731
    visits = {}
    for key, (start, end) in {"case": (at(9, 0), at(10, 30)), "contact": (at(9, 30), at(11, 0)),
                              "later": (at(14, 0), at(15, 0))}.items():
        visitor = session.exec(select(Visitor).where(Visitor.full_name == PEOPLE[key][0])).one()
        visit = session.exec(select(Visit).where(Visit.visitor_id == visitor.id)).one()
        visit.checked_in_at, visit.checked_out_at = start, end
        session.add(visit)
        visits[key] = visit
    session.commit()
    result = notify_exposure(session=session, visit_ids=[visits["case"].id], before_min=0,
                             after_min=30, min_overlap_min=15,
                             settings=delivery_settings(app), actor="tracer",
                             now=datetime.now().astimezone())
    assert [row["full_name"] for row in result["notified"]] == ["Phạm Thị Bích"]

    # Both doors hear of it at their next round (by the contact's uid only).
    for kiosk in (a, b):
        _sync(kiosk)
        with db.new_session(kiosk) as kiosk_session:
            [waiting] = kiosk_session.exec(select(DoorNotice)).all()
            assert waiting.venue_name == "Trụ sở UBND phường Cửa Nam"

    def scan(kiosk, key):
        response = kiosk.test_client().post(
            "/api/v1/checkins", json={"venue_code": "HQ", "payload": codes[key]},
            headers={"Authorization": f"Bearer {bearers[kiosk]}"},
            environ_base={"REMOTE_ADDR": "192.0.2.30"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    # The contact comes back by door B, offline: the card is there, saying where and when,
    # never who the case was. The other visitors get no card.
    b.config["CENTRAL_URL"] = "http://127.0.0.1:9"
    answer = scan(b, "contact")
    assert answer["action"] in ("check_in", "check_out")
    if answer["action"] == "check_out":  # still inside from the declaration: in again
        answer = scan(b, "contact")
    assert answer["action"] == "check_in", answer
    assert answer["notice"]["title"] == "Thông báo y tế: bạn có thể đã tiếp xúc với nguồn lây"
    assert "Trụ sở UBND phường Cửa Nam" in answer["notice"]["where_when"]
    assert "Lê Văn Ca" not in json.dumps(answer, ensure_ascii=False)
    b.config["CENTRAL_URL"] = central.url
    _sync(b)
    session.expire_all()
    [notice] = session.exec(select(ExposureNotice)).all()
    assert notice.seen_at_kiosk_at is not None  # the tracer sees it shown
    with db.new_session(b) as kiosk_session:
        assert kiosk_session.exec(select(DoorNotice)).all() == []  # the door keeps nothing
    _sync(a)
    with db.new_session(a) as kiosk_session:
        assert kiosk_session.exec(select(DoorNotice)).all() == []  # shown elsewhere: dropped


def test_a_device_cannot_mark_notices_with_a_bad_list_or_without_a_credential(
        app, central, make_venue, enrol, make_kiosk):
    from sync.client import CentralClient, Refused

    make_venue(code="HQ", name="Trụ sở", closing_time=None)
    token = enrol()
    for client, body, expected in (
            (CentralClient(central.url, token), {"notices": [{"id": "1 OR 1=1"}]},
             (422, "invalid_notices")),
            (CentralClient(central.url, token), {"notices": "all"}, (422, "invalid_notices")),
            (CentralClient(central.url, "kbd_forged"), {"notices": []},
             (401, "device_unauthorized"))):
        try:
            client.call("POST", "/api/v1/sync/notices/shown", body)
        except Refused as exc:
            assert (exc.status, exc.code) == expected
        else:
            raise AssertionError(f"accepted {body}")
