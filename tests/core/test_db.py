"""The data layer: UTC datetimes on every dialect, SQLite durability settings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.models import Venue
from tests.support.databases import dialect

HANOI = timezone(timedelta(hours=7))


def test_datetimes_come_back_aware_utc_and_equal(session):
    local = datetime(2026, 3, 10, 23, 30, 15, 123456, tzinfo=HANOI)
    session.add(Venue(code="TZ", name="Múi giờ", created_at=local))
    session.commit()
    session.expunge_all()
    venue = session.exec(select(Venue).where(Venue.code == "TZ")).one()
    assert venue.created_at == local
    assert venue.created_at.utcoffset() == timedelta(0)
    assert venue.created_at.isoformat() == "2026-03-10T16:30:15.123456+00:00"


def test_time_range_query_compares_instants_not_strings(session):
    for n, when in enumerate([datetime(2026, 3, 10, 16, 59, tzinfo=timezone.utc),
                              datetime(2026, 3, 10, 17, 1, tzinfo=timezone.utc)]):
        session.add(Venue(code=f"Q{n}", name="q", created_at=when))
    session.commit()
    # Midnight in Hà Nội is 17:00 UTC: only the second venue was created "on 11 March" locally.
    midnight_local = datetime(2026, 3, 11, 0, 0, tzinfo=HANOI)
    codes = session.exec(select(Venue.code).where(Venue.created_at >= midnight_local)).all()
    assert codes == ["Q1"]


def test_naive_datetimes_are_refused(session):
    session.add(Venue(code="NAIVE", name="n", created_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()
    session.rollback()


@pytest.mark.skipif(dialect() != "sqlite", reason="SQLite pragmas")
def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(session):
    assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
