"""Issue 15 point 3: ids of visitors, declarations and visits are never given again after a delete
(SQLite AUTOINCREMENT; PostgreSQL sequences), a deleted person's QR code and browser cookie name
no one, and a personal QR code never outlives the retention period."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from core.cli import alembic_config
from core.db import create_engine_for_url
from tests.conftest import T0
from tests.hardening.test_takeover import VICTIM, declare
from tests.support.databases import dialect, scratch_database
from tracing.privacy import erase_visitor
from visits.models import Visitor

BODY = {"venue_code": "HQ", "lang": "vi", "full_name": "Nguyễn Văn An", "birth_year": 1990,
        "gender": "male", "nationality": "VN", "id_number": "001090012345",
        "phone": "0912345678", "province_code": "01", "ward_code": "00004",
        "street_address": "Số 1 Tràng Tiền", "travel_14d": False, "symptoms": [],
        "exposures": [], "consent_processing": True, "consent_sensitive_health": True}


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


@pytest.fixture
def link(venue):
    from declarations.venue_links import venue_path

    return venue_path("HQ", "test-secret-key")


@pytest.fixture
def bearer(make_user, api_token):
    return {"Authorization": f"Bearer {api_token(make_user('admin'))}"}


def checkin(client, token, bearer):
    return client.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": token},
                       headers=bearer)


def test_a_deleted_persons_ids_code_and_cookie_are_never_anyone_elses(app, session, link,
                                                                     make_user, bearer, clock):
    first_phone = app.test_client()
    first = first_phone.post("/api/v1/declarations", json=BODY).get_json()
    first_form = declare(first_phone, link, VICTIM)  # and a cookie on this phone
    admin = make_user("admin", username="dpo")
    for visitor_id in {first["visitor_id"]} | {
            v.id for v in session.exec(sa.select(Visitor)).scalars()}:
        erase_visitor(session=session, visitor=session.get(Visitor, visitor_id), actor=admin,
                      now=clock.now())
    clock.advance(minutes=10)

    stranger = dict(BODY, full_name="Trần Thị Bình", gender="female",
                    id_number="001190012345", phone="0987654321")
    second = app.test_client().post("/api/v1/declarations", json=stranger).get_json()
    for key in ("visitor_id", "declaration_id", "visit_id"):
        assert second[key] > first[key], key  # never the deleted person's id again
    # The deleted person's code and cookie name no one: not the new person either.
    refused = checkin(app.test_client(), first["token"], bearer)
    assert refused.get_json()["code"] == "token_unknown_visitor"
    form = first_phone.get(link).get_data(as_text=True)
    assert "Trần Thị Bình" not in form and "0987" not in form
    assert first_phone.get(f"/d/{first_form}").status_code == 404
    assert first_phone.get(f"/d/{second['declaration_id']}").status_code == 404


def test_a_personal_code_never_outlives_the_retention_period(app, client, session, venue,
                                                            bearer, clock):
    assert app.config["RETENTION_DAYS"] == 21
    body = client.post("/api/v1/declarations", json=BODY).get_json()
    clock.advance(hours=2)
    assert checkin(client, body["token"], bearer).get_json()["action"] == "check_out"
    clock.advance(days=21)  # the visitor is still on record (no purge ran), the code is too old
    visits = session.exec(sa.text("SELECT COUNT(*) FROM visit")).scalar_one()
    response = checkin(client, body["token"], bearer)
    answer = response.get_json()
    assert (response.status_code, answer["code"]) == (422, "token_expired")
    assert answer["message_vi"] == "Mã QR đã hết hạn, vui lòng khai báo lại"
    assert answer["message_en"] == "This QR code has expired; please declare again"
    assert session.exec(sa.text("SELECT COUNT(*) FROM visit")).scalar_one() == visits
    assert client.get(f"/qr/{body['token']}.png").status_code == 404
    # A longer KIOSK_TOKEN_MAX_AGE_DAYS does not stretch it past retention either.
    app.config["TOKEN_MAX_AGE_DAYS"] = 60
    assert checkin(client, body["token"], bearer).get_json()["code"] == "token_expired"


def test_the_migration_keeps_the_data_and_stops_reusing_ids(tmp_path):
    """Upgrading a kiosk that holds data: every row stays, references hold, and the largest id
    (deleted afterwards) is not given again."""
    if dialect() != "sqlite":
        pytest.skip("PostgreSQL sequences never reuse a value; the migration is SQLite's")
    with scratch_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "baae84ab864d")
        engine = create_engine_for_url(url)
        at = T0.replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO venue (id, code, name, created_at, is_active) "
                                 "VALUES (1, 'HQ', 'Trụ sở', :at, 1)"), {"at": at})
            for n in (1, 2):
                conn.execute(sa.text(
                    "INSERT INTO visitor (id, uid, full_name, name_folded, nationality, "
                    "created_at, updated_at) VALUES (:n, :uid, 'An', 'an', 'VN', :at, :at)"),
                    {"n": n, "uid": f"{n:024x}", "at": at})
                conn.execute(sa.text(
                    "INSERT INTO declaration (id, visitor_id, venue_id, submitted_at, lang, "
                    "source, travel_14d, symptoms, exposures, declared_for_other, status, "
                    "rules_version, consent_processing, consent_sensitive_health, "
                    "consent_text_version, consent_at) VALUES (:n, :n, 1, :at, 'vi', "
                    "'phone_form', 0, '[]', '[]', 0, 'clear', 'r1', 1, 1, 'c1', :at)"),
                    {"n": n, "at": at})
                conn.execute(sa.text(
                    "INSERT INTO visit (id, visitor_id, venue_id, declaration_id, checked_in_at, "
                    "opened_by, status) VALUES (:n, :n, 1, :n, :at, 'scan', 'clear')"),
                    {"n": n, "at": at})
        engine.dispose()
        command.upgrade(config, "head")
        engine = create_engine_for_url(url)
        try:
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT COUNT(*) FROM visit v JOIN declaration d "
                                            "ON d.id = v.declaration_id JOIN visitor p "
                                            "ON p.id = v.visitor_id")).scalar_one() == 2
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
                # The copied tables keep their triggers (the sync outbox's).
                triggers = set(conn.execute(sa.text(
                    "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")).scalars())
                assert {"visitor", "declaration", "visit", "encounter"} <= triggers
                for table in ("visit", "declaration", "visitor"):
                    conn.execute(sa.text(f"DELETE FROM {table} WHERE id = 2"))
                conn.execute(sa.text(
                    "INSERT INTO visitor (uid, full_name, name_folded, nationality, created_at, "
                    "updated_at) VALUES (:uid, 'Bình', 'binh', 'VN', :at, :at)"),
                    {"uid": "f" * 24, "at": at})
                new_id = conn.execute(sa.text("SELECT id FROM visitor WHERE uid = :uid"),
                                      {"uid": "f" * 24}).scalar_one()
            assert new_id == 3
        finally:
            engine.dispose()
