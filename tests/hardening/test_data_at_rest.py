"""Issue 15 point 14: data at rest. The SQLite database and its -wal/-shm files are readable by
the service account only; a privacy deletion or a purge leaves the person readable nowhere in
those files (secure_delete, the WAL truncated); the audit chain is anchored outside the database,
so a rewritten row is detected even when every hash after it was recomputed."""
from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from app import create_app
from core.audit import compute_hash, verify_chain
from core.cli import alembic_config
from core.db import db
from core.models import AuditChainHead, AuditEvent
from tests.conftest import PASSWORD
from tests.support.databases import dialect
from tracing.privacy import erase_visitor
from visits.models import Visitor

ERASED = ("Hoàng Thị Xoá Sạch", "0977111222", "036190777777")
PURGED = ("Đỗ Văn Hết Hạn", "0966333444", "038085555555")


def body(person) -> dict:
    name, phone, id_number = person
    return {"venue_code": "HQ", "lang": "vi", "full_name": name, "birth_year": 1990,
            "gender": "female", "nationality": "VN", "id_number": id_number, "phone": phone,
            "province_code": "01", "ward_code": "00004", "street_address": "Ngõ Riêng Tư 7",
            "travel_14d": False, "symptoms": ["cough"], "exposures": [],
            "consent_processing": True, "consent_sensitive_health": True}


def needles(person) -> list[bytes]:
    from declarations.identity import fold

    name, phone, id_number = person
    return [name.encode(), fold(name).encode(), ("+84" + phone[1:]).encode(),
            id_number.encode()]


def on_disk(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                    if p.exists())


@pytest.fixture
def file_app(tmp_path):
    """An app on its own SQLite file, made as `make run` makes it (default umask 022)."""
    if dialect() != "sqlite":
        pytest.skip("file modes and WAL bytes are SQLite's; PostgreSQL's files are its server's")
    path = tmp_path / "instance" / "kiosk.db"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    old_umask = os.umask(0o022)
    try:
        command.upgrade(alembic_config(url), "head")
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "DATABASE_URL": url,
                          "INSTANCE_PATH": str(tmp_path / "instance"), "WTF_CSRF_ENABLED": False,
                          "PUBLIC_URL": "http://kiosk.test", "CAMERA_SOURCE": "none",
                          "BLE": "off", "PUBLIC_RATE_LIMIT": "100000 per hour",
                          "VENUE_RATE_LIMIT": "100000 per hour"})
        app.db_path = path
        yield app
        db.dispose(app)
    finally:
        os.umask(old_umask)


def test_database_files_are_private_and_deleted_people_leave_no_bytes(file_app):
    from core.clock import ManualClock
    from core.models import Venue
    from tests.conftest import T0

    app, path = file_app, file_app.db_path
    clock = ManualClock(T0)
    app.extensions["clock"] = clock
    with db.new_session(app) as session:
        session.add(Venue(code="HQ", name="Trụ sở", created_at=T0))
        session.commit()
    client = app.test_client()
    for person in (ERASED, PURGED):
        assert client.post("/api/v1/declarations", json=body(person)).status_code == 201
    # While the server runs, the database and its WAL and shared-memory files are private.
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert file.exists(), file
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, (file.name, oct(file.stat().st_mode))
    assert all(n in on_disk(path) for n in needles(ERASED))  # the search finds them first

    with db.new_session(app) as session:
        from core.auth import create_user

        admin = create_user(session=session, username="dpo", role="admin", password=PASSWORD,
                            now=T0)
        victim = session.exec(select(Visitor).where(Visitor.full_name == ERASED[0])).one()
        erase_visitor(session=session, visitor=victim, actor=admin, now=clock.now())
    for needle in needles(ERASED):
        assert needle not in on_disk(path), f"{needle!r} still readable after the deletion"

    clock.advance(days=30)
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    for needle in needles(PURGED):
        assert needle not in on_disk(path), f"{needle!r} still readable after the purge"


def _rewrite_first_event(session) -> None:
    """What someone with write access to the database would do: change an entry and recompute
    every hash after it, and the head, so that the chain alone still verifies."""
    events = list(session.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    events[0].details = {**events[0].details, "channel": "forged"}
    previous = events[0].prev_hash
    for event in events:
        event.prev_hash = previous
        event.hash = compute_hash(event)
        previous = event.hash
        session.add(event)
    head = session.get(AuditChainHead, 1)
    head.last_hash = previous
    session.add(head)
    session.commit()


def audited_reads(app, make_venue, make_user, api_token, clock, n=3):
    """An admin reads a declaration through the API n times: each read is an audit entry."""
    make_venue(code="HQ", name="Trụ sở")
    admin = make_user("admin", username="quantri")
    client = app.test_client()
    declared = client.post("/api/v1/declarations", json=body(ERASED)).get_json()
    bearer = {"Authorization": f"Bearer {api_token(admin)}"}
    for _ in range(n):
        assert client.get(f"/api/v1/declarations/{declared['declaration_id']}",
                          headers=bearer).status_code == 200
        clock.advance(minutes=1)
    return admin


def test_a_rewritten_audit_row_is_detected_through_the_anchor(app, session, runner, make_user,
                                                              make_venue, api_token, clock):
    admin = audited_reads(app, make_venue, make_user, api_token, clock)
    browser = app.test_client()
    browser.post("/login", data={"username": admin.username, "password": PASSWORD})
    assert json.loads(runner.invoke(args=["audit", "verify"]).output)["ok"] is True
    anchor = Path(app.instance_path) / "audit_anchor"
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600

    _rewrite_first_event(session)
    session.info.pop("audit_anchor_path", None)
    assert verify_chain(session=session).ok  # the hashes alone no longer catch it
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert json.loads(result.output)["reason"] == "anchor"
    page = browser.get("/tracing/audit?verify=1").get_data(as_text=True)
    assert "Chuỗi không còn khớp với điểm đầu được lưu bên ngoài cơ sở dữ liệu" in page


def test_a_forged_anchor_file_is_detected(app, runner, make_user, make_venue, api_token,
                                          clock):
    audited_reads(app, make_venue, make_user, api_token, clock, n=1)
    anchor = Path(app.instance_path) / "audit_anchor"
    data = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**data, "hash": "0" * 64}))
    result = runner.invoke(args=["audit", "verify"])
    assert (result.exit_code, json.loads(result.output)["reason"]) == (1, "anchor")
