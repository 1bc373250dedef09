"""Encounters: contact-tracing phones the kiosk heard, one row per (protocol, rolling ID) sighting."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UID_LENGTH, UtcDateTime, new_uid


class Encounter(SQLModel, table=True):
    __table_args__ = (
        # The writer updates the same row batch after batch while the phone stays in range.
        sa.UniqueConstraint("venue_id", "protocol", "rolling_id", "first_seen_at"),
        # Tracing: rolling IDs heard at a venue in a window.
        sa.Index("ix_encounter_venue_first_seen", "venue_id", "first_seen_at"),
        # Phones still heard at an instant: first-seen rides in the index, as for visits.
        sa.Index("ix_encounter_venue_heard", "venue_id", "last_seen_at", "first_seen_at"),
        {"sqlite_autoincrement": True},  # ids are never reused
    )

    id: int | None = Field(default=None, primary_key=True)
    # Global identity (core.db.new_uid): the same on the kiosk and on the central server.
    uid: str = Field(default_factory=new_uid, max_length=UID_LENGTH,
                     sa_column_kwargs={"unique": True, "default": new_uid})
    venue_id: int = Field(foreign_key="venue.id")
    kiosk_id: int | None = Field(default=None, foreign_key="kiosk.id")
    # bluezone | bluezone_ios | bluezone_wakeup | gaen | bluetrace
    protocol: str = Field(max_length=24)
    # Hex of the rolling ID; presence-only protocols are keyed by the (random) address instead.
    rolling_id: str = Field(max_length=64)
    first_seen_at: datetime = Field(sa_type=UtcDateTime)
    last_seen_at: datetime = Field(sa_type=UtcDateTime)
    count: int = Field(default=1)
    rssi_min: int
    rssi_max: int
    rssi_mean: float
    proximity: str = Field(max_length=8)  # near | medium | far
    # Set when this phone was linked to a check-in ("app detected"); unique: never two visits.
    visit_id: int | None = Field(
        default=None, foreign_key="visit.id", sa_column_kwargs={"unique": True}
    )
