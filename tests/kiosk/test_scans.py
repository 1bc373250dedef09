"""The scan → action service at the door: check in, check out after the minimum stay, duplicate
scans, stale declarations, flagged visitors, refused codes; on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import new_uid
from declarations.services import issue_token
from declarations.tokens import generate_keyring
from kiosk.services import ScanError, handle_scan
from tests.conftest import T0
from tests.kiosk.conftest import drain, later
from visits.models import Visit

CCCD_TEXT = "001090012345|012345678|Nguyễn Văn An|15041990|Nam|Số 1 Tràng Tiền, Hà Nội|01012021"


@pytest.fixture
def visitor(make_visitor):
    return make_visitor()


@pytest.fixture
def scan(session, venue, scan_settings):
    def do(payload, now, *, venue_code=None, kiosk_id=None):
        return handle_scan(session=session, now=now, venue_code=venue_code or venue.code,
                           payload=payload, settings=scan_settings, kiosk_id=kiosk_id)

    return do


def visits(session):
    session.expire_all()
    return session.exec(select(Visit).order_by(Visit.id)).all()


def test_fresh_token_checks_in_then_out_after_the_minimum_stay(
        session, venue, visitor, make_declaration, make_token, scan, stream, make_venue):
    declaration = make_declaration(visitor=visitor, submitted_at=later(hours=-2))
    token = make_token(visitor, declaration, issued_at=later(hours=-2))

    arrived = scan(token, T0)
    assert arrived.action == "check_in" and not arrived.repeated
    assert arrived.as_json() == {"visit_id": arrived.visit.id, "action": "check_in",
                                 "status": "clear",
                                 "visitor": {"display_name": "NGUYỄN VĂN AN"},
                                 "repeated": False}
    [visit] = visits(session)
    assert (visit.opened_by, visit.declaration_id, visit.checked_in_at) == ("scan", declaration.id, T0)

    left = scan(token, later(hours=3))
    assert left.action == "check_out" and left.visit.id == visit.id
    [visit] = visits(session)
    assert (visit.checked_out_at, visit.closed_by) == (later(hours=3), "scan")
    assert [(e["type"], e["action"]) for e in drain(stream)] == [("visit", "check_in"),
                                                                 ("visit", "check_out")]


def test_the_visit_records_the_kiosk(session, venue, visitor, make_declaration, make_token, scan):
    from core.services import ensure_kiosk

    device = ensure_kiosk(session=session, venue=venue, name="cong-chinh", now=T0)
    token = make_token(visitor, make_declaration(visitor=visitor))
    result = scan(token, later(minutes=1), kiosk_id=device.id)
    assert visits(session)[0].kiosk_id == device.id == result.visit.kiosk_id


def test_duplicate_scans_are_idempotent(session, venue, visitor, make_declaration, make_token,
                                        scan, stream):
    token = make_token(visitor, make_declaration(visitor=visitor))
    first = scan(token, later(minutes=1))
    # The camera sees the code again moments later: the same check-in, no check-out.
    again = scan(token, later(minutes=1, seconds=2))
    assert (again.action, again.visit.id, again.repeated) == ("check_in", first.visit.id, True)
    still = scan(token, later(minutes=5, seconds=59))
    assert (still.action, still.repeated) == ("check_in", True)
    assert len(visits(session)) == 1 and visits(session)[0].checked_out_at is None

    out = scan(token, later(minutes=30))
    # A second scan right after the check-out repeats it rather than checking in again.
    out_again = scan(token, later(minutes=30, seconds=20))
    assert (out.action, out_again.action, out_again.repeated) == ("check_out", "check_out", True)
    assert out_again.visit.id == first.visit.id
    assert len(visits(session)) == 1
    # Coming back later is a new visit.
    back = scan(token, later(hours=2))
    assert back.action == "check_in" and back.visit.id != first.visit.id
    repeated = [e.get("repeated", False) for e in drain(stream)]
    assert repeated == [False, True, True, False, True, False]


def test_concurrent_identical_scans_open_one_visit(app, venue, visitor, make_declaration,
                                                   make_token, scan_settings):
    """The camera and the API racing on the same code: one visit, the other answer a repeat."""
    from core.db import db

    token = make_token(visitor, make_declaration(visitor=visitor))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def one():
        with db.new_session(app) as own:
            barrier.wait()
            try:
                results.append(handle_scan(session=own, now=later(minutes=1), venue_code=venue.code,
                                           payload=token, settings=scan_settings))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(r.repeated for r in results) == [False, True, True, True]
    assert len({r.visit.id for r in results}) == 1
    with db.new_session(app) as check:
        assert len(check.exec(select(Visit)).all()) == 1


def test_stale_declaration_asks_for_reconfirmation_and_stores_nothing(
        session, venue, visitor, make_declaration, make_token, scan, stream):
    declaration = make_declaration(visitor=visitor, submitted_at=later(hours=-25))
    token = make_token(visitor, declaration, issued_at=later(hours=-25))
    result = scan(token, T0)
    assert result.action == "needs_confirmation"
    body = result.as_json()
    assert body["visit_id"] is None and body["status"] is None
    assert body["visitor"] == {"display_name": "NGUYỄN VĂN AN"}
    assert body["confirmation"]["reason"] == "stale"
    assert body["confirmation"]["declared_local"] == "08:00 09/03/2026"
    assert body["confirmation"]["ticket"]
    assert visits(session) == []
    [event] = drain(stream)
    # The screens hear the question, not its ticket (issue 15, point 11).
    assert event["type"] == "confirm" and "ticket" not in event and event["question"]
    assert body["confirmation"]["ticket"] not in str(event)


def test_the_latest_declaration_counts_not_the_one_in_the_token(
        session, venue, visitor, make_declaration, make_token, scan):
    old = make_declaration(visitor=visitor, submitted_at=later(days=-3))
    token = make_token(visitor, old, issued_at=later(days=-3))
    newer = make_declaration(visitor=visitor, submitted_at=later(hours=-1))
    result = scan(token, T0)
    assert result.action == "check_in" and result.visit.declaration_id == newer.id


def test_flagged_declaration_checks_in_for_review(session, venue, visitor, make_declaration,
                                                  make_token, scan, stream):
    token = make_token(visitor, make_declaration(visitor=visitor, status="needs_review",
                                                 symptoms=["fever"]))
    result = scan(token, later(minutes=1))
    assert (result.action, result.status) == ("check_in", "needs_review")
    assert drain(stream)[0]["status"] == "needs_review"


def test_a_visit_elsewhere_does_not_make_this_scan_a_check_out(
        session, venue, make_venue, visitor, make_declaration, make_token, scan):
    other = make_venue()
    token = make_token(visitor, make_declaration(visitor=visitor))
    scan(token, later(minutes=1), venue_code=other.code)
    result = scan(token, later(minutes=20))
    assert result.action == "check_in"
    assert {v.venue_id for v in visits(session)} == {venue.id, other.id}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("hello world", "unknown_code"),
        ("https://kiosk.test/v/HQ?k=abcdefghijklmnop", "venue_code_scanned"),
        ("KB2.AAAA", "token_truncated"),
        ("KB2." + "A" * 116, "token_malformed"),
        ("KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJl", "token_superseded"),
    ],
)
def test_codes_that_check_nobody_in_are_refused_and_shown(session, venue, scan, stream,
                                                          payload, code):
    with pytest.raises(ScanError) as error:
        scan(payload, T0)
    assert error.value.code == code
    assert str(error.value.message)  # a sentence for the visitor, not just a code
    assert visits(session) == []
    [event] = drain(stream)
    assert (event["type"], event["code"]) == ("refused", code)


def test_forged_expired_revoked_and_purged_tokens_are_refused(
        session, venue, visitor, make_declaration, make_token, scan, scan_settings):
    declaration = make_declaration(visitor=visitor)
    forged = issue_token(generate_keyring(), visitor=visitor, declaration=declaration, now=T0)
    with pytest.raises(ScanError) as error:
        scan(forged, T0)
    assert error.value.code == "token_unknown_key"

    token = make_token(visitor, declaration, issued_at=T0)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(ScanError) as error:
        scan(tampered, T0)
    assert error.value.code in ("token_bad_signature", "token_malformed")

    with pytest.raises(ScanError) as error:
        scan(token, T0 + scan_settings.token_max_age + timedelta(seconds=1))
    assert error.value.code == "token_expired"

    visitor.tokens_valid_after = later(seconds=1)  # "I lost my phone"
    session.add(visitor)
    session.commit()
    with pytest.raises(ScanError) as error:
        scan(token, later(minutes=1))
    assert error.value.code == "token_revoked"

    ghost = make_token(type("Gone", (), {"uid": new_uid()})(), declaration)
    with pytest.raises(ScanError) as error:
        scan(ghost, later(minutes=1))
    assert error.value.code == "token_unknown_visitor"
    assert visits(session) == []


def test_unknown_venue_is_a_field_error(scan):
    with pytest.raises(ScanError) as error:
        scan("anything", T0, venue_code="NOPE")
    assert (error.value.code, error.value.field) == ("unknown_venue", "venue_code")


def test_cccd_of_a_new_person_asks_the_health_questions(session, venue, scan, stream):
    result = scan(CCCD_TEXT, T0)
    assert result.action == "needs_confirmation"
    assert result.confirmation["reason"] == "identity"
    assert result.confirmation["display_name"] == "NGUYỄN VĂN AN"
    assert result.identity == {"kind": "cccd", "full_name": "Nguyễn Văn An",
                               "id_number": "001090012345", "birth_year": 1990, "gender": "male"}
    assert visits(session) == []
    assert drain(stream)[0]["type"] == "confirm"


def test_cccd_of_a_visitor_inside_checks_them_out(session, venue, visitor, make_declaration,
                                                  make_token, scan):
    token = make_token(visitor, make_declaration(visitor=visitor))
    scan(token, later(minutes=1))
    result = scan(CCCD_TEXT, later(hours=1))  # same id number as the visitor fixture
    assert result.action == "check_out"
    assert visits(session)[0].closed_by == "scan"


def test_a_check_in_links_the_contact_tracing_phone_heard_at_the_door(
        session, venue, visitor, make_declaration, make_token, scan, stream):
    from ble_beacon.models import Encounter

    phone = Encounter(venue_id=venue.id, protocol="bluezone", rolling_id="ab" * 16,
                      first_seen_at=later(seconds=20), last_seen_at=later(seconds=55), count=4,
                      rssi_min=-70, rssi_max=-48, rssi_mean=-55.0, proximity="near")
    passer_by = Encounter(venue_id=venue.id, protocol="gaen", rolling_id="cd" * 16,
                          first_seen_at=later(seconds=10), last_seen_at=later(seconds=58),
                          count=2, rssi_min=-95, rssi_max=-88, rssi_mean=-91.0, proximity="far")
    session.add_all([phone, passer_by])
    session.commit()
    token = make_token(visitor, make_declaration(visitor=visitor))
    result = scan(token, later(minutes=1))
    session.refresh(phone)
    session.refresh(passer_by)
    assert phone.visit_id == result.visit.id
    assert passer_by.visit_id is None
    assert drain(stream)[-1]["app_detected"] is True
