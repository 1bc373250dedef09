"""One visit however many doors (sync/doors.py): a visitor who enters by door A and leaves by
door B has one visit on the central server, closed at B's scan, whichever door syncs first and
however often; coming back in through B opens a new visit; the same door's visits are never
merged, and nothing is merged before the minimum stay."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from core.db import db, new_uid
from sync.models import SyncMergedVisit
from tests.conftest import T0
from visits.models import Visit

VISITOR = new_uid()


def _visitor() -> dict:
    return {"uid": VISITOR, "full_name": "Nguyễn Văn An", "name_folded": "nguyen van an",
            "birth_year": 1990, "gender": "male", "nationality": "VN",
            "id_number": "001090012345", "id_type": "cccd", "phone_e164": "+84912345678",
            "email": None, "province_code": "01", "province_name": None, "ward_code": None,
            "ward_name": None, "street_address": None, "tokens_valid_after": None,
            "created_at": T0.isoformat(), "updated_at": T0.isoformat(), "declarant_uid": None}


def _visit(uid: str, at, out=None, closed_by=None) -> dict:
    return {"uid": uid, "visitor_uid": VISITOR, "venue_code": "HQ", "declaration_uid": None,
            "reviewed_by": None, "checked_in_at": at.isoformat(),
            "checked_out_at": out.isoformat() if out else None, "opened_by": "scan",
            "closed_by": closed_by, "status": "clear", "review_note": None,
            "reviewed_at": None}


def _push(client, token, *visits):
    response = client.post("/api/v1/sync/push", json={"rows": {"visitor": [_visitor()],
                                                               "visit": list(visits)}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["rejected"] == []


def _stays(app):
    with db.new_session(app) as session:
        return [(v.checked_in_at, v.checked_out_at, v.closed_by) for v in session.exec(
            select(Visit).order_by(Visit.checked_in_at)).all()]


def test_in_by_one_door_out_by_the_other_is_one_visit_whichever_door_syncs_first(
        app, client, make_venue, enrol):
    make_venue(code="HQ")
    door_a, door_b = enrol("HQ", "Cổng A"), enrol("HQ", "Cổng B")
    entered = _visit("a" * 24, T0)                          # door A: in at 09:00, still open
    left = _visit("b" * 24, T0 + timedelta(hours=2))        # door B: "in" at 11:00 = the exit
    _push(client, door_b, left)
    _push(client, door_a, entered)
    assert _stays(app) == [(T0, T0 + timedelta(hours=2), "scan")]
    # Both doors send again (a replay; door B's record auto-closed at 21:00 meanwhile).
    _push(client, door_a, entered)
    _push(client, door_b, _visit("b" * 24, T0 + timedelta(hours=2), T0 + timedelta(hours=12),
                                 "automatic"))
    assert _stays(app) == [(T0, T0 + timedelta(hours=2), "scan")]
    with db.new_session(app) as session:
        assert session.get(SyncMergedVisit, "b" * 24).scanned_at == T0 + timedelta(hours=2)


def test_coming_back_in_through_the_second_door_opens_a_new_visit(app, client, make_venue,
                                                                    enrol):
    make_venue(code="HQ")
    door_a, door_b = enrol("HQ", "Cổng A"), enrol("HQ", "Cổng B")
    _push(client, door_a, _visit("a" * 24, T0))
    _push(client, door_b, _visit("b" * 24, T0 + timedelta(hours=2)))
    # Door B reads the visitor's return at 13:00 as leaving (it thought they were inside).
    _push(client, door_b, _visit("b" * 24, T0 + timedelta(hours=2), T0 + timedelta(hours=4),
                                 "scan"))
    _push(client, door_b, _visit("b" * 24, T0 + timedelta(hours=2), T0 + timedelta(hours=4),
                                 "scan"))  # and again: still one new visit
    assert _stays(app) == [(T0, T0 + timedelta(hours=2), "scan"),
                           (T0 + timedelta(hours=4), None, None)]


def test_the_same_doors_visits_and_scans_within_the_minimum_stay_are_never_merged(
        app, client, make_venue, enrol):
    make_venue(code="HQ")
    door_a, door_b = enrol("HQ", "Cổng A"), enrol("HQ", "Cổng B")
    # One door's own visits: that door saw both scans and decided.
    _push(client, door_a, _visit("a" * 24, T0, T0 + timedelta(minutes=30), "staff"),
          _visit("c" * 24, T0 + timedelta(hours=1)))
    # Door B sees them 2 minutes after they came in by door A: still at the door, not leaving.
    _push(client, door_b, _visit("b" * 24, T0 + timedelta(hours=1, minutes=2)))
    with db.new_session(app) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Visit)).scalar_one() == 3
        assert session.execute(sa.select(sa.func.count()).select_from(SyncMergedVisit)
                               ).scalar_one() == 0
