"""Paper-list import: the form's rules per row, line numbers for every problem, all or nothing."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from core.models import AuditEvent
from tests.tracing.conftest import local
from tracing.contacts import LOCAL_TZ
from tracing.importing import parse_rows
from visits.models import Visit, Visitor

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
HEADER = "venue_code,full_name,phone,id_number,checked_in_at,checked_out_at\n"
GOOD = (
    HEADER
    + "BVHK,Nguyễn Văn An,0912 345 678,001090012345,2026-03-11T08:00:00+07:00,"
      "2026-03-11T09:30:00+07:00\n"
    + "bvhk,  trần   thị bình ,+84 912 000 001,001190000001,2026-03-11T08:15:00+07:00,\n"
    + "BVHK,Nguyễn Văn An,0912345678,001090012345,2026-03-11T06:00:00Z,"
      "2026-03-11T07:00:00Z\n"
)
BAD = (
    HEADER
    + "BVHK,Nguyễn Văn An,0912345678,001090012345,2026-03-11T08:00:00+07:00,\n"
    + "BVHK,Lê Văn Cường,12345,001090000002,2026-03-11T08:00:00+07:00,\n"
    + "BVHK,Phạm Thị Dung,0912000003,001190000003,11/03/2026 08:00,\n"
    + "BVHK,=cmd|' /C calc'!A0,0912000004,001190000004,2026-03-11T08:00:00+07:00,"
      "2026-03-11T07:00:00+07:00\n"
    + "NOPE,Hoàng Văn Em,0912000005,001190000005,2026-03-11T08:00:00+07:00,\n"
)


@pytest.fixture
def venue(clock, make_venue):
    clock.set(NOW)
    return make_venue(code="BVHK", name="Bệnh viện Hoàn Kiếm")


def _write(tmp_path, text, name="danh-sach.csv", bom=True):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_good_file_creates_visitors_and_visits_in_one_audited_step(runner, venue, session,
                                                                   tmp_path):
    path = _write(tmp_path, GOOD)
    result = runner.invoke(args=["visits", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 3 visits (2 new visitors)" in result.output
    people = {v.full_name: v for v in session.exec(select(Visitor))}
    assert set(people) == {"Nguyễn Văn An", "trần thị bình"}
    an = people["Nguyễn Văn An"]
    assert (an.phone_e164, an.id_number, an.id_type, an.name_folded) == (
        "+84912345678", "001090012345", "cccd", "nguyen van an")
    assert people["trần thị bình"].name_folded == "tran thi binh"
    visits = session.exec(select(Visit).order_by(Visit.checked_in_at)).all()
    assert [(v.opened_by, v.closed_by) for v in visits] == [
        ("import", "staff"), ("import", None), ("import", "staff")]
    assert visits[0].checked_in_at == local(11, 8) and visits[0].checked_out_at == local(11, 9, 30)
    event = session.exec(select(AuditEvent)).one()
    assert (event.action, event.row_count) == ("visits.import", 3)
    assert event.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.details["filename"] == "danh-sach.csv"


def test_imported_visits_are_found_by_tracing(runner, venue, session, tmp_path, client,
                                              make_user, api_token):
    runner.invoke(args=["visits", "import", str(_write(tmp_path, GOOD))])
    token = api_token(make_user("tracer"))
    body = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {token}"},
                      query_string={"phone": "0912345678", "since": "2026-03-11",
                                    "until": "2026-03-11"}).get_json()
    # An was there 08:00-09:30 and 13:00-14:00; Bình signed in at 08:15 and never signed out,
    # so with no closing rules at this venue her visit counts until now.
    assert [(c["visitor"]["full_name"], c["overlap_min"], c["simultaneous_min"])
            for c in body["contacts"]] == [("trần thị bình", 105, 75), ("trần thị bình", 90, 60)]


def test_bad_rows_are_reported_by_line_and_nothing_is_stored(runner, venue, session, tmp_path):
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, BAD))])
    assert result.exit_code == 1
    output = result.output
    assert "line 3 (phone): Số điện thoại không hợp lệ" in output
    assert "line 4 (checked_in_at): Giờ chưa kèm múi giờ" in output
    assert "line 5 (full_name)" in output
    assert "line 5 (checked_out_at): Giờ ra sớm hơn giờ vào" in output
    assert "line 6 (venue_code): Không có địa điểm nào mang mã NOPE" in output
    assert "line 2" not in output
    assert "5 problem(s); nothing was imported" in output
    assert session.exec(select(Visitor)).all() == []
    assert session.exec(select(Visit)).all() == []
    assert session.exec(select(AuditEvent)).all() == []


def test_importing_the_same_file_twice_is_refused_the_second_time(runner, venue, session,
                                                                  tmp_path):
    path = _write(tmp_path, GOOD)
    assert runner.invoke(args=["visits", "import", str(path)]).exit_code == 0
    result = runner.invoke(args=["visits", "import", str(path)])
    assert result.exit_code == 1 and "line 2" in result.output
    assert "đã được ghi nhận" in result.output
    assert len(session.exec(select(Visit)).all()) == 3
    assert len(session.exec(select(Visitor)).all()) == 2


def test_a_returning_person_is_not_duplicated(runner, venue, session, tmp_path, make_visitor):
    existing = make_visitor(full_name="Nguyễn Văn An", name_folded="nguyen van an",
                            phone_e164="+84912345678", id_number="001090012345")
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, GOOD))])
    assert "(1 new visitors)" in result.output
    an_visits = session.exec(select(Visit).where(Visit.visitor_id == existing.id)).all()
    assert len(an_visits) == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("", "Tệp trống"),
    ("name,phone\nAn,0912345678\n", "Dòng đầu tiên phải đúng là"),
    (HEADER, "Tệp không có lượt vào nào"),
    (HEADER + "BVHK,An Nguyễn,0912345678,001090012345\n", "có 4 cột thay vì 6"),
    (HEADER + "BVHK,Nguyễn An,0912345678,001090012345,2026-03-20T08:00+07:00,\n",
     "ở tương lai"),
    (HEADER + "BVHK,Nguyễn An,0912345678,001090012345,2026-02-01T08:00+07:00,\n",
     "Cũ hơn thời hạn lưu trữ (21 ngày)"),
    (HEADER + "BVHK,Nguyễn An,0912345678,001090012345,2026-03-08T08:00+07:00,"
              "2026-03-11T08:00+07:00\n", "quá hai ngày"),
    # The ID number may be empty (paper lists), but not both the phone and the ID number.
    (HEADER + "BVHK,Nguyễn An,,,2026-03-11T08:00+07:00,\n", "(phone)"),
])
def test_file_level_problems(runner, venue, tmp_path, text, expected):
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, text))])
    assert result.exit_code == 1
    assert expected in result.output


def test_a_windows_1258_file_is_refused_with_advice(runner, venue, tmp_path):
    path = tmp_path / "cp.csv"
    path.write_bytes(HEADER.encode() + "BVHK,Tr\xe2n,0912345678,001090012345,".encode("latin-1")
                     + b"2026-03-11T08:00+07:00,\n")
    result = runner.invoke(args=["visits", "import", str(path)])
    assert result.exit_code == 1 and "CSV UTF-8" in result.output


def test_semicolon_separated_files_from_excel_are_read(runner, venue, session, tmp_path):
    text = GOOD.replace(",", ";")
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, text))])
    assert result.exit_code == 0, result.output


def test_upload_page_good_and_bad_files(client, venue, session, make_user, login):
    login(make_user("tracer"))
    page = client.get("/tracing/import")
    assert page.status_code == 200 and "Nhập danh sách giấy" in page.get_data(as_text=True)
    response = client.post("/tracing/import", data={
        "file": (io.BytesIO(BAD.encode()), "bad.csv")}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Chưa nhập dòng nào: có 5 lỗi." in html
    from tests.tracing.pages import table_rows

    rows = table_rows(html, "import-problems")
    assert [(r[0], r[1]) for r in rows] == [("3", "phone"), ("4", "checked_in_at"),
                                             ("5", "full_name"), ("5", "checked_out_at"),
                                             ("6", "venue_code")]
    assert session.exec(select(Visit)).all() == []
    response = client.post("/tracing/import", data={
        "file": (io.BytesIO(GOOD.encode()), "good.csv")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "Đã nhập 3 lượt vào (2 người mới)." in response.get_data(as_text=True)
    assert len(session.exec(select(Visit)).all()) == 3
    response = client.post("/tracing/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Vui lòng chọn tệp CSV." in \
        response.get_data(as_text=True)


def test_receptionists_cannot_import(client, venue, make_user, login):
    login(make_user("receptionist"))
    assert client.get("/tracing/import").status_code == 403


@given(st.text(max_size=300))
@settings(max_examples=200)
def test_any_text_parses_to_rows_or_problems_never_an_exception(text):
    rows, problems = parse_rows(HEADER + text)
    assert rows or problems
    for problem in problems:
        assert problem.line >= 1


PAPER = (
    HEADER
    # A paper sign-in sheet: a name and a phone, nothing more.
    + "BVHK,Đỗ Thị Giấy,0912 777 001,,2026-03-11T08:05:00+07:00,2026-03-11T08:50:00+07:00\n"
    + "BVHK,Vũ Văn Chỉ Tên,,001190000009,2026-03-11T08:10:00+07:00,2026-03-11T08:40:00+07:00\n"
    + "BVHK,Nguyễn Văn An,0912345678,001090012345,2026-03-11T08:00:00+07:00,"
      "2026-03-11T09:30:00+07:00\n"
)


def test_paper_rows_with_a_name_and_a_phone_import_and_are_traced(runner, venue, session,
                                                                  tmp_path, client, make_user,
                                                                  api_token, make_visitor):
    # Someone else with the same phone but no ID number is not merged by a missing value.
    make_visitor(full_name="Đỗ Thị Giấy", phone_e164="+84912000999", id_number=None)
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, PAPER))])
    assert result.exit_code == 0, result.output
    assert "imported 3 visits (3 new visitors)" in result.output
    giay = session.exec(select(Visitor).where(Visitor.phone_e164 == "+84912777001")).one()
    assert (giay.full_name, giay.id_number, giay.id_type) == ("Đỗ Thị Giấy", None, None)
    token = {"Authorization": f"Bearer {api_token(make_user('tracer'))}"}
    # The index case's contacts include the paper rows, with or without an ID number ...
    body = client.get("/api/v1/contacts", headers=token, query_string={
        "phone": "0912345678", "since": "2026-03-11", "until": "2026-03-11"}).get_json()
    assert sorted(c["visitor"]["full_name"] for c in body["contacts"]) == [
        "Vũ Văn Chỉ Tên", "Đỗ Thị Giấy"]
    # ... and a paper row with only a phone can itself be the index case.
    body = client.get("/api/v1/contacts", headers=token, query_string={
        "phone": "0912 777 001", "since": "2026-03-11", "until": "2026-03-11"}).get_json()
    assert sorted(c["visitor"]["full_name"] for c in body["contacts"]) == [
        "Nguyễn Văn An", "Vũ Văn Chỉ Tên"]


def test_a_row_needs_a_phone_or_an_id_number(runner, venue, session, tmp_path):
    text = HEADER + "BVHK,Chỉ Có Tên,,,2026-03-11T08:00:00+07:00,\n"
    result = runner.invoke(args=["visits", "import", str(_write(tmp_path, text))])
    assert result.exit_code == 1
    assert "line 2 (phone): Hãy nhập số điện thoại hoặc số giấy tờ." in result.output
    assert session.exec(select(Visitor)).all() == []
