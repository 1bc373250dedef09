"""The shared CLI: venues and the first-run seed."""
from __future__ import annotations

from sqlmodel import select

from core.models import User, Venue


def test_venue_create_and_list_keep_vietnamese(runner):
    result = runner.invoke(args=["venue", "create", "--code", "ubnd-hk", "--name",
                                 "UBND phường Hoàn Kiếm", "--address", "126 Đinh Tiên Hoàng"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["venue", "list"])
    assert "UBND-HK\tUBND phường Hoàn Kiếm\t126 Đinh Tiên Hoàng" in result.output


def test_duplicate_or_bad_venue_code_is_an_error_and_changes_nothing(runner, session):
    assert runner.invoke(args=["venue", "create", "--code", "A1", "--name", "Một"]).exit_code == 0
    result = runner.invoke(args=["venue", "create", "--code", "a1", "--name", "Hai"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(args=["venue", "create", "--code", "có dấu", "--name", "Ba"])
    assert result.exit_code != 0 and "venue code" in result.output
    assert session.exec(select(Venue.name)).all() == ["Một"]


def test_seed_creates_demo_and_admin_once(runner, session, client):
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0
    assert "created venue DEMO" in first.output
    password = first.output.split("password: ")[1].strip()
    second = runner.invoke(args=["seed"])
    assert second.exit_code == 0 and second.output == ""
    assert len(session.exec(select(User)).all()) == 1
    response = client.post("/login", data={"username": "admin", "password": password})
    assert response.status_code == 302


def test_venue_with_automatic_checkout_rules(runner, session):
    result = runner.invoke(args=["venue", "create", "--code", "SO-YTE", "--name", "Sở Y tế",
                                 "--closing-time", "17:30", "--max-stay-min", "240"])
    assert result.exit_code == 0, result.output
    venue = session.exec(select(Venue).where(Venue.code == "SO-YTE")).one()
    assert venue.closing_time.strftime("%H:%M") == "17:30"
    assert venue.max_stay_min == 240
    result = runner.invoke(args=["venue", "create", "--code", "X", "--name", "X",
                                 "--closing-time", "5pm"])
    assert result.exit_code != 0 and "18:00" in result.output
