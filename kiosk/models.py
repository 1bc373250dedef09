"""The door's own tables: the screens paired with this server (kiosk/screens.py)."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import UtcDateTime


class ScreenDevice(SQLModel, table=True):
    """A door screen: a browser an administrator paired with this server once. It proves itself
    with a long-lived cookie whose secret is kept here only as a SHA-256; revoking the row ends
    it. Until paired, the row holds a one-time pairing code (also hashed) that expires."""

    __tablename__ = "screen_device"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    pairing_sha256: str | None = Field(default=None, max_length=64,
                                       sa_column_kwargs={"unique": True})
    pairing_expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    secret_sha256: str | None = Field(default=None, max_length=64,
                                      sa_column_kwargs={"unique": True})
    created_at: datetime = Field(sa_type=UtcDateTime)
    paired_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
