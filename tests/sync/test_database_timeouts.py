"""PostgreSQL connect and statement timeouts at their shipped defaults: a central database that is
gone answers a 503 in seconds, and a statement stuck for longer than the statement timeout is
cancelled by the server (a kiosk pointed at a remote database no longer hangs for minutes)."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app import create_app
from core.db import db
from tests.support.databases import server_url


def _app(tmp_path, url, **config):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": url,
                       "INSTANCE_PATH": str(tmp_path / "instance"), "CAMERA_SOURCE": "none",
                       "BLE": "off", **config})


def test_defaults(tmp_path):
    app = _app(tmp_path, "sqlite://")
    assert app.config["DATABASE_CONNECT_TIMEOUT_S"] == 5
    assert app.config["DATABASE_STATEMENT_TIMEOUT_S"] == 30
    assert app.config["SYNC_INTERVAL_S"] == 10
    assert (app.config["SYNC_CONNECT_TIMEOUT_S"], app.config["SYNC_READ_TIMEOUT_S"]) == (5, 20)


def test_a_database_server_that_does_not_answer_is_a_503_within_the_connect_timeout(tmp_path):
    # A routable-looking address nobody answers from (TEST-NET-1): packets vanish, no RST.
    app = _app(tmp_path, "postgresql://postgres@192.0.2.1:5432/khaibao")
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["components"]["db"].startswith("error")
    assert time.monotonic() - started < 5 + 3  # the shipped connect timeout, plus slack


@pytest.mark.skipif(not server_url(), reason="PostgreSQL pass only (DATABASE_URL=postgresql://…)")
def test_a_stuck_statement_is_cancelled_at_the_statement_timeout(app, database_url, tmp_path):
    with db.engine(app).connect() as connection:
        assert connection.execute(sa.text("SHOW statement_timeout")).scalar() == "30s"
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    quick = _app(tmp_path / "quick", database_url, DATABASE_STATEMENT_TIMEOUT_S=1)
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError):
        with db.engine(quick).connect() as connection:
            connection.execute(sa.text("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < 5
    db.dispose(quick)
