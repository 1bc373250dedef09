"""3. Abuse: the public write endpoints are limited per client address and per venue, with a
bilingual 429 that stores nothing; the door's own screen and staff are not throttled per client;
forged venue links are refused; a replayed personal QR shows its holder's name."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import segno
from sqlalchemy import func, select

from declarations.models import Declaration
from declarations.venue_links import venue_path
from tests.conftest import T0
from tests.hardening.conftest import ALICE, BOB, counts, declaration_body
from visits.models import Visit, Visitor

SECRET = "test-secret-key"
FORM = {
    "full_name": "Trần Thị Bình", "birth_year": "1985", "gender": "female", "nationality": "VN",
    "id_number": "001185012345", "phone": "0987 654 321", "email": "",
    "province_code": "01", "ward_code": "00004", "street_address": "Số 5 Hàng Bài",
    "travel_14d": "no", "visit_purpose": "meeting", "host_name": "Anh Minh",
    "consent_processing": "yes", "consent_sensitive_health": "yes",
    "tracing_apps": "bluezone",
}
# Per hour, not per minute: counters start at the first hit, so a slow run cannot roll over.
THREE = "3 per hour"


def assert_rate_limited_json(response):
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == "rate_limited"
    assert body["message_vi"] == "Quá nhiều yêu cầu. Vui lòng chờ một lát rồi thử lại."
    assert body["message_en"] == "Too many requests. Please wait a moment and try again."
    assert int(response.headers["Retry-After"]) > 0


def assert_rate_limited_page(response):
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Quá nhiều yêu cầu" in html and "Too many requests" in html
    assert int(response.headers["Retry-After"]) > 0


def person(n: int) -> dict:
    """A different valid person each time (n < 100)."""
    return declaration_body(full_name=f"Người Thử {chr(65 + n % 26)}",
                            id_number=f"0010900123{n:02d}", phone=f"09123456{n:02d}")


# --- per client ---------------------------------------------------------------------------------

@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE}])
def test_declarations_api_is_limited_per_client(client, session, venue, app_config):
    for n in range(3):
        assert client.post("/api/v1/declarations", json=person(n),
                           environ_base=ALICE).status_code == 201
    before = counts(session)
    assert before == (3, 3, 3)
    response = client.post("/api/v1/declarations", json=person(3), environ_base=ALICE)
    assert_rate_limited_json(response)
    assert counts(session) == before
    # Another client (another phone on another network) is still served.
    assert client.post("/api/v1/declarations", json=person(4),
                       environ_base=BOB).status_code == 201
    assert counts(session) == (4, 4, 4)


@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE}])
def test_the_declaration_form_is_limited_per_client_with_a_bilingual_page(
        client, session, venue, app_config):
    link = venue_path("HQ", SECRET)
    for n in range(3):
        form = {**FORM, "phone": f"0987 654 3{n:02d}", "id_number": f"0011850123{n:02d}"}
        assert client.post(link, data=form, environ_base=ALICE).status_code == 302
    before = counts(session)
    response = client.post(link, data=FORM, environ_base=ALICE)
    assert_rate_limited_page(response)
    assert counts(session) == before
    assert client.get(link, environ_base=ALICE).status_code == 200  # reading is not limited
    other = client.application.test_client()
    assert other.post(link, data=FORM, environ_base=BOB).status_code == 302


@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE, "TRUSTED_PROXIES": 1}])
def test_behind_a_proxy_the_forwarded_address_is_the_client(client, session, venue, app_config):
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    alice = {"X-Forwarded-For": "198.51.100.7"}
    for n in range(3):
        assert client.post("/api/v1/declarations", json=person(n), headers=alice,
                           environ_base=proxy).status_code == 201
    assert_rate_limited_json(client.post("/api/v1/declarations", json=person(3), headers=alice,
                                         environ_base=proxy))
    # Same proxy, another visitor behind it: served.
    assert client.post("/api/v1/declarations", json=person(4),
                       headers={"X-Forwarded-For": "198.51.100.8"},
                       environ_base=proxy).status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/checkins", "/api/v1/scan", "/api/v1/checkins/confirm"])
@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE}])
def test_anonymous_callers_of_the_scan_api_are_limited_too(client, session, venue, path,
                                                          app_config):
    """Without staff credentials these answer 401; a script guessing tokens is slowed down."""
    for _ in range(3):
        assert client.post(path, json={"venue_code": "HQ", "payload": "x"},
                           environ_base=ALICE).status_code == 401
    assert_rate_limited_json(client.post(path, json={"venue_code": "HQ", "payload": "x"},
                                         environ_base=ALICE))
    assert client.post(path, json={"venue_code": "HQ", "payload": "x"},
                       environ_base=BOB).status_code == 401


# --- the door's own screen and staff during a rush ----------------------------------------------

@pytest.fixture
def tokens(make_visitor, make_declaration, make_token):
    """Twelve returning visitors with fresh declarations, as at a shift change."""
    made = []
    for n in range(12):
        visitor = make_visitor(full_name=f"Nhân Viên {n}", id_number=f"0010900124{n:02d}",
                               phone_e164=f"+849123456{n:02d}")
        declaration = make_declaration(visitor=visitor, submitted_at=T0)
        made.append(make_token(visitor, declaration, issued_at=T0))
    return made


def _checkin(client, token, **kwargs):
    return client.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": token}, **kwargs)


@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE, "VENUE": "HQ"}])
def test_the_kiosks_own_screen_is_not_throttled_per_client_in_a_rush(
        app, screen, session, venue, clock, tokens, app_config):
    clock.advance(minutes=10)
    for token in tokens:  # four times the per-client limit, from the paired screen
        response = _checkin(screen, token, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert response.status_code == 200, response.get_json()
    assert counts(session)[2] == len(tokens)


@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE, "VENUE": "HQ"}])
def test_being_on_the_device_itself_earns_no_exemption(app, session, venue, clock, tokens,
                                                      app_config):
    """Issue 15, point 10: the loopback address made any local program "the screen"."""
    clock.advance(minutes=10)
    local = app.test_client()  # never paired
    statuses = {_checkin(local, token, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
                for token in tokens[:3]}
    assert statuses == {401}
    assert counts(session)[2] == 0


@pytest.mark.parametrize("app_config", [{"PUBLIC_RATE_LIMIT": THREE, "VENUE": "HQ"}])
def test_staff_with_a_bearer_token_are_not_throttled_per_client(
        client, session, venue, clock, tokens, make_user, api_token, app_config):
    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist"))}
    clock.advance(minutes=10)
    for token in tokens:
        assert _checkin(client, token, headers=bearer, environ_base=ALICE).status_code == 200
    assert counts(session)[2] == len(tokens)


# --- per venue ----------------------------------------------------------------------------------

@pytest.mark.parametrize("app_config", [{"VENUE_RATE_LIMIT": THREE, "VENUE": "HQ"}])
def test_checkins_are_limited_per_venue_even_for_the_own_screen(
        screen, session, venue, make_venue, clock, tokens, app_config):
    make_venue(code="ANNEX", name="Nhà B")
    clock.advance(minutes=10)
    for token in tokens[:3]:
        assert _checkin(screen, token).status_code == 200
    before = counts(session)
    assert_rate_limited_json(_checkin(screen, tokens[3]))
    assert counts(session) == before
    # Another venue is still served.
    response = screen.post("/api/v1/checkins", json={"venue_code": "ANNEX", "payload": tokens[3]})
    assert response.status_code == 200
    assert counts(session)[2] == before[2] + 1


@pytest.mark.parametrize("app_config", [{"VENUE_RATE_LIMIT": THREE}])
def test_declarations_are_limited_per_venue_across_clients_and_endpoints(
        client, session, venue, make_venue, app_config):
    make_venue(code="ANNEX", name="Nhà B")
    # Three different addresses, two endpoints, one venue (lower case is the same venue).
    assert client.post("/api/v1/declarations", json=person(0),
                       environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 201
    assert client.post("/api/v1/declarations", json=person(1) | {"venue_code": " hq"},
                       environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 201
    assert client.post(venue_path("HQ", SECRET), data=FORM,
                       environ_base={"REMOTE_ADDR": "192.0.2.3"}).status_code == 302
    before = counts(session)
    assert_rate_limited_json(client.post("/api/v1/declarations", json=person(3),
                                         environ_base={"REMOTE_ADDR": "192.0.2.4"}))
    assert_rate_limited_page(client.post(venue_path("HQ", SECRET), data=FORM,
                                         environ_base={"REMOTE_ADDR": "192.0.2.5"}))
    assert counts(session) == before
    assert client.post("/api/v1/declarations", json=person(4) | {"venue_code": "ANNEX"},
                       environ_base={"REMOTE_ADDR": "192.0.2.6"}).status_code == 201


def _png(text: str | None) -> bytes:
    buffer = io.BytesIO()
    if text is None:
        from PIL import Image

        Image.new("L", (320, 240), 255).save(buffer, format="PNG")
    else:
        segno.make(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


@pytest.mark.parametrize("app_config", [{"VENUE_RATE_LIMIT": THREE, "VENUE": "HQ"}])
def test_idle_browser_camera_frames_do_not_spend_the_venue_budget(
        screen, session, venue, clock, tokens, app_config):
    """The (paired) screen in browser-camera mode posts a frame every 0.7 s: frames without a code are
    not check-ins. Decoded frames count, and the fourth is refused."""
    clock.advance(minutes=10)
    for _ in range(6):
        response = screen.post("/api/v1/scan", data={
            "venue_code": "HQ", "image": (io.BytesIO(_png(None)), "frame.png")})
        assert response.get_json()["code"] == "no_code_found"
    for token in tokens[:3]:
        response = screen.post("/api/v1/scan", data={
            "venue_code": "HQ", "image": (io.BytesIO(_png(token)), "frame.png")})
        assert response.status_code == 200
    before = counts(session)
    assert_rate_limited_json(screen.post("/api/v1/scan", data={
        "venue_code": "HQ", "image": (io.BytesIO(_png(tokens[3])), "frame.png")}))
    assert counts(session) == before


# --- forged venue links, replayed and revoked personal QR codes ---------------------------------

@pytest.mark.parametrize("suffix", ["", "/again"])
def test_a_venue_signature_cannot_be_moved_to_another_venue(client, session, venue, make_venue,
                                                            suffix):
    make_venue(code="ANNEX", name="Nhà B")
    genuine = venue_path("HQ", SECRET)
    path, query = genuine.split("?")
    forged = path.replace("/v/HQ", "/v/ANNEX") + suffix + "?" + query
    response = client.post(forged, data={**FORM, "declaration_id": "1"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "không hợp lệ" in html and "This venue link is not valid" in html
    assert counts(session) == (0, 0, 0)


def test_a_replayed_personal_qr_shows_its_holders_name(screen, session, venue, clock):
    """Someone shows another person's QR (a screenshot): the screen names the holder, so the
    receptionist sees the mismatch."""
    body = screen.post("/api/v1/declarations", json=declaration_body()).get_json()
    clock.advance(minutes=30)
    response = screen.post("/api/v1/checkins",
                           json={"venue_code": "HQ", "payload": body["token"]})
    assert response.status_code == 200
    assert response.get_json()["visitor"]["display_name"] == "NGUYỄN VĂN AN"
    clock.advance(hours=2)  # the replay, later, from someone else's phone
    response = screen.post("/api/v1/checkins",
                           json={"venue_code": "HQ", "payload": body["token"]})
    assert response.get_json()["visitor"]["display_name"] == "NGUYỄN VĂN AN"


def test_a_revoked_personal_qr_is_refused_bilingually_and_stores_nothing(
        screen, session, venue, clock):
    body = screen.post("/api/v1/declarations", json=declaration_body()).get_json()
    visitor = session.get(Visitor, body["visitor_id"])
    visitor.tokens_valid_after = clock.now() + timedelta(seconds=1)
    session.add(visitor)
    session.commit()
    clock.advance(minutes=30)
    before = counts(session)
    response = screen.post("/api/v1/checkins", json={"venue_code": "HQ", "payload": body["token"]})
    assert response.status_code == 422
    result = response.get_json()
    assert result["code"] == "token_revoked"
    assert result["message_vi"] and result["message_en"] and \
        result["message_vi"] != result["message_en"]
    assert counts(session) == before
    session.expire_all()
    assert session.execute(select(func.count()).select_from(Visit)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(Declaration)).scalar_one() == 1
