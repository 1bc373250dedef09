"""The central server stores a device's batches once, whatever arrives twice or late, refuses
rows that do not fit (one by one, with a reason) and rows of another venue, and answers a bad
credential with 401 before reading anything."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from core.db import db
from sync import batch, outbox
from sync.models import SyncAuditEvent, SyncOutbox
from tests.conftest import T0
from tests.sync.conftest import declare
from visits.models import Visit, Visitor


def _counts(app) -> tuple[int, int]:
    with db.new_session(app) as session:
        return tuple(session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
                     for m in (Visitor, Visit))


def _batches(kiosk, size: int) -> list[dict]:
    with db.new_session(kiosk) as session:
        entries = outbox.next_entries(session, 10_000)
        return [{"last_seq": entries[i:i + size][-1].seq,
                 "rows": batch.build(session, entries[i:i + size])}
                for i in range(0, len(entries), size)]


def _push(client, token, body):
    return client.post("/api/v1/sync/push", json=body,
                       headers={"Authorization": f"Bearer {token}"})


def test_batches_late_and_twice_are_stored_once_and_a_closed_visit_stays_closed(
        app, client, make_venue, enrol, make_kiosk):
    make_venue(code="HQ")
    token = enrol()
    kiosk = make_kiosk("a")
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declared = [declare(kiosk, full_name=f"Khách {name}", phone=f"09123456{i:02d}",
                        id_number=f"0010900123{i:02d}")
                for i, name in enumerate(("An", "Bình", "Cường"))]
    early = _batches(kiosk, 2)  # each batch carries the rows its entries need (parents too)
    with db.new_session(kiosk) as session:  # the first visitor leaves
        visit = session.get(Visit, declared[0]["visit_id"])
        visit.checked_out_at = visit.checked_in_at + (T0.replace(hour=3) - T0)
        visit.closed_by = "scan"
        session.add(visit)
        session.commit()
        closed_uid = visit.uid
    late = _batches(kiosk, 100)[-1]  # the check-out, alone at the end of the outbox
    for body in (late, *reversed(early), late, *early):  # newest first, then again, twice
        response = _push(client, token, body)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rejected"] == []
    assert _counts(app) == (3, 3)
    with db.new_session(app) as session:
        stored = session.exec(select(Visit).where(Visit.uid == closed_uid)).one()
        assert stored.closed_by == "scan" and stored.checked_out_at is not None


def test_rows_that_do_not_fit_are_refused_one_by_one(app, client, make_venue, enrol, make_kiosk):
    make_venue(code="HQ")
    make_venue(code="OTHER")
    token = enrol()
    kiosk = make_kiosk("a")
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declare(kiosk)
    body = _batches(kiosk, 100)[0]
    good_visit = body["rows"]["visit"][0]
    body["rows"]["visit"] += [
        {**good_visit, "uid": "a" * 24, "checked_in_at": "yesterday"},
        {**good_visit, "uid": "b" * 24, "venue_code": "OTHER"},
        {**good_visit, "uid": "c" * 24, "visitor_uid": "d" * 24},
        "not a row",
    ]
    response = _push(client, token, body)
    assert response.status_code == 200
    reasons = {(r["uid"], r["reason"]) for r in response.get_json()["rejected"]}
    assert reasons == {("a" * 24, "checked_in_at must be a date-time"),
                       ("b" * 24, "another venue's row"), ("c" * 24, "visitor unknown"),
                       (None, "not an object")}
    assert _counts(app) == (1, 1)


def test_the_sync_api_refuses_without_a_device_credential(app, client, make_venue, make_user,
                                                         api_token, enrol):
    make_venue(code="HQ")
    staff_token = api_token(make_user("admin"))
    for headers in ({}, {"Authorization": f"Bearer {staff_token}"},
                    {"Authorization": "Bearer kbd_not-a-credential"}):
        for response in (client.post("/api/v1/sync/push", json={"rows": {}}, headers=headers),
                         client.get("/api/v1/sync/pull", headers=headers)):
            assert response.status_code == 401
            body = response.get_json()
            assert body["code"] == "device_unauthorized"
            assert body["message_vi"] != body["message_en"]


def test_bad_batches_are_a_clear_422_and_store_nothing(app, client, make_venue, enrol):
    make_venue(code="HQ")
    token = enrol()
    for body, code in (({"rows": []}, "invalid_batch"),
                       ({"rows": {"staff_user": []}}, "invalid_batch"),
                       ({"rows": {"visit": [{}] * 5001}}, "batch_too_large")):
        response = _push(client, token, body)
        assert response.status_code == 422, body
        assert response.get_json()["code"] == code
    response = client.get("/api/v1/sync/pull?since=yesterday",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_cursor"
    assert _counts(app) == (0, 0)


def test_audit_entries_of_a_kiosk_reach_the_central_server_with_their_chain(
        app, client, make_venue, enrol, make_kiosk):
    from core.audit import record_audit

    make_venue(code="HQ")
    token = enrol()
    kiosk = make_kiosk("a")
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
        record_audit(session=session, now=T0, actor="cli:test", action="visit.close_all",
                     target_type="venue", target_id=1, row_count=3)
        session.commit()
        assert session.exec(select(SyncOutbox)).one().table_name == "audit_event"
    for _ in range(2):
        assert _push(client, token, _batches(kiosk, 100)[0]).status_code == 200
    with db.new_session(app) as session:
        stored = session.exec(select(SyncAuditEvent)).one()
        assert (stored.action, stored.row_count, stored.seq) == ("visit.close_all", 3, 1)
