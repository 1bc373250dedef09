"""Health declarations (field meanings: reference/declaration-form.md). The people who make them
are visits.models.Visitor."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UID_LENGTH, UtcDateTime, new_uid


class DeclarationStatus(StrEnum):
    clear = "clear"
    needs_review = "needs_review"


class DeclarationSource(StrEnum):
    phone_form = "phone_form"       # the visitor's own phone, from the venue QR
    kiosk = "kiosk"                 # the touchscreen (after a CCCD / national QR scan)
    staff = "staff"                 # a receptionist checking someone in by hand
    reconfirmation = "reconfirmation"  # "anything changed since …?" on a stale declaration
    import_ = "import"              # a paper sign-in list


class Declaration(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_declaration_visitor_submitted", "visitor_id", "submitted_at"),
        # The same submission again (declarations.services._repeat_of, every submission asks).
        # Partial: rows from before keys existed (NULL) would make the planner's statistics say
        # a key matches thousands of rows, and SQLite would then search by submission time,
        # reading every declaration of the last minutes at a busy door.
        sa.Index("ix_declaration_submission_key", "submission_key",
                 postgresql_where=sa.text("submission_key IS NOT NULL"),
                 sqlite_where=sa.text("submission_key IS NOT NULL")),
        sa.CheckConstraint("status IN ('clear', 'needs_review')", name="status"),
        {"sqlite_autoincrement": True},  # ids are never reused
    )

    id: int | None = Field(default=None, primary_key=True)
    # Global identity (core.db.new_uid): the same on the kiosk and on the central server.
    uid: str = Field(default_factory=new_uid, max_length=UID_LENGTH,
                     sa_column_kwargs={"unique": True, "default": new_uid})
    visitor_id: int = Field(foreign_key="visitor.id")
    venue_id: int | None = Field(default=None, foreign_key="venue.id", index=True)
    submitted_at: datetime = Field(sa_type=UtcDateTime, index=True)
    lang: str = Field(default="vi", max_length=2)
    source: str = Field(max_length=16)
    travel_14d: bool = Field(default=False)
    travel_places: str | None = Field(default=None, max_length=1000)
    # Keys of the reference's lists (declaration-form.md §3.1, §3.2), e.g. ["fever", "cough"].
    symptoms: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    exposures: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # Only when KIOSK_COLLECT_CONDITIONS is on; never exported.
    conditions: list[str] | None = Field(default=None, sa_type=sa.JSON)
    # The contact-tracing or health apps the visitor says they run (keys of KIOSK_TRACING_APPS,
    # or ["none"]); None when the question was not asked.
    tracing_apps: list[str] | None = Field(default=None, sa_type=sa.JSON)
    visitor_company: str | None = Field(default=None, max_length=200)
    host_name: str | None = Field(default=None, max_length=100)
    host_department: str | None = Field(default=None, max_length=100)
    visit_purpose: str | None = Field(default=None, max_length=16)
    visit_purpose_note: str | None = Field(default=None, max_length=200)
    body_temperature_c: float | None = Field(default=None)
    declared_for_other: bool = Field(default=False)
    status: str = Field(max_length=16)
    # The triage rule set that produced `status`, so a later rule change does not rewrite history.
    rules_version: str = Field(max_length=32)
    consent_processing: bool
    consent_sensitive_health: bool
    consent_text_version: str = Field(max_length=32)
    consent_at: datetime = Field(sa_type=UtcDateTime)
    # A re-confirmation points to the declaration it renews.
    previous_declaration_id: int | None = Field(default=None, foreign_key="declaration.id")
    # SHA-256 of what was submitted (declarations.services.submission_key): the same submission
    # again within a few minutes (a double tap, a retry, twenty at once) is the same declaration.
    submission_key: str | None = Field(default=None, max_length=64)


class TokenKey(SQLModel, table=True):
    """A public key that signs personal QR codes, as every process of an installation sees it
    (declarations/keystore.py). The private key stays in the signing server's instance/keys."""

    __tablename__ = "token_key"

    kid: str = Field(primary_key=True, max_length=8)
    public_pem: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UtcDateTime)
    # Codes signed with a retired key are refused by every process within seconds.
    retired_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # On the central server: the enrolled kiosk that published this key (its own signing key);
    # revoking the device retires it. None for the server's own keys and on kiosks.
    device_id: int | None = Field(default=None, index=True)


class TokenKeyState(SQLModel, table=True):
    """One row: a counter bumped by every key change, which each process reads (cheaply, every
    few seconds) to know that its key ring is out of date."""

    __tablename__ = "token_key_state"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
