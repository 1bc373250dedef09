"""sync merged visit: a door's visit read centrally as the exit from another door's visit

Revision ID: 17521465ef4b
Revises: 72800c46874e
Create Date: 2026-12-05 10:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401
import core.db  # noqa: F401


revision = '17521465ef4b'
down_revision = '72800c46874e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sync_merged_visit',
        sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column('into_visit_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=True),
        sa.Column('scanned_at', core.db.UtcDateTime(), nullable=False),
        sa.Column('follow_up_visit_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['sync_device.id'],
                                name=op.f('fk_sync_merged_visit_device_id_sync_device')),
        sa.ForeignKeyConstraint(['follow_up_visit_id'], ['visit.id'],
                                name=op.f('fk_sync_merged_visit_follow_up_visit_id_visit'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['into_visit_id'], ['visit.id'],
                                name=op.f('fk_sync_merged_visit_into_visit_id_visit'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('uid', name=op.f('pk_sync_merged_visit')),
    )
    with op.batch_alter_table('sync_merged_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_merged_visit_into_visit_id'),
                              ['into_visit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_merged_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_merged_visit_into_visit_id'))
    op.drop_table('sync_merged_visit')
