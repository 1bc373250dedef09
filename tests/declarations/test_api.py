"""The declaration API: POST /api/v1/declarations, POST /api/v1/checkins, staff reads, admin
units. Bad input of any shape → 4xx with field errors, never a 500, nothing stored."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from declarations.models import Declaration
from declarations.tokens import load_keyring
from tests.declarations.test_schema import DESIGN_EXAMPLE, FIELDS, json_values
from visits.models import Visit, Visitor


def payload(**changes):
    data = dict(DESIGN_EXAMPLE, symptoms=[], exposures=[], venue_code="HQ")
    data.update(changes)
    return data


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính")


@pytest.fixture
def client(screen):
    """Check-ins here come from the kiosk's own (paired) screen; declarations from phones need
    no pairing, so the same browser serves both."""
    return screen


def counts(session):
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(model)).one()[0]
                 for model in (Visitor, Declaration, Visit))


def test_submit_stores_visitor_declaration_and_visit(client, session, venue, clock):
    response = client.post("/api/v1/declarations", json=payload(
        symptoms=["fever"], body_temperature_c=37.2))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert list(body) == ["declaration_id", "visitor_id", "visit_id", "status", "token",
                          "qr_png_url", "qr_svg_url", "warnings"]
    assert body["status"] == "needs_review"
    assert body["token"].startswith("KB2.") and len(body["token"]) <= 120
    assert body["qr_png_url"] == f"http://kiosk.test/qr/{body['token']}.png"
    declaration = session.get(Declaration, body["declaration_id"])
    assert declaration.symptoms == ["fever"] and declaration.rules_version == "default-1"
    assert declaration.consent_at == clock.now() and declaration.source == "phone_form"
    visit = session.get(Visit, body["visit_id"])
    assert (visit.visitor_id, visit.venue_id, visit.opened_by, visit.status) == (
        body["visitor_id"], venue.id, "phone_form", "needs_review")
    visitor = session.get(Visitor, body["visitor_id"])
    assert (visitor.phone_e164, visitor.ward_name) == ("+84912345678", "Phường Ba Đình")
    png = client.get(body["qr_png_url"].replace("http://kiosk.test", ""))
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get(body["qr_svg_url"].replace("http://kiosk.test", ""))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"


def test_a_clean_declaration_is_clear_and_warnings_are_returned(client, venue):
    body = client.post("/api/v1/declarations", json=payload(birth_year=1991)).get_json()
    assert body["status"] == "clear"
    assert body["warnings"] == {
        "id_number": "Vui lòng kiểm tra lại: số CCCD này ứng với năm sinh 1990"}


def test_field_errors_in_the_declared_language_and_nothing_stored(client, session, venue):
    before = counts(session)
    response = client.post("/api/v1/declarations", json=payload(phone="12", full_name=""))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == {"full_name": "Bạn chưa nhập họ tên",
                              "phone": "Số điện thoại không hợp lệ"}
    english = client.post("/api/v1/declarations", json=payload(phone="12", lang="en"))
    assert english.get_json()["errors"] == {"phone": "Invalid phone number"}
    assert counts(session) == before


def test_unknown_or_missing_venue(client, session, venue):
    response = client.post("/api/v1/declarations", json=payload(venue_code="NOPE"))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"venue_code": "Không có địa điểm này"}
    data = payload()
    del data["venue_code"]
    assert client.post("/api/v1/declarations", json=data).get_json()["errors"] == {
        "venue_code": "Mã địa điểm không hợp lệ"}
    assert counts(session) == (0, 0, 0)


@pytest.mark.parametrize("kwargs,status", [
    ({"data": "full_name=An", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"json": [1, 2]}, 422),
    ({"json": "x"}, 422),
])
def test_malformed_bodies(client, session, venue, kwargs, status):
    response = client.post("/api/v1/declarations", **kwargs)
    assert response.status_code == status
    assert response.is_json and "code" in response.get_json()
    assert counts(session) == (0, 0, 0)


def test_a_repeat_declaration_through_the_api_is_stored_apart(client, session, venue):
    """The API holds no browser that the record belongs to: a declaration naming someone on
    record (name and phone) is a record of its own and changes nothing of theirs (issue 15.2)."""
    first = client.post("/api/v1/declarations", json=payload()).get_json()
    second = client.post("/api/v1/declarations", json=payload(full_name="NGUYỄN VĂN AN",
                                                             street_address="Số 2")).get_json()
    assert first["visitor_id"] != second["visitor_id"]
    assert first["declaration_id"] != second["declaration_id"]
    visitor = session.get(Visitor, first["visitor_id"])
    session.refresh(visitor)
    assert (visitor.full_name, visitor.street_address) == ("Nguyễn Văn An", "Số 1 Tràng Tiền")


# --- Check-in with the personal QR ------------------------------------------------------------

def checkin(client, token, venue_code="HQ"):
    return client.post("/api/v1/checkins", json={"venue_code": venue_code, "payload": token})


def test_check_in_then_out_with_the_personal_qr(client, session, venue, make_venue, clock):
    other = make_venue(code="ANNEX", name="Nhà B")
    body = client.post("/api/v1/declarations", json=payload()).get_json()
    # Declared at HQ (checked in there); at the annex the same QR checks in.
    response = checkin(client, body["token"], "ANNEX")
    assert response.status_code == 200
    result = response.get_json()
    assert (result["action"], result["status"]) == ("check_in", "clear")
    assert result["visitor"] == {"display_name": "NGUYỄN VĂN AN"}
    visit = session.get(Visit, result["visit_id"])
    assert (visit.venue_id, visit.opened_by, visit.declaration_id) == (
        other.id, "scan", body["declaration_id"])
    # The same scan again a few seconds later is the same arrival.
    clock.advance(seconds=5)
    assert checkin(client, body["token"], "ANNEX").get_json()["action"] == "check_in"
    clock.advance(hours=2)
    out = checkin(client, body["token"], "ANNEX").get_json()
    assert (out["action"], out["visit_id"]) == ("check_out", result["visit_id"])
    session.expire_all()
    assert session.get(Visit, result["visit_id"]).closed_by == "scan"


def test_a_stale_declaration_needs_confirmation_and_stores_nothing(client, session, venue,
                                                                  clock):
    body = client.post("/api/v1/declarations", json=payload()).get_json()
    clock.advance(hours=2)
    checkin(client, body["token"])  # check out at HQ
    clock.advance(hours=23)
    before = counts(session)
    result = checkin(client, body["token"]).get_json()
    assert (result["action"], result["visit_id"]) == ("needs_confirmation", None)
    assert result["visitor"] == {"display_name": "NGUYỄN VĂN AN"}
    assert counts(session) == before


@pytest.mark.parametrize("mangle,code", [
    (lambda t: t[:-3], "token_truncated"),
    (lambda t: t[:10] + ("A" if t[10] != "A" else "B") + t[11:], "token_bad_signature"),
    (lambda t: "KB2.!" + t[5:], "token_malformed"),
])
def test_bad_tokens_are_refused_with_their_reason(client, session, venue, mangle, code):
    body = client.post("/api/v1/declarations", json=payload()).get_json()
    before = counts(session)
    response = checkin(client, mangle(body["token"]))
    assert response.status_code == 422
    result = response.get_json()
    assert result["code"] in (code, "token_malformed", "token_unknown_key")
    assert set(result["errors"]) == {"payload"}
    assert counts(session) == before


def test_expired_and_foreign_key_tokens(client, session, venue, clock, tmp_path):
    body = client.post("/api/v1/declarations", json=payload()).get_json()
    clock.advance(days=31)
    response = checkin(client, body["token"])
    assert (response.status_code, response.get_json()["code"]) == (422, "token_expired")
    assert response.get_json()["errors"]["payload"] == "Mã QR đã hết hạn, vui lòng khai báo lại"
    person = session.get(Visitor, body["visitor_id"])
    stranger = load_keyring(tmp_path / "other-keys").issue(
        visitor_uid=person.uid, declared_at=clock.now(), flagged=False, now=clock.now())
    assert checkin(client, stranger).get_json()["code"] == "token_unknown_key"


def test_revoked_and_deleted_visitors(client, session, venue, clock):
    body = client.post("/api/v1/declarations", json=payload()).get_json()
    visitor = session.get(Visitor, body["visitor_id"])
    visitor.tokens_valid_after = clock.now() + timedelta(seconds=1)
    session.add(visitor)
    session.commit()
    assert checkin(client, body["token"]).get_json()["code"] == "token_revoked"


def test_checkin_input_errors(client, venue):
    assert checkin(client, "KB2.x", "NOPE").get_json()["errors"] == {
        "venue_code": "Không có địa điểm nào mang mã này."}
    response = checkin(client, "just some text")
    assert (response.status_code, response.get_json()["code"]) == (422, "unknown_code")
    assert set(response.get_json()["errors"]) == {"payload"}
    assert client.post("/api/v1/checkins", json={"venue_code": "HQ"}).status_code == 422
    assert client.post("/api/v1/checkins", json=[]).status_code == 422
    assert client.post("/api/v1/checkins", data="x").status_code == 415


# --- Staff read -------------------------------------------------------------------------------

def test_staff_read_a_declaration_without_conditions_and_it_is_audited(
        client, session, venue, make_user, api_token, app):
    app.config["COLLECT_CONDITIONS"] = True
    body = client.post("/api/v1/declarations", json=payload(conditions=["diabetes"])).get_json()
    assert session.get(Declaration, body["declaration_id"]).conditions == ["diabetes"]
    url = f"/api/v1/declarations/{body['declaration_id']}"
    assert client.get(url).status_code == 401
    token = api_token(make_user("receptionist", venue_codes=["HQ"]))
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    data = response.get_json()
    assert "conditions" not in data
    assert (data["full_name"], data["phone"], data["status"]) == (
        "Nguyễn Văn An", "+84912345678", "clear")
    from core.models import AuditEvent

    events = session.exec(select(AuditEvent).where(AuditEvent.action == "declaration.view")).all()
    assert [e[0].target_id for e in events] == [str(body["declaration_id"])]
    assert client.get("/api/v1/declarations/999999",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 404


# --- Admin units ------------------------------------------------------------------------------

def test_admin_unit_endpoints(client):
    provinces = client.get("/api/v1/admin-units/provinces").get_json()["provinces"]
    assert len(provinces) == 34
    assert provinces[0] == {"code": "01", "name": "Thành phố Hà Nội", "ascii_name": "Ha Noi",
                            "type": "thanh_pho", "label_en": "Ha Noi City"}
    wards = client.get("/api/v1/admin-units/provinces/01/wards").get_json()
    assert len(wards["wards"]) == 126
    assert wards["wards"][0]["code"] == "00004" and wards["wards"][0]["name"] == "Phường Ba Đình"
    missing = client.get("/api/v1/admin-units/provinces/02/wards")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


# --- Fuzzing the API --------------------------------------------------------------------------

@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_value_in_any_field_is_a_4xx_with_field_errors_and_stores_nothing(
        client, session, venue, field, value):
    data = payload(**{field: value})
    data["phone"] = "0000"  # always invalid, so nothing may ever be stored
    response = client.post("/api/v1/declarations", json=data)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["errors"] and all(isinstance(v, str) and v for v in body["errors"].values())
    assert counts(session) == (0, 0, 0)


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values,
                            max_size=10) | json_values)
def test_arbitrary_bodies_never_cause_a_500(client, session, venue, body):
    import json

    sent = {"data": json.dumps(body), "content_type": "application/json"}
    response = client.post("/api/v1/declarations", **sent)
    assert response.status_code in (201, 400, 422)
    if response.status_code != 201:
        assert counts(session) == (0, 0, 0)
    checkin_response = client.post("/api/v1/checkins", **sent)
    assert checkin_response.status_code in (200, 400, 422)
