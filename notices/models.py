"""A tracer's marking of an index case's visits as an exposure, and the notices it gave."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UtcDateTime, utcnow


class Exposure(SQLModel, table=True):
    """An index case's visits marked as an exposure: the window and the rules used. Names no
    one: the index visits by id only (the tracer's audit trail has the same)."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    actor: str = Field(max_length=100)
    index_visit_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    before_min: int
    after_min: int
    min_overlap_min: int


class ExposureNotice(SQLModel, table=True):
    """One co-present visitor's notice: where and when, which channels, how delivery went."""

    __tablename__ = "exposure_notice"
    __table_args__ = (
        sa.Index("ix_exposure_notice_email_due", "email_status", "email_next_at"),
        sa.Index("ix_exposure_notice_sms_due", "sms_status", "sms_next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    exposure_id: int = Field(foreign_key="exposure.id", index=True)
    visitor_id: int = Field(foreign_key="visitor.id", index=True)
    venue_id: int = Field(foreign_key="venue.id")
    exposed_from: datetime = Field(sa_type=UtcDateTime)
    exposed_until: datetime = Field(sa_type=UtcDateTime)
    overlap_min: float
    lang: str = Field(default="vi", max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    seen_on_page_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    seen_at_kiosk_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Channels: "none" (no address, or the channel is off), "pending", "sent", "failed".
    email_status: str = Field(default="none", max_length=8)
    email_attempts: int = Field(default=0)
    email_next_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    email_error: str | None = Field(default=None, max_length=200)
    sms_status: str = Field(default="none", max_length=8)
    sms_attempts: int = Field(default=0)
    sms_next_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    sms_error: str | None = Field(default=None, max_length=200)


class VenueHost(SQLModel, table=True):
    """A staff member visitors come to see at a venue: chosen from this list on the declaration
    when the venue has one, and told (e-mail, a line on their own page) when their visitor
    arrives, at venues that turned hosts on."""

    __tablename__ = "venue_host"
    __table_args__ = (sa.UniqueConstraint("venue_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    venue_id: int = Field(foreign_key="venue.id", index=True)
    name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254)
    # The host's own staff account, for their page of arrivals (optional).
    user_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class HostNotice(SQLModel, table=True):
    """A host told that their visitor arrived: a line on their page, and an e-mail."""

    __tablename__ = "host_notice"
    __table_args__ = (sa.Index("ix_host_notice_email_due", "email_status", "email_next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="venue_host.id", index=True)
    visitor_id: int = Field(foreign_key="visitor.id", index=True)
    arrived_at: datetime = Field(sa_type=UtcDateTime, index=True)
    email_status: str = Field(default="none", max_length=8)
    email_attempts: int = Field(default=0)
    email_next_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    email_error: str | None = Field(default=None, max_length=200)


class DoorNotice(SQLModel, table=True):
    """On a kiosk of an installation: an exposure notice the central server gave (its id there),
    waiting for its visitor's next scan at this door. Names the visitor by uid only; deleted
    once shown here and reported, or once shown at another door, or with retention."""

    __tablename__ = "door_notice"

    notice_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    visitor_uid: str = Field(max_length=24, index=True)
    venue_name: str = Field(max_length=200)
    exposed_from: datetime = Field(sa_type=UtcDateTime)
    exposed_until: datetime = Field(sa_type=UtcDateTime)
    created_at: datetime = Field(sa_type=UtcDateTime, index=True)
    seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
