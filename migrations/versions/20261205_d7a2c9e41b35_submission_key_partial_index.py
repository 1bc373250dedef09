"""declarations: the submission-key index leaves out rows without a key, so the planner's
statistics count only keyed rows and the same-submission check stays one index probe

Revision ID: d7a2c9e41b35
Revises: c4e8a1f27b90
Create Date: 2026-12-05 14:50:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = 'd7a2c9e41b35'
down_revision = 'c4e8a1f27b90'
branch_labels = None
depends_on = None

_PARTIAL = {'postgresql_where': sa.text('submission_key IS NOT NULL'),
            'sqlite_where': sa.text('submission_key IS NOT NULL')}


def upgrade() -> None:
    # Plain index operations (no batch): SQLite keeps the table and its sync triggers.
    op.drop_index('ix_declaration_submission_key', table_name='declaration')
    op.create_index('ix_declaration_submission_key', 'declaration', ['submission_key'],
                    unique=False, **_PARTIAL)


def downgrade() -> None:
    op.drop_index('ix_declaration_submission_key', table_name='declaration', **_PARTIAL)
    op.create_index('ix_declaration_submission_key', 'declaration', ['submission_key'],
                    unique=False)
