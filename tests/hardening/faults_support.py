"""Helpers of the fault tests: visitors with fresh declarations and personal QR codes, a staff
bearer token, and what "nothing lost, nothing broken" means for a database."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.auth import create_user, issue_api_token
from declarations.models import Declaration
from declarations.services import issue_token
from kiosk import runtime
from visits.models import Visitor

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    visitor_id: int
    token: str  # the personal QR code's text


def seed_visitors(app, session, count: int, *, now) -> list[Person]:
    """`count` visitors, each with a clean declaration made at `now` and a personal QR code
    signed with the app's own keys (so a scan checks them straight in)."""
    keyring = runtime.token_keyring(app)
    visitors = []
    for i in range(count):
        visitor = Visitor(full_name=f"Khách {i}", name_folded=f"khach {i}", birth_year=1990,
                          gender="female", phone_e164=f"+8491{i:07d}",
                          id_number=f"0011900{i:05d}", id_type="cccd",
                          created_at=now, updated_at=now)
        session.add(visitor)
        visitors.append(visitor)
    session.flush()
    declarations = []
    for visitor in visitors:
        declaration = Declaration(
            visitor_id=visitor.id, submitted_at=now, source="phone_form", travel_14d=False,
            symptoms=[], exposures=[], status="clear", rules_version="default-1",
            consent_processing=True, consent_sensitive_health=True, consent_text_version="test",
            consent_at=now)
        session.add(declaration)
        declarations.append(declaration)
    session.commit()
    return [Person(v.id, issue_token(keyring, visitor=v, declaration=d, now=now))
            for v, d in zip(visitors, declarations)]


def staff_token(session, *, now, username: str = "reception") -> str:
    user = create_user(session=session, username=username, role="receptionist",
                       password=PASSWORD, now=now)
    return issue_api_token(session=session, user=user, now=now)


def sqlite_path(url: str) -> str:
    return make_url(url).database


def sqlite_integrity(url: str) -> tuple[list, list]:
    """(PRAGMA integrity_check rows, PRAGMA foreign_key_check rows) on a connection of its own."""
    with sqlite3.connect(sqlite_path(url)) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchall()
        foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    connection.close()
    return integrity, foreign


def visits_by_id(url: str) -> dict[int, tuple[int, int]]:
    """{visit id: (visitor id, venue id)} as a fresh connection sees it."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, visitor_id, venue_id FROM visit"))
            return {row.id: (row.visitor_id, row.venue_id) for row in rows}
    finally:
        engine.dispose()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.02):
    """Poll a condition until it holds (never a fixed sleep); fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)
