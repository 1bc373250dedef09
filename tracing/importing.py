"""Paper sign-in lists: `venue_code,full_name,phone,id_number,checked_in_at,checked_out_at` as CSV.

Each row is checked with the declaration form's own rules (declarations.identity: names, phone
numbers to E.164, ID numbers and their type). A file with any bad row is refused whole, with every
problem listed by line number, and nothing of it is stored; a good file is stored in one
transaction and audited.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.audit import record_audit
from core.models import User, Venue
from declarations.identity import check_id_number, check_name, check_phone, fold
from declarations.venue_links import normalise_venue_code
from tracing.retention import purge_cutoff
from visits.models import ClosedBy, OpenedBy, Visit, Visitor
from visits.services import close_visit, open_visit

logger = logging.getLogger(__name__)

COLUMNS = ("venue_code", "full_name", "phone", "id_number", "checked_in_at", "checked_out_at")
# Problems listed for a refused file; past this the tracer has the wrong file, not typos.
MAX_REPORTED = 100
# A paper list never spans more than a day or two per row: a longer stay is a typo in a date.
MAX_STAY = timedelta(days=2)


@dataclass(frozen=True)
class RowProblem:
    line: int            # line number in the file, the header being line 1
    column: str | None   # which column, or None for the file or the row as a whole
    message: object      # a lazy string or a declarations Problem: str() renders it


@dataclass
class ImportRow:
    line: int
    venue_code: str
    full_name: str
    name_folded: str
    phone_e164: str | None
    id_number: str | None
    id_type: str | None
    checked_in_at: datetime
    checked_out_at: datetime | None


@dataclass
class ImportResult:
    visits: int
    new_visitors: int
    sha256: str


@dataclass
class ImportRejected(Exception):
    problems: list[RowProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.problems)} problems"


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRejected([RowProblem(1, None, _l(
            "The file is not UTF-8 text. In Excel choose “Save as” → “CSV UTF-8”."))]) from None


def _instant(text: str) -> datetime:
    """ISO 8601 with an offset; a paper list's times are never guessed."""
    value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("no offset")
    return value.astimezone(timezone.utc)


def parse_rows(text: str) -> tuple[list[ImportRow], list[RowProblem]]:
    """Pure: the rows of a sign-in list and every problem found, by line."""
    problems: list[RowProblem] = []
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel in some locales
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowProblem(1, None, _l("The file is empty."))]
    except csv.Error:
        return [], [RowProblem(1, None, _l("The file is not a readable CSV file."))]
    if tuple(h.strip().lower() for h in header) != COLUMNS:
        return [], [RowProblem(1, None, _l(
            "The first line must be exactly: %(columns)s", columns=",".join(COLUMNS)))]
    rows: list[ImportRow] = []
    seen: dict[tuple, int] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            problems.append(RowProblem(reader.line_num, None,
                                       _l("This line is not valid CSV (check the quotes).")))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines at the end of a sheet
        row, row_problems = _check_row(line, record)
        problems.extend(row_problems)
        if row is not None:
            key = (row.venue_code, row.name_folded, row.phone_e164, row.checked_in_at)
            if key in seen:
                problems.append(RowProblem(line, None, _l(
                    "The same visit is already on line %(line)d.", line=seen[key])))
            else:
                seen[key] = line
                rows.append(row)
    if not rows and not problems:
        problems.append(RowProblem(1, None, _l("The file has no visits.")))
    return rows, problems


def _check_row(line: int, record: list[str]) -> tuple[ImportRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    if len(record) != len(COLUMNS):
        return None, [RowProblem(line, None, _l(
            "This line has %(found)d columns instead of %(expected)d.",
            found=len(record), expected=len(COLUMNS)))]
    values = dict(zip(COLUMNS, record))

    venue_code = normalise_venue_code(values["venue_code"])
    if venue_code is None:
        problems.append(RowProblem(line, "venue_code", _l("Not a venue code.")))
    name = check_name(values["full_name"])
    if name.error:
        problems.append(RowProblem(line, "full_name", name.error))
    # Paper sign-in sheets usually have a name and a phone and nothing more: the ID number is
    # optional, but a row must have a phone or an ID number (someone tracing must reach them).
    phone = check_phone(values["phone"], nationality="VN") if values["phone"].strip() else None
    if phone is not None and phone.error:
        problems.append(RowProblem(line, "phone", phone.error))
    id_number = check_id_number(values["id_number"], nationality="VN") \
        if values["id_number"].strip() else None
    if id_number is not None and id_number.error:
        problems.append(RowProblem(line, "id_number", id_number.error))
    if phone is None and id_number is None:
        problems.append(RowProblem(line, "phone", _l("Enter a phone number or an ID number.")))

    times = {}
    for column in ("checked_in_at", "checked_out_at"):
        raw = values[column].strip()
        if not raw:
            times[column] = None
            if column == "checked_in_at":
                problems.append(RowProblem(line, column, _l("Enter the check-in time.")))
            continue
        try:
            times[column] = _instant(raw)
        except (ValueError, OverflowError):
            times[column] = None
            problems.append(RowProblem(line, column, _l(
                "Not a time with an offset; write e.g. 2026-03-10T09:00:00+07:00.")))
    start, end = times["checked_in_at"], times["checked_out_at"]
    if start is not None and end is not None:
        if end < start:
            problems.append(RowProblem(line, "checked_out_at",
                                       _l("The check-out is before the check-in.")))
        elif end - start > MAX_STAY:
            problems.append(RowProblem(line, "checked_out_at",
                                       _l("A stay of more than two days: check the dates.")))
    if problems:
        return None, problems
    return ImportRow(line=line, venue_code=venue_code, full_name=name.name,
                     name_folded=fold(name.name), phone_e164=phone.e164 if phone else None,
                     id_number=id_number.number if id_number else None,
                     id_type=str(id_number.id_type) if id_number else None,
                     checked_in_at=start, checked_out_at=end), []


def import_visits(*, session: Session, data: bytes, now: datetime, retention_days: int,
                  actor: User | str | None, channel: str,
                  filename: str | None = None) -> ImportResult:
    """Store a whole sign-in list, or nothing: raises ImportRejected with every problem."""
    rows, problems = parse_rows(_decode(data))
    cutoff = purge_cutoff(now, retention_days)
    codes = sorted({row.venue_code for row in rows})
    venues = {v.code: v for v in session.exec(select(Venue).where(Venue.code.in_(codes)))}
    for row in rows:
        if row.venue_code not in venues:
            problems.append(RowProblem(row.line, "venue_code", _l(
                "There is no venue with the code %(code)s.", code=row.venue_code)))
        if row.checked_in_at > now or (row.checked_out_at and row.checked_out_at > now):
            problems.append(RowProblem(row.line, "checked_in_at",
                                       _l("This time is in the future.")))
        if row.checked_in_at < cutoff:
            problems.append(RowProblem(row.line, "checked_in_at", _l(
                "Older than the retention period (%(days)d days): it would be deleted at once.",
                days=retention_days)))
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: p.line)[:MAX_REPORTED])

    people: dict[tuple[str, str, str], Visitor] = {}
    new_visitors = 0
    try:
        for row in rows:
            key = (row.name_folded, row.phone_e164, row.id_number)
            visitor = people.get(key)
            if visitor is None:
                visitor = _existing_visitor(session, row)
            if visitor is None:
                visitor = Visitor(full_name=row.full_name, name_folded=row.name_folded,
                                  phone_e164=row.phone_e164, id_number=row.id_number,
                                  id_type=row.id_type, nationality="VN", created_at=now,
                                  updated_at=now)
                session.add(visitor)
                session.flush()
                new_visitors += 1
            people[key] = visitor
            venue = venues[row.venue_code]
            if _already_imported(session, visitor, venue, row):
                raise ImportRejected([RowProblem(row.line, None, _l(
                    "This visit is already recorded (was the file imported before?)."))])

            visit = open_visit(session=session, visitor_id=visitor.id, venue_id=venue.id,
                               now=row.checked_in_at, opened_by=OpenedBy.import_, commit=False)
            if row.checked_out_at is not None:
                close_visit(session=session, visit=visit, now=row.checked_out_at,
                            closed_by=ClosedBy.staff, commit=False)
        sha256 = hashlib.sha256(data).hexdigest()
        record_audit(session=session, now=now, actor=actor, action="visits.import",
                     details={"channel": channel, "filename": filename,
                              "venues": codes, "new_visitors": new_visitors},
                     row_count=len(rows), file_sha256=sha256)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    logger.info("imported %d visits (%d new visitors) from a paper list", len(rows),
                new_visitors)
    return ImportResult(visits=len(rows), new_visitors=new_visitors, sha256=sha256)


def _existing_visitor(session: Session, row: ImportRow) -> Visitor | None:
    """The same person as the form would find: same folded name and same phone or ID number
    (never merge on a phone alone: families share one; a missing value matches nothing)."""
    same = [column == value for column, value in ((Visitor.phone_e164, row.phone_e164),
                                                  (Visitor.id_number, row.id_number))
            if value is not None]
    return session.exec(
        select(Visitor).where(
            Visitor.name_folded == row.name_folded, Visitor.declarant_id.is_(None),
            sa.or_(*same),
        ).order_by(Visitor.updated_at.desc(), Visitor.id)
    ).first()


def _already_imported(session: Session, visitor: Visitor, venue: Venue, row: ImportRow) -> bool:
    return session.exec(
        select(Visit.id).where(Visit.visitor_id == visitor.id, Visit.venue_id == venue.id,
                               Visit.checked_in_at == row.checked_in_at)
    ).first() is not None
