"""A streaming XLSX (Office Open XML spreadsheet) writer for exports: one sheet per table, a bold
header row frozen at the top, column widths, real dates and numbers.

Why not openpyxl: its write-only mode builds an object per cell and an XML element per cell;
for a 100,000-row contact list that took most of the export's time. The rows here become sheet
XML text directly and stream into a deflated ZIP member, so memory stays flat however long the
list is. openpyxl still reads the files back in the tests, and the parts written are the minimal
set that Excel, LibreOffice and Google Sheets open (ECMA-376 part 1: workbook, worksheets,
styles, content types, relationships; strings inline, no shared-string table).
"""
from __future__ import annotations

import math
import re
import zipfile
from datetime import date, datetime
from typing import BinaryIO, Iterable, Sequence
from xml.sax.saxutils import quoteattr

# Style indexes into cellXfs below.
PLAIN, BOLD, DATETIME, DATE, TEXT_AS_TYPED = range(5)
EXCEL_EPOCH = datetime(1899, 12, 30)
MAX_SHEET_NAME = 31
# Text a spreadsheet cell cannot hold (XML 1.0 forbids these characters): shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")
# Rows are joined into chunks of this many before being written to the ZIP member.
ROWS_PER_WRITE = 500

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_STYLES = (
    _XML_DECL
    + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2">'
    '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd"/>'
    '</numFmts>'
    '<fonts count="2">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '</fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" '
    'quotePrefix="1"/>'
    '</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)


def column_letter(index: int) -> str:
    """1 → A, 26 → Z, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_text(value: str) -> str:
    """Element text: XML's three specials, a carriage return kept as a character reference (a
    parser would read a bare one back as a line feed), characters XML cannot carry replaced."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return _NOT_XML.sub("\ufffd", value)


def excel_serial(value: datetime | date) -> float:
    """Days since Excel's epoch (1900 date system), time of day as the fraction: naive wall-clock
    time, as Excel has no time zones."""
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - EXCEL_EPOCH
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return float((value - EXCEL_EPOCH.date()).days)


def sheet_names(titles: Iterable[str]) -> list[str]:
    """Excel's rules: ≤ 31 characters, none of []:*?/\\, not starting or ending with a quote,
    unique ignoring case."""
    names: list[str] = []
    taken: set[str] = set()
    for title in titles:
        base = _SHEET_UNSAFE.sub(" ", _NOT_XML.sub(" ", title)).strip("'")[:MAX_SHEET_NAME]
        base = base or "Sheet"
        name, number = base, 1
        while name.casefold() in taken:
            number += 1
            suffix = f" ({number})"
            name = base[:MAX_SHEET_NAME - len(suffix)] + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


class SheetSpec:
    """What a sheet needs besides its rows: a header and a width per column (characters)."""

    def __init__(self, title: str, headers: Sequence[str], widths: Sequence[float]):
        self.title, self.headers, self.widths = title, list(headers), list(widths)


def write_workbook(out: BinaryIO, sheets: Iterable[tuple[SheetSpec, Iterable[Sequence]]], *,
                   text_as_typed=lambda value: False) -> None:
    """Write a workbook to `out` (any binary file; it need not be seekable). `sheets` yields a
    spec and its rows; each row is written as it comes. Cells: str (inline text; a string for
    which `text_as_typed` is true is stored with Excel's quote prefix, so it is never read as a
    formula), int/float, bool, datetime/date (local wall-clock time: aware values must already
    be converted), None (an empty cell); anything else is written as its str()."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as package:
        specs: list[SheetSpec] = []
        for number, (spec, rows) in enumerate(sheets, start=1):
            specs.append(spec)
            with package.open(f"xl/worksheets/sheet{number}.xml", "w",
                              force_zip64=True) as member:
                _write_sheet(member, spec, rows, text_as_typed)
        if not specs:
            raise ValueError("a workbook needs at least one sheet")
        names = sheet_names(spec.title for spec in specs)
        count = len(specs)
        package.writestr("[Content_Types].xml", _content_types(count))
        package.writestr("_rels/.rels", _XML_DECL + (
            f'<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'))
        package.writestr("xl/workbook.xml", _XML_DECL + (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
            + "".join(f'<sheet name={quoteattr(name)} sheetId="{n}" r:id="rId{n}"/>'
                      for n, name in enumerate(names, start=1))
            + '</sheets></workbook>'))
        package.writestr("xl/_rels/workbook.xml.rels", _XML_DECL + (
            f'<Relationships xmlns="{_PKG_REL}">'
            + "".join(f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" '
                      f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, count + 1))
            + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            '</Relationships>'))
        package.writestr("xl/styles.xml", _STYLES)


def _content_types(count: int) -> str:
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    return _XML_DECL + (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
                  for n in range(1, count + 1))
        + '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '</Types>')


def _write_sheet(member, spec: SheetSpec, rows: Iterable[Sequence], text_as_typed) -> None:
    letters = [column_letter(i) for i in range(1, max(len(spec.headers), 1) + 1)]
    cols = "".join(f'<col min="{i}" max="{i}" width="{width:g}" customWidth="1"/>'
                   for i, width in enumerate(spec.widths, start=1))
    head = (_XML_DECL + f'<worksheet xmlns="{_MAIN}">'
            '<sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            '</sheetView></sheetViews>'
            '<sheetFormatPr defaultRowHeight="15"/>'
            + (f"<cols>{cols}</cols>" if cols else "")
            + '<sheetData><row r="1">'
            + "".join(f'<c r="{letters[i]}1" s="{BOLD}" t="inlineStr"><is><t xml:space="preserve">'
                      f'{escape_text(h)}</t></is></c>' for i, h in enumerate(spec.headers))
            + '</row>')
    member.write(head.encode("utf-8"))
    parts: list[str] = []
    number = 1
    for row in rows:
        number += 1
        if len(row) > len(letters):
            letters.extend(column_letter(i) for i in range(len(letters) + 1, len(row) + 1))
        parts.append(f'<row r="{number}">')
        for index, value in enumerate(row):
            if value is None:
                continue
            ref = f"{letters[index]}{number}"
            kind = value.__class__
            if kind is int or kind is float and math.isfinite(value):
                parts.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            elif kind is bool:
                parts.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, (datetime, date)):
                style = DATETIME if isinstance(value, datetime) else DATE
                parts.append(f'<c r="{ref}" s="{style}"><v>{excel_serial(value)!r}</v></c>')
            else:   # text, and anything else (inf, NaN, a time of day) as its text
                text = value if kind is str else str(value)
                if text:
                    style = f' s="{TEXT_AS_TYPED}"' if text_as_typed(text) else ""
                    parts.append(f'<c r="{ref}"{style} t="inlineStr"><is>'
                                 f'<t xml:space="preserve">{escape_text(text)}</t></is></c>')
        parts.append("</row>")
        if number % ROWS_PER_WRITE == 0:
            member.write("".join(parts).encode("utf-8"))
            parts.clear()
    parts.append("</sheetData></worksheet>")
    member.write("".join(parts).encode("utf-8"))
