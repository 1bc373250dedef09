"""6. Privacy: no personal data in any log during a whole day's flows; consent text versions stay
with each declaration; the staff-assisted "show me / delete my data" flow."""
from __future__ import annotations

import io
import json
import logging

import pytest
import segno
from sqlalchemy import select

from declarations import consent
from declarations.models import Declaration
from declarations.venue_links import venue_path
from tests.hardening.conftest import declaration_body


@pytest.fixture
def client(screen):
    """Scans here come from the kiosk's own (paired) screen; it declares as a phone would."""
    return screen

SECRET = "test-secret-key"

# The people of the flow, with details that appear nowhere else in the code or the fixtures.
API_PERSON = dict(full_name="Phùng Thị Xuân Quỳnh", id_number="079185004321",
                  phone="0938 271 645", email="quynh.phung@example.vn",
                  street_address="Số 27 Ngõ Huyện Khôn", birth_year=1985, gender="female",
                  province_code="01", ward_code="00004",
                  travel_14d=True, travel_places="Đà Nẵng và Huế",
                  visitor_company="Công ty Sao Khuê", host_name="Ông Lạc Hồng",
                  visit_purpose="meeting", symptoms=["cough"], exposures=[])
FORM_PERSON = {
    "full_name": "Đinh Công Tráng", "birth_year": "1979", "gender": "male", "nationality": "VN",
    "id_number": "038079006789", "phone": "0977 315 208", "email": "trang.dinh@example.vn",
    "province_code": "01", "ward_code": "00004", "street_address": "Số 91 Phố Hàng Chiếu",
    "travel_14d": "no", "visit_purpose": "meeting", "host_name": "Bà Vân Kiều",
    "tracing_apps": "vneid",
    "consent_processing": "yes", "consent_sensitive_health": "yes",
}
CCCD = ("036190008765|123456789|Vương Thị Ngọc Hân|02031990|Nữ|"
        "Thôn Đông Ngạc, Bắc Từ Liêm, Hà Nội|01012021")
CCCD_PHONE = "0965 442 173"


def needles() -> list[str]:
    """Every piece of personal data used, in the spellings a log line might carry."""
    found = []
    for value in (API_PERSON["full_name"], API_PERSON["id_number"], API_PERSON["email"],
                  API_PERSON["street_address"], API_PERSON["travel_places"],
                  API_PERSON["visitor_company"], API_PERSON["host_name"],
                  FORM_PERSON["full_name"], FORM_PERSON["id_number"], FORM_PERSON["email"],
                  FORM_PERSON["street_address"], FORM_PERSON["host_name"],
                  "Vương Thị Ngọc Hân", "036190008765", "Thôn Đông Ngạc"):
        found.append(value)
        found.append(value.upper())
        found.append(json.dumps(value)[1:-1])  # as JSON escapes it (\u01b0 …)
    for phone in (API_PERSON["phone"], FORM_PERSON["phone"], CCCD_PHONE):
        digits = phone.replace(" ", "")
        found += [phone, digits, "+84" + digits[1:], digits[1:]]
    return found


def _png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


@pytest.fixture
def log_file(tmp_path):
    """A real logging handler to a file on the root logger, at DEBUG for every logger, as
    `kiosk run` configures one (logging.basicConfig) but louder."""
    path = tmp_path / "kiosk.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old_level)


@pytest.mark.parametrize("app_config", [{"VENUE": "HQ"}])
def test_no_personal_data_in_any_log_through_a_whole_flow(
        app, client, runner, session, venue, clock, caplog, log_file, make_user, api_token,
        app_config):
    caplog.set_level(logging.DEBUG)  # every logger, DEBUG and up
    for name in ("werkzeug", "sqlalchemy.engine", "kiosk", "declarations", "tracing",
                 "ble_beacon", "core"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    tracer = {"Authorization": "Bearer " + api_token(make_user("tracer"))}

    # A declaration through the API, another through the phone form.
    body = client.post("/api/v1/declarations", json=declaration_body(**API_PERSON)).get_json()
    assert body.get("status") == "needs_review", body.get("errors")
    response = client.post(venue_path("HQ", SECRET), data=FORM_PERSON)
    assert response.status_code == 302
    # Check-out, then in again by a photo of the personal QR; a bad scan too.
    clock.advance(minutes=30)
    scan = client.post("/api/v1/scan", data={"venue_code": "HQ",
                                             "image": (io.BytesIO(_png(body["token"])), "f.png")})
    assert scan.status_code == 200, scan.get_json()
    assert client.post("/api/v1/checkins", json={
        "venue_code": "HQ", "payload": body["token"][:-4]}).status_code == 422
    # A CCCD card at the kiosk: the health questions, then the check-in.
    answer = client.post("/api/v1/checkins",
                         json={"venue_code": "HQ", "payload": CCCD}).get_json()
    assert answer["action"] == "needs_confirmation"
    from kiosk.services import venue_consent_version

    confirmed = client.post("/api/v1/checkins/confirm", json={
        "ticket": answer["confirmation"]["ticket"], "changed": True, "answers": {
            "travel_14d": False, "symptoms": [], "exposures": [], "consent_processing": True,
            "consent_sensitive_health": True, "lang": "vi", "phone": CCCD_PHONE,
            "consent_text_version": venue_consent_version(venue, retention_days=21)}})
    assert confirmed.status_code == 200, confirmed.get_json()
    # A tracer's contact query by phone and by ID number, and a CSV export.
    for key, value in (("phone", API_PERSON["phone"].replace(" ", "")),
                       ("id_number", FORM_PERSON["id_number"])):
        response = client.get("/api/v1/contacts", headers=tracer, query_string={
            key: value, "since": "2026-03-10", "until": "2026-03-11"})
        assert response.status_code == 200, response.get_json()
    visit_id = response.get_json()["index"]["visits"][0]["id"]
    export = client.get("/tracing/contacts/export", headers=tracer,
                        query_string={"format": "csv", "visit_id": visit_id})
    assert export.status_code == 200
    exported = log_file.parent / "contacts.csv"
    export = runner.invoke(args=["trace", "contacts", "--phone", API_PERSON["phone"],
                                 "--since", "2026-03-10", "--until", "2026-03-11",
                                 "--format", "csv", "-o", str(exported)])
    assert export.exit_code == 0, export.output
    assert "Đinh Công Tráng" in exported.read_text(encoding="utf-8-sig")  # a contact, named
    # BLE: a Bluezone-free record through the parser.
    ble = runner.invoke(args=["beacon", "parse"], input=json.dumps({
        "address": "5E:11:22:33:44:55", "rssi": -60, "local_name": FORM_PERSON["full_name"]}))
    assert ble.exit_code == 0
    # Something went to the logs, so the check below is not vacuous.
    logging.getLogger("kiosk").debug("privacy check: flow done")
    text = caplog.text + "\n" + log_file.read_text(encoding="utf-8")
    assert "privacy check: flow done" in text
    leaks = sorted({needle for needle in needles() if needle and needle in text})
    assert leaks == [], "personal data in the logs:\n" + "\n".join(
        line for line in text.splitlines() if any(n in line for n in leaks))[:3000]


# --- consent versions ---------------------------------------------------------------------------

def test_each_declaration_keeps_the_consent_text_version_it_was_given(
        app, client, session, venue, monkeypatch):
    first = client.post("/api/v1/declarations", json=declaration_body()).get_json()
    monkeypatch.setattr(consent, "CONSENT_TEXT_VERSION", "2027.1")  # the words were changed
    second = client.post("/api/v1/declarations", json=declaration_body(
        full_name="Lê Văn Bình", id_number="001090099999", phone="0912000111")).get_json()
    app.config["RETENTION_DAYS"] = 14  # the text names the retention period: a new version
    third = client.post("/api/v1/declarations", json=declaration_body(
        full_name="Lê Thị Cúc", id_number="001190099998", phone="0912000222")).get_json()
    session.expire_all()
    versions = [session.get(Declaration, body["declaration_id"]).consent_text_version
                for body in (first, second, third)]
    assert versions[0].startswith("2026.1-21d-")
    assert versions[1].startswith("2027.1-21d-")
    assert versions[2].startswith("2027.1-14d-")
    assert len(set(versions)) == 3
    stored = session.execute(select(Declaration.consent_text_version)
                             .order_by(Declaration.id)).scalars().all()
    assert stored == versions


# --- "show me / delete my data", with an administrator ------------------------------------------

def _audit(session):
    from core.models import AuditEvent

    session.expire_all()
    return session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()


def _no_personal_data(event) -> None:
    text = json.dumps([event.actor, event.action, event.target_type, event.target_id,
                       event.details], ensure_ascii=False, default=str)
    assert not [n for n in needles() if n and n in text], text


@pytest.fixture
def declared(client, venue):
    return client.post("/api/v1/declarations", json=declaration_body(**API_PERSON)).get_json()


def test_only_administrators_see_a_visitors_data(client, make_user, login, declared):
    for role in ("receptionist", "tracer"):
        other = client.application.test_client()
        user = make_user(role)
        other.post("/login", data={"username": user.username, "password": "correct horse battery"})
        assert other.get("/tracing/privacy", query_string={"phone": API_PERSON["phone"]}
                         ).status_code == 403
        assert other.post(f"/tracing/privacy/{declared['visitor_id']}/delete",
                          data={"confirm": "yes"}).status_code == 403
    assert client.get("/tracing/privacy").status_code == 302  # anonymous: sign in first


def test_show_copy_revoke_and_delete_a_visitors_data(client, session, venue, clock, make_user,
                                                     login, declared):
    from tests.hardening.conftest import counts

    login(make_user("admin"))
    clock.advance(minutes=30)
    assert client.post("/api/v1/checkins", json={
        "venue_code": "HQ", "payload": declared["token"]}).get_json()["action"] == "check_out"

    # Show: found by phone (any spelling) and by ID number; everything stored is on the page.
    for query in ({"phone": "+84 938 271 645"}, {"id_number": API_PERSON["id_number"]}):
        page = client.get("/tracing/privacy", query_string=query)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for shown in ("Phùng Thị Xuân Quỳnh", "079185004321", "+84938271645",
                      "quynh.phung@example.vn", "Số 27 Ngõ Huyện Khôn", "Đà Nẵng và Huế",
                      "<td>Ho</td>", "HQ"):
            assert shown in html, shown
        declaration = session.get(Declaration, declared["declaration_id"])
        assert declaration.consent_text_version in html
        assert "Dữ liệu của khách" in html  # Vietnamese page
    views = [e for e in _audit(session) if e.action == "privacy.view"]
    assert len(views) == 2 and {e.target_id for e in views} == {str(declared["visitor_id"])}
    # Copy: a download with the whole record.
    copy = client.get(f"/tracing/privacy/{declared['visitor_id']}.json")
    record = json.loads(copy.get_data(as_text=True))
    assert record["visitor"]["full_name"] == "Phùng Thị Xuân Quỳnh"
    assert record["declarations"][0]["consent_text_version"] == declaration.consent_text_version
    assert len(record["visits"]) == 1 and record["visits"][0]["checked_out_at"]
    assert "attachment" in copy.headers["Content-Disposition"]

    # Revoke: the personal QR stops working at the door.
    client.post(f"/tracing/privacy/{declared['visitor_id']}/revoke")
    clock.advance(minutes=5)
    refused = client.post("/api/v1/checkins", json={"venue_code": "HQ",
                                                    "payload": declared["token"]})
    assert refused.get_json()["code"] == "token_revoked"

    # Delete: not without the confirmation box; then everything personal is gone.
    client.post(f"/tracing/privacy/{declared['visitor_id']}/delete")
    assert counts(session) == (1, 1, 1)
    done = client.post(f"/tracing/privacy/{declared['visitor_id']}/delete",
                       data={"confirm": "yes"}, follow_redirects=True)
    assert "Đã xoá" in done.get_data(as_text=True)
    assert counts(session) == (0, 0, 0)
    again = client.get("/tracing/privacy", query_string={"phone": API_PERSON["phone"]})
    assert "Phùng" not in again.get_data(as_text=True)
    assert again.status_code == 200

    events = _audit(session)
    assert [e.action for e in events if e.action.startswith("privacy.")] == [
        "privacy.view", "privacy.view", "privacy.copy", "privacy.revoke", "privacy.delete"]
    delete = next(e for e in events if e.action == "privacy.delete")
    assert delete.details == {"visits": 1, "declarations": 1, "dependants": 0}
    for event in events:
        _no_personal_data(event)
    from core.audit import verify_chain

    assert verify_chain(session=session).ok


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_deleting_needs_the_forms_csrf_token(client, session, make_user, login, declared,
                                             app_config):
    from tests.hardening.conftest import counts

    user = make_user("admin")
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": user.username, "password": "correct horse battery",
                                "csrf_token": token})
    response = client.post(f"/tracing/privacy/{declared['visitor_id']}/delete",
                           data={"confirm": "yes"})
    assert response.status_code == 400
    assert counts(session) == (1, 1, 1)
    html = client.get("/tracing/privacy", query_string={"phone": API_PERSON["phone"]}
                      ).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post(f"/tracing/privacy/{declared['visitor_id']}/delete",
                           data={"confirm": "yes", "csrf_token": token})
    assert response.status_code == 302
    assert counts(session) == (0, 0, 0)
