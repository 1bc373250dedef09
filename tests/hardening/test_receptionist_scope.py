"""Issue 15, point 13: a receptionist's API token reads only their own venues' visitors, and only
what the door needs. On main a receptionist token dumped every declaration in a loop over ids and
listed any venue's visits with ID numbers."""
from __future__ import annotations

from tests.hardening.conftest import ALICE, declaration_body

# What a receptionist must never get from the API (tracers and administrators do).
NOT_FOR_THE_DOOR = {"id_number", "id_type", "birth_year", "gender", "nationality", "email",
                    "province_code", "province_name", "ward_code", "ward_name", "street_address",
                    "declarant_id", "consent_at", "previous_declaration_id"}
WINDOW = {"since": "2026-03-01", "until": "2026-03-31"}


def _declare(client, venue_code, **changes):
    response = client.post("/api/v1/declarations", environ_base=ALICE,
                           json=declaration_body(venue_code=venue_code, **changes))
    assert response.status_code == 201, response.get_json()["errors"]
    return response.get_json()["declaration_id"]


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_receptionist_reads_only_declarations_of_their_venues(
        client, venue, make_venue, make_user, api_token):
    make_venue(code="OTHER", name="Chi nhánh khác")
    ours = _declare(client, "HQ")
    theirs = [_declare(client, "OTHER", full_name=f"Người Khác {name}", phone=f"090000000{n}",
                       id_number=f"00109001234{n}")
              for n, name in enumerate(("Một", "Hai", "Ba"))]
    token = api_token(make_user("receptionist", venue_codes=["HQ"]))
    missing = client.get("/api/v1/declarations/999999", headers=_bearer(token))
    assert missing.status_code == 404

    # The attack of the issue: walk the ids.
    read = {}
    for declaration_id in range(1, max(theirs) + 5):
        response = client.get(f"/api/v1/declarations/{declaration_id}", headers=_bearer(token))
        if response.status_code == 200:
            read[declaration_id] = response.get_json()
        else:
            # Another venue's declaration looks exactly like one that does not exist.
            assert (response.status_code, response.get_json()) == (404, missing.get_json())
    assert list(read) == [ours]
    record = read[ours]
    assert record["full_name"] == "Nguyễn Văn An" and record["status"] == "clear"
    assert record["symptoms"] == [] and record["phone"] == "+84912345678"
    assert NOT_FOR_THE_DOOR & set(record) == set()


def test_administrators_and_tracers_still_read_the_whole_record(
        client, venue, make_venue, make_user, api_token):
    make_venue(code="OTHER", name="Chi nhánh khác")
    theirs = _declare(client, "OTHER")
    for role in ("admin", "tracer"):
        response = client.get(f"/api/v1/declarations/{theirs}",
                              headers=_bearer(api_token(make_user(role))))
        assert response.status_code == 200
        assert response.get_json()["id_number"] == "001090012345"
        assert NOT_FOR_THE_DOOR <= set(response.get_json())


def test_a_receptionist_lists_visits_of_their_venues_only_without_id_numbers(
        client, venue, make_venue, make_user, api_token):
    make_venue(code="OTHER", name="Chi nhánh khác")
    _declare(client, "HQ")
    _declare(client, "OTHER", full_name="Trần Thị Bình", phone="0987654321",
             id_number="001190054321")
    token = api_token(make_user("receptionist", venue_codes=["HQ"]))
    unknown = client.get("/api/v1/visits", headers=_bearer(token),
                         query_string={"venue": "NOPE", **WINDOW})
    other = client.get("/api/v1/visits", headers=_bearer(token),
                       query_string={"venue": "OTHER", **WINDOW})
    assert other.status_code == 404
    assert other.get_json() == unknown.get_json()
    assert "Trần Thị Bình" not in other.get_data(as_text=True)

    own = client.get("/api/v1/visits", headers=_bearer(token),
                     query_string={"venue": "HQ", **WINDOW})
    assert own.status_code == 200
    visits = own.get_json()["visits"]
    assert [v["visitor"]["full_name"] for v in visits] == ["Nguyễn Văn An"]
    assert set(visits[0]["visitor"]) == {"id", "full_name", "phone"}
    assert "001090012345" not in own.get_data(as_text=True)

    admin = api_token(make_user("admin"))
    full = client.get("/api/v1/visits", headers=_bearer(admin),
                      query_string={"venue": "OTHER", **WINDOW})
    assert full.get_json()["visits"][0]["visitor"]["id_number"] == "001190054321"


def test_a_receptionist_assigned_nowhere_reads_nothing(client, venue, make_user, api_token):
    ours = _declare(client, "HQ")
    token = api_token(make_user("receptionist"))
    assert client.get(f"/api/v1/declarations/{ours}", headers=_bearer(token)).status_code == 404
    assert client.get("/api/v1/visits", headers=_bearer(token),
                      query_string={"venue": "HQ", **WINDOW}).status_code == 404
