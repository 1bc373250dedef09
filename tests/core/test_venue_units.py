"""Venues lie in an administrative unit from the built-in list: chosen with pickers on the admin
pages or given as a ward code on the command line, never typed; a wrong one is refused in both
languages and changes nothing; existing venues are placed by the migration when their free-text
unit names exactly one ward."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from core.cli import alembic_config
from core.db import create_engine_for_url
from core.models import Venue
from tests.support.databases import scratch_database


def test_venue_create_with_a_ward_code_places_it_in_its_ward_and_province(runner, session):
    result = runner.invoke(args=["venue", "create", "--code", "UBND-HK", "--name",
                                 "UBND phường Hoàn Kiếm", "--ward-code", "00070"])
    assert result.exit_code == 0, result.output
    assert session.exec(select(Venue.ward_code).where(Venue.code == "UBND-HK")).one() == "00070"
    assert "UBND-HK\tUBND phường Hoàn Kiếm\t\t00070" in runner.invoke(args=["venue", "list"]).output


def test_an_unknown_ward_code_is_refused_in_both_languages_and_stores_nothing(runner, session):
    result = runner.invoke(args=["venue", "create", "--code", "X1", "--name", "Một",
                                 "--ward-code", "99999"])
    assert result.exit_code != 0
    assert "Không có phường/xã mã 99999" in result.output
    assert "No ward or commune with code 99999" in result.output
    assert session.exec(select(Venue)).all() == []


def test_admin_picks_province_then_ward_and_the_list_names_them(client, session, make_user,
                                                                 login):
    login(make_user("admin"))
    page = client.get("/admin/venues").get_data(as_text=True)
    # Pickers, not a typed unit: every province is an option, the ward list waits for one.
    assert 'id="province_code" name="province_code"' in page and '<select id="ward_code"' in page
    assert '<option value="01">Thành phố Hà Nội</option>' in page
    assert 'data-wards-url="/api/v1/admin-units/provinces/__code__/wards"' in page
    # Without script the server lists the wards of the province chosen after a send.
    again = client.post("/admin/venues", data={"code": "", "name": "", "province_code": "01"})
    assert '<option value="00070">Phường Hoàn Kiếm</option>' in again.get_data(as_text=True)
    response = client.post("/admin/venues", data={
        "code": "UBND-HK", "name": "UBND phường Hoàn Kiếm", "province_code": "01",
        "ward_code": "00070"})
    assert response.status_code == 302
    assert session.exec(select(Venue.ward_code)).one() == "00070"
    listing = client.get("/admin/venues").get_data(as_text=True)
    assert "Phường Hoàn Kiếm, Thành phố Hà Nội" in listing
    edit = client.get("/admin/venues/UBND-HK").get_data(as_text=True)
    assert '<option selected value="01">' in edit and '<option selected value="00070">' in edit


def test_a_ward_of_another_province_is_refused_and_changes_nothing(client, session, make_user,
                                                                   login, make_venue):
    venue = make_venue(code="SYT", name="Sở Y tế", ward_code="00070")
    login(make_user("admin"))
    response = client.post("/admin/venues/SYT", data={
        "name": "Sở Y tế", "province_code": "79", "ward_code": "00070"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Phường/xã không thuộc tỉnh/thành phố đã chọn" in page
    assert "The ward or commune is not in the chosen province" in page
    session.refresh(venue)
    assert venue.ward_code == "00070"
    created = client.post("/admin/venues", data={"code": "NEW", "name": "Mới",
                                                 "province_code": "01", "ward_code": ""})
    assert "Chọn phường/xã của địa điểm" in created.get_data(as_text=True)
    assert session.exec(select(Venue).where(Venue.code == "NEW")).first() is None


def test_the_migration_places_existing_venues_whose_unit_names_one_ward(tmp_path):
    with scratch_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "72800c46874e")  # before venues had a ward
        engine = create_engine_for_url(url)
        try:
            with engine.begin() as conn:
                for code, unit in (("A", "Phường Cửa Nam"), ("B", "Công ty ABC"), ("C", None),
                                   ("D", "Phường Việt Hưng")):  # several wards have this name
                    conn.execute(sa.text(
                        "INSERT INTO venue (code, name, unit, is_active, created_at) "
                        "VALUES (:code, 'x', :unit, true, '2026-12-01 00:00:00')"),
                        {"code": code, "unit": unit})
            command.upgrade(config, "head")
            with engine.connect() as conn:
                placed = dict(conn.execute(sa.text("SELECT code, ward_code FROM venue")).all())
        finally:
            engine.dispose()
    assert placed == {"A": "00073", "B": None, "C": None, "D": None}
