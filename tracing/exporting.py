"""Venue visit lists and contact lists as files (CSV, XLSX, PDF), with Vietnamese headings; every
export is audited with its row count and SHA-256."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable, Iterator

from flask_babel import force_locale
from sqlmodel import Session

from core.audit import record_audit
from core.models import User, Venue
from declarations.identity import format_phone
from tracing import exports
from tracing.contact_query import ContactReport, audit_details, find_contacts
from tracing.contacts import LOCAL_TZ
from tracing.errors import TracingError
from tracing.exports import Column, ExportFile, Table
from tracing.health_notes import health_notes
from tracing.visit_lists import Actor, iso_local, load_visits, visit_rows_meeting

logger = logging.getLogger(__name__)

CLOSED_BY_VI = {"scan": "Quét mã", "staff": "Lễ tân", "close_all": "Đóng tất cả",
                "automatic": "Tự động", None: "Chưa ra"}
STATUS_VI = {"clear": "Bình thường", "needs_review": "Chờ xem xét", "admitted": "Được cho vào",
             "turned_away": "Bị từ chối"}


TZ_NOTE = "giờ Việt Nam"
# What the console says for a visit still open; the files say the same, not an empty cell.
NOT_OUT = "chưa ra"
VISIT_COLUMNS = (
    Column("Mã lượt", "number", 0.5),
    Column("Mã địa điểm", "text", 0.7),
    Column("Họ và tên", "text", 1.6),
    Column("Số điện thoại", "id", 1.0),
    Column("Số giấy tờ", "id", 1.0),
    Column(f"Giờ vào ({TZ_NOTE})", "datetime", 1.1),
    Column(f"Giờ ra ({TZ_NOTE})", "datetime", 1.1),
    Column("Cách ra", "text", 0.8),
    Column("Trạng thái", "text", 0.9),
)
CONTACT_COLUMNS = (
    Column("Hạng", "number", 0.4),
    Column("Mã lượt", "number", 0.5),
    Column("Họ và tên", "text", 1.4),
    Column("Số điện thoại", "id", 0.9),
    Column("Số giấy tờ", "id", 0.9),
    # Whom a tracer calls first: flagged at the door, signs or contacts declared.
    Column("Sức khỏe khi khai báo", "text", 1.4),
    Column("Mã địa điểm", "text", 0.6),
    Column(f"Giờ vào ({TZ_NOTE})", "datetime", 0.9),
    Column(f"Giờ ra ({TZ_NOTE})", "datetime", 0.9),
    Column("Phút trùng (có khoảng đệm)", "number", 0.6),
    Column("Phút cùng lúc", "number", 0.6),
    Column("Lượt của ca bệnh", "number", 0.5),
)
DEVICE_COLUMNS = (
    Column("Hạng", "number", 0.4),
    Column("Giao thức", "text", 0.7),
    Column("Mã định danh tạm thời (rolling ID)", "text", 2.2),
    Column("Mã địa điểm", "text", 0.7),
    Column(f"Nghe thấy lần đầu ({TZ_NOTE})", "datetime", 1.1),
    Column(f"Nghe thấy lần cuối ({TZ_NOTE})", "datetime", 1.1),
    Column("Thời lượng (phút)", "number", 0.6),
    Column("Phút trùng", "number", 0.6),
    Column("RSSI mạnh nhất (dBm)", "number", 0.6),
    Column("Lượt của ca bệnh", "number", 0.6),
)


def _dialled(phone: str | None) -> str | None:
    """Phones as a tracer dials them ("0912 345 678"): no leading "+" for a spreadsheet to read
    as a formula, and the leading 0 kept (the spaces make it text, not a number)."""
    return format_phone(phone) if phone else None


def _visit_export_rows(session: Session, venue: Venue, since: datetime, until: datetime,
                       now: datetime) -> Iterator[tuple]:
    """The export's row (VISIT_COLUMNS) for each of list_visits, straight from the query's
    rows (streamed)."""
    code = venue.code
    for row, _end in visit_rows_meeting(session, venue, since, until, now, stream=True):
        (visit_id, _venue_id, _visitor_id, checked_in_at, checked_out_at, _opened_by, closed_by,
         status, full_name, phone, id_number, _id_type) = row
        yield (visit_id, code, full_name, _dialled(phone), id_number, checked_in_at,
               checked_out_at or NOT_OUT, CLOSED_BY_VI.get(closed_by, closed_by),
               STATUS_VI.get(status, status))


def _range_text(since: datetime, until: datetime) -> str:
    fmt = "%H:%M %d/%m/%Y"
    return (f"{since.astimezone(LOCAL_TZ).strftime(fmt)} – "
            f"{until.astimezone(LOCAL_TZ).strftime(fmt)} ({TZ_NOTE})")


def _actor_label(actor: Actor) -> str:
    return actor.username if isinstance(actor, User) else (actor or "system")


def export_visits(*, session: Session, venue: Venue, since: datetime, until: datetime, fmt: str,
                  now: datetime, actor: Actor, channel: str) -> ExportFile:
    """The venue's visit list as a file, audited with its SHA-256 and row count."""
    rows = _visit_export_rows(session, venue, since, until, now)
    title = f"Danh sách lượt vào — {venue.name} ({venue.code})"
    table = Table("Lượt vào", VISIT_COLUMNS, rows)
    export = exports.build(
        fmt, [table], filename=exports.file_stem("luot-vao", venue.code, since, until),
        title=title,
        subtitle=[f"Thời gian: {_range_text(since, until)}",
                  f"Xuất lúc {now.astimezone(LOCAL_TZ).strftime('%H:%M %d/%m/%Y')} bởi "
                  f"{_actor_label(actor)}"],
    )
    try:
        record_audit(session=session, now=now, actor=actor, action="visits.export",
                     target_type="venue", target_id=venue.id,
                     details={"channel": channel, "venue": venue.code, "format": fmt,
                              "since": iso_local(since), "until": iso_local(until),
                              "filename": export.filename},
                     row_count=export.row_count, file_sha256=export.sha256)
        session.commit()
    except BaseException:
        export.close()
        raise
    logger.info("visit list export: venue %s, %d rows, %s", venue.id, export.row_count, fmt)
    return export


def _health_words(notes: dict, visit_id: int) -> str:
    note = notes.get(visit_id)
    if note is None or not note.anything:
        return ""
    with force_locale("vi"):  # the files are for Vietnamese health officers
        return note.words(STATUS_VI)


def contact_tables(report: ContactReport, notes: dict | None = None) -> list[Table]:
    """People, then phones heard: two tables (two XLSX sheets, two PDF sections)."""
    notes = notes or {}
    people = (
        (c.rank, c.visit.id, c.visit.full_name, _dialled(c.visit.phone), c.visit.id_number,
         _health_words(notes, c.visit.id), c.visit.venue_code, c.visit.checked_in_at,
         c.visit.checked_out_at or NOT_OUT, c.overlap_min, c.simultaneous_min, c.index.id)
        for c in report.contacts
    )
    devices = (
        (d.rank, d.protocol, d.rolling_id, d.index.venue_code, d.first_seen_at, d.last_seen_at,
         d.duration_min, d.overlap_min, d.best_rssi, d.index.id)
        for d in report.devices
    )
    return [Table("Người có mặt cùng lúc", CONTACT_COLUMNS, people),
            Table("Thiết bị nghe thấy", DEVICE_COLUMNS, devices)]


KIND_PERSON, KIND_DEVICE = "Người", "Thiết bị"
# The contact list as ONE table for CSV (a spreadsheet filter handles one table a file): a
# "Loại" column says whether the row is a person or a phone heard; each fills its own columns.
CONTACT_CSV_COLUMNS = (
    Column("Loại", "text", 0.6),
    Column("Hạng", "number", 0.4),
    Column("Lượt của ca bệnh", "number", 0.5),
    Column("Mã địa điểm", "text", 0.6),
    Column(f"Từ ({TZ_NOTE})", "datetime", 0.9),
    Column(f"Đến ({TZ_NOTE})", "datetime", 0.9),
    Column("Phút trùng (có khoảng đệm)", "number", 0.6),
    Column("Mã lượt", "number", 0.5),
    Column("Họ và tên", "text", 1.4),
    Column("Số điện thoại", "id", 0.9),
    Column("Số giấy tờ", "id", 0.9),
    Column("Sức khỏe khi khai báo", "text", 1.4),
    Column("Phút cùng lúc", "number", 0.6),
    Column("Giao thức", "text", 0.7),
    Column("Mã định danh tạm thời (rolling ID)", "text", 2.0),
    Column("Thời lượng nghe thấy (phút)", "number", 0.6),
    Column("RSSI mạnh nhất (dBm)", "number", 0.6),
)


def contact_csv_table(report: ContactReport, notes: dict | None = None) -> Table:
    notes = notes or {}

    def rows():
        for c in report.contacts:
            yield (KIND_PERSON, c.rank, c.index.id, c.visit.venue_code, c.visit.checked_in_at,
                   c.visit.checked_out_at or NOT_OUT, c.overlap_min, c.visit.id,
                   c.visit.full_name, _dialled(c.visit.phone), c.visit.id_number,
                   _health_words(notes, c.visit.id), c.simultaneous_min, None, None, None, None)
        for d in report.devices:
            yield (KIND_DEVICE, d.rank, d.index.id, d.index.venue_code, d.first_seen_at,
                   d.last_seen_at, d.overlap_min, None, None, None, None, None, None,
                   d.protocol, d.rolling_id, d.duration_min, d.best_rssi)

    return Table("Danh sách tiếp xúc", CONTACT_CSV_COLUMNS, rows())


def _report_range(report: ContactReport) -> tuple[datetime, datetime]:
    if report.since and report.until:
        return report.since, report.until
    return (min(v.checked_in_at for v in report.index_visits),
            max(v.effective_end_at for v in report.index_visits))


def export_contacts(*, session: Session, visit_ids: Iterable[int], before_min: int,
                    after_min: int, fmt: str, now: datetime, actor: Actor, channel: str,
                    query: dict | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> ExportFile:
    """The contact list as a file (people, then phones heard), audited with its SHA-256."""
    visit_ids = list(visit_ids)
    index_visits = load_visits(session=session, visit_ids=visit_ids, now=now)
    if not visit_ids:
        raise TracingError("no_index_visits", "visit_id")
    if len(index_visits) != len(set(visit_ids)):
        raise TracingError("visit_not_found", "visit_id")
    report = find_contacts(session=session, index_visits=index_visits, before_min=before_min,
                           after_min=after_min, now=now)
    report.since, report.until = since, until
    notes = health_notes(session=session, visit_ids=[c.visit.id for c in report.contacts])
    tables = [contact_csv_table(report, notes)] if fmt == "csv" else contact_tables(report, notes)
    start, end = _report_range(report)
    venues = "-".join(sorted({v.venue_code for v in index_visits}))
    names = ", ".join(sorted({v.full_name for v in index_visits}))
    export = exports.build(
        fmt, tables,
        filename=exports.file_stem("tiep-xuc", venues, start, end),
        title=f"Danh sách tiếp xúc — ca bệnh: {names}",
        subtitle=[f"Địa điểm: {', '.join(sorted({v.venue_code for v in index_visits}))}; "
                  f"thời gian: {_range_text(start, end)}",
                  f"Khoảng đệm: {before_min} phút trước, {after_min} phút sau",
                  f"Xuất lúc {now.astimezone(LOCAL_TZ).strftime('%H:%M %d/%m/%Y')} bởi "
                  f"{_actor_label(actor)}"],
    )
    try:
        details = audit_details(report, channel, query)
        details.update(format=fmt, filename=export.filename)
        record_audit(session=session, now=now, actor=actor, action="contacts.export",
                     target_type="visit", target_id=index_visits[0].id, details=details,
                     row_count=export.row_count, file_sha256=export.sha256)
        session.commit()
    except BaseException:
        export.close()
        raise
    logger.info("contact export: %d index visits, %d rows, %s", len(index_visits),
                export.row_count, fmt)
    return export
