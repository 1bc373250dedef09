"""The tracer console through the Flask client: search, choose visits, contacts, exports, audit."""
from __future__ import annotations

import csv
import hashlib
import io

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.models import AuditEvent
from tests.tracing.conftest import EXPECTED_CONTACTS, EXPECTED_DEVICES
from tests.tracing.pages import checkbox_values, table_rows


@pytest.fixture
def tracer(make_user, login):
    user = make_user("tracer", username="thu", display_name="Lê Thu")
    login(user)
    return user


def test_home_shows_the_console_to_tracers_only(client, make_user, login):
    login(make_user("receptionist"))
    assert "Truy vết tiếp xúc" not in client.get("/").get_data(as_text=True)
    client.post("/logout")
    login(make_user("tracer"))
    page = client.get("/").get_data(as_text=True)
    assert "Truy vết tiếp xúc" in page and "Nhật ký kiểm tra" not in page
    client.post("/logout")
    login(make_user("admin"))
    assert "Nhật ký kiểm tra" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/tracing/", "/tracing/contacts?visit_id=1",
                                  "/tracing/visits", "/tracing/audit"])
def test_receptionists_are_refused_and_anonymous_users_sent_to_sign_in(client, make_user, login,
                                                                       path):
    assert client.get(path).status_code == 302
    login(make_user("receptionist"))
    assert client.get(path).status_code == 403


def vi_float(text: str) -> float:
    assert "." not in text, text
    return float(text.replace(",", "."))


def test_scenario_through_the_console(client, scenario, tracer, session):
    page = client.get("/tracing/", query_string={
        "q": "nguyen van an", "since": "2026-03-10", "until": "2026-03-12"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Tìm thấy 2 người" in html
    assert html.index("Nguyễn Văn An") < html.index("Nguyễn Văn Ân")
    # Both people's visits in the window are offered; the tracer keeps the index case's two.
    offered = checkbox_values(html)
    chosen = [scenario.visits["I1"].id, scenario.visits["I2"].id]
    assert {str(v) for v in chosen} <= set(offered)
    assert str(scenario.visits["an-old"].id) not in offered   # 5 March: outside the window

    page = client.get("/tracing/contacts", query_string=[("visit_id", v) for v in chosen])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    rows = table_rows(html, "contacts")
    # Vietnamese pages write minutes with a decimal comma.
    assert [(r[1], r[5].split(" ")[0], vi_float(r[8]), vi_float(r[9])) for r in rows] == [
        (name, venue, overlap, together) for name, venue, overlap, together, _ in EXPECTED_CONTACTS
    ]
    assert rows[0][2] == "0912 000 008"          # phone numbers as people dial them
    assert "chưa ra" in rows[1][7] and "09:15 12/03/2026" in rows[1][7]   # Lan: open, until now
    devices = table_rows(html, "devices")
    assert [(r[2], r[3], vi_float(r[7]), int(r[8])) for r in devices] == EXPECTED_DEVICES
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["index.search", "contacts.query"]


def test_buffers_are_configurable_per_query(client, scenario, tracer):
    html = client.get("/tracing/contacts", query_string=[
        ("visit_id", scenario.visits["I2"].id), ("before_min", 15), ("after_min", 0)]
    ).get_data(as_text=True)
    assert [r[1] for r in table_rows(html, "contacts")] == ["Bùi Thị Lan", "Đỗ Văn Minh"]


def test_bad_input_is_explained_on_the_page(client, scenario, tracer, session):
    page = client.get("/tracing/", query_string={"q": "an", "since": "hôm qua",
                                                 "until": "2026-03-12"})
    assert page.status_code == 422
    assert "Không phải ngày giờ hợp lệ" in page.get_data(as_text=True)
    page = client.get("/tracing/contacts", query_string={"visit_id": "1",
                                                         "after_min": "9999"})
    assert page.status_code == 422 and "Số phút phải từ 0 đến 1440" in page.get_data(as_text=True)
    page = client.get("/tracing/contacts")
    assert page.status_code == 422 and "chọn ít nhất một lượt" in page.get_data(as_text=True)
    assert session.exec(select(AuditEvent)).all() == []


def test_english_on_the_toggle(client, scenario, tracer):
    client.get("/lang/en")
    html = client.get("/tracing/", query_string={"q": "0912345678", "since": "2026-03-10",
                                                 "until": "2026-03-12"}).get_data(as_text=True)
    assert "1 people found" in html and "Find contacts" in html


def test_csv_download_from_the_console(client, scenario, tracer, session):
    response = client.get("/tracing/contacts/export", query_string=[
        ("format", "csv"), ("visit_id", scenario.visits["I1"].id),
        ("visit_id", scenario.visits["I2"].id)])
    assert response.status_code == 200
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    disposition = response.headers["Content-Disposition"]
    assert disposition == ('attachment; filename="tiep-xuc_BVHK-UBND_20260310-2300_'
                           '20260312-0900.csv"')
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    # One charset, once (werkzeug adds it to text types: the export must not add its own).
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    # One table a file: the header, then rows whose "Loại" says person or phone heard.
    header = rows[0]
    assert header[0] == "Loại" and "Phút trùng (có khoảng đệm)" in header
    assert all(len(row) == len(header) for row in rows)
    people = [r for r in rows[1:] if r[0] == "Người"]
    assert [r[header.index("Họ và tên")] for r in people] == [c[0] for c in EXPECTED_CONTACTS]
    assert {r[0] for r in rows[1:]} == {"Người", "Thiết bị"}
    # ID numbers stay text in a spreadsheet (leading zeros kept); phones are written as dialled.
    ids = [r[header.index("Số giấy tờ")] for r in people]
    assert all(i == "" or (i.startswith('="') and i.endswith('"')) or not i.isdigit()
               for i in ids)
    assert any(i.startswith('="0') for i in ids)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "contacts.export")).one()
    assert event.actor == "thu" and event.file_sha256 == hashlib.sha256(data).hexdigest()
    assert event.row_count == 10


def test_venue_visit_list_page_and_export(client, scenario, tracer):
    page = client.get("/tracing/visits", query_string={
        "venue": "UBND", "since": "2026-03-12T07:00", "until": "2026-03-12T09:30"})
    html = page.get_data(as_text=True)
    assert [r[0] for r in table_rows(html, "visits")] == [
        "Bùi Thị Lan", "Đỗ Văn Minh", "Nguyễn Văn An", "Nguyễn Văn Ân"]
    response = client.get("/tracing/visits/export", query_string={
        "format": "pdf", "venue": "UBND", "since": "2026-03-12T07:00",
        "until": "2026-03-12T09:30"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "luot-vao_UBND_20260312-0700_20260312-0930.pdf" in \
        response.headers["Content-Disposition"]


def test_admin_sees_the_audit_log_and_where_an_edit_broke_it(client, scenario, make_user, login,
                                                            session):
    login(make_user("admin", username="quan"))
    for _ in range(3):
        client.get("/tracing/contacts", query_string={"visit_id": scenario.visits["I1"].id})
    html = client.get("/tracing/audit?verify=1").get_data(as_text=True)
    assert "Chuỗi nhật ký nguyên vẹn: đã kiểm tra 3 mục." in html
    assert len(table_rows(html, "audit-events")) == 3
    # Someone edits the row count of the second query by hand in the database.
    session.exec(text("UPDATE audit_event SET row_count = 0 WHERE seq = 2"))
    session.commit()
    html = client.get("/tracing/audit?verify=1").get_data(as_text=True)
    assert "Chuỗi bị đứt tại mục số 2: nội dung của mục này đã bị sửa sau khi ghi." in html
    assert '<tr class="broken" aria-current="true">' in html
    # Deleting the first one instead is caught as well.
    session.exec(text("DELETE FROM audit_event WHERE seq = 1"))
    session.commit()
    html = client.get("/tracing/audit?verify=1").get_data(as_text=True)
    assert "Chuỗi bị đứt tại mục số 1: mục này đã bị xoá." in html


def test_tracers_cannot_open_the_audit_log(client, tracer):
    assert client.get("/tracing/audit").status_code == 403


def _flag(session, scenario, key: str, **answers):
    """Give a contact's visit a declaration that flagged them at the door."""
    from declarations.models import Declaration
    from visits.models import Visit

    visit = session.get(Visit, scenario.visits[key].id)
    declaration = Declaration(
        visitor_id=visit.visitor_id, submitted_at=visit.checked_in_at, source="phone_form",
        travel_14d=False, status="needs_review", rules_version="default-1",
        consent_processing=True, consent_sensitive_health=True, consent_text_version="test",
        consent_at=visit.checked_in_at, symptoms=answers.get("symptoms", []),
        exposures=answers.get("exposures", []))
    session.add(declaration)
    session.flush()
    visit.declaration_id, visit.status = declaration.id, "needs_review"
    session.add(visit)
    session.commit()
    return visit


def test_contacts_say_who_was_flagged_or_declared_signs_on_the_page_and_in_every_file(
        client, scenario, tracer, session):
    import pypdf

    _flag(session, scenario, "hung", symptoms=["fever", "cough"])
    chosen = [("visit_id", scenario.visits["I1"].id), ("visit_id", scenario.visits["I2"].id)]
    html = client.get("/tracing/contacts", query_string=chosen).get_data(as_text=True)
    rows = {r[1]: r for r in table_rows(html, "contacts")}
    assert rows["Đặng Văn Hùng"][4] == "bị gắn cờ, chờ quyết định: Sốt, Ho"
    assert rows["Phạm Thị Dung"][4] == "—"

    data = client.get("/tracing/contacts/export",
                      query_string=[("format", "csv"), *chosen]).get_data()
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    health = table[0].index("Sức khỏe khi khai báo")
    by_name = {r[table[0].index("Họ và tên")]: r for r in table[1:] if r[0] == "Người"}
    assert by_name["Đặng Văn Hùng"][health] == "Chờ xem xét: Sốt, Ho"
    # A visit still open says so, as the page does, not an empty cell.
    out = table[0].index("Đến (giờ Việt Nam)")
    assert by_name["Vũ Thị Giang"][out] == "chưa ra"

    pdf = client.get("/tracing/contacts/export", query_string=[("format", "pdf"), *chosen])
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(
        pdf.get_data())).pages)
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    assert "Chờ xem xét: Sốt, Ho" in text and "chưa ra" in text
    # Every column heading whole, never cut with an ellipsis.
    assert "…" not in text
    for heading in ("Mã địa điểm", "Phút cùng lúc", "Sức khỏe khi khai báo"):
        assert heading in text.replace("\n", " "), heading


def test_the_audit_log_speaks_the_admins_language(client, scenario, make_user, login, session):
    """Actions and details in words, never codes or JSON; every action the code records has
    its words."""
    import re as regex
    from pathlib import Path

    from tracing.audit_words import ACTIONS

    login(make_user("admin", username="quantri"))
    chosen = [("visit_id", scenario.visits["I1"].id)]
    client.get("/tracing/contacts", query_string=chosen)
    client.get("/tracing/contacts/export", query_string=[("format", "csv"), *chosen])
    html = client.get("/tracing/audit").get_data(as_text=True)
    table = html[html.index('id="audit-events"'):]
    assert "Xem danh sách tiếp xúc" in table and "Xuất danh sách tiếp xúc" in table
    assert "contacts.export" not in table and "contacts.query" not in table
    assert "{&#34;" not in table and '{"' not in table  # no raw JSON
    assert "<dt>qua</dt><dd>trang tra cứu</dd>" in table
    assert "<dt>định dạng</dt><dd>csv</dd>" in table

    root = Path(__file__).resolve().parents[2]
    recorded = set()
    for path in root.glob("*/*.py"):
        if ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "record_audit" in text:
            recorded |= set(regex.findall(r'action="([a-z_]+\.[a-z_.]+)"', text))
            recorded |= set(regex.findall(r'"([a-z_]+\.[a-z_]+)" if ', text))
            recorded |= set(regex.findall(r' else "([a-z_]+\.[a-z_]+)"', text))
    assert recorded and recorded <= set(ACTIONS), sorted(recorded - set(ACTIONS))


def test_roles_are_named_in_words(client, make_user, login):
    login(make_user("receptionist", username="mai"))
    html = client.get("/").get_data(as_text=True)
    assert "(Lễ tân)" in html and "(receptionist)" not in html


def _dict_keys(nodes) -> set[str]:
    import ast

    found = set()
    for node in nodes:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Dict):
                found |= {k.value for k in inner.keys
                          if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return found


def test_every_audit_detail_has_a_name_in_words():
    """Each key a feature puts in an audit event's details is named on the audit page (found in
    the code: dict literals and update() keywords in every function that records an event, and
    in the helpers that build details)."""
    import ast
    from pathlib import Path

    from tracing.audit_words import DETAIL_NAMES

    root = Path(__file__).resolve().parents[2]
    keys = set()
    for path in root.glob("*/*.py"):
        if ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "record_audit" not in text and "def audit_details" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef):
                continue
            if node.name == "audit_details":
                keys |= _dict_keys(n for n in ast.walk(node) if isinstance(n, ast.Return))
                continue
            for call in ast.walk(node):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", None)
                        == "record_audit"):
                    continue
                value = next((k.value for k in call.keywords if k.arg == "details"), None)
                if isinstance(value, ast.Dict):
                    keys |= _dict_keys([value])
                elif isinstance(value, ast.Name):  # built earlier in the function
                    for inner in ast.walk(node):
                        if (isinstance(inner, ast.Assign) and any(
                                getattr(t, "id", None) == value.id for t in inner.targets)):
                            keys |= _dict_keys([inner.value])
                        if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
                                and inner.func.attr == "update"
                                and getattr(inner.func.value, "id", None) == value.id):
                            keys |= {k.arg for k in inner.keywords if k.arg}
    assert keys, "no audit details found"
    assert sorted(keys - set(DETAIL_NAMES)) == []
