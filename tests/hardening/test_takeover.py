"""Issue 15 point 2: knowing someone's name and phone (or name and ID number) never finds,
changes or unlocks their record. A declaration from a browser that does not hold the record is
stored apart; the victim's fields, QR code and confirmation page stay theirs."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from declarations.tokens import decode_unverified
from declarations.venue_links import venue_path
from tests.declarations.test_pages import FORM, SECRET
from visits.models import Visitor

VICTIM = dict(FORM, email="an.nguyen@example.vn", street_address="Số 1 Tràng Tiền")
# The attacker knows the victim's name and phone (or ID number), and brings their own details.
ATTACKER_CHANGES = {"id_number": "079090099999", "email": "thief@example.com",
                    "street_address": "Số 99 Đường Giả", "birth_year": "1990"}


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


@pytest.fixture
def link(venue):
    return venue_path("HQ", SECRET)


def declare(client, link, form) -> int:
    response = client.post(link, data={**form, "confirm_warnings": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/d/(\d+)", response.headers["Location"]).group(1))


def token_on(page_html: str) -> str:
    return re.search(r"/qr/(KB2\.[A-Za-z0-9_-]+)\.png", page_html).group(1)


def stored(session, uid) -> dict:
    session.expire_all()
    visitor = session.exec(select(Visitor).where(Visitor.uid == uid)).one()
    return {name: getattr(visitor, name) for name in (
        "full_name", "id_number", "email", "street_address", "phone_e164", "birth_year")}


@pytest.mark.parametrize("known", ["phone", "id_number"])
def test_a_stranger_with_the_name_and_phone_cannot_take_over_a_record(app, session, link,
                                                                     known):
    victim = app.test_client()
    victim_declaration = declare(victim, link, VICTIM)
    victim_page = victim.get(f"/d/{victim_declaration}").get_data(as_text=True)
    victim_uid = decode_unverified(token_on(victim_page))[0].visitor_uid
    before = stored(session, victim_uid)

    attacker = app.test_client()
    attack = dict(VICTIM, **ATTACKER_CHANGES)
    if known == "id_number":  # name and ID number known, another phone
        attack.update(id_number=VICTIM["id_number"], phone="0987 654 321")
    attacker_declaration = declare(attacker, link, attack)

    # The victim's record is untouched.
    assert stored(session, victim_uid) == before
    # The attacker got a record, a QR code and a cookie of their own, not the victim's.
    attacker_page = attacker.get(f"/d/{attacker_declaration}").get_data(as_text=True)
    attacker_uid = decode_unverified(token_on(attacker_page))[0].visitor_uid
    assert attacker_uid != victim_uid
    assert stored(session, attacker_uid)["email"] == "thief@example.com"
    # Their cookie opens neither the victim's confirmation page nor pre-fills the victim's data.
    assert attacker.get(f"/d/{victim_declaration}").status_code == 404
    form = attacker.get(link + "&new=1").get_data(as_text=True)
    assert "an.nguyen@example.vn" not in form
    if known == "phone":
        assert VICTIM["id_number"] not in form
    # The victim's own browser still sees their own record, unchanged.
    assert "thief@example.com" not in victim.get(link + "&new=1").get_data(as_text=True)
    assert victim.get(f"/d/{victim_declaration}").status_code == 200


def test_the_api_never_returns_an_existing_persons_code(app, session, client, link):
    victim = app.test_client()
    victim_declaration = declare(victim, link, VICTIM)
    victim_uid = decode_unverified(token_on(
        victim.get(f"/d/{victim_declaration}").get_data(as_text=True)))[0].visitor_uid
    before = stored(session, victim_uid)
    body = {"venue_code": "HQ", "lang": "vi", "full_name": VICTIM["full_name"],
            "birth_year": 1990, "gender": "male", "nationality": "VN",
            "id_number": "079090099999", "phone": VICTIM["phone"], "email": "thief@example.com",
            "province_code": "01", "ward_code": "00004", "street_address": "Số 99 Đường Giả",
            "travel_14d": False, "symptoms": [], "exposures": [],
            "consent_processing": True, "consent_sensitive_health": True}
    answer = client.post("/api/v1/declarations", json=body)
    assert answer.status_code == 201, answer.get_json()
    assert decode_unverified(answer.get_json()["token"])[0].visitor_uid != victim_uid
    assert stored(session, victim_uid) == before


def test_the_owners_browser_still_updates_its_own_record(app, session, link):
    """The rule does not stop a person from correcting their own details from their phone."""
    owner = app.test_client()
    first = declare(owner, link, VICTIM)
    uid = decode_unverified(token_on(owner.get(f"/d/{first}").get_data(as_text=True)))[0]\
        .visitor_uid
    second = declare(owner, link, dict(VICTIM, email="an.moi@example.vn"))
    assert decode_unverified(token_on(owner.get(f"/d/{second}").get_data(as_text=True)))[0]\
        .visitor_uid == uid
    assert stored(session, uid)["email"] == "an.moi@example.vn"
