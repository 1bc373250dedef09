"""A kiosk of an installation keeps forwarded data only as long as the door needs it: once
everything is on the central server, closed visits, encounters and declarations older than
KIOSK_KEEP_FORWARDED_H (24) go, and people left with nothing keep their uid only; open visits,
today's, and flagged visits waiting for a receptionist stay. Nothing is trimmed while anything
is pending, and nothing trimmed is sent to (or lost from) the central server."""
from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from ble_beacon.models import Encounter
from core.auth import create_user, issue_api_token
from core.clock import ManualClock
from core.db import db
from declarations.models import Declaration
from tests.conftest import PASSWORD, T0
from tests.sync.conftest import declare
from visits.models import Visit, Visitor


def _sync(kiosk) -> dict:
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _counts(app_or_kiosk) -> dict:
    with db.new_session(app_or_kiosk) as s:
        return {"visits": len(s.exec(select(Visit)).all()),
                "declarations": len(s.exec(select(Declaration)).all()),
                "encounters": len(s.exec(select(Encounter)).all()),
                "named": sorted(v.full_name for v in s.exec(select(Visitor)) if v.full_name)}


def test_forwarded_data_older_than_the_door_needs_is_trimmed_and_the_code_still_works(
        app, central, make_venue, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    assert kiosk.config["KEEP_FORWARDED_H"] == 24  # the shipped default
    clock = kiosk.extensions["clock"] = ManualClock(T0)
    old = declare(kiosk)  # An: in and out two days ago
    flagged = declare(kiosk, full_name="Trần Thị Bình", id_number="001190054321",
                      phone="0987654321", gender="female", symptoms=["fever"])
    with db.new_session(kiosk) as s:
        s.execute(sa.update(Visit).where(Visit.declaration_id == old["declaration_id"])
                  .values(checked_out_at=T0 + timedelta(hours=1)))
        s.execute(sa.update(Visit).where(Visit.declaration_id == flagged["declaration_id"])
                  .values(checked_out_at=T0 + timedelta(hours=1)))
        venue_id = s.execute(sa.text("SELECT id FROM venue WHERE code = 'HQ'")).scalar_one()
        s.add(Encounter(venue_id=venue_id, protocol="bluezone", rolling_id="ab" * 8,
                        first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=5), count=3,
                        rssi_min=-80, rssi_max=-60, rssi_mean=-70.0, proximity="near"))
        s.commit()
    clock.set(T0 + timedelta(hours=47))
    declare(kiosk, full_name="Lê Văn Cường", id_number="001090011111", phone="0911111111")
    clock.set(T0 + timedelta(hours=48))
    with db.new_session(kiosk) as s:  # something pending: nothing is trimmed
        from sync.trim import trim_forwarded

        assert trim_forwarded(session=s, now=clock.now(), keep_hours=24) is None
    assert _counts(kiosk)["visits"] == 3

    _sync(kiosk)  # everything forwarded, then trimmed
    held = _counts(kiosk)
    assert held == {"visits": 2, "declarations": 2, "encounters": 0,
                    "named": ["Lê Văn Cường", "Trần Thị Bình"]}
    with db.new_session(kiosk) as s:
        an = s.exec(select(Visitor).where(Visitor.full_name == "")).one()
        assert (an.id_number, an.phone_e164, an.birth_year, an.street_address) == (
            None, None, None, None)
    # The central server keeps everything, and the trim sent nothing.
    assert _counts(app) == {"visits": 3, "declarations": 3, "encounters": 1, "named": [
        "Lê Văn Cường", "Nguyễn Văn An", "Trần Thị Bình"]}
    assert _sync(kiosk)["pushed"] == 0
    session.expire_all()
    assert session.exec(select(Visitor).where(Visitor.full_name == "Nguyễn Văn An")).one()

    # An comes back: the code the door gave him still names him (he is asked the health
    # questions again: his declaration is two days old).
    with db.new_session(kiosk) as s:
        desk = create_user(session=s, username="letan", role="receptionist", password=PASSWORD,
                           venue_codes=["HQ"], now=T0)
        bearer = issue_api_token(session=s, user=desk, now=T0)
    answer = kiosk.test_client().post(
        "/api/v1/checkins", json={"venue_code": "HQ", "payload": old["token"]},
        headers={"Authorization": f"Bearer {bearer}"}, environ_base={"REMOTE_ADDR": "192.0.2.3"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["action"] == "needs_confirmation"


def test_a_stand_alone_kiosk_trims_nothing(app, make_venue, make_kiosk):
    from sync.trim import trim_forwarded

    kiosk = make_kiosk("solo")
    declare(kiosk)
    with db.new_session(kiosk) as s:
        assert trim_forwarded(session=s, now=T0 + timedelta(days=5), keep_hours=24) is None
    assert _counts(kiosk)["visits"] == 1
