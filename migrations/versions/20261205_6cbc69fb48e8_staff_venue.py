"""staff venue: the venues each receptionist works at

Revision ID: 6cbc69fb48e8
Revises: 5c1e7b2a9d40
Create Date: 2026-12-05 05:53:09

Receptionists act only at the venues they are assigned to. Nobody is assigned by this migration:
after upgrading, an administrator assigns each receptionist (admin users page or
`flask --app app user venues U --venue C`).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '6cbc69fb48e8'
down_revision = '5c1e7b2a9d40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_venue',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('venue_id', sa.Integer(), nullable=False),
        sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'],
                                name=op.f('fk_staff_venue_user_id_staff_user')),
        sa.ForeignKeyConstraint(['venue_id'], ['venue.id'],
                                name=op.f('fk_staff_venue_venue_id_venue')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_venue')),
        sa.UniqueConstraint('user_id', 'venue_id', name=op.f('uq_staff_venue_user_id_venue_id')),
    )
    with op.batch_alter_table('staff_venue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_venue_venue_id'), ['venue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_venue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_venue_venue_id'))
    op.drop_table('staff_venue')
