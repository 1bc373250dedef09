"""staff session: signed-in browsers on record

Revision ID: 7d2e9a4c1b58
Revises: 700789ea8265
Create Date: 2026-12-05 09:10:00

A session cookie is good only while its row is here: signing out, a password change or disabling
the account deletes it. Sessions from before this migration have no row: their staff sign in
again once.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '7d2e9a4c1b58'
down_revision = '700789ea8265'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('secret_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'],
                                name=op.f('fk_staff_session_user_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_session')),
        sa.UniqueConstraint('secret_sha256', name=op.f('uq_staff_session_secret_sha256')),
    )
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_session_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_session_user_id'))
    op.drop_table('staff_session')
