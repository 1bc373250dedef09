"""Aggregate counts that outlive the retention purge (the adoption report still shows old days)."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UtcDateTime, utcnow


class DailyVenueStat(SQLModel, table=True):
    __tablename__ = "daily_venue_stat"
    __table_args__ = (sa.UniqueConstraint("venue_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    venue_id: int = Field(foreign_key="venue.id")
    # Calendar day in Asia/Ho_Chi_Minh, as the provincial tables count.
    day: date
    visits: int = Field(default=0)
    visitors: int = Field(default=0)
    visitors_with_app: int = Field(default=0)
    encounters: int = Field(default=0)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class UnitPopulation(SQLModel, table=True):
    """A unit's population (ward, province or venue code), imported by an administrator, so
    the adoption report can show app users per population as the provincial tables did."""

    __tablename__ = "unit_population"

    code: str = Field(primary_key=True, max_length=32)
    population: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
