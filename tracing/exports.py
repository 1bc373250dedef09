"""Export files for tracers: CSV (UTF-8 with BOM), XLSX and printable PDF, Vietnamese headers.

Rows arrive as an iterator and are written as they come, so a 100,000-row list never sits in
memory. Every text cell that a spreadsheet could read as a formula is neutralised: contact lists
are opened by health officers in Excel, and luca's CSV-injection incident showed what a visitor
typing "=…" into a name field can do. CSV has no types, so such cells get a leading quote
(OWASP); XLSX stores them as text with Excel's quote-prefix flag, so they show unchanged.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from tracing.contacts import LOCAL_TZ

FORMATS = ("csv", "xlsx", "pdf")
MIMETYPES = {
    "csv": "text/csv",  # the web layer adds "; charset=utf-8" (once)
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
}
# Cells starting with these are formulas or DDE commands to Excel, LibreOffice and Sheets (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A PDF is for printing: fpdf2 keeps the document in memory, and 20,000 rows are already
# some 550 pages. Longer lists go to CSV or XLSX, which stream.
PDF_MAX_ROWS = 20_000
# Small exports stay in memory; larger ones spill to an unnamed temporary file.
SPOOL_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024

# Where Debian/Ubuntu (fonts-dejavu-core, installed by `make`), Fedora and Arch put DejaVu Sans,
# whose glyphs cover Vietnamese; a copy in static/fonts/ wins when an installer ships one.
_FONT_DIRS = (
    Path(__file__).resolve().parent.parent / "static" / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


class ExportError(ValueError):
    """The export cannot be made (too many rows for a PDF, no font); `code` says which."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class Column:
    header: str          # Vietnamese: the file is for Vietnamese health officers
    kind: str = "text"   # text | datetime | number | id (digits that must stay text: ID numbers)
    width: float = 1.0   # relative width in the PDF


@dataclass
class Table:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence]
    row_count: int = field(default=0, init=False)


def neutralise(value: str) -> str:
    """Prefix a quote so the cell is shown as text, never evaluated."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ)


def _text(value, kind: str, *, date_format: str = "%Y-%m-%d %H:%M:%S",
          decimal_comma: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value).strftime(date_format)
    if isinstance(value, float):
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
        return text.replace(".", ",") if decimal_comma else text
    return str(value)


def _counted(table: Table) -> Iterator[Sequence]:
    for row in table.rows:
        table.row_count += 1
        yield row


# --- CSV ----------------------------------------------------------------------------------------

def write_csv(out: BinaryIO, tables: Sequence[Table]) -> None:
    """One table (the header, then the rows: a spreadsheet's filter works on one table a file),
    UTF-8 with BOM: without it Excel reads the file as Windows-1258 and mangles every name.
    Columns of kind "id" keep digit strings as text (see _csv_id)."""
    if len(tables) != 1:
        raise ExportError("one_table_per_csv", f"{len(tables)} tables")
    [table] = tables
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        text.write(codecs.BOM_UTF8.decode("utf-8"))
        writer = csv.writer(text)
        writer.writerow([neutralise(c.header) for c in table.columns])
        ids = [i for i, c in enumerate(table.columns) if c.kind == "id"]
        count = 0
        for row in table.rows:
            cells = [_csv_cell(v) for v in row]
            for i in ids:
                cells[i] = _csv_id(cells[i])
            writer.writerow(cells)
            count += 1
        table.row_count += count
        text.flush()
    finally:
        text.detach()  # the caller owns `out`


_DIGITS = re.compile(r"[0-9]+")


def _csv_id(cell: str) -> str:
    """An ID number of digits only ("001090012345") as ="001090012345": Excel and LibreOffice
    would otherwise read it as a number and drop the leading zeros (or show 1.09E+09). The
    formula is ours and holds digits only, so it cannot carry an injection; anything else
    (passport numbers, phones written with spaces) is text already and stays as it is."""
    return f'="{cell}"' if _DIGITS.fullmatch(cell) else cell


def _csv_cell(value) -> str:
    """_text / neutralise for one CSV cell, the common types first (called once per cell)."""
    kind = value.__class__
    if kind is str:
        return "'" + value if value and value.startswith(FORMULA_TRIGGERS) else value
    if value is None:
        return ""
    if kind is datetime:
        # Same text as strftime("%Y-%m-%d %H:%M:%S"), a few times faster.
        return value.astimezone(LOCAL_TZ).isoformat(" ", "seconds")[:19]
    if isinstance(value, str):
        return neutralise(value)
    return _text(value, "text")


# --- XLSX ---------------------------------------------------------------------------------------

def write_xlsx(out: BinaryIO, tables: Sequence[Table]) -> None:
    """One sheet per table, real dates and numbers, written as the rows come
    (`tracing/xlsx.py`), so memory stays flat. Dates are local wall-clock time (Excel has no
    time zones). A string that a spreadsheet would evaluate is stored as text with Excel's own
    quote prefix: it shows exactly as typed ("+84912345678", a name starting with "=") and is
    never evaluated, not even on editing."""
    from tracing.xlsx import SheetSpec, write_workbook

    def sheets():
        for table in tables:
            spec = SheetSpec(table.title, [neutralise(c.header) for c in table.columns],
                             [10 + 12 * c.width for c in table.columns])
            yield spec, (_xlsx_row(row) for row in _counted(table))

    write_workbook(out, sheets(), text_as_typed=lambda value: value.startswith(FORMULA_TRIGGERS))


def _xlsx_row(row: Sequence) -> list:
    return [_local(v).replace(tzinfo=None) if isinstance(v, datetime) else v for v in row]


# --- PDF ----------------------------------------------------------------------------------------

def find_font(style: str = "") -> Path:
    name = "DejaVuSans-Bold.ttf" if style == "B" else "DejaVuSans.ttf"
    for folder in _FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise ExportError("font_missing", f"{name} not found; install fonts-dejavu-core")


def write_pdf(out: BinaryIO, tables: Sequence[Table], *, title: str,
              subtitle: Sequence[str] = ()) -> None:
    """A landscape A4 listing with the header row repeated on every page; headers and cells
    wrap inside their column instead of being cut."""
    from fpdf import FPDF

    class Listing(FPDF):
        def footer(self):
            self.set_y(-10)
            self.set_font("body", size=7)
            self.cell(0, 5, f"{title} — trang {self.page_no()}/{{nb}}", align="C")

    pdf = Listing(orientation="L", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(10, 10, 10)
    regular, bold = find_font(), find_font("B")
    try:
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold))
        pdf.set_title(title)
        pdf.add_page()
        pdf.set_font("body", "B", 13)
        pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", size=9)
        for line in subtitle:
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        line_h, bottom = 5.0, pdf.h - 14
        for table in tables:
            total = sum(c.width for c in table.columns)
            widths = [pdf.epw * c.width / total for c in table.columns]

            def wrapped_row(texts, height_of_line, *, fill=False):
                """One row whose cells wrap (never cut) and share the tallest cell's height."""
                lines = [pdf.multi_cell(w, height_of_line, t, dry_run=True, output="LINES")
                         for w, t in zip(widths, texts)]
                height = height_of_line * max(1, *(len(x) for x in lines))
                if pdf.get_y() + height > bottom:
                    return None
                x, y = pdf.get_x(), pdf.get_y()
                for w, cell_lines in zip(widths, lines):
                    if fill:
                        pdf.rect(x, y, w, height, style="DF")
                    else:
                        pdf.rect(x, y, w, height)
                    pdf.set_xy(x, y)
                    pdf.multi_cell(w, height_of_line, "\n".join(cell_lines), border=0,
                                   new_x="RIGHT", new_y="TOP")
                    x += w
                pdf.set_xy(pdf.l_margin, y + height)
                return height

            def header_row():
                pdf.set_font("body", "B", 8)
                pdf.set_fill_color(230, 230, 230)
                wrapped_row([c.header for c in table.columns], line_h - 1, fill=True)
                pdf.set_font("body", size=8)

            pdf.ln(3)
            pdf.set_font("body", "B", 11)
            pdf.cell(0, 7, table.title, new_x="LMARGIN", new_y="NEXT")
            header_row()
            for row in _counted(table):
                if table.row_count > PDF_MAX_ROWS:
                    raise ExportError("too_many_rows_for_pdf", str(PDF_MAX_ROWS))
                # A printed page is read in Vietnamese: 12,5 minutes.
                texts = [_text(value, column.kind, date_format="%H:%M %d/%m/%Y",
                               decimal_comma=True)
                         for value, column in zip(row, table.columns)]
                if wrapped_row(texts, line_h - 1) is None:
                    pdf.add_page()
                    header_row()
                    wrapped_row(texts, line_h - 1)
            if table.row_count == 0:
                pdf.cell(0, line_h, "(không có)", new_x="LMARGIN", new_y="NEXT")
        out.write(pdf.output())
    except BaseException:
        for font in pdf.fonts.values():  # output() closes the font files; an abort must too
            if hasattr(font, "close"):
                font.close()
        raise


# --- the file handed to the web or the CLI ------------------------------------------------------

@dataclass
class ExportFile:
    """A finished export in a temporary file: its name, type, size, SHA-256 and row count."""

    filename: str
    mimetype: str
    handle: BinaryIO
    size: int
    sha256: str
    row_count: int

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, once; the temporary file is closed when they are all out (or the
        reader stops early), so no copy of the personal data lingers."""
        try:
            self.handle.seek(0)
            while chunk := self.handle.read(CHUNK_BYTES):
                yield chunk
        finally:
            self.handle.close()

    def close(self) -> None:
        self.handle.close()

    def read(self) -> bytes:
        return b"".join(self.chunks())


def build(fmt: str, tables: Sequence[Table], *, filename: str, title: str,
          subtitle: Sequence[str] = ()) -> ExportFile:
    """Write the export into a spooled temporary file and hash it.

    The whole file is made before a byte leaves the server so that its SHA-256 and row count are
    known, and its audit event committed, before the tracer receives it: a crash or a dropped
    connection can then never leave an export that the audit log does not know about. The file
    is unnamed on disk (deleted on close), and memory stays flat because rows stream into it.
    """
    if fmt not in FORMATS:
        raise ExportError("unknown_format", fmt)
    handle = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        if fmt == "csv":
            write_csv(handle, tables)
        elif fmt == "xlsx":
            write_xlsx(handle, tables)
        else:
            write_pdf(handle, tables, title=title, subtitle=subtitle)
        digest = hashlib.sha256()
        size = 0
        handle.seek(0)
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    except BaseException:
        handle.close()
        raise
    return ExportFile(filename=f"{filename}.{fmt}", mimetype=MIMETYPES[fmt], handle=handle,
                      size=size, sha256=digest.hexdigest(),
                      row_count=sum(t.row_count for t in tables))


_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_stem(kind: str, label: str, since: datetime, until: datetime) -> str:
    """'luot-vao_DEMO_20260310-0000_20260311-0000': what, where, from, to (local time)."""
    def stamp(t: datetime) -> str:
        return _local(t).strftime("%Y%m%d-%H%M")

    label = _FILENAME_UNSAFE.sub("-", label).strip("-")[:60] or "all"
    return f"{kind}_{label}_{stamp(since)}_{stamp(until)}"
