"""A kiosk forwards everything it records to the central server: captured by triggers in the
same transaction, pushed in batches, stored once on the central server whatever the order or
repetition, and nothing lost when the central server cannot be reached."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import select

from core.db import db
from core.models import Kiosk, Venue
from declarations.models import Declaration
from sync import outbox
from sync.models import SyncDevice, SyncOutbox
from tests.conftest import T0
from tests.sync.conftest import declare
from visits.models import Visit, Visitor


def _count(app, model) -> int:
    with db.new_session(app) as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _uids(app, model) -> set[str]:
    with db.new_session(app) as session:
        return set(session.execute(sa.select(model.uid)).scalars())


def _sync_once(kiosk):
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    lines = result.output.strip().splitlines()
    return result.exit_code, json.loads(lines[-1]) if lines else None


def test_changes_are_captured_in_the_writing_transaction_and_not_when_it_rolls_back(
        app, session, make_venue, make_visitor):
    """On the suite's database (SQLite and PostgreSQL triggers alike)."""
    venue = make_venue(code="HQ")
    make_visitor(full_name="Trước khi bật")  # before capture: copied when it is switched on
    assert outbox.enable_capture(session=session, now=T0) == 1
    visitor = make_visitor(full_name="Lê Văn Cường", phone_e164="+84987654321",
                           id_number="001190054321")
    entries = session.exec(select(SyncOutbox).order_by(SyncOutbox.seq)).all()
    assert [(e.table_name, e.op) for e in entries] == [("visitor", "insert"),
                                                       ("visitor", "insert")]
    assert entries[1].row_uid == visitor.uid
    session.add(Visit(visitor_id=visitor.id, venue_id=venue.id, checked_in_at=T0,
                      opened_by="scan"))
    session.flush()
    session.rollback()  # the check-in fails: nothing of it is forwarded
    assert _count(app, SyncOutbox) == 2
    visit = Visit(visitor_id=visitor.id, venue_id=venue.id, checked_in_at=T0, opened_by="scan")
    session.add(visit)
    session.commit()
    visit.checked_out_at = T0.replace(hour=5)
    visit.closed_by = "scan"
    session.add(visit)
    session.commit()
    ops = [(e.table_name, e.row_uid, e.op) for e in session.exec(
        select(SyncOutbox).order_by(SyncOutbox.seq)).all()][2:]
    assert ops == [("visit", visit.uid, "insert"), ("visit", visit.uid, "update")]
    # Deleting never forwards anything (a kiosk forgets what the central server keeps).
    session.delete(visit)
    session.commit()
    assert _count(app, SyncOutbox) == 4


def test_the_triggers_exist_at_the_head_revision(app):
    with db.new_session(app) as session:
        if session.get_bind().dialect.name == "sqlite":
            names = set(session.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        else:
            names = set(session.execute(sa.text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    for table in ("visitor", "declaration", "visit", "encounter", "audit_event"):
        assert {f"sync_{table}_insert", f"sync_{table}_update"} <= names, table


def test_a_kiosk_forwards_its_visits_once_and_the_central_server_names_its_door(
        app, central, make_venue, enrol, make_kiosk):
    make_venue(code="HQ", name="Trụ sở chính")
    token = enrol("HQ", "Cổng A")
    kiosk = make_kiosk("a", central_url=central.url, token=token)
    first = declare(kiosk)
    declare(kiosk, full_name="Trần Thị Bình", phone="0987654321", id_number="001190054321")
    # The first visitor leaves (staff check-out on the kiosk).
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    code, answer = _sync_once(kiosk)
    assert code == 0 and answer["pending"] == 0 and answer["pushed"] >= 6
    assert _uids(app, Visit) == _uids(kiosk, Visit) and len(_uids(app, Visit)) == 2
    assert _uids(app, Visitor) == _uids(kiosk, Visitor)
    assert _uids(app, Declaration) == _uids(kiosk, Declaration)
    with db.new_session(app) as session:
        visit = session.exec(select(Visit).join(Visitor, Visitor.id == Visit.visitor_id)
                             .where(Visitor.full_name == "Nguyễn Văn An")).one()
        kiosk_row = session.get(Kiosk, visit.kiosk_id)
        assert kiosk_row.name == "Cổng A"
        assert session.get(Venue, visit.venue_id).code == "HQ"
        assert visit.declaration_id is not None
    # Nothing new: nothing sent, and a second run stores nothing twice.
    assert _sync_once(kiosk) == (0, {"pushed": 0, "pulled": 0, "pending": 0})
    assert _count(app, Visit) == 2
    del first


def test_changes_after_a_push_follow_and_a_closed_visit_arrives_closed(
        app, central, make_venue, enrol, make_kiosk):
    make_venue(code="HQ")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declared = declare(kiosk)
    assert _sync_once(kiosk)[0] == 0
    with db.new_session(kiosk) as session:
        visit = session.get(Visit, declared["visit_id"])
        visit.checked_out_at = visit.checked_in_at.replace(microsecond=0) + (T0 - T0.replace(
            hour=1))
        visit.closed_by = "staff"
        session.add(visit)
        session.commit()
        uid = visit.uid
    assert _sync_once(kiosk)[1]["pushed"] == 1
    with db.new_session(app) as session:
        stored = session.exec(select(Visit).where(Visit.uid == uid)).one()
        assert stored.closed_by == "staff" and stored.checked_out_at is not None


def test_unreachable_central_server_exits_2_and_keeps_every_change(make_kiosk):
    kiosk = make_kiosk("a", central_url="http://127.0.0.1:9", token="kbd_x")
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declare(kiosk)
    before = _count(kiosk, SyncOutbox)
    code, answer = _sync_once(kiosk)
    assert code == 2
    assert answer == {"pushed": 0, "pulled": 0, "pending": before} and before >= 3


def test_a_revoked_device_is_refused_at_once_and_keeps_its_backlog(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as kiosk_session:
        outbox.enable_capture(session=kiosk_session, now=T0)
    declare(kiosk)
    assert _sync_once(kiosk)[0] == 0
    device = session.exec(select(SyncDevice)).one()
    result = app.test_cli_runner().invoke(args=["device", "revoke", str(device.id)])
    assert result.exit_code == 0, result.output
    declare(kiosk, full_name="Trần Thị Bình", phone="0987654321", id_number="001190054321")
    code, answer = _sync_once(kiosk)
    assert code == 1 and answer["pushed"] == 0 and answer["pending"] >= 3
    assert _count(app, Visit) == 1


def test_updates_of_rows_with_json_columns_are_captured(app, session, make_venue, make_visitor):
    """Declarations and audit entries hold JSON (PostgreSQL's json has no equality operator)."""
    from core.audit import record_audit

    make_venue(code="HQ")
    outbox.enable_capture(session=session, now=T0)
    event = record_audit(session=session, now=T0, actor="cli:test", action="visit.close_all",
                         target_type="venue", target_id=1, row_count=3)
    session.commit()
    event.row_count = 4
    session.add(event)
    session.commit()
    ops = [(e.table_name, e.op) for e in session.exec(select(SyncOutbox).order_by(
        SyncOutbox.seq)).all()]
    assert ops == [("audit_event", "insert"), ("audit_event", "update")]
