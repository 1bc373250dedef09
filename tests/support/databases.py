"""Scratch databases for tests: a temporary SQLite file, or a throwaway PostgreSQL database on the
server that TEST_DATABASE_URL / DATABASE_URL points at (so parallel runs never share tables)."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.db import normalise_database_url


def server_url() -> str:
    """The database server the suite runs against ('' means SQLite)."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    return url if url.startswith("postgres") else ""


def dialect() -> str:
    return "postgresql" if server_url() else "sqlite"


@contextmanager
def scratch_database(directory: Path) -> Iterator[str]:
    base = server_url()
    if not base:
        yield f"sqlite:///{directory / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        return
    url = make_url(normalise_database_url(base))
    name = f"khaibao_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_as_another_process(app, sql: str) -> None:
    """Run `sql` and commit through a raw DB-API connection: a write that passes none of the
    process's SQLAlchemy hooks, as another process's would."""
    from core.db import db

    raw = db.engine(app).raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql)
        cursor.close()
        raw.commit()
    finally:
        raw.close()
