"""Issue 15 point 4: a CCCD code is not trusted on its number alone. The card's name (and birth
year) must agree with the record stored under its ID number before anything stored is shown or
used; a mismatch shows no stored name, checks nobody in or out, and is listed on the desk."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD
from tests.hardening.test_ids import BODY

FORGED = "001090012345|012345678|Trần Văn Giả|15041990|Nam|Số 9 Phố Lạ, Hà Nội|01012021"
SAME_PERSON_IN_CAPITALS = ("001090012345|012345678|NGUYEN VAN AN|15041990|Nam|"
                           "Số 1 Tràng Tiền, Hà Nội|01012021")


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


@pytest.fixture
def admin(make_user):
    return make_user("admin", username="letan")


def visits(session) -> int:
    session.expire_all()
    return session.execute(sa.text("SELECT COUNT(*) FROM visit")).scalar_one()


def open_visits(session) -> int:
    return session.execute(sa.text(
        "SELECT COUNT(*) FROM visit WHERE checked_out_at IS NULL")).scalar_one()


def test_a_card_with_a_known_number_and_another_name_is_a_mismatch(app, session, venue, admin,
                                                                   api_token, clock):
    client = app.test_client()
    assert client.post("/api/v1/declarations", json=BODY).status_code == 201  # An is inside
    clock.advance(hours=1)
    bearer = {"Authorization": f"Bearer {api_token(admin)}"}
    before = (visits(session), open_visits(session))

    response = client.post("/api/v1/checkins", headers=bearer,
                           json={"venue_code": "HQ", "payload": FORGED})
    answer = response.get_json()
    assert (response.status_code, answer["code"]) == (422, "identity_mismatch")
    assert answer["message_vi"] == "Thẻ này không khớp với hồ sơ đã lưu. Vui lòng gặp lễ tân."
    assert answer["message_en"] == ("This card does not match our records. Please see the "
                                    "receptionist.")
    text = response.get_data(as_text=True)
    assert "Nguy" not in text and "NGUY" not in text and "nguyen" not in text.lower()
    assert (visits(session), open_visits(session)) == before  # nobody checked in or out

    # The receptionist's desk lists the mismatch (and names no one).
    desk = app.test_client()
    desk.post("/login", data={"username": admin.username, "password": PASSWORD})
    page = desk.get("/kiosk/desk?venue=HQ").get_data(as_text=True)
    assert "Thẻ căn cước không khớp với hồ sơ đã lưu (1)" in page
    assert "Trần Văn Giả" not in page


@pytest.mark.parametrize("card", [
    "001090012345|012345678|Nguyễn Văn An|15041991|Nam|Số 1 Tràng Tiền, Hà Nội|01012021",
])
def test_a_card_with_another_birth_year_is_a_mismatch(app, session, venue, admin, api_token,
                                                      clock, card):
    client = app.test_client()
    client.post("/api/v1/declarations", json=BODY)
    clock.advance(hours=1)
    bearer = {"Authorization": f"Bearer {api_token(admin)}"}
    response = client.post("/api/v1/checkins", headers=bearer,
                           json={"venue_code": "HQ", "payload": card})
    assert response.get_json()["code"] in ("identity_mismatch", "unknown_code")
    assert "NGUY" not in response.get_data(as_text=True)


def test_the_owners_card_is_read_without_diacritics_or_case(app, session, venue, admin,
                                                            api_token, clock):
    client = app.test_client()
    client.post("/api/v1/declarations", json=BODY)
    clock.advance(hours=1)
    bearer = {"Authorization": f"Bearer {api_token(admin)}"}
    response = client.post("/api/v1/checkins", headers=bearer,
                           json={"venue_code": "HQ", "payload": SAME_PERSON_IN_CAPITALS})
    answer = response.get_json()
    assert response.status_code == 200, answer
    assert answer["action"] == "check_out"  # their card: they leave
    assert answer["visitor"]["display_name"] == "NGUYỄN VĂN AN"
    assert open_visits(session) == 0
