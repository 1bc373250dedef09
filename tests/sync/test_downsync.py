"""Down the other way: a kiosk learns its venue's settings and the personal codes withdrawn on the
central server at its next sync round, and its door refuses a withdrawn code from then on."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from core.auth import create_user, issue_api_token
from core.db import db, utcnow
from core.models import Venue
from tests.conftest import PASSWORD, T0
from tests.sync.conftest import declare
from tracing.privacy import revoke_codes
from visits.models import Visitor


def _scan(kiosk, token, payload):
    return kiosk.test_client().post("/api/v1/checkins", json={"venue_code": "HQ",
                                                              "payload": payload},
                                    headers={"Authorization": f"Bearer {token}"},
                                    environ_base={"REMOTE_ADDR": "192.0.2.30"})


def test_a_code_withdrawn_centrally_is_refused_at_the_door_after_the_next_round(
        app, central, make_venue, make_user, enrol, make_kiosk, session):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as kiosk_session:
        desk = create_user(session=kiosk_session, username="letan", role="receptionist",
                           password=PASSWORD, venue_codes=["HQ"], now=T0)
        desk_token = issue_api_token(session=kiosk_session, user=desk, now=T0)
    declared = declare(kiosk)
    assert _scan(kiosk, desk_token, declared["token"]).status_code == 200
    runner = kiosk.test_cli_runner()
    assert runner.invoke(args=["sync", "once"]).exit_code == 0
    # The visitor asks the central office to stop their codes (lost phone).
    visitor = session.exec(select(Visitor)).one()
    revoke_codes(session=session, visitor=visitor, actor=make_user("admin"),
                 now=utcnow() + timedelta(seconds=1))
    result = runner.invoke(args=["sync", "once"])
    assert result.exit_code == 0
    assert json.loads(result.output.strip().splitlines()[-1])["pulled"] == 1
    refused = _scan(kiosk, desk_token, declared["token"])
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["code"].startswith("token_")
    # Seen once: the next round changes nothing.
    again = runner.invoke(args=["sync", "once"])
    assert json.loads(again.output.strip().splitlines()[-1])["pulled"] == 0


def test_the_venue_settings_come_down(app, central, make_venue, enrol, make_kiosk, session):
    from datetime import time

    venue = make_venue(code="HQ", name="Trụ sở chính")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    venue.name = "Trụ sở chính (tòa B)"
    venue.closing_time = time(18, 30)
    venue.max_stay_min = 240
    session.add(venue)
    session.commit()
    assert kiosk.test_cli_runner().invoke(args=["sync", "once"]).exit_code == 0
    with db.new_session(kiosk) as kiosk_session:
        local = kiosk_session.exec(select(Venue).where(Venue.code == "HQ")).one()
        assert (local.name, local.closing_time, local.max_stay_min) == (
            "Trụ sở chính (tòa B)", time(18, 30), 240)
