"""POST /api/v1/scan (a photo of the code, decoded, then the check-in service) and
/api/v1/checkins/confirm (the touchscreen's answer): who may call them, the documented answers,
bilingual errors, and nothing stored on a refusal."""
from __future__ import annotations

import io

import numpy as np
import pytest
import segno
from PIL import Image
from sqlmodel import select

from declarations.models import Declaration
from tests.conftest import PASSWORD, T0
from tests.kiosk.conftest import CCCD_TEXT
from visits.models import Visit, Visitor

REMOTE = {"REMOTE_ADDR": "192.0.2.44"}


@pytest.fixture
def app_config():
    return {"VENUE": "HQ"}


@pytest.fixture
def bearer(make_user, api_token):
    return {"Authorization": "Bearer " + api_token(make_user("receptionist"))}


@pytest.fixture
def token(visitor_with_declaration, make_token):
    visitor, declaration = visitor_with_declaration
    return make_token(visitor, declaration)


@pytest.fixture
def visitor_with_declaration(make_visitor, make_declaration):
    visitor = make_visitor()
    return visitor, make_declaration(visitor=visitor, submitted_at=T0)


def _png_of(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def scan(client, payload: str, venue_code: str = "HQ", **kwargs):
    """A frame showing `payload`, posted as the kiosk screen's browser-camera mode does."""
    return client.post("/api/v1/scan", data={
        "venue_code": venue_code, "image": (io.BytesIO(_png_of(payload)), "frame.png")},
        **kwargs)


def visits(session):
    session.expire_all()
    return session.exec(select(Visit)).all()


def test_checkin_with_a_bearer_token_from_anywhere(client, clock, venue, token, bearer, session):
    clock.advance(minutes=10)
    response = scan(client, token, venue_code="hq", headers=bearer, environ_base=REMOTE)
    assert response.status_code == 200
    body = response.get_json()
    [visit] = visits(session)
    assert body == {"visit_id": visit.id, "action": "check_in", "status": "clear",
                    "visitor": {"display_name": "NGUYỄN VĂN AN"}, "repeated": False}
    assert visit.kiosk_id is not None  # this kiosk's own venue: the device is recorded
    clock.advance(hours=1)
    response = scan(client, token, headers=bearer, environ_base=REMOTE)
    assert response.get_json()["action"] == "check_out"


def test_checkin_needs_staff_or_the_kiosks_own_screen(app, clock, venue, token, make_user):
    stranger = app.test_client()  # not the paired screen, wherever it stands
    for where in (REMOTE, {"REMOTE_ADDR": "127.0.0.1"}):
        response = scan(stranger, token, environ_base=where)
        assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"
    stranger.post("/login", data={"username": make_user("tracer").username,
                                  "password": PASSWORD})
    response = scan(stranger, token, environ_base=REMOTE)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"


@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "WTF_CSRF_ENABLED": True}])
def test_browser_callers_must_send_the_csrf_header(client, clock, venue, token, session):
    response = scan(client, token)  # the kiosk's own screen, no header
    assert response.status_code == 400 and response.get_json()["code"] == "csrf_failed"
    page = client.get("/kiosk").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = scan(client, token, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200 and response.get_json()["action"] == "check_in"


@pytest.mark.parametrize("app_config", [{"VENUE": "HQ", "WTF_CSRF_ENABLED": True}])
def test_bearer_scripts_need_no_csrf_header(client, clock, venue, token, bearer):
    response = scan(client, token, headers=bearer)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("venue_code", "payload", "code", "fields"),
    [
        ("NOPE", "x", "unknown_venue", ["venue_code"]),
        ("HQ", "KB2.garbage", "token_truncated", ["payload"]),
        ("HQ", "KB1.eyJ2IjoxfQ.c2ln", "token_superseded", ["payload"]),
        ("HQ", "WIFI:S:Cafe;;", "unknown_code", ["payload"]),
        ("HQ", "https://kiosk.test/v/HQ?k=abcdefghijklmnop", "venue_code_scanned", ["payload"]),
    ],
)
def test_bad_scans_get_a_bilingual_422_and_change_nothing(client, venue, session, venue_code,
                                                          payload, code, fields):
    response = scan(client, payload, venue_code=venue_code)
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["code"] == code
    assert answer["message_vi"] and answer["message_en"]
    assert answer["message_vi"] != answer["message_en"]
    assert sorted(answer["errors"]) == sorted(fields)
    assert visits(session) == []


def test_stale_token_asks_then_nothing_changed_checks_in(client, clock, venue, session,
                                                        make_visitor, make_declaration,
                                                        make_token, consent_version):
    visitor = make_visitor()
    declaration = make_declaration(visitor=visitor, consent_text_version=consent_version)
    token = make_token(visitor, declaration)
    clock.advance(hours=30)
    answer = scan(client, token).get_json()
    assert (answer["action"], answer["visit_id"]) == ("needs_confirmation", None)
    ticket = answer["confirmation"]["ticket"]
    assert visits(session) == []

    response = client.post("/api/v1/checkins/confirm", json={"ticket": ticket, "changed": False})
    answer = response.get_json()
    assert response.status_code == 200
    assert (answer["action"], answer["status"]) == ("check_in", "clear")
    [visit] = visits(session)
    renewed = session.get(Declaration, visit.declaration_id)
    assert renewed.source == "reconfirmation"
    assert renewed.previous_declaration_id == declaration.id
    assert renewed.submitted_at == clock.now()
    assert (visit.opened_by, visit.status) == ("scan", "clear")
    # A second tap on the same question does not check in twice.
    again = client.post("/api/v1/checkins/confirm", json={"ticket": ticket, "changed": False})
    assert again.get_json()["repeated"] is True and len(visits(session)) == 1
    # The next scan within the day is an ordinary one.
    clock.advance(hours=2)
    answer = scan(client, token).get_json()
    assert answer["action"] == "check_out"


def _answers(venue_consent_version, **overrides):
    return {"travel_14d": False, "symptoms": [], "exposures": [],
            "consent_processing": True, "consent_sensitive_health": True,
            "consent_text_version": venue_consent_version, "lang": "vi", **overrides}


@pytest.fixture
def consent_version(venue):
    from kiosk.services import venue_consent_version

    return venue_consent_version(venue, retention_days=21)


def test_nothing_changed_is_not_enough_when_the_consent_text_changed(client, clock, venue,
                                                                    session, token):
    clock.advance(days=2)  # the fixture's declaration consented to an older text
    ticket = scan(client, token).get_json()["confirmation"]["ticket"]
    response = client.post("/api/v1/checkins/confirm", json={"ticket": ticket, "changed": False})
    assert response.status_code == 422 and response.get_json()["code"] == "consent_changed"
    assert visits(session) == []


def test_stale_token_something_changed_flags_the_visit(client, clock, venue, session, token,
                                                       consent_version):
    clock.advance(days=2)
    ticket = scan(client, token).get_json()["confirmation"]["ticket"]
    response = client.post("/api/v1/checkins/confirm", json={
        "ticket": ticket, "changed": True,
        "answers": _answers(consent_version, symptoms=["fever", "cough"])})
    answer = response.get_json()
    assert (answer["action"], answer["status"]) == ("check_in", "needs_review")
    [visit] = visits(session)
    declaration = session.get(Declaration, visit.declaration_id)
    assert declaration.symptoms == ["fever", "cough"] and declaration.status == "needs_review"
    assert declaration.consent_text_version == consent_version


def test_an_expired_or_forged_question_is_refused(client, clock, venue, session, token):
    clock.advance(days=2)
    ticket = scan(client, token).get_json()["confirmation"]["ticket"]
    for forged in (ticket[:-3] + "xyz", "not a ticket", None):
        response = client.post("/api/v1/checkins/confirm", json={"ticket": forged})
        assert response.get_json()["code"] == "confirmation_expired"
    clock.advance(minutes=6)  # past CONFIRM_TTL_S
    response = client.post("/api/v1/checkins/confirm", json={"ticket": ticket, "changed": False})
    assert response.status_code == 422
    assert response.get_json()["code"] == "confirmation_expired"
    assert "hết hạn" in response.get_json()["message_vi"]
    assert visits(session) == []


def test_cccd_card_then_health_questions_checks_in_a_new_visitor(client, clock, venue, session,
                                                                  consent_version):
    answer = scan(client, CCCD_TEXT).get_json()
    assert answer["action"] == "needs_confirmation"
    assert answer["confirmation"]["reason"] == "identity"
    assert answer["visitor"]["display_name"] == "NGUYỄN VĂN AN"
    ticket = answer["confirmation"]["ticket"]

    # Consent not ticked: field errors in both languages, nothing stored.
    response = client.post("/api/v1/checkins/confirm", json={
        "ticket": ticket, "changed": True,
        "answers": _answers(consent_version, consent_processing=False, travel_14d=None)})
    answer = response.get_json()
    assert response.status_code == 422 and answer["code"] == "validation_failed"
    assert set(answer["errors"]) == {"consent_processing", "travel_14d"}
    assert session.exec(select(Visitor)).all() == []

    response = client.post("/api/v1/checkins/confirm", json={
        "ticket": ticket, "changed": True,
        "answers": _answers(consent_version, phone="0912 345 678")})
    answer = response.get_json()
    assert response.status_code == 200 and answer["action"] == "check_in"
    [visitor] = session.exec(select(Visitor)).all()
    assert (visitor.full_name, visitor.id_number, visitor.birth_year, visitor.gender,
            visitor.phone_e164) == ("Nguyễn Văn An", "001090012345", 1990, "male", "+84912345678")
    [visit] = visits(session)
    declaration = session.get(Declaration, visit.declaration_id)
    assert (declaration.source, declaration.status) == ("kiosk", "clear")


def test_scan_an_uploaded_frame(client, clock, venue, session, token):
    clock.advance(minutes=5)
    response = client.post("/api/v1/scan", data={
        "venue_code": "HQ", "image": (io.BytesIO(_png_of(token)), "frame.png")})
    assert response.status_code == 200
    assert response.get_json()["action"] == "check_in"
    assert len(visits(session)) == 1


def test_scan_without_a_code_or_with_no_image(client, venue, session):
    blank = io.BytesIO()
    Image.fromarray(np.full((240, 320), 255, dtype=np.uint8)).save(blank, format="PNG")
    response = client.post("/api/v1/scan", data={
        "venue_code": "HQ", "image": (io.BytesIO(blank.getvalue()), "frame.png")})
    assert response.status_code == 422
    assert response.get_json()["code"] == "no_code_found"
    response = client.post("/api/v1/scan", data={
        "venue_code": "HQ", "image": (io.BytesIO(b"not an image"), "frame.png")})
    assert response.status_code == 422 and response.get_json()["code"] == "not_an_image"
    response = client.post("/api/v1/scan", data={"venue_code": "HQ"})
    assert response.status_code == 422 and "image" in response.get_json()["errors"]
    assert visits(session) == []
