"""The central record of the door: visitors (a person as last declared) and their visits, one per
person per stay at a venue, with how it was opened and how it was closed."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UID_LENGTH, UtcDateTime, new_uid, utcnow


class Visitor(SQLModel, table=True):
    """A person as last declared. Contact address codes and names are kept as at declaring time,
    because unit names change (the 2025 merger renamed most wards)."""

    __table_args__ = (
        sa.Index("ix_visitor_phone_e164", "phone_e164"),
        sa.Index("ix_visitor_id_number", "id_number"),
        sa.Index("ix_visitor_name_folded", "name_folded"),
        # SQLite would give a deleted row's id to the next person (ids are never reused).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # The person's global identity (core.db.new_uid): personal QR codes name it, every server of
    # an installation knows them by it.
    uid: str = Field(default_factory=new_uid, max_length=UID_LENGTH,
                     sa_column_kwargs={"unique": True, "default": new_uid})
    full_name: str = Field(max_length=100)
    # Lower-case, accent-free form of the name: "nguyen van an" finds "Nguyễn Văn An".
    name_folded: str = Field(max_length=100)
    birth_year: int | None = Field(default=None)
    gender: str | None = Field(default=None, max_length=8)
    nationality: str = Field(default="VN", max_length=2)
    id_number: str | None = Field(default=None, max_length=20)
    id_type: str | None = Field(default=None, max_length=20)
    phone_e164: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=254)
    province_code: str | None = Field(default=None, max_length=8)
    province_name: str | None = Field(default=None, max_length=100)
    ward_code: str | None = Field(default=None, max_length=8)
    ward_name: str | None = Field(default=None, max_length=100)
    street_address: str | None = Field(default=None, max_length=255)
    # A dependant (child, elderly relative without a phone) points to the person who declared.
    declarant_id: int | None = Field(default=None, foreign_key="visitor.id", index=True)
    # Personal QR tokens issued before this instant are refused (lost phone, "delete my data").
    tokens_valid_after: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class VisitorTombstone(SQLModel, table=True):
    """The uid of a person erased on request (no personal data): their personal codes stay dead
    at every door, including doors that never knew them and would otherwise take a code signed
    elsewhere in the installation as a newcomer's. Kept as long as a code can live."""

    __tablename__ = "visitor_tombstone"

    uid: str = Field(primary_key=True, max_length=UID_LENGTH)
    deleted_at: datetime = Field(sa_type=UtcDateTime, index=True)


class OpenedBy(StrEnum):
    scan = "scan"               # personal QR / CCCD / national QR at the kiosk camera
    phone_form = "phone_form"   # the visitor's own phone after declaring
    staff = "staff"             # a receptionist, by hand
    import_ = "import"          # a paper sign-in list


class ClosedBy(StrEnum):
    scan = "scan"
    staff = "staff"
    close_all = "close_all"
    automatic = "automatic"     # venue closing time or maximum stay


class VisitStatus(StrEnum):
    clear = "clear"
    needs_review = "needs_review"   # waiting for a receptionist (symptom or exposure answer)
    admitted = "admitted"           # flagged, then let in by a receptionist (audited)
    turned_away = "turned_away"     # flagged, then refused by a receptionist (audited)


class Visit(SQLModel, table=True):
    __table_args__ = (
        # Tracing: who was at this venue in this time range; on-site lists.
        sa.Index("ix_visit_venue_checked_in", "venue_id", "checked_in_at"),
        # Visits under way at an instant (checked in before it, out after it): the check-in time
        # rides in the index so the scan never visits a row that began later.
        sa.Index("ix_visit_venue_stay", "venue_id", "checked_out_at", "checked_in_at"),
        # An index case's visits over a window.
        sa.Index("ix_visit_visitor_checked_in", "visitor_id", "checked_in_at"),
        # Is this visitor inside this venue (every scan and phone check-in asks): one entry per
        # open visit, so the answer never depends on the planner's guess of how many visits are
        # open at the venue. Not unique: the central server keeps each door's open visit of a
        # multi-door venue until sync/doors.py merges them. Venue first: "who is inside this
        # venue" (the desk, the visit lists) is a range scan of it too.
        sa.Index("ix_visit_open", "venue_id", "visitor_id",
                 postgresql_where=sa.text("checked_out_at IS NULL"),
                 sqlite_where=sa.text("checked_out_at IS NULL")),
        sa.CheckConstraint(
            "opened_by IN ('scan', 'phone_form', 'staff', 'import')", name="opened_by"
        ),
        sa.CheckConstraint(
            "closed_by IS NULL OR closed_by IN ('scan', 'staff', 'close_all', 'automatic')",
            name="closed_by",
        ),
        sa.CheckConstraint(
            "status IN ('clear', 'needs_review', 'admitted', 'turned_away')", name="status"
        ),
        sa.CheckConstraint(
            "checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="interval"
        ),
        {"sqlite_autoincrement": True},  # ids are never reused
    )

    id: int | None = Field(default=None, primary_key=True)
    # Global identity (core.db.new_uid): the same on the kiosk and on the central server.
    uid: str = Field(default_factory=new_uid, max_length=UID_LENGTH,
                     sa_column_kwargs={"unique": True, "default": new_uid})
    visitor_id: int = Field(foreign_key="visitor.id")
    venue_id: int = Field(foreign_key="venue.id")
    kiosk_id: int | None = Field(default=None, foreign_key="kiosk.id")
    declaration_id: int | None = Field(default=None, foreign_key="declaration.id", index=True)
    checked_in_at: datetime = Field(sa_type=UtcDateTime)
    checked_out_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    opened_by: str = Field(max_length=16)
    closed_by: str | None = Field(default=None, max_length=16)
    status: str = Field(default=VisitStatus.clear, max_length=16)
    review_note: str | None = Field(default=None, max_length=500)
    reviewed_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
