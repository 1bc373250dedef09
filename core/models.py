"""Tables shared by every feature: venues, kiosk devices, staff accounts and the venues each
receptionist works at, their signed-in sessions, API tokens, audit log."""
from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UtcDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    tracer = "tracer"
    receptionist = "receptionist"


class Venue(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
    address: str | None = Field(default=None, max_length=300)
    # The organisation the venue belongs to (its name on consent texts and reports).
    unit: str | None = Field(default=None, max_length=200)
    # The administrative unit (ward/commune, core.admin_units) the venue lies in; the province
    # follows from it. The adoption report groups venues by it.
    ward_code: str | None = Field(default=None, max_length=5, index=True)
    # Local (Asia/Ho_Chi_Minh) time at which still-open visits are closed automatically.
    closing_time: time | None = Field(default=None)
    # Visits longer than this are closed automatically (None: only the closing time applies).
    max_stay_min: int | None = Field(default=None)
    is_active: bool = Field(default=True)
    # Tell hosts (notices.models.VenueHost) when their visitors arrive.
    hosts_enabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Kiosk(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("venue_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    venue_id: int = Field(foreign_key="venue.id", index=True)
    name: str = Field(max_length=100)
    last_seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class User(SQLModel, table=True):
    __tablename__ = "staff_user"
    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'tracer', 'receptionist')", name="role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    display_name: str | None = Field(default=None, max_length=100)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # On a kiosk of an installation: the account is the central server's (sent down by sync,
    # which keeps it as the central server has it); False for the device's own accounts.
    from_central: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})

    # Flask-Login's user protocol (is_active is the column above).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class StaffVenue(SQLModel, table=True):
    """A venue a staff member works at. Receptionists act only at the venues they are assigned
    to (core.staff.venue_scope); admins and tracers are never assigned, they see every venue."""

    __tablename__ = "staff_venue"
    __table_args__ = (sa.UniqueConstraint("user_id", "venue_id"),)

    id: int | None = Field(default=None, primary_key=True)
    # The unique pair's index starts with user_id: "this user's venues" needs no other.
    user_id: int = Field(foreign_key="staff_user.id")
    venue_id: int = Field(foreign_key="venue.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    token_sha256: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    # The first characters, so staff can tell tokens apart in a list without the secret.
    prefix: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The session cookie names it (its secret is kept only as a SHA-256);
    every request checks that the row is still there, so signing out, a password change or a
    disabled account ends the session at once, wherever its cookie went."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    secret_sha256: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(sa_type=UtcDateTime)


class AuditEvent(SQLModel, table=True):
    """One entry of the tamper-evident audit log: each row's hash covers the previous row's hash.

    The actor is kept by name as well as id so the trail survives the deletion of an account.
    """

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column_kwargs={"unique": True})
    at: datetime = Field(sa_type=UtcDateTime, index=True)
    actor_user_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64, index=True)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    details: dict = Field(default_factory=dict, sa_type=sa.JSON)
    row_count: int | None = Field(default=None)
    file_sha256: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """A single row that writers lock (UPDATE first) so audit events form one chain, never a fork."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    last_hash: str = Field(max_length=64)
