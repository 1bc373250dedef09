"""Store and forward: the kiosk's outbox (filled by database triggers in the same transaction as
each change), the sync state, and on the central server the enrolled devices and the audit
entries they forwarded."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UtcDateTime, utcnow

# Tables whose changes a kiosk forwards, parents first: the central server applies a batch in
# this order, so a row's parents are always there before it.
SYNCED_TABLES = ("visitor", "declaration", "visit", "encounter", "audit_event")


class SyncOutbox(SQLModel, table=True):
    """One change waiting for the central server's acknowledgement. Written only by the
    triggers of migration 'sync outbox' (never by Python), deleted by the pusher once the central
    server has stored the row. `seq` only grows (AUTOINCREMENT on SQLite), so it gives the order."""

    __tablename__ = "sync_outbox"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, primary_key=True)
    table_name: str = Field(max_length=32)
    # The row's global identity: `uid` (the audit log's own `hash` for audit entries).
    row_uid: str = Field(max_length=64)
    op: str = Field(max_length=8)  # insert | update
    created_at: datetime = Field(sa_type=UtcDateTime)


class SyncState(SQLModel, table=True):
    """One row (id 1). `capture` switches the triggers on: a kiosk of an installation captures,
    a stand-alone kiosk and the central server do not (an absent row means off)."""

    __tablename__ = "sync_state"

    id: int = Field(default=1, primary_key=True)
    capture: bool = Field(default=False)
    # Down-sync position: the central server's cursor of the last pull applied.
    pull_cursor: str | None = Field(default=None, max_length=200)
    last_success_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_error: str | None = Field(default=None, max_length=64)
    # The central server's phone form for this kiosk's venue (its signed link on the central
    # server's public address): the door's venue QR when phones cannot reach the kiosk itself.
    phone_form_url: str | None = Field(default=None, max_length=500)
    # How far the central server's clock is ahead of this kiosk's (seconds), at the last pull.
    clock_offset_s: int | None = Field(default=None)


class SyncDevice(SQLModel, table=True):
    """A kiosk device enrolled on the central server (`device enrol`). Only the SHA-256 of its
    credential is stored; revoking it stops its sync calls at once."""

    __tablename__ = "sync_device"

    id: int | None = Field(default=None, primary_key=True)
    kiosk_id: int = Field(foreign_key="kiosk.id", sa_column_kwargs={"unique": True})
    venue_id: int = Field(foreign_key="venue.id", index=True)
    token_sha256: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The highest outbox seq this device has had acknowledged (a gauge for the operator).
    last_seq: int = Field(default=0)


class SyncAuditEvent(SQLModel, table=True):
    """An audit entry a kiosk recorded (its own hash chain), kept as it was on the central server
    so the chain can still be checked there."""

    __tablename__ = "sync_audit_event"
    __table_args__ = (sa.UniqueConstraint("device_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="sync_device.id", index=True)
    hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    seq: int
    at: datetime = Field(sa_type=UtcDateTime, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    details: dict = Field(default_factory=dict, sa_type=sa.JSON)
    row_count: int | None = Field(default=None)
    file_sha256: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)


class SyncMergedVisit(SQLModel, table=True):
    """On the central server: a door's visit read as the exit from a visit another door opened
    (the visitor entered by one door and left by another; see sync/doors.py). The door's visit
    is not kept as a visit; its scan lives on as the check-out of `into_visit_id`, and anything
    the door sends later about it is read through this record, never stored as a visit again."""

    __tablename__ = "sync_merged_visit"

    uid: str = Field(primary_key=True, max_length=24)
    # Gone with the visit it names (the retention purge deletes visits, not this table).
    into_visit_id: int = Field(foreign_key="visit.id", index=True, ondelete="CASCADE")
    device_id: int | None = Field(default=None, foreign_key="sync_device.id")
    scanned_at: datetime = Field(sa_type=UtcDateTime)
    # When that door later closed its visit by a scan (the visitor coming back in through it),
    # the visit that scan opened.
    follow_up_visit_id: int | None = Field(default=None, foreign_key="visit.id",
                                           ondelete="SET NULL")
