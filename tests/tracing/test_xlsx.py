"""The streaming XLSX writer: what it writes reads back in openpyxl exactly (text, numbers, dates,
quote-prefixed text), every part is well-formed XML, and it writes to a stream that cannot seek."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from tracing.xlsx import SheetSpec, column_letter, escape_text, sheet_names, write_workbook

NOT_XML = {chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]}


def _book(sheets, **kwargs) -> bytes:
    out = io.BytesIO()
    write_workbook(out, sheets, **kwargs)
    return out.getvalue()


def _cells(data: bytes, sheet: str | None = None):
    workbook = load_workbook(io.BytesIO(data))
    return list((workbook[sheet] if sheet else workbook.worksheets[0]).iter_rows())


def test_header_types_styles_and_layout_read_back():
    spec = SheetSpec("Lượt vào", ["Họ và tên", "Số", "Giờ vào", "Ngày", "Đúng"],
                     [22, 10, 20, 12, 8])
    rows = [["Nguyễn Văn An", 42, datetime(2026, 3, 10, 8, 0, 5), date(2026, 3, 10), True],
            ["Đặng Thị Ánh Tuyết", 36.6, None, None, False],
            ["", -7, datetime(2026, 12, 31, 23, 59, 59), date(1999, 1, 1), None]]
    data = _book([(spec, iter(rows))])
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook["Lượt vào"]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width == 22
    cells = list(sheet.iter_rows())
    assert [c.value for c in cells[0]] == spec.headers and all(c.font.b for c in cells[0])
    assert [c.value for c in cells[1]] == rows[0][:3] + [datetime(2026, 3, 10), True]
    assert cells[1][2].is_date and cells[1][2].number_format == "yyyy\\-mm\\-dd\\ hh:mm:ss"
    assert cells[1][3].is_date
    assert [c.value for c in cells[2]] == ["Đặng Thị Ánh Tuyết", 36.6, None, None, False]
    assert [c.value for c in cells[3]][:3] == [None, -7, datetime(2026, 12, 31, 23, 59, 59)]
    assert not any(c.font.b for c in cells[1])


def test_text_as_typed_gets_the_quote_prefix_and_is_never_a_formula():
    payloads = ['=HYPERLINK("http://evil.example")', "+84912345678", "-2+3", "@SUM(1)"]
    data = _book([(SheetSpec("x", ["a"], [10]), ([p] for p in payloads))],
                 text_as_typed=lambda v: v[:1] in "=+-@")
    cells = [row[0] for row in _cells(data)[1:]]
    assert [c.value for c in cells] == payloads
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(
    st.text(), st.integers(-2**53, 2**53),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
    st.none()), min_size=1, max_size=4), max_size=20))
def test_any_cells_read_back_as_written(rows):
    data = _book([(SheetSpec("t", ["a", "b", "c", "d"], [10] * 4), iter(rows))])
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        for name in package.namelist():
            ElementTree.fromstring(package.read(name))    # every part is well-formed XML
    read = _cells(data)[1:]
    for written, cells in zip(rows, read, strict=False):
        for value, cell in zip(written, cells, strict=False):
            if isinstance(value, str):
                expected = "".join("\ufffd" if ch in NOT_XML or 0xD800 <= ord(ch) <= 0xDFFF
                                   else ch for ch in value) or None
                assert cell.value == expected
            elif isinstance(value, datetime):
                # Excel keeps milliseconds; openpyxl rounds to them on reading.
                assert abs(cell.value - value) <= timedelta(milliseconds=1)
            elif isinstance(value, float):
                assert cell.value == pytest.approx(value, rel=1e-15, abs=0)
            else:
                assert cell.value == value
    assert len(read) <= len(rows)   # trailing empty rows are not rows to a reader


def test_a_stream_that_cannot_seek_gets_a_readable_file():
    class Pipe(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += b
            return len(b)

    pipe = Pipe()
    write_workbook(pipe, [(SheetSpec("Một", ["Tên"], [10]), iter([["Lê Thị Hường"]])),
                          (SheetSpec("Hai", ["Tên"], [10]), iter([["Phó Đức Phương"]]))])
    assert _cells(bytes(pipe.data), "Hai")[1][0].value == "Phó Đức Phương"
    assert _cells(bytes(pipe.data), "Một")[1][0].value == "Lê Thị Hường"


def test_sheet_names_follow_excels_rules():
    names = sheet_names(["Lượt vào", "lượt VÀO", "a/b:c*d?[e]\\f", "'quoted'", "",
                         "Danh sách người tiếp xúc với ca bệnh F0 tại địa điểm"])
    assert names[:2] == ["Lượt vào", "lượt VÀO (2)"]
    assert names[2] == "a b c d  e  f"
    assert names[3] == "quoted" and names[4] == "Sheet"
    assert len(names[5]) == 31
    assert len({n.casefold() for n in names}) == len(names)


def test_a_workbook_needs_a_sheet():
    with pytest.raises(ValueError):
        write_workbook(io.BytesIO(), [])


def test_helpers():
    assert [column_letter(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
    assert escape_text("a<b>&c\r\x01") == "a&lt;b&gt;&amp;c&#13;\ufffd"


def test_memory_does_not_hold_the_rows():
    """200,000 rows are written through a generator: nothing keeps a list of them."""
    import tracemalloc

    def rows():
        for i in range(200_000):
            yield [f"Nguyễn Văn {i}", i, datetime(2026, 3, 10, 8, 0)]

    out = io.BytesIO()
    tracemalloc.start()
    try:
        write_workbook(out, [(SheetSpec("x", ["a", "b", "c"], [10] * 3), rows())])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The compressed file itself is in `out` (~2 MB); rows as objects or text would be ~50 MB.
    assert peak < 12 * 1024 * 1024, peak
