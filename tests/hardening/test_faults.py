"""Faults of the database under a check-in: another process holding SQLite's write lock, and a
full disk. Each answers a clear bilingual 503 (never a 500, never an acknowledgement), shows in
/healthz, stores nothing half-way, and check-ins work again once the fault is gone."""
from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command

from app import create_app
from core.cli import alembic_config
from core.db import db
from core.models import Venue
from tests.conftest import T0
from tests.hardening.faults_support import (
    seed_visitors,
    sqlite_integrity,
    sqlite_path,
    staff_token,
    visits_by_id,
)
from tests.support.databases import dialect, scratch_database

sqlite_only = pytest.mark.skipif(
    dialect() != "sqlite",
    reason="SQLite-only fault: the kiosk's embedded database (PostgreSQL has no file lock or "
           "page limit to play with)")


def checkin(client, token: str, payload: str, venue_code: str = "HQ"):
    return client.post("/api/v1/checkins", json={"venue_code": venue_code, "payload": payload},
                       headers={"Authorization": f"Bearer {token}"})


def health(client) -> tuple[int, str]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()["components"]["db"]


def assert_bilingual_503(response, code: str) -> dict:
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code
    assert "visit_id" not in body  # not an acknowledgement
    assert body["message_vi"] and body["message_en"]
    assert body["message_vi"] != body["message_en"]
    assert body["message"] == body["message_vi"]  # Vietnamese first
    assert int(response.headers["Retry-After"]) >= 1
    return body


# --- a locked database ------------------------------------------------------------------------

@sqlite_only
@pytest.mark.parametrize("app_config", [{"DATABASE_BUSY_TIMEOUT_S": 0.3}])
def test_a_check_in_while_another_writer_holds_the_lock(app, client, session, clock,
                                                        database_url, make_venue):
    venue = make_venue(code="HQ", name="Trụ sở chính")
    token = staff_token(session, now=T0)
    first, second = seed_visitors(app, session, 2, now=T0)
    done = checkin(client, token, first.token)
    assert done.status_code == 200 and done.get_json()["action"] == "check_in"
    before = visits_by_id(database_url)
    assert health(client) == (200, "ok")

    # Another process (a backup, a stuck script) takes the write lock and keeps it for longer
    # than the busy timeout.
    locker = sqlite3.connect(sqlite_path(database_url), timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        refused = checkin(client, token, second.token)
        body = assert_bilingual_503(refused, "database_busy")
        assert body["message_vi"].startswith("Cơ sở dữ liệu đang bận")
        assert body["message_en"].startswith("The database is busy")
        assert visits_by_id(database_url) == before  # readers still see: nothing was stored
        assert health(client) == (503, "busy")
        english = client.post("/api/v1/checkins", json={"venue_code": "HQ",
                                                        "payload": second.token},
                              headers={"Authorization": f"Bearer {token}",
                                       "Accept-Language": "en"})
        assert english.status_code == 503
    finally:
        locker.rollback()
        locker.close()

    assert health(client) == (200, "ok")
    retried = checkin(client, token, second.token)
    assert retried.status_code == 200, retried.get_json()
    answer = retried.get_json()
    assert answer["action"] == "check_in"
    after = visits_by_id(database_url)
    assert after[answer["visit_id"]] == (second.visitor_id, venue.id)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing lost
    assert len(after) == len(before) + 1  # checked in exactly once


def test_database_faults_are_recognised_and_nothing_else_is():
    from core.db import database_fault

    def sqlite_error(message):
        return sa.exc.OperationalError("INSERT …", {}, sqlite3.OperationalError(message))

    assert database_fault(sqlite_error("database is locked")) == "database_busy"
    assert database_fault(sqlite_error("database or disk is full")) == "storage_full"
    assert database_fault(sqlite_error("disk I/O error")) == "storage_error"
    assert database_fault(sqlite_error("no such table: visit")) is None  # a bug stays a bug
    assert database_fault(ValueError("database is locked")) is None


def test_a_lost_postgresql_server_is_a_503(tmp_path):
    """A central server whose PostgreSQL went away answers 503 database_unavailable, in both
    languages, to the check-in API and to /healthz (nobody listens on port 9)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": "postgresql://kiosk@127.0.0.1:9/khaibao",
                      "CAMERA_SOURCE": "none", "BLE": "off"})
    client = app.test_client()
    try:
        response = checkin(client, "kb_nobody", "KB2.eyJ2IjoxfQ.c2ln")
        body = assert_bilingual_503(response, "database_unavailable")
        assert body["message_en"].startswith("The database cannot be reached")
        assert health(client) == (503, "error: database_unavailable")
    finally:
        db.dispose(app)


# --- a full disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """An app on a fresh, compacted SQLite database whose size is capped per connection with
    PRAGMA max_page_count: the disk is "full" as soon as a write needs one more page.
    `small_disk.free_space()` lifts the cap (space was freed)."""
    if dialect() != "sqlite":
        pytest.skip("SQLite-only fault: the kiosk's embedded database (a full disk on a "
                    "PostgreSQL server is its administrator's alarm)")
    with scratch_database(tmp_path) as url:
        alembic_command.upgrade(alembic_config(url), "head")
        with sqlite3.connect(sqlite_path(url)) as connection:
            connection.execute("VACUUM")  # no free pages left over from the migrations
        connection.close()
        app = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret-key", "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path / "instance"), "WTF_CSRF_ENABLED": False,
            "CAMERA_SOURCE": "none", "BLE": "off",
        })
        limit = {"pages": None}

        def cap(dbapi_connection, record, proxy):
            pages = limit["pages"] or 1073741823  # SQLite's default maximum
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}").fetchone()

        sa.event.listen(db.engine(app), "checkout", cap)

        class Disk:
            url_ = url

            @staticmethod
            def fill() -> None:
                with sqlite3.connect(sqlite_path(url)) as connection:
                    (pages,) = connection.execute("PRAGMA page_count").fetchone()
                connection.close()
                limit["pages"] = pages

            @staticmethod
            def free_space() -> None:
                limit["pages"] = None

        Disk.app = app
        try:
            yield Disk
        finally:
            db.dispose(app)


def test_a_full_disk_refuses_check_ins_cleanly_and_recovers(small_disk):
    from core.clock import ManualClock

    app, url = small_disk.app, small_disk.url_
    app.extensions["clock"] = ManualClock(T0)
    client = app.test_client()
    with db.new_session(app) as session:
        session.add(Venue(code="HQ", name="Trụ sở chính", created_at=T0))
        session.commit()
        venue_id = session.exec(sa.select(Venue.id)).one()[0]
        token = staff_token(session, now=T0)
        people = seed_visitors(app, session, 150, now=T0)
    warm = checkin(client, token, people[0].token)  # the kiosk's device row, made on first use
    assert warm.status_code == 200
    acknowledged = {warm.get_json()["visit_id"]: people[0].visitor_id}

    small_disk.fill()
    refused = None
    for person in people[1:]:
        response = checkin(client, token, person.token)
        if response.status_code == 200:  # room left in a page already there
            acknowledged[response.get_json()["visit_id"]] = person.visitor_id
            continue
        refused = (person, response)
        break
    assert refused is not None, "the capped database never filled up"
    person, response = refused
    body = assert_bilingual_503(response, "storage_full")
    assert body["message_en"].startswith("The kiosk's storage is full")
    assert body["message_vi"].startswith("Bộ nhớ của máy kiosk đã đầy")
    assert health(client) == (503, "error: storage_full")
    visits = visits_by_id(url)
    assert person.visitor_id not in {v for v, _ in visits.values()}  # nothing half-written
    assert sqlite_integrity(url) == ([("ok",)], [])

    small_disk.free_space()
    retried = checkin(client, token, person.token)
    assert retried.status_code == 200, retried.get_json()
    acknowledged[retried.get_json()["visit_id"]] = person.visitor_id
    assert health(client) == (200, "ok")
    visits = visits_by_id(url)
    assert {visit_id: visits[visit_id] for visit_id in acknowledged} == {
        visit_id: (visitor_id, venue_id) for visit_id, visitor_id in acknowledged.items()}
    assert len(visits) == len(acknowledged)
    assert sqlite_integrity(url) == ([("ok",)], [])


def test_the_busy_timeout_is_configurable_and_checked(tmp_path, monkeypatch):
    from core.settings import ConfigError

    monkeypatch.setenv("KIOSK_DATABASE_BUSY_TIMEOUT_S", "2.5")
    app = create_app({"SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    assert app.config["DATABASE_BUSY_TIMEOUT_S"] == 2.5
    assert app.extensions["db"].busy_timeout_s == 2.5
    monkeypatch.setenv("KIOSK_DATABASE_BUSY_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="KIOSK_DATABASE_BUSY_TIMEOUT_S"):
        create_app({"SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
