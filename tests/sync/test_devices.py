"""Device enrolment on the central server: `device enrol` prints the credential on its last line
(stored only as a hash), `device list` shows devices without their secret, `device revoke`
stops the device's next call; bad input is a bilingual error that creates nothing."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from core.models import Kiosk
from sync.devices import token_sha256
from sync.models import SyncDevice


def test_enrol_list_revoke(app, runner, make_venue, session, client):
    make_venue(code="HQ")
    result = runner.invoke(args=["device", "enrol", "--venue", "hq", "--name", "Cổng A"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("kbd_") and len(token) > 40
    device = session.exec(select(SyncDevice)).one()
    assert device.token_sha256 == token_sha256(token)
    dump = " ".join(str(v) for row in session.execute(sa.text("SELECT * FROM sync_device"))
                    for v in row)
    assert token not in dump  # only its hash is kept
    assert session.get(Kiosk, device.kiosk_id).name == "Cổng A"

    listed = runner.invoke(args=["device", "list"])
    assert listed.exit_code == 0
    line = listed.output.strip()
    assert line.startswith(f"{device.id}\tHQ\tCổng A\t{token[:12]}…") and "active" in line
    assert token not in listed.output

    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/sync/pull", headers=headers).status_code == 200
    revoked = runner.invoke(args=["device", "revoke", str(device.id)])
    assert revoked.exit_code == 0 and f"device {device.id} revoked" in revoked.output
    assert client.get("/api/v1/sync/pull", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["device", "list"]).output


def test_bad_enrolments_are_bilingual_errors_that_create_nothing(app, runner, make_venue,
                                                                 session):
    make_venue(code="HQ")
    runner.invoke(args=["device", "enrol", "--venue", "HQ", "--name", "Cổng A"])
    for args, vi, en in (
            (["--venue", "NOPE", "--name", "x"], "Không có địa điểm nào mang mã này.",
             "There is no venue with this code."),
            (["--venue", "HQ", "--name", "  "], "Tên thiết bị phải dài từ 1 đến 100 ký tự.",
             "The device name must be 1 to 100 characters."),
            (["--venue", "HQ", "--name", "Cổng A"],
             "Địa điểm này đã có một thiết bị mang tên này.",
             "This venue already has a device with this name.")):
        result = runner.invoke(args=["device", "enrol", *args])
        assert result.exit_code == 1
        assert f"{vi} / {en}" in result.output
    assert len(session.exec(select(SyncDevice)).all()) == 1
    result = runner.invoke(args=["device", "revoke", "999"])
    assert result.exit_code == 1 and "Không có thiết bị nào mang số này." in result.output
