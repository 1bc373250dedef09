"""The door's check-in stays lean: a guard on how many SQL statements one check-in through
POST /api/v1/checkins sends (counted with SQLAlchemy's before_cursor_execute), so a change that
reads the same row twice or goes back to object-by-object flushes fails here."""
from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event

from core.db import db
from tests.conftest import T0

# A receptionist's script checking a visitor in with their personal code: the venue; the
# visitor with their latest declaration (and whether an exposure notice waits for them); their
# stay at the venue; the visitor's lock; the insert (only if no visit is open); the phone link.
# The bearer token is looked up once and then served from the process's short cache; with no
# notice waiting, nothing is read after the commit.
MAX_CHECKIN_STATEMENTS = 6


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
    assert len(statements) <= MAX_CHECKIN_STATEMENTS, "\n".join(statements)
