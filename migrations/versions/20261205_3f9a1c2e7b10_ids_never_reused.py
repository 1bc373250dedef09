"""ids never reused: SQLite tables of personal rows get AUTOINCREMENT

Revision ID: 3f9a1c2e7b10
Revises: 17521465ef4b
Create Date: 2026-12-05 09:00:00

Without AUTOINCREMENT SQLite gives the largest id again once its row is deleted, so a purged or
deleted person's id went to the next new person. The tables are copied (batch mode) into ones
declared AUTOINCREMENT; the data is kept, and the sequence starts after the largest id in use.
PostgreSQL sequences never hand out a value twice: nothing to do there.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '3f9a1c2e7b10'
down_revision = '17521465ef4b'
branch_labels = None
depends_on = None

TABLES = ('visitor', 'declaration', 'visit', 'encounter')


def _recreate(autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != 'sqlite':
        return
    # A copied table loses its triggers (the sync outbox's): keep their SQL and make them again.
    triggers = connection.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
        f"({', '.join(repr(t) for t in TABLES)})")).all()
    for table in TABLES:
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass
    for name, sql in triggers:
        connection.execute(sa.text(f'DROP TRIGGER IF EXISTS "{name}"'))
        connection.execute(sa.text(sql))


def upgrade() -> None:
    _recreate(True)
    if op.get_bind().dialect.name == 'sqlite':
        # The sequence starts after the largest id ever seen here, not just the largest left.
        for table in TABLES:
            op.execute(sa.text(
                f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', COALESCE(MAX(id), 0) "
                f"FROM {table} WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence "
                f"WHERE name = '{table}')"))


def downgrade() -> None:
    _recreate(False)
