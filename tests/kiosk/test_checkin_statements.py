"""The door's check-in stays lean: a guard on how many SQL statements one check-in through
POST /api/v1/checkins sends (counted with SQLAlchemy's before_cursor_execute), so a change that
reads the same row twice or goes back to object-by-object flushes fails here."""
from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event

from core.db import db
from tests.conftest import T0

# A receptionist's script checking a visitor in with their personal code: the visitor with
# their latest declaration (and whether an exposure notice waits for them; on PostgreSQL taking
# the visitor's row lock in the same read); their stay at the venue; the insert (only if no
# visit is open) and the phone link, one statement on PostgreSQL, two on SQLite (whose INSERT
# waits for the one writer's lock: no lock statement). The venue and the bearer token are read
# once and then served from the process's short caches; with no notice waiting, nothing is read
# after the commit.
MAX_CHECKIN_STATEMENTS = {"postgresql": 3, "sqlite": 4}


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@contextlib.contextmanager
def counted(app):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split())[:120])

    engine = db.engine(app)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_checkin_sends_few_statements(app, clock, venue, make_user, api_token, make_visitor,
                                        make_declaration, make_token):
    script = app.test_client()  # a bearer-token caller, not the door's own screen
    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist"))}
    tokens = []
    for n in range(2):
        visitor = make_visitor(full_name=f"Nguyễn Văn {'AB'[n]}", id_number=f"00109001234{n}")
        tokens.append(make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0)))
    clock.advance(minutes=10)
    # The first check-in of the process makes this kiosk's device row and fills the caches.
    first = script.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": tokens[0]},
                        headers=bearer)
    assert first.get_json()["action"] == "check_in"
    with counted(app) as statements:
        response = script.post("/api/v1/checkins",
                               json={"venue_code": "HQ", "payload": tokens[1]}, headers=bearer)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["action"] == "check_in"
    dialect = db.engine(app).dialect.name
    assert len(statements) <= MAX_CHECKIN_STATEMENTS[dialect], "\n".join(statements)


def test_a_syncing_kiosk_forwards_a_check_in_not_the_visitor_again(
        app, clock, venue, make_user, api_token, make_visitor, make_declaration, make_token):
    """A returning visitor's check-in (and check-out) changes their visit, not their record: a
    kiosk that forwards to a central server queues the visit only. (The visitor's lock used to
    be a no-op UPDATE of their row, which SQLite's capture trigger took for an edit: their whole
    record went to the central server again at every scan.)"""
    import sqlalchemy as sa

    from sync import outbox
    from sync.models import SyncOutbox

    script = app.test_client()
    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist"))}
    visitor = make_visitor(full_name="Trần Thị Lan", id_number="001090123499")
    token = make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0))
    with db.new_session(app) as session:
        outbox.enable_capture(session=session, now=T0)
        queued = session.execute(sa.select(sa.func.max(SyncOutbox.seq))).scalar() or 0
    clock.advance(minutes=10)
    for _ in range(2):  # in, then out once the minimum stay has passed
        response = script.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": token},
                               headers=bearer)
        assert response.status_code == 200, response.get_json()
        clock.advance(minutes=30)
    with db.new_session(app) as session:
        tables = session.execute(sa.select(SyncOutbox.table_name, SyncOutbox.op).where(
            SyncOutbox.seq > queued).order_by(SyncOutbox.seq)).all()
    assert [tuple(t) for t in tables] == [("visit", "insert"), ("visit", "update")]
