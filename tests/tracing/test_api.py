"""GET /api/v1/contacts and GET /api/v1/visits: the scenario, roles, and errors as JSON."""
from __future__ import annotations

import pytest
from sqlmodel import select

from core.models import AuditEvent
from tests.tracing.conftest import (
    EXPECTED_DEVICES,
    contact_summary,
    device_summary,
    expected_contacts,
)


@pytest.fixture
def bearer(make_user, api_token):
    def make(role, **fields):
        return {"Authorization": f"Bearer {api_token(make_user(role, **fields))}"}

    return make


def test_contacts_by_phone_match_the_hand_computed_scenario(client, scenario, bearer, session):
    response = client.get("/api/v1/contacts", headers=bearer("tracer"), query_string={
        "phone": "0912345678", "since": "2026-03-10", "until": "2026-03-12",
        "before_min": "0", "after_min": "30"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert contact_summary(body["contacts"]) == expected_contacts(scenario)
    assert device_summary(body["encounters"]) == EXPECTED_DEVICES
    assert body["index"]["visitors"] == [{"id": scenario.index.id, "full_name": "Nguyễn Văn An",
                                         "phone": "+84912345678", "id_number": "001090012345",
                                         "id_type": "cccd"}]
    assert body["since"] == "2026-03-10T00:00:00+07:00"
    assert body["until"] == "2026-03-13T00:00:00+07:00"
    lan = body["contacts"][1]
    assert lan["checked_out_at"] is None and lan["still_open"]
    assert lan["effective_end_at"] == "2026-03-12T09:15:00+07:00"   # open: counts until now
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "contacts.query" and event.details["channel"] == "api"


def test_contacts_for_chosen_visits_with_buffers(client, scenario, bearer):
    response = client.get("/api/v1/contacts", headers=bearer("admin"), query_string=[
        ("visit_id", scenario.visits["I2"].id), ("before_min", "15"), ("after_min", "0")])
    assert response.status_code == 200
    assert [(c["visitor"]["full_name"], c["overlap_min"]) for c in response.get_json()["contacts"]
            ] == [("Bùi Thị Lan", 75), ("Đỗ Văn Minh", 10)]


@pytest.mark.parametrize(("query", "field"), [
    ({"since": "2026-03-10", "until": "2026-03-12"}, "phone"),
    ({"phone": "0912345678", "until": "2026-03-12"}, "since"),
    ({"phone": "0912345678", "since": "2026-03-12", "until": "2026-03-10"}, "until"),
    ({"phone": "0912345678", "since": "2026-03-10", "until": "2026-03-12", "after_min": "-5"},
     "after_min"),
    ({"visit_id": "abc"}, "visit_id"),
    ({"visit_id": "999999"}, "visit_id"),
])
def test_bad_contact_queries_get_field_errors(client, scenario, bearer, query, field, session):
    response = client.get("/api/v1/contacts", headers=bearer("tracer"), query_string=query)
    assert response.status_code == 422
    body = response.get_json()
    assert list(body["errors"]) == [field]
    assert body["message_vi"] and body["message_en"]
    assert session.exec(select(AuditEvent)).all() == []


def test_unknown_phone_is_404(client, scenario, bearer):
    response = client.get("/api/v1/contacts", headers=bearer("tracer"), query_string={
        "phone": "0900000000", "since": "2026-03-10", "until": "2026-03-12"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "index_not_found"


def test_visits_of_a_venue_over_a_range(client, scenario, bearer, session):
    response = client.get("/api/v1/visits", headers=bearer("admin"), query_string={
        "venue": "ubnd", "since": "2026-03-12T07:00+07:00", "until": "2026-03-12T09:30+07:00"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["venue"] == {"code": "UBND", "name": "UBND phường Cửa Nam"}
    assert [(v["visitor"]["full_name"], v["checked_in_at"]) for v in body["visits"]] == [
        ("Bùi Thị Lan", "2026-03-12T07:30:00+07:00"),
        ("Đỗ Văn Minh", "2026-03-12T07:40:00+07:00"),
        ("Nguyễn Văn An", "2026-03-12T08:00:00+07:00"),
        ("Nguyễn Văn Ân", "2026-03-12T09:20:00+07:00"),
    ]
    assert body["count"] == 4
    # Cường's visit of the 11th was left open but closed automatically at 17:30 that day.
    assert session.exec(select(AuditEvent.action)).all() == ["visits.query"]


@pytest.mark.parametrize(("query", "status", "field"), [
    ({"since": "2026-03-10", "until": "2026-03-12"}, 422, "venue"),
    ({"venue": "UBND", "since": "x", "until": "2026-03-12"}, 422, "since"),
    ({"venue": "NOPE", "since": "2026-03-10", "until": "2026-03-12"}, 404, None),
])
def test_bad_visit_queries(client, scenario, bearer, query, status, field):
    response = client.get("/api/v1/visits", headers=bearer("tracer"), query_string=query)
    assert response.status_code == status
    if field:
        assert list(response.get_json()["errors"]) == [field]


@pytest.mark.parametrize("path", [
    "/api/v1/contacts?phone=0912345678&since=2026-03-10&until=2026-03-12",
    "/api/v1/visits?venue=UBND&since=2026-03-10&until=2026-03-12",
])
def test_anonymous_callers_get_401(client, scenario, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_receptionists_may_not_query_contacts(client, scenario, bearer, session):
    response = client.get("/api/v1/contacts", headers=bearer("receptionist"), query_string={
        "phone": "0912345678", "since": "2026-03-10", "until": "2026-03-12"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert session.exec(select(AuditEvent)).all() == []
